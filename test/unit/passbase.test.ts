import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { passbaseProvider } from '../../src/ingest/providers/passbase.js';
import type { VerifiedDelivery, VerifyResult } from '../../src/ingest/providers/provider.js';
// The VERIFICATION_REVIEWED sample of Passbase's webhooks documentation.
import { PASSBASE_REVIEWED_SAMPLE as REVIEWED } from '../fixtures/provider-samples.js';
import { encryptPassbase } from '../fixtures/signers.js';

const KEY = randomBytes(32);
const NOW = new Date();
const provider = passbaseProvider({ key: KEY, allowUnencrypted: false });
const lenient = passbaseProvider({ key: KEY, allowUnencrypted: true });

function codeOf(result: VerifyResult): string {
  return result.ok ? 'ok' : result.code;
}

function deliveryOf(result: VerifyResult): VerifiedDelivery {
  assert.ok(result.ok, `expected a verified delivery, got ${codeOf(result)}`);
  return result.delivery;
}

async function verifyText(text: string | Buffer, using = provider): Promise<VerifyResult> {
  return using.verify(Buffer.from(text), {}, NOW);
}

/** Flips one bit of the decoded delivery at `byteIndex` (negative: from the end) and re-encodes it. */
function flipBit(body: string, byteIndex: number): string {
  const bytes = Buffer.from(body, 'base64');
  const index = byteIndex < 0 ? bytes.length + byteIndex : byteIndex;
  bytes[index] = (bytes[index] ?? 0) ^ 0x01;
  return bytes.toString('base64');
}

async function parseEvent(json: unknown) {
  return provider.parse(deliveryOf(await verifyText(encryptPassbase({ key: KEY, json }))));
}

describe('passbase verify', () => {
  it('decrypts a delivery encrypted as Passbase does and hands on the plaintext', async () => {
    const delivery = deliveryOf(await verifyText(encryptPassbase({ key: KEY, json: REVIEWED })));
    assert.deepEqual(JSON.parse(delivery.plaintext.toString('utf8')), REVIEWED);
    assert.equal(delivery.replayGuard, null);
    assert.equal(delivery.messageId, null);
  });

  it('accepts line-wrapped base64 with a trailing newline', async () => {
    const body = encryptPassbase({ key: KEY, json: REVIEWED });
    const wrapped = `${body.replace(/(.{60})/g, '$1\n')}\n`;
    assert.equal(codeOf(await verifyText(wrapped)), 'ok');
  });

  it('answers decryption_failed for a delivery encrypted under another key', async () => {
    assert.equal(
      codeOf(await verifyText(encryptPassbase({ key: randomBytes(32), json: REVIEWED }))),
      'decryption_failed',
    );
  });

  it('answers decryption_failed for a bit flipped in the last block, the first block or the IV', async () => {
    const body = encryptPassbase({ key: KEY, json: REVIEWED });
    // -1 and -17 break the padding; 16 and 20 garble the first plaintext block; 0 (IV) turns "{" into "z".
    // A flip elsewhere in the IV only flips the same bit of the plaintext and may leave valid JSON: CBC
    // without a MAC is malleable, a limit of Passbase's scheme that parse's strict validation narrows.
    for (const byteIndex of [-1, -17, 0, 16, 20]) {
      assert.equal(
        codeOf(await verifyText(flipBit(body, byteIndex))),
        'decryption_failed',
        String(byteIndex),
      );
    }
  });

  it('answers decryption_failed for a truncated delivery', async () => {
    const bytes = Buffer.from(encryptPassbase({ key: KEY, json: REVIEWED }), 'base64');
    for (const length of [0, 1, 15, 16, 17, 31, 32, bytes.length - 16, bytes.length - 1]) {
      const truncated = bytes.subarray(0, length).toString('base64');
      assert.equal(codeOf(await verifyText(truncated)), 'decryption_failed', String(length));
    }
  });

  it('answers decryption_failed for plaintext that decrypts but is not JSON or not UTF-8', async () => {
    assert.equal(
      codeOf(await verifyText(encryptPassbase({ key: KEY, json: 'hello, not json' }))),
      'decryption_failed',
    );
    // The documented sample as sent, trailing comma included, is not JSON either.
    const sample = `${JSON.stringify(REVIEWED).slice(0, -1)},}`;
    assert.equal(codeOf(await verifyText(encryptPassbase({ key: KEY, json: sample }))), 'decryption_failed');
    // 0xff never occurs in UTF-8: a lenient decoder would make it U+FFFD and parse a string the sender never wrote.
    const notUtf8 = Buffer.from([0x22, 0xff, 0x22]);
    assert.equal(codeOf(await verifyText(encryptPassbase({ key: KEY, json: notUtf8 }))), 'decryption_failed');
  });

  it('answers decryption_failed for random bytes and for text that is not base64', async () => {
    assert.equal(codeOf(await verifyText(randomBytes(64).toString('base64'))), 'decryption_failed');
    assert.equal(codeOf(await verifyText(randomBytes(64))), 'decryption_failed');
    const body = encryptPassbase({ key: KEY, json: REVIEWED });
    // Node's base64 decoder would skip the stray characters and decrypt the rest.
    assert.equal(codeOf(await verifyText(`${body.slice(0, 20)}!*${body.slice(20)}`)), 'decryption_failed');
    assert.equal(codeOf(await verifyText('')), 'decryption_failed');
  });

  it('returns one identical answer for every failure class', async () => {
    const body = encryptPassbase({ key: KEY, json: REVIEWED });
    const failures = await Promise.all(
      ['%%%', flipBit(body, -1), flipBit(body, 0), encryptPassbase({ key: KEY, json: 'x' })].map((text) =>
        verifyText(text),
      ),
    );
    for (const failure of failures) assert.deepEqual(failure, { ok: false, code: 'decryption_failed' });
  });

  it('accepts plain JSON only when unencrypted deliveries are allowed', async () => {
    const plain = ` \n${JSON.stringify(REVIEWED)}`;
    assert.equal(codeOf(await verifyText(plain)), 'decryption_failed');
    const delivery = deliveryOf(await verifyText(plain, lenient));
    const result = lenient.parse(delivery);
    assert.ok(result.ok);
    assert.equal(result.events[0]?.providerIdentityId, REVIEWED.key);
    // Encrypted deliveries still work when plain ones are allowed.
    assert.equal(codeOf(await verifyText(encryptPassbase({ key: KEY, json: REVIEWED }), lenient)), 'ok');
  });

  it('refuses a key that is not 32 bytes', () => {
    assert.throws(
      () => passbaseProvider({ key: randomBytes(16), allowUnencrypted: false }),
      /32 bytes, got 16/,
    );
  });
});

describe('passbase parse', () => {
  it('turns a reviewed verification into one event', async () => {
    const result = await parseEvent(REVIEWED);
    assert.deepEqual(result, {
      ok: true,
      rejected: [],
      events: [
        {
          provider: 'PASSBASE',
          providerEventId: 'b76e244e-26a3-49ef-9c72-3e599bf0b5f2:VERIFICATION_REVIEWED:approved:1582628999',
          providerIdentityId: 'b76e244e-26a3-49ef-9c72-3e599bf0b5f2',
          clientCustomerId: null,
          type: 'VERIFICATION_REVIEWED',
          rawType: 'VERIFICATION_REVIEWED',
          description: null,
          occurredAt: new Date(1582628999 * 1000),
          newCarrier: null,
          newLineType: null,
          verificationStatus: 'approved',
        },
      ],
    });
  });

  it('gives the same event the same id when it is delivered twice with different IVs', async () => {
    const first = encryptPassbase({ key: KEY, json: REVIEWED });
    const second = encryptPassbase({ key: KEY, json: REVIEWED });
    assert.notEqual(first, second);
    const ids = [];
    for (const body of [first, second]) {
      const result = provider.parse(deliveryOf(await verifyText(body)));
      assert.ok(result.ok);
      ids.push(result.events[0]?.providerEventId);
    }
    assert.equal(ids[0], ids[1]);
    const declined = await parseEvent({ ...REVIEWED, status: 'declined', updated: REVIEWED.updated + 60 });
    assert.ok(declined.ok);
    assert.notEqual(declined.events[0]?.providerEventId, ids[0]);
  });

  it('accepts a completed event without processed', async () => {
    const { processed: _processed, ...withoutProcessed } = {
      ...REVIEWED,
      event: 'VERIFICATION_COMPLETED',
      status: 'pending',
    };
    const result = await parseEvent(withoutProcessed);
    assert.ok(result.ok);
    assert.equal(result.events[0]?.type, 'VERIFICATION_COMPLETED');
    assert.equal(result.events[0]?.verificationStatus, 'pending');
  });

  it('refuses valid JSON that is not a Passbase event, saying why', async () => {
    const cases: [unknown, string][] = [
      [[REVIEWED], 'body must be a JSON object, got array'],
      [
        { ...REVIEWED, event: 'VERIFICATION_STARTED' },
        'event must be one of VERIFICATION_COMPLETED, VERIFICATION_REVIEWED, got "VERIFICATION_STARTED"',
      ],
      [{ ...REVIEWED, key: 'not-a-uuid' }, 'key must be a UUID, got "not-a-uuid"'],
      [{ ...REVIEWED, key: undefined }, 'key is missing'],
      [
        { ...REVIEWED, status: 'APPROVED' },
        'status must be one of pending, approved, declined, got "APPROVED"',
      ],
      [{ ...REVIEWED, created: undefined }, 'created is missing'],
      [{ ...REVIEWED, updated: '1582628999' }, 'updated must be a unix time in whole seconds, got string'],
      [
        { ...REVIEWED, updated: 1582628999.5 },
        'updated must be a unix time in whole seconds, got 1582628999.5',
      ],
      [
        { ...REVIEWED, processed: -1 },
        'processed must be a unix time from 0 to 253402300799 (9999-12-31T23:59:59Z), got -1',
      ],
      // Year 10000: a Date holds it, PostgreSQL does not store it as sent.
      [
        { ...REVIEWED, updated: 253402300800 },
        'updated must be a unix time from 0 to 253402300799 (9999-12-31T23:59:59Z), got 253402300800',
      ],
      [
        { ...REVIEWED, updated: 1e20 },
        'updated must be a unix time from 0 to 253402300799 (9999-12-31T23:59:59Z), got 100000000000000000000',
      ],
      [42, 'body must be a JSON object, got number'],
    ];
    for (const [json, message] of cases) {
      assert.deepEqual(await parseEvent(JSON.stringify(json)), { ok: false, message });
    }
  });

  it('never throws on random bytes, as they come or decrypted', async () => {
    for (let i = 0; i < 200; i++) {
      // Half of them whole AES blocks after the IV, so that the padding check itself is exercised.
      const raw = randomBytes(i % 2 === 0 ? 16 * (2 + (i % 8)) : 1 + (i % 97));
      assert.equal(codeOf(await verifyText(raw.toString('base64'))), 'decryption_failed');
      const plain = await verifyText(raw, lenient);
      if (plain.ok) assert.equal(lenient.parse(plain.delivery).ok, false);
      const parsed = provider.parse({
        plaintext: raw,
        correlationId: null,
        replayGuard: null,
        messageId: null,
        signedAt: null,
        signingKey: null,
      });
      assert.equal(parsed.ok, false);
    }
  });
});
