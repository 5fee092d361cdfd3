import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import {
  COMMAND,
  CONFIG_DOC_FILES,
  generate,
  ROOT,
  readDoc,
  replaceBetweenMarkers,
} from '../../src/config/docs.js';
import { type EnvVariable, VARIABLE_NAMES, VARIABLES } from '../../src/config/schema.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const declared = new Set<string>(VARIABLE_NAMES);

/** An environment that remembers which names were looked up in it. */
function recordingEnv(values: Record<string, string>): { env: Record<string, string>; seen: Set<string> } {
  const seen = new Set<string>();
  const env = new Proxy(values, {
    get(target, key) {
      if (typeof key === 'string') seen.add(key);
      return Reflect.get(target, key);
    },
  });
  return { env, seen };
}

/** Every .ts file under src/, as repository paths. */
async function sourceFiles(): Promise<string[]> {
  const root = fileURLToPath(ROOT);
  const entries = await readdir(new URL('src/', ROOT), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .sort();
}

/**
 * Comments mention process.env in prose; only code counts. A comment starts a line or follows a space:
 * `//` after a colon is a URL and `/*` after a slash a media range, both in strings.
 */
function withoutComments(source: string): string {
  return source.replace(/(^|\s)\/\*[\s\S]*?\*\//g, '$1').replace(/(^|\s)\/\/.*$/gm, '$1');
}

/**
 * The uses of process.env in src/ that name no variable, and why each is fine. A new one fails the
 * test below: read the variable through src/config/schema.ts instead, or say here why it reads none.
 */
const PASSED_ON: { file: string; code: string; why: string }[] = [
  {
    file: 'src/config.ts',
    code: 'env: Env = process.env',
    why: "loadConfig's default, read through the schema",
  },
  { file: 'src/config.ts', code: 'loadConfig(process.env,', why: 'loadProcessConfig, after loading .env' },
  {
    file: 'src/db/embedded-postgres.ts',
    code: '...process.env',
    why: 'handed whole to the PostgreSQL child process; nothing here reads it',
  },
];

describe('configuration schema', () => {
  for (const file of CONFIG_DOC_FILES) {
    it(`${file} is what src/config/schema.ts generates`, async () => {
      const committed = await readDoc(file);
      const expected = generate(file, committed);
      const a = committed.split('\n');
      const b = expected.split('\n');
      const line = a.findIndex((l, i) => l !== b[i]) + 1 || Math.min(a.length, b.length) + 1;
      assert.ok(
        committed === expected,
        `${file} is out of date with src/config/schema.ts (first difference at line ${line}): run \`${COMMAND}\``,
      );
    });
  }

  it('refuses to generate into a document without its markers, naming it', () => {
    assert.throws(
      () => replaceBetweenMarkers('# no markers here\n', 'README.md', 'table'),
      /^Error: README\.md: needs one <!-- config:start -->/,
    );
  });

  it('declares every variable src/ reads from process.env', async () => {
    const undeclared: string[] = [];
    const unexplained: string[] = [];
    const passedOnSeen = new Set<(typeof PASSED_ON)[number]>();
    for (const file of await sourceFiles()) {
      const code = withoutComments(await readFile(new URL(file, ROOT), 'utf8'));
      // Positions of process.env covered by an explained use.
      const explained = new Set<number>();
      for (const use of PASSED_ON.filter((u) => u.file === file)) {
        for (let i = code.indexOf(use.code); i !== -1; i = code.indexOf(use.code, i + 1)) {
          explained.add(i + use.code.indexOf('process.env'));
          passedOnSeen.add(use);
        }
      }
      for (const m of code.matchAll(
        /process\.env\b(\??\.([A-Za-z_$][\w$]*)|\s*\[\s*(['"`])([^'"`]*)\3\s*\])?/g,
      )) {
        const name = m[2] ?? m[4];
        if (name !== undefined) {
          if (!declared.has(name)) undeclared.push(`${file}: ${name}`);
        } else if (!explained.has(m.index)) {
          unexplained.push(`${file}: ${code.slice(m.index, m.index + 40).split('\n')[0]}`);
        }
      }
      // Names taken out by destructuring are reads too.
      for (const m of code.matchAll(/\{([^{}]*)\}\s*=\s*process\.env\b/g)) {
        for (const part of (m[1] ?? '').split(',')) {
          const name = part.split(':')[0]?.trim();
          if (name && !name.startsWith('...') && !declared.has(name)) undeclared.push(`${file}: ${name}`);
        }
      }
    }
    const stale = PASSED_ON.filter((u) => !passedOnSeen.has(u)).map((u) => `${u.file}: ${u.code}`);
    // undeclared: declare them in src/config/schema.ts and read them in loadConfig; unexplained: read
    // through the schema, or add the use to PASSED_ON saying why; stale: drop it from PASSED_ON.
    assert.deepEqual({ undeclared, unexplained, stale }, { undeclared: [], unexplained: [], stale: [] });
  });

  it('loadConfig looks up exactly the declared variables, and nothing else', () => {
    const all = new Set<string>();
    const runs: Record<string, string>[] = [
      {},
      { NODE_ENV: 'test' },
      {
        NODE_ENV: 'production',
        AUTH_JWKS_URL: 'https://idp.example/jwks',
        DATABASE_URL: 'postgres://db/app',
      },
      // PROVE_ENV counts only with both credentials.
      { PROVE_CLIENT_ID: 'id', PROVE_CLIENT_SECRET: 's' },
    ];
    for (const values of runs) {
      const { env, seen } = recordingEnv(values);
      loadConfig(env, '/srv/app');
      for (const name of seen) all.add(name);
    }
    assert.deepEqual([...all].sort(), [...declared].sort());
  });

  it('never echoes a secret it refuses', () => {
    const secrets = VARIABLE_NAMES.filter((n) => VARIABLES[n].secret);
    let refused = 0;
    for (const name of secrets) {
      for (const value of ['s3cr3t', 'not a url s3cr3t', 'whsec_s3cr3t!', 'mysql://u:s3cr3t@h/db']) {
        try {
          loadConfig({ [name]: value }, '/srv/app');
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
          assert.ok(!err.message.includes('s3cr3t'), `${name} refused with its value: ${err.message}`);
          refused++;
        }
      }
    }
    // DATABASE_URL, the three webhook secrets but Prove's, AUTH_JWT_SECRET, PROVE_CLIENT_SECRET alone.
    assert.ok(refused >= 5 * 4, `only ${refused} refusals: the values above no longer test anything`);
  });

  it('declares each variable in one line for people, with no value in .env.example for a secret', () => {
    for (const name of VARIABLE_NAMES) {
      const v: EnvVariable<unknown> = VARIABLES[name];
      assert.match(name, /^[A-Z][A-Z0-9_]*$/);
      for (const text of [v.description, v.default]) {
        assert.ok(text.trim() !== '' && !text.includes('\n'), `${name}: one line, not empty`);
      }
      if (v.secret) assert.equal(v.example, '', `${name} is a secret: .env.example carries no value`);
    }
  });

  it('docker-compose.yml hands every declared variable to the app, and no other', async () => {
    const compose = await readFile(new URL('docker-compose.yml', ROOT), 'utf8');
    // The app service's environment block: its keys are indented six spaces, up to the next key of four.
    const block = /^ {2}app:\n[\s\S]*?^ {4}environment:\n([\s\S]*?)^ {4}\S/m.exec(compose)?.[1] ?? '';
    const names = [...block.matchAll(/^ {6}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]);
    assert.deepEqual([...names].sort(), [...declared].sort());
  });

  it('.env.example, copied to .env as it is, configures what an empty environment does', async () => {
    const text = await readDoc('.env.example');
    const assigned = [...text.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    assert.deepEqual(assigned, VARIABLE_NAMES, 'every variable, once, in declaration order');
    const example = parseEnv(text);
    const { auth: fromExample, ...rest } = loadConfig(example, '/srv/app');
    const { auth: fromNothing, ...expected } = loadConfig({}, '/srv/app');
    assert.deepEqual(rest, expected);
    // Both sign with a random secret of their own: compare the kind only.
    assert.equal(fromExample.kind, fromNothing.kind);
  });
});
