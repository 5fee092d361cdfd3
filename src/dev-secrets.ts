import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Development secrets: generated once and kept in `.data/dev-secrets.json` (mode 0600), so that the
 * printed dev token keeps working across restarts and rebuilds, and the webhook endpoints and the
 * simulator work with nothing configured. Only development uses them; production generates nothing.
 */
export interface DevSecrets {
  /** HS256 secret for API tokens (43 base64url characters: 32 random bytes). */
  authJwtSecret: string;
  /** Prove's HS256 webhook secret, shaped as the Prove Portal shows one (`whsec_…`). */
  proveWebhookSecret: string;
  /** A Svix secret, `whsec_<base64 of 32 bytes>`. */
  voveWebhookSecret: string;
  /** Passbase's AES-256 key as 64 hex digits. */
  passbaseWebhookSecret: string;
}

/** Thrown when the file exists but cannot be used; the message names the file and the fix. */
export class DevSecretsError extends Error {
  override name = 'DevSecretsError';
}

const GENERATORS: { [K in keyof DevSecrets]: () => string } = {
  authJwtSecret: () => randomBytes(32).toString('base64url'),
  proveWebhookSecret: () => `whsec_${randomBytes(32).toString('base64')}`,
  voveWebhookSecret: () => `whsec_${randomBytes(32).toString('base64')}`,
  passbaseWebhookSecret: () => randomBytes(32).toString('hex'),
};

export function devSecretsPath(dataDir: string): string {
  return path.join(dataDir, 'dev-secrets.json');
}

function readStored(file: string): Partial<DevSecrets> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new DevSecretsError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DevSecretsError(`${file}: is not a JSON object; delete it to generate new development secrets`);
  }
  const out: Partial<DevSecrets> = {};
  for (const key of Object.keys(GENERATORS) as (keyof DevSecrets)[]) {
    const v = (parsed as Record<string, unknown>)[key];
    if (typeof v === 'string' && v.length > 0) out[key] = v;
  }
  return out;
}

/** Reads the development secrets, generating (and writing, atomically, mode 0600) any that are missing. */
export function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = devSecretsPath(dataDir);
  const stored = readStored(file);
  const missing = (Object.keys(GENERATORS) as (keyof DevSecrets)[]).filter((k) => stored[k] === undefined);
  if (missing.length === 0) {
    chmodSync(file, 0o600); // a copy made with a wider mode is narrowed again
    return stored as DevSecrets;
  }
  const secrets = { ...stored } as DevSecrets;
  for (const key of missing) secrets[key] = GENERATORS[key]();
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Written whole, then put in place: a reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  if (Object.keys(stored).length > 0) {
    renameSync(tmp, file);
    return secrets;
  }
  // A new file: link() refuses to replace one, so of two processes starting at once, one writes and
  // the other reads what it wrote, and both use the same secrets.
  try {
    linkSync(tmp, file);
    return secrets;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return loadOrCreateDevSecrets(dataDir);
  } finally {
    rmSync(tmp, { force: true });
  }
}
