import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The explorer's browser files (docs/adr/0011-explorer.md): an allow-list of files of installed
 * packages, never a directory, so no request path can name any other file.
 */
const PACKAGE_FILES = [
  { name: 'react.production.min.js', pkg: 'react', file: 'umd/react.production.min.js' },
  { name: 'react-dom.production.min.js', pkg: 'react-dom', file: 'umd/react-dom.production.min.js' },
  { name: 'graphiql.min.js', pkg: 'graphiql', file: 'graphiql.min.js' },
  { name: 'graphiql.min.css', pkg: 'graphiql', file: 'graphiql.min.css' },
] as const;

export type PackageAssetName = (typeof PACKAGE_FILES)[number]['name'];

export interface Asset {
  /** The URL path it is served at, e.g. /graphql/assets/1a2b3c4d5e6f/graphiql.min.js. */
  url: string;
  contentType: string;
  body: Buffer;
}

export const ASSET_PREFIX = '/graphql/assets';

const require = createRequire(import.meta.url);

/**
 * Where each allow-listed file is on disk; throws naming the package when one is not installed.
 * Resolves `<pkg>/package.json` (react's `exports` hide its umd/ folder) and joins the file to it.
 */
function resolvePackageFiles(): Record<PackageAssetName, string> {
  const out = {} as Record<PackageAssetName, string>;
  for (const f of PACKAGE_FILES) {
    let dir: string;
    try {
      dir = path.dirname(require.resolve(`${f.pkg}/package.json`));
    } catch {
      throw new Error(`the package ${f.pkg} is not installed (npm install)`);
    }
    out[f.name] = path.join(dir, f.file);
  }
  return out;
}

function contentTypeOf(name: string): string {
  if (name.endsWith('.js')) return 'text/javascript; charset=utf-8';
  if (name.endsWith('.css')) return 'text/css; charset=utf-8';
  throw new Error(`no content type for ${name}`);
}

/** An asset from bytes: its URL carries a hash of its content, so it can be cached for good. */
export function assetOf(name: string, body: Buffer | string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 12);
  return { url: `${ASSET_PREFIX}/${hash}/${name}`, contentType: contentTypeOf(name), body: bytes };
}

// The files do not change while the process runs: read once, however many servers a process starts.
let loaded: Promise<Record<PackageAssetName, Asset>> | null = null;

/** Resolves and reads the allow-listed files, once per process; rejects naming a missing package. */
export function loadPackageAssets(): Promise<Record<PackageAssetName, Asset>> {
  loaded ??= (async () => {
    const files = resolvePackageFiles();
    const out = {} as Record<PackageAssetName, Asset>;
    for (const [name, file] of Object.entries(files) as [PackageAssetName, string][]) {
      out[name] = assetOf(name, await readFile(file));
    }
    return out;
  })();
  // A failure is not kept: a later start-up tries again.
  loaded.catch(() => {
    loaded = null;
  });
  return loaded;
}
