import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { DeliveryRecord } from '../../src/ingest/delivery-record.js';
import { Spool } from '../../src/ingest/spool.js';

describe('spool', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-spool-unit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('leaves no file behind, not even its .tmp, when a record cannot be written', async () => {
    const spool = new Spool(dir, pino({ level: 'silent' }));
    await spool.init();
    // JSON.stringify throws on a BigInt, as it does on a value nested too deep for the stack.
    const unwritable = { delivery: { provider: 'PROVE' }, events: [1n] } as unknown as DeliveryRecord;
    await assert.rejects(spool.append(unwritable), TypeError);
    assert.deepEqual(await readdir(dir), ['failed']);
    assert.deepEqual(await spool.pending(), []);
  });
});
