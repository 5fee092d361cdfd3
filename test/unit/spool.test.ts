import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { DeliveryRecord } from '../../src/ingest/delivery-record.js';
import { parseSpoolFile, SPOOL_FORMAT, Spool } from '../../src/ingest/spool.js';

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

  const record = {
    delivery: { provider: 'PROVE', outcome: 'spooled' },
    events: [],
    summaries: [],
  } as unknown as DeliveryRecord;

  it('writes each record under the format version it reads back', async () => {
    const spool = new Spool(dir, pino({ level: 'silent' }));
    await spool.init();
    await spool.append(record);
    const [name] = await spool.pending();
    assert.ok(name);
    const text = await readFile(path.join(dir, name), 'utf8');
    assert.equal(JSON.parse(text).format, SPOOL_FORMAT);
    assert.deepEqual(await spool.read(name), { ok: true, record });
    await spool.remove(name);
  });

  it('reads a bare record, as spooled before the format was versioned, as format 1', () => {
    assert.deepEqual(parseSpoolFile(JSON.stringify(record)), { ok: true, record });
  });

  it('never reads a record of another format, and says which it found', () => {
    for (const format of [2, 0, '1', null]) {
      assert.deepEqual(parseSpoolFile(JSON.stringify({ format, record })), {
        ok: false,
        reason: 'unknown_format',
        detail: `format ${JSON.stringify(format)}; this build reads format ${SPOOL_FORMAT}`,
      });
    }
    assert.deepEqual(parseSpoolFile('{"something":"else"}'), {
      ok: false,
      reason: 'unknown_format',
      detail: `format missing; this build reads format ${SPOOL_FORMAT}`,
    });
  });

  it('calls unreadable what is not JSON, cut short, or not a delivery record', () => {
    const whole = JSON.stringify({ format: SPOOL_FORMAT, record });
    const cases: [string, string][] = [
      [whole.slice(0, whole.length - 3), 'not JSON'],
      ['', 'not JSON'],
      ['[1,2]', 'not a JSON object'],
      [
        JSON.stringify({ format: SPOOL_FORMAT, record: { delivery: {}, events: {} } }),
        'not a delivery record',
      ],
      [JSON.stringify({ format: SPOOL_FORMAT }), 'not a delivery record'],
    ];
    for (const [text, detail] of cases) {
      assert.deepEqual(parseSpoolFile(text), { ok: false, reason: 'unreadable', detail }, text);
    }
  });
});
