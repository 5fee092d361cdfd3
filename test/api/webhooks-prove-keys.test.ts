import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { proveBodyHash } from '../fixtures/signers.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

/** A token as Prove makes one, signed under raw key bytes (signProve signs under a string's UTF-8 bytes). */
function signUnder(key: Uint8Array, raw: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: 'Prove Identity',
    iat: now,
    nbf: now,
    exp: now + 300,
    jti: randomUUID(),
    body_hash: proveBodyHash(raw),
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(key);
}

/** `webhook_signing_key_matches_total` for Prove and a key, from GET /metrics (0 when not counted yet). */
async function keyMatches(url: string, key: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = new RegExp(
    `^webhook_signing_key_matches_total\\{provider="PROVE",key="${key}"\\} (\\d+)$`,
    'm',
  );
  return Number(line.exec(text)?.[1] ?? 0);
}

describe('POST /webhooks/prove with a whsec_ secret whose rest is base64', () => {
  const keyBytes = randomBytes(24);
  const secret = `whsec_${keyBytes.toString('base64')}`;
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: { ...WEBHOOK_ENV, PROVE_WEBHOOK_SECRET: secret } });
  });
  after(() => s.close());

  const signingKeyOf = async (correlationId: string) =>
    (
      (await s.app.db.query('SELECT signing_key FROM webhook_deliveries WHERE correlation_id = $1', [
        correlationId,
      ])) as { signing_key: string | null }[]
    ).map((r) => r.signing_key);

  it('accepts a token under the UTF-8 bytes of the whole secret and records key "utf8"', async () => {
    const res = await postProve(
      s.url,
      { notifications: [proveNotification()] },
      { secret, correlationId: 'k-utf8' },
    );
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 0 }]);
    assert.deepEqual(await signingKeyOf('k-utf8'), ['utf8']);
  });

  it('accepts a token under the base64-decoded rest and records key "base64"', async () => {
    const raw = JSON.stringify({ notifications: [proveNotification()] });
    const token = await signUnder(keyBytes, raw);
    const res = await postProve(s.url, raw, { token, correlationId: 'k-base64' });
    assert.deepEqual([res.status, res.body], [200, { accepted: 1, duplicates: 0, rejected: 0 }]);
    assert.deepEqual(await signingKeyOf('k-base64'), ['base64']);
  });

  it('refuses a token under neither key with 401 invalid_signature, storing nothing', async () => {
    const n = proveNotification();
    const raw = JSON.stringify({ notifications: [n] });
    for (const key of [randomBytes(24), Buffer.from(secret.slice('whsec_'.length))]) {
      const res = await postProve(s.url, raw, { token: await signUnder(key, raw) });
      assert.deepEqual([res.status, res.body], [401, { error: 'invalid_signature' }]);
    }
    const [{ n: stored }] = await s.app.db.query(
      'SELECT count(*)::int AS n FROM identity_events WHERE provider_event_id = $1',
      [n.eventId],
    );
    assert.equal(stored, 0);
  });

  it('counts each match by key in /metrics, so operators learn which one Prove uses', async () => {
    const before = { utf8: await keyMatches(s.url, 'utf8'), base64: await keyMatches(s.url, 'base64') };
    const raw = JSON.stringify({ notifications: [proveNotification()] });
    assert.equal((await postProve(s.url, raw, { token: await signUnder(keyBytes, raw) })).status, 200);
    assert.equal((await postProve(s.url, { notifications: [proveNotification()] }, { secret })).status, 200);
    assert.equal((await postProve(s.url, { notifications: [proveNotification()] }, { secret })).status, 200);
    assert.equal(await keyMatches(s.url, 'base64'), before.base64 + 1);
    assert.equal(await keyMatches(s.url, 'utf8'), before.utf8 + 2);
  });

  it('serves the key in GraphQL webhookDeliveries, null for a VOVE delivery', async () => {
    const msgId = `msg_key_${randomBytes(4).toString('hex')}`;
    assert.equal(
      (await postVove(s.url, { status: 'pending', refId: 'vove-key' }, { id: msgId })).status,
      200,
    );
    const res = await s.gql<{
      webhookDeliveries: {
        edges: { node: { provider: string; correlationId: string | null; signingKey: string | null } }[];
      };
    }>(`{ webhookDeliveries(first: 50) { edges { node { provider correlationId signingKey } } } }`);
    assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
    const nodes = res.body.data!.webhookDeliveries.edges.map((e) => e.node);
    assert.equal(nodes.find((n) => n.correlationId === 'k-utf8')?.signingKey, 'utf8');
    assert.equal(nodes.find((n) => n.correlationId === 'k-base64')?.signingKey, 'base64');
    const vove = nodes.filter((n) => n.provider === 'VOVE');
    assert.ok(vove.length > 0 && vove.every((n) => n.signingKey === null));
  });
});
