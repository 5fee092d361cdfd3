import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DIST } from '../helpers/process.js';

const SRC = path.join(DIST, '..', 'src');

/**
 * Which folders of src/ each folder must never import from (type-only imports included). The lower
 * layers hold plain data and SQL; a presentation or transport type reaching down into them is the
 * coupling this stops.
 */
const FORBIDDEN: Record<string, readonly string[]> = {
  domain: ['data', 'db', 'feed', 'graphql', 'http', 'ingest', 'enrollment', 'observability', 'auth'],
  data: ['feed', 'graphql', 'http', 'ingest', 'enrollment'],
  feed: ['graphql', 'http', 'ingest', 'enrollment'],
  enrollment: ['graphql', 'http', 'ingest'],
  ingest: ['graphql', 'enrollment', 'feed'],
};

/** Every relative import of a TypeScript file, resolved to its top folder under src/ (or null outside src). */
async function importedFolders(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const specs = [...text.matchAll(/\bfrom\s+'(\.{1,2}\/[^']+)'/g)].map((m) => m[1] as string);
  return specs.map((spec) => {
    const target = path.relative(SRC, path.resolve(path.dirname(file), spec));
    return target.startsWith('..') ? '' : (target.split(path.sep)[0] ?? '');
  });
}

describe('layers', () => {
  for (const [folder, forbidden] of Object.entries(FORBIDDEN)) {
    it(`src/${folder} imports nothing from ${forbidden.join(', ')}`, async () => {
      const entries = await readdir(path.join(SRC, folder), { recursive: true, withFileTypes: true });
      const files = entries.filter((e) => e.isFile() && e.name.endsWith('.ts'));
      assert.ok(files.length > 0, `src/${folder} has TypeScript files`);
      const offences: string[] = [];
      for (const e of files) {
        const file = path.join(e.parentPath, e.name);
        for (const target of await importedFolders(file)) {
          if (forbidden.includes(target)) offences.push(`${path.relative(SRC, file)} imports src/${target}`);
        }
      }
      assert.deepEqual(offences, []);
    });
  }
});
