import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { proveHeaders, signProve, signSvix } from '../fixtures/signers.js';
import { rawPost } from '../helpers/fuzz.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { PROVE_SECRET, proveNotification, VOVE_SECRET, WEBHOOK_ENV } from '../helpers/webhooks.js';

/** Content-Types fastify cannot parse as a media type (it answered them 400 before any verification). */
const UNPARSABLE = ['', 'json', '/', 'application/', ' ; ', 'text/plain; charset'];

/** Signatures cover the body bytes, never the Content-Type: it cannot decide an answer. */
describe('webhooks whatever the Content-Type', () => {
  let s: TestServer;
  const agent = new http.Agent({ keepAlive: true });
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(async () => {
    agent.destroy();
    await s.close();
  });

  for (const contentType of UNPARSABLE) {
    it(`answers a forgery 401 and stores an authentic delivery with Content-Type ${JSON.stringify(contentType)}`, async () => {
      const prove = new URL('/webhooks/prove', s.url);
      const forged = await rawPost(agent, prove, Buffer.from('{"notifications":[]}'), [
        ['content-type', contentType],
      ]);
      assert.deepEqual([forged.status, forged.text], [401, '{"error":"missing_signature"}']);

      const body = Buffer.from(JSON.stringify({ notifications: [proveNotification()] }));
      const token = await signProve({ secret: PROVE_SECRET, body });
      const stored = await rawPost(agent, prove, body, [
        ['content-type', contentType],
        ...Object.entries(proveHeaders(token)),
      ]);
      assert.deepEqual([stored.status, stored.text], [200, '{"accepted":1,"duplicates":0,"rejected":0}']);

      const vove = new URL('/webhooks/vove', s.url);
      const voveBody = Buffer.from(JSON.stringify({ status: 'pending', refId: `ref-${Math.random()}` }));
      const headers = signSvix({
        secret: VOVE_SECRET,
        id: `msg_${Math.random()}`,
        timestamp: new Date(),
        body: voveBody,
      });
      const svix = await rawPost(agent, vove, voveBody, [
        ['content-type', contentType],
        ...Object.entries(headers),
      ]);
      assert.equal(svix.status, 200, svix.text);
    });
  }
});
