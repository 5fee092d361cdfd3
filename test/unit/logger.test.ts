import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { QueryFailedError } from 'typeorm';
import { createLogger, wantsPrettyLogs } from '../../src/observability/logger.js';

/** A JSON logger whose lines are parsed into `lines`. */
function jsonLogger() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger('info', sink), lines };
}

async function waitForText(file: string, needle: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(needle)) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${needle} never reached ${file}`);
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('logger', () => {
  it("logs an error-like plain object's message, not [object Object]", () => {
    const { log, lines } = jsonLogger();
    log.warn({ err: { message: 'connection terminated unexpectedly' } }, 'readiness check failed');
    log.warn({ err: 'a string' }, 'thrown string');
    log.warn({ err: { detail: 1 } }, 'no message');
    assert.deepEqual(
      lines.map((l) => l.err),
      [
        { message: 'connection terminated unexpectedly' },
        { message: 'a string' },
        { message: 'an error without a message' },
      ],
    );
  });

  it('logs a failed query by type, message and code, without its SQL, parameters or stack', () => {
    const { log, lines } = jsonLogger();
    const driverError = Object.assign(new Error('relation "x" does not exist'), { code: '42P01' });
    const err = new QueryFailedError('SELECT secret FROM x WHERE k = $1', ['hunter2'], driverError);
    log.warn({ err }, 'query failed');
    assert.deepEqual(lines[0]?.err, {
      type: 'QueryFailedError',
      message: 'relation "x" does not exist',
      code: '42P01',
    });
  });

  it('writes readable lines through pino-pretty, still redacting credentials and serialising errors', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'idm-logger-'));
    dirs.push(dir);
    const file = path.join(dir, 'pretty.log');
    const log = createLogger('info', { pretty: file });
    const err = Object.assign(new Error('password authentication failed'), { code: '28P01' });
    log.warn({ err, headers: { authorization: 'Bearer sekrit-token' } }, 'readiness check failed');
    log.info('done');
    const text = await waitForText(file, 'done');
    const [first] = text.split('\n');
    // One line per entry, after the local time: the error's fields inline, the header redacted.
    assert.match(first ?? '', /^\[\d\d:\d\d:\d\d\] /);
    assert.equal(
      first?.slice('[hh:mm:ss] '.length),
      'WARN: readiness check failed ' +
        '{"err":{"type":"Error","message":"password authentication failed","code":"28P01"},' +
        '"headers":{"authorization":"[redacted]"}}',
    );
    assert.ok(!text.includes('sekrit-token'), 'the token never reaches the file');
    assert.ok(!text.includes('    at '), 'no stack');
    assert.ok(!text.includes('"service"'), 'the constant service field is left out');
  });

  it('is readable only in development on a terminal', () => {
    assert.equal(wantsPrettyLogs('development', true), true);
    assert.equal(wantsPrettyLogs('development', false), false);
    assert.equal(wantsPrettyLogs('development', undefined), false);
    assert.equal(wantsPrettyLogs('production', true), false);
    assert.equal(wantsPrettyLogs('test', true), false);
  });
});
