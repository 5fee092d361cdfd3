import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DeliveryRecord } from './delivery-record.js';

/**
 * The version of the spool's file format this build writes and reads. A file names its version, so a
 * build never misreads a record written by another (a rollback with records still spooled, say): a
 * version it does not know is set aside, never loaded.
 */
export const SPOOL_FORMAT = 1;

/** Why a spooled file was set aside instead of loaded. */
export type SetAsideReason = 'unreadable' | 'unknown_format' | 'refused';

export type SpoolRead =
  | { ok: true; record: DeliveryRecord }
  | { ok: false; reason: Exclude<SetAsideReason, 'refused'>; detail: string };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A file's content as a record, or why it is not one this build can load. */
export function parseSpoolFile(text: string): SpoolRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'unreadable', detail: 'not JSON' };
  }
  if (!isObject(value)) return { ok: false, reason: 'unreadable', detail: 'not a JSON object' };
  // Files spooled before the format was versioned hold the bare record: they are format 1.
  const format = 'format' in value ? value.format : 'delivery' in value ? SPOOL_FORMAT : undefined;
  if (format !== SPOOL_FORMAT) {
    return {
      ok: false,
      reason: 'unknown_format',
      detail: `format ${JSON.stringify(format) ?? 'missing'}; this build reads format ${SPOOL_FORMAT}`,
    };
  }
  const record = 'format' in value ? value.record : value;
  if (
    !isObject(record) ||
    !isObject(record.delivery) ||
    !Array.isArray(record.events) ||
    !Array.isArray(record.summaries)
  ) {
    return { ok: false, reason: 'unreadable', detail: 'not a delivery record' };
  }
  return { ok: true, record: record as unknown as DeliveryRecord };
}

/**
 * Verified deliveries that arrived while PostgreSQL was unreachable (docs/adr/0004-spool.md).
 * One file per delivery, written to a temporary name, fsynced, renamed into place and the directory
 * fsynced: a record is either whole or absent, so the 202 is only sent for a durable one. Names sort
 * in arrival order; a record is deleted only after PostgreSQL committed it.
 */
export class Spool {
  private seq = 0;
  private readonly failedDir: string;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** Told of every file set aside (a metric), so an operator learns of it without reading logs. */
    private readonly onSetAside: (reason: SetAsideReason) => void = () => undefined,
  ) {
    this.failedDir = path.join(dir, 'failed');
  }

  async init(): Promise<void> {
    await mkdir(this.failedDir, { recursive: true });
  }

  /** Durably appends a record; resolves only once it is on disk. */
  async append(record: DeliveryRecord): Promise<void> {
    // Zero-padded time + process-local sequence: lexical order is arrival order.
    const name = `${Date.now().toString().padStart(15, '0')}-${process.pid}-${(this.seq++).toString().padStart(9, '0')}.json`;
    const tmp = path.join(this.dir, `.${name}.tmp`);
    const file = await open(tmp, 'wx', 0o600);
    try {
      try {
        await file.writeFile(JSON.stringify({ format: SPOOL_FORMAT, record }));
        await file.sync();
      } finally {
        await file.close();
      }
      await rename(tmp, path.join(this.dir, name));
    } catch (err) {
      // A record that cannot be serialized, a full disk: no empty or partial .tmp is left behind.
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await this.syncDir();
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Spooled record names, oldest first. */
  async pending(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort();
  }

  async read(name: string): Promise<SpoolRead> {
    return parseSpoolFile(await readFile(path.join(this.dir, name), 'utf8'));
  }

  async remove(name: string): Promise<void> {
    await unlink(path.join(this.dir, name));
  }

  /**
   * Moves a record that cannot be loaded (PostgreSQL refuses it for good, or this build cannot read it)
   * into failed/, so it does not block the ones after it and stays there for an operator.
   */
  async setAside(name: string, reason: SetAsideReason, detail?: string): Promise<void> {
    await rename(path.join(this.dir, name), path.join(this.failedDir, name));
    this.onSetAside(reason);
    this.log.error({ record: name, dir: this.failedDir, reason, detail }, 'spooled delivery set aside');
  }
}
