import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { feedSubscriptions } from '../helpers/metrics.js';
import { pollUntil } from '../helpers/poll.js';
import { DIST, type RunningMain, runScript } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postProve, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/**
 * The README's partner snippet runs as written: taken out of README.md, saved as a .mjs file (inside
 * the checkout, so `graphql-ws` and `ws` resolve from its node_modules) and run with node against the
 * real server; stopped and started again, it resumes after its stored cursor.
 */
const README = path.join(DIST, '..', 'README.md');

async function snippet(): Promise<string> {
  const text = await readFile(README, 'utf8');
  const blocks = [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  const partner = blocks.find((b) => b.includes('node partner.mjs'));
  assert.ok(partner, 'README.md has the partner snippet');
  return partner;
}

describe("README's partner snippet", () => {
  let s: TestServer;
  let dir: string;
  let script: string;
  const runs: RunningMain[] = [];
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
    dir = await mkdtemp(path.join(os.tmpdir(), 'idm-readme-'));
    const snippetDir = path.join(DIST, '.readme-snippets');
    await mkdir(snippetDir, { recursive: true });
    script = path.join(snippetDir, `partner-${process.pid}.mjs`);
    await writeFile(script, await snippet());
  });
  after(async () => {
    for (const run of runs) run.child.kill('SIGKILL'); // a failed assertion must not leave one running
    await s?.close();
    await rm(dir, { recursive: true, force: true });
    await rm(script, { force: true });
  });

  async function start(token: string): Promise<RunningMain> {
    // The previous run's subscription is gone once the server has seen its socket close.
    assert.equal(
      await pollUntil(
        () => feedSubscriptions(s.url),
        (n) => n === 0,
        30_000,
      ),
      0,
    );
    const run = runScript(script, {
      cwd: dir,
      env: { IDM_URL: s.url, IDM_TOKEN: token, CURSOR_FILE: path.join(dir, 'cursor') },
    });
    runs.push(run);
    const subscribed = await pollUntil(
      () => feedSubscriptions(s.url),
      (n) => n > 0,
      30_000,
    );
    assert.ok(subscribed > 0, `the snippet never subscribed: ${run.stderr.join('')}`);
    return run;
  }

  const port = (identityId: string) => proveNotification({ eventType: 'PORT', identityId });

  it('prints the filtered events, and after a restart only the ones it had not handled', async () => {
    const token = await s.token(['events:subscribe']);
    const first = await start(token);
    const a = await postProve(s.url, {
      notifications: [
        port('readme-a'),
        proveNotification({ eventType: 'LINE_TYPE_CHANGE' }),
        port('readme-b'),
      ],
    });
    assert.equal(a.status, 200);
    const printed = await pollUntil(
      async () => first.stdout.filter((l) => l.includes(' PORT ')),
      (lines) => lines.length >= 2,
      30_000,
    );
    assert.equal(
      printed.length,
      2,
      `two PORT lines, the line type change filtered out: ${first.stdout.join('\n')}`,
    );
    // The snippet saves a cursor after handling its event (at-least-once): stopped before that save, it
    // would rightly hand readme-b's event again. Stopped once the newest PORT event's cursor is saved.
    const newestPort = await s.gql<{ events: { edges: { cursor: string }[] } }>(
      '{ events(first: 1, filter: { types: [PORT] }) { edges { cursor } } }',
    );
    const lastCursor = newestPort.body.data?.events.edges[0]?.cursor;
    assert.ok(lastCursor, JSON.stringify(newestPort.body));
    assert.equal(
      await pollUntil(
        () => readFile(path.join(dir, 'cursor'), 'utf8').catch(() => ''),
        (saved) => saved === lastCursor,
        30_000,
      ),
      lastCursor,
      'the first run saved the cursor of the last event it printed',
    );
    first.child.kill('SIGTERM');
    await first.exited;

    // Delivered while it is down: the next run replays them from the stored cursor, and nothing older.
    assert.equal((await postProve(s.url, { notifications: [port('readme-c')] })).status, 200);
    const second = await start(token);
    assert.equal((await postProve(s.url, { notifications: [port('readme-d')] })).status, 200);
    const resumed = await pollUntil(
      async () => second.stdout.filter((l) => l.includes(' PORT ')),
      (lines) => lines.length >= 2,
      30_000,
    );
    second.child.kill('SIGTERM');
    await second.exited;
    const ids = async (providerIds: string[]) =>
      (
        await s.app.db.query<{ id: string }[]>(
          'SELECT id::text FROM identities WHERE provider_identity_id = ANY($1) ORDER BY provider_identity_id',
          [providerIds],
        )
      ).map((r) => r.id);
    const [idA, idB] = await ids(['readme-a', 'readme-b']);
    const [idC, idD] = await ids(['readme-c', 'readme-d']);
    // The whole output in the message: a wrong line says more than which id it carried.
    assert.deepEqual(
      printed.map((l) => l.split(' ')[2]),
      [idA, idB],
      `first run, readme-a ${idA}, readme-b ${idB}:\n${first.stdout.join('\n')}`,
    );
    assert.deepEqual(
      resumed.map((l) => l.split(' ')[2]),
      [idC, idD],
      `second run, readme-c ${idC}, readme-d ${idD}:\n${second.stdout.join('\n')}`,
    );
  });
});
