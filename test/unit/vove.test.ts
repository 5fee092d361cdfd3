import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import type { VerifiedDelivery, VerifyResult } from '../../src/ingest/providers/provider.js';
import { voveProvider } from '../../src/ingest/providers/vove.js';
// The example delivery of the VOVE ID Webhooks guide.
import {
  VOVE_SAMPLE_BODY as DOC_BODY,
  VOVE_SAMPLE_MESSAGE_ID as MESSAGE_ID,
} from '../fixtures/provider-samples.js';
import { randomSvixSecret, signSvix } from '../fixtures/signers.js';

const SECRET = randomSvixSecret();
const provider = voveProvider({ secret: SECRET });

/** Signs with the svix library at `timestamp` (default: the real clock, which svix's verify reads). */
function signed(body: string | Buffer, timestamp = new Date(), secret = SECRET): IncomingHttpHeaders {
  return { ...signSvix({ secret, id: MESSAGE_ID, timestamp, body }) };
}

function codeOf(result: VerifyResult): string {
  return result.ok ? 'ok' : result.code;
}

function deliveryOf(result: VerifyResult): VerifiedDelivery {
  assert.ok(result.ok, `expected a verified delivery, got ${codeOf(result)}`);
  return result.delivery;
}

async function parseBody(body: string) {
  const raw = Buffer.from(body);
  return provider.parse(deliveryOf(await provider.verify(raw, signed(raw), new Date())));
}

describe('vove verify', () => {
  it('accepts a delivery signed by svix; the message id and timestamp come along', async () => {
    const raw = Buffer.from(DOC_BODY);
    const timestamp = new Date(Math.floor(Date.now() / 1000) * 1000);
    const delivery = deliveryOf(await provider.verify(raw, signed(raw, timestamp), new Date()));
    assert.equal(delivery.messageId, MESSAGE_ID);
    assert.deepEqual(delivery.signedAt, timestamp);
    assert.equal(delivery.plaintext, raw);
    assert.equal(delivery.replayGuard, null);
  });

  it('accepts the unbranded webhook-* headers', async () => {
    const raw = Buffer.from(DOC_BODY);
    const headers = signed(raw);
    const unbranded = {
      'webhook-id': headers['svix-id'],
      'webhook-timestamp': headers['svix-timestamp'],
      'webhook-signature': headers['svix-signature'],
    };
    assert.equal(codeOf(await provider.verify(raw, unbranded, new Date())), 'ok');
  });

  it('accepts several signatures when only the second one is valid, and refuses when none is', async () => {
    const raw = Buffer.from(DOC_BODY);
    const headers = signed(raw);
    const good = String(headers['svix-signature']);
    const otherSecretSig = String(signed(raw, new Date(), randomSvixSecret())['svix-signature']);
    const both = { ...headers, 'svix-signature': `${otherSecretSig} ${good}` };
    assert.equal(codeOf(await provider.verify(raw, both, new Date())), 'ok');
    const neither = {
      ...headers,
      'svix-signature': `${otherSecretSig} v1,${Buffer.alloc(32).toString('base64')}`,
    };
    assert.equal(codeOf(await provider.verify(raw, neither, new Date())), 'invalid_signature');
  });

  it('answers timestamp_out_of_tolerance 10 minutes in the past or the future, accepts 4 minutes off', async () => {
    const raw = Buffer.from(DOC_BODY);
    const now = new Date();
    for (const offsetSeconds of [-600, 600]) {
      const timestamp = new Date(now.getTime() + offsetSeconds * 1000);
      assert.equal(
        codeOf(await provider.verify(raw, signed(raw, timestamp), now)),
        'timestamp_out_of_tolerance',
      );
    }
    for (const offsetSeconds of [-240, 240]) {
      const timestamp = new Date(now.getTime() + offsetSeconds * 1000);
      assert.equal(codeOf(await provider.verify(raw, signed(raw, timestamp), now)), 'ok');
    }
  });

  it('checks the timestamp against the clock it is given', async () => {
    const raw = Buffer.from(DOC_BODY);
    const twoHoursAhead = new Date(Date.now() + 2 * 3600 * 1000);
    assert.equal(
      codeOf(await provider.verify(raw, signed(raw), twoHoursAhead)),
      'timestamp_out_of_tolerance',
    );
  });

  it('answers invalid_signature for a malformed signature or timestamp header', async () => {
    const raw = Buffer.from(DOC_BODY);
    const headers = signed(raw);
    for (const signature of ['garbage', 'v1', 'v1,', 'v2,abc', ',,,', 'v1,not base64 at all!']) {
      const result = await provider.verify(raw, { ...headers, 'svix-signature': signature }, new Date());
      assert.equal(codeOf(result), 'invalid_signature', signature);
    }
    const timestamp = `${headers['svix-timestamp']}abc`;
    const result = await provider.verify(raw, { ...headers, 'svix-timestamp': timestamp }, new Date());
    assert.equal(codeOf(result), 'invalid_signature');
  });

  it('answers invalid_signature when the body or the message id was changed', async () => {
    const raw = Buffer.from(DOC_BODY);
    const headers = signed(raw);
    const tampered = Buffer.from(DOC_BODY.replace('successful', 'suspected'));
    assert.equal(codeOf(await provider.verify(tampered, headers, new Date())), 'invalid_signature');
    assert.equal(
      codeOf(await provider.verify(raw, { ...headers, 'svix-id': 'msg_other' }, new Date())),
      'invalid_signature',
    );
  });

  it('answers missing_signature when any of the three headers is missing', async () => {
    const raw = Buffer.from(DOC_BODY);
    const headers = signed(raw);
    for (const name of ['svix-id', 'svix-timestamp', 'svix-signature']) {
      const partial = { ...headers };
      delete partial[name];
      assert.equal(codeOf(await provider.verify(raw, partial, new Date())), 'missing_signature', name);
    }
    assert.equal(codeOf(await provider.verify(raw, {}, new Date())), 'missing_signature');
  });

  it('verifies an authentic body that is not JSON, for parse to refuse', async () => {
    const raw = Buffer.from('not json at all');
    const delivery = deliveryOf(await provider.verify(raw, signed(raw), new Date()));
    assert.deepEqual(provider.parse(delivery), { ok: false, message: 'body is not valid JSON' });
  });

  it('refuses a secret that is not whsec_<base64> at construction, without quoting it', () => {
    assert.throws(
      () => voveProvider({ secret: 'whsec_!!!secret!!!' }),
      (error: Error) => {
        assert.equal(error.message.includes('!!!secret!!!'), false);
        return true;
      },
    );
  });
});

describe('vove parse', () => {
  it('turns the documented delivery into one VERIFICATION_STATUS_CHANGED event', async () => {
    const raw = Buffer.from(DOC_BODY);
    const timestamp = new Date(Math.floor(Date.now() / 1000) * 1000);
    const result = provider.parse(deliveryOf(await provider.verify(raw, signed(raw, timestamp), new Date())));
    assert.deepEqual(result, {
      ok: true,
      rejected: [],
      events: [
        {
          provider: 'VOVE',
          providerEventId: MESSAGE_ID,
          providerIdentityId: '2e96ebd0-c1b8-11ee-b56a-a345411e245d',
          clientCustomerId: null,
          type: 'VERIFICATION_STATUS_CHANGED',
          rawType: 'successful',
          description: null,
          occurredAt: timestamp,
          newCarrier: null,
          newLineType: null,
          verificationStatus: 'successful',
        },
      ],
    });
  });

  it('prefers refId and falls back to the deprecated userId', async () => {
    const both = await parseBody('{"status": "pending", "refId": "ref-1", "userId": "user-1"}');
    assert.ok(both.ok);
    assert.equal(both.events[0]?.providerIdentityId, 'ref-1');
    const legacy = await parseBody('{"status": "in_progress", "userId": "user-1"}');
    assert.ok(legacy.ok);
    assert.equal(legacy.events[0]?.providerIdentityId, 'user-1');
    assert.equal(legacy.events[0]?.verificationStatus, 'in_progress');
  });

  it('refuses a delivery with neither refId nor userId', async () => {
    assert.deepEqual(await parseBody('{"status": "suspected"}'), {
      ok: false,
      message: 'refId / userId is missing',
    });
  });

  it('refuses an unknown or missing status with the allowed values in the message', async () => {
    assert.deepEqual(await parseBody('{"status": "failed", "refId": "ref-1"}'), {
      ok: false,
      message: 'status must be one of in_progress, pending, successful, suspected, got "failed"',
    });
    assert.deepEqual(await parseBody('{"refId": "ref-1"}'), { ok: false, message: 'status is missing' });
    assert.deepEqual(await parseBody('["successful"]'), {
      ok: false,
      message: 'body must be a JSON object, got array',
    });
  });

  it('never throws on random bytes, signed or not', async () => {
    for (let i = 0; i < 200; i++) {
      const raw = randomBytes(1 + (i % 64) * 4);
      const forged = { ...signed(Buffer.from('{}')), 'svix-signature': `v1,${raw.toString('base64')}` };
      assert.equal(codeOf(await provider.verify(raw, forged, new Date())), 'invalid_signature');
      const delivery = deliveryOf(await provider.verify(raw, signed(raw), new Date()));
      assert.equal(provider.parse(delivery).ok, false);
    }
  });
});
