import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type EnvVariable, GROUPS, VARIABLE_NAMES, VARIABLES } from './schema.js';

/**
 * The configuration docs, generated from src/config/schema.ts: the table between the markers of
 * README.md and docs/api.md (the rest of each is written by hand), and all of `.env.example`.
 * `npm run docs:config` writes them; test/unit/config-docs.test.ts fails when they differ.
 */

export const START = '<!-- config:start -->';
export const END = '<!-- config:end -->';
export const COMMAND = 'npm run docs:config';
const SOURCE = 'src/config/schema.ts';

/** Repository paths of the generated files. */
export const CONFIG_DOC_FILES = ['README.md', 'docs/api.md', '.env.example'] as const;
export type ConfigDocFile = (typeof CONFIG_DOC_FILES)[number];

const declared = (): [string, EnvVariable<unknown>][] =>
  VARIABLE_NAMES.map((name) => [name, VARIABLES[name] as EnvVariable<unknown>]);

/** Links in the schema are by repository path; a document links relative to itself. */
function relink(markdown: string, file: string): string {
  return markdown.replace(/\]\(([^)#\s]+)(#[^)\s]*)?\)/g, (_m, target: string, fragment = '') => {
    if (target === file) return `](${fragment})`;
    return `](${path.posix.relative(path.posix.dirname(file), target)}${fragment})`;
  });
}

/** For `.env.example`: no Markdown; a link names its file by repository path. */
function plain(markdown: string): string {
  return markdown.replace(/\[([^\]]*)\]\(([^)#\s]+)[^)\s]*\)/g, '$1 in $2').replaceAll('`', '');
}

const cell = (markdown: string) => markdown.replaceAll('|', '\\|');

export function configTable(file: string): string {
  const rows = declared().map(
    ([name, v]) =>
      `| \`${name}\`${v.secret ? ' (secret)' : ''} | ${cell(relink(v.description, file))} | ${cell(relink(v.default, file))} |`,
  );
  return [
    `<!-- Generated from ${SOURCE} by \`${COMMAND}\`: edit the declarations there, not this table. -->`,
    '',
    '| variable | meaning | when unset |',
    '| --- | --- | --- |',
    ...rows,
    '',
    '(secret): a credential; keep it out of version control (`.env.example` leaves it empty).',
  ].join('\n');
}

/** `# `-comment lines of at most 100 characters. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line !== '#' && line.length + 1 + word.length > 100) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

export function envExample(): string {
  const out = [
    ...comment(
      `Every variable the server reads; an empty value means unset. Generated from ${SOURCE} by ` +
        `\`${COMMAND}\`: edit the declarations there, not this file. Copy it to .env (variables set in the ` +
        'environment win over .env). README.md and docs/api.md (Configuration) say more.',
    ).map(plain),
  ];
  for (const group of GROUPS) {
    out.push('', `# --- ${group} ---`);
    for (const [name, v] of declared().filter(([, v]) => v.group === group)) {
      out.push(
        '',
        ...comment(plain(`${v.secret ? 'Secret. ' : ''}${v.description}.`)),
        ...comment(plain(`When unset: ${v.default}.`)),
        `${name}=${v.example}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

/** `text` with the part between the markers replaced by `generated`; throws naming the file when they are missing. */
export function replaceBetweenMarkers(text: string, file: string, generated: string): string {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start === -1 || end < start || text.indexOf(START, start + 1) !== -1) {
    throw new Error(`${file}: needs one ${START} … ${END} pair around the configuration table`);
  }
  return `${text.slice(0, start + START.length)}\n${generated}\n${text.slice(end)}`;
}

/** What `file` should hold, given what it holds now (the hand-written part around the markers is kept). */
export function generate(file: ConfigDocFile, current: string): string {
  return file === '.env.example' ? envExample() : replaceBetweenMarkers(current, file, configTable(file));
}

/** The repository root, seen from dist/src/config/ where this runs. */
export const ROOT = new URL('../../../', import.meta.url);

export async function readDoc(file: ConfigDocFile): Promise<string> {
  return readFile(new URL(file, ROOT), 'utf8');
}

// `npm run docs:config` writes the files; a test fails when the committed ones and the schema disagree.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const file of CONFIG_DOC_FILES) {
    const current = await readDoc(file);
    const next = generate(file, current);
    if (next !== current) {
      await writeFile(new URL(file, ROOT), next);
      console.log(`wrote ${file}`);
    }
  }
}
