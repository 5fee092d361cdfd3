import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { signToken } from '../../src/auth/tokens.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { type RunningMain, runMain } from '../helpers/process.js';
import { TEST_AUTH_SECRET } from '../helpers/server.js';

/** The server as `npm start` runs it, so that anything written to its stderr is seen. */
describe('a WebSocket frame over the 64 KiB limit', () => {
  let cwd: string;
  let database: TestDatabase;
  let server: RunningMain;
  let url: string;
  before(async () => {
    cwd = await mkdtemp(path.join(os.tmpdir(), 'idm-ws-frames-'));
    database = await createTestDatabase();
    server = runMain({
      cwd,
      env: { PORT: '0', DATABASE_URL: database.url, AUTH_JWT_SECRET: TEST_AUTH_SECRET, LOG_LEVEL: 'info' },
    });
    url = String((await server.waitForLog('server listening')).url);
  });
  after(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
    await database.drop();
    await rm(cwd, { recursive: true, force: true });
  });

  it('closes the socket with 1009 and records it in one JSON log line, nothing on stderr', async () => {
    const token = await signToken(new TextEncoder().encode(TEST_AUTH_SECRET), {
      scopes: ['events:subscribe'],
    });
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    socket.on('error', () => {}); // the server may reset the connection while the frame is still going out
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    await new Promise((resolve) => socket.once('message', resolve)); // connection_ack
    const linesBefore = server.stdout.length;
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send(Buffer.alloc(10 * 1024 * 1024, 0x20));
    assert.equal(await closed, 1009);
    await new Promise((r) => setTimeout(r, 500)); // anything the server would write about it
    assert.equal(server.stderr.join(''), '', 'nothing written to stderr');
    const lines = server.stdout.slice(linesBefore);
    assert.equal(lines.length, 1, lines.join('\n'));
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(line.msg, 'WebSocket closed on an error');
    assert.deepEqual(line.err, {
      type: 'RangeError',
      message: 'Max payload size exceeded',
      code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH',
    });
  });
});
