import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { DeliveryRecord } from './delivery-record.js';

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
        await file.writeFile(JSON.stringify(record));
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

  async read(name: string): Promise<DeliveryRecord> {
    return JSON.parse(await readFile(path.join(this.dir, name), 'utf8')) as DeliveryRecord;
  }

  async remove(name: string): Promise<void> {
    await unlink(path.join(this.dir, name));
  }

  /** Sets aside a record PostgreSQL refuses for good, so it does not block the ones after it. */
  async setAside(name: string): Promise<void> {
    await rename(path.join(this.dir, name), path.join(this.failedDir, name));
    this.log.error(
      { record: name, dir: this.failedDir },
      'spooled delivery refused by the database; set aside',
    );
  }
}
