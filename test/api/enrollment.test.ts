import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import { toEventRows, toSummaryRows } from '../../src/data/ingest-rows.js';
import type { NormalizedEvent } from '../../src/domain/types.js';
import {
  batchEnroll,
  codeOf,
  DEACTIVATE,
  ENROLL,
  enroll,
  enrollOk,
  eventsOf,
  type IdentityView,
  REACTIVATE,
} from '../helpers/enrollment.js';
import { clearData } from '../helpers/seed.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { postPassbase, postProve, postVove, proveNotification, WEBHOOK_ENV } from '../helpers/webhooks.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('enrollment mutations (sandbox mode: no Prove credentials)', () => {
  let s: TestServer;
  before(async () => {
    s = await startTestServer({ env: WEBHOOK_ENV });
  });
  after(() => s.close());
  beforeEach(() => clearData(s.app.db));

  const count = async (sql: string, params: unknown[] = []) =>
    Number(((await s.app.db.query(sql, params)) as { n: string }[])[0]?.n);
  const identityCount = () => count('SELECT count(*) AS n FROM identities');
  const eventCount = () => count('SELECT count(*) AS n FROM identity_events');

  const deactivate = (id: string) => s.gql<{ deactivateIdentity: IdentityView }>(DEACTIVATE, { id });
  const reactivate = (id: string) => s.gql<{ reactivateIdentity: IdentityView }>(REACTIVATE, { id });

  /** Ends an identity the way Prove does: a signed DISCONNECT webhook. */
  async function disconnect(identity: IdentityView) {
    const res = await postProve(s.url, {
      notifications: [
        proveNotification({
          eventType: 'DISCONNECT',
          identityId: identity.providerIdentityId,
          clientCustomerId: identity.clientCustomerId,
        }),
      ],
    });
    assert.deepEqual(res.body, { accepted: 1, duplicates: 0, rejected: 0 });
  }

  describe('enrollIdentity', () => {
    it('enrolls a PROVE identity: E.164 stored, ACTIVE, a sandbox id, and an ENROLLED event the events query lists', async () => {
      const before = Date.now();
      const identity = await enrollOk(s.gql, {
        phoneNumber: '(202) 555-0123',
        clientCustomerId: '  cust-1 ',
      });
      assert.equal(identity.provider, 'PROVE');
      assert.equal(identity.phoneNumber, '+12025550123');
      assert.equal(identity.clientCustomerId, 'cust-1', 'trimmed');
      assert.match(identity.providerIdentityId ?? '', UUID, 'the sandbox generates the proveId');
      assert.equal(identity.status, 'ACTIVE');
      assert.equal(identity.riskLevel, 'UNKNOWN');
      assert.equal(identity.deactivatedAt, null);
      assert.ok(identity.enrolledAt && Date.parse(identity.enrolledAt) >= before - 1000);
      assert.equal(identity.lastEventAt, identity.enrolledAt);

      const events = await eventsOf(s.gql, identity.id, 1);
      assert.equal(events.length, 1);
      const [e] = events;
      assert.equal(e?.type, 'ENROLLED');
      assert.equal(e?.rawType, 'ENROLLED');
      assert.equal(e?.provider, 'PROVE');
      assert.equal(e?.identity.id, identity.id);
      assert.equal(e?.occurredAt, identity.enrolledAt);
      assert.match(e?.providerEventId ?? '', /^admin:[0-9a-f-]{36}$/);
      assert.equal(e?.description, 'enrolled by dev-admin');
    });

    it('masks the returned phone number for a writer without pii:read', async () => {
      const res = await enroll(s.gql, { phoneNumber: '2025550188' }, await s.token(['identities:write']));
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      assert.equal(res.body.data?.enrollIdentity.phoneNumber, '********0188');
    });

    it('enrolls PASSBASE and VOVE identities by their providerIdentityId, phone optional', async () => {
      const key = randomUUID();
      const passbase = await enrollOk(s.gql, { provider: 'PASSBASE', providerIdentityId: key });
      assert.deepEqual(
        [passbase.provider, passbase.providerIdentityId, passbase.phoneNumber, passbase.status],
        ['PASSBASE', key, null, 'ACTIVE'],
      );
      const vove = await enrollOk(s.gql, {
        provider: 'VOVE',
        providerIdentityId: 'ref-1',
        clientCustomerId: 'c-vove',
        phoneNumber: '+1 202 555 0100',
      });
      assert.deepEqual(
        [vove.provider, vove.providerIdentityId, vove.phoneNumber, vove.clientCustomerId],
        ['VOVE', 'ref-1', '+12025550100', 'c-vove'],
      );
      assert.deepEqual(
        (await eventsOf(s.gql, vove.id, 1)).map((e) => [e.type, e.provider]),
        [['ENROLLED', 'VOVE']],
      );
      const missing = await enroll(s.gql, { provider: 'VOVE', clientCustomerId: 'x' });
      assert.equal(codeOf(missing), 'BAD_USER_INPUT');
      assert.match(missing.body.errors?.[0]?.message ?? '', /providerIdentityId .*required for VOVE/);
      const badPhone = await enroll(s.gql, {
        provider: 'PASSBASE',
        providerIdentityId: 'k',
        phoneNumber: '123',
      });
      assert.equal(codeOf(badPhone), 'INVALID_PHONE_NUMBER');
    });

    it('adopts a VOVE identity a webhook created: same id, its risk kept, customer set, ENROLLED recorded', async () => {
      const refId = randomUUID();
      await postVove(s.url, { status: 'successful', refId }, { timestamp: new Date(Date.now() - 60_000) });
      const [created] = await s.app.db.query(
        'SELECT id, enrolled_at FROM identities WHERE provider_identity_id = $1',
        [refId],
      );
      assert.equal(created.enrolled_at, null);

      const adopted = await enrollOk(s.gql, {
        provider: 'VOVE',
        providerIdentityId: refId,
        clientCustomerId: 'c-9',
      });
      assert.equal(adopted.id, created.id);
      assert.equal(adopted.riskLevel, 'LOW', 'the verdict the webhook brought stands');
      assert.equal(adopted.clientCustomerId, 'c-9');
      assert.ok(adopted.enrolledAt);
      assert.equal(await identityCount(), 1);
      assert.deepEqual(
        (await eventsOf(s.gql, adopted.id, 2)).map((e) => e.type),
        ['ENROLLED', 'VERIFICATION_STATUS_CHANGED'],
      );

      const again = await enroll(s.gql, { provider: 'VOVE', providerIdentityId: refId });
      assert.equal(codeOf(again), 'ALREADY_ENROLLED');
      assert.equal(again.body.errors?.[0]?.extensions?.existingIdentityId, created.id);
    });

    it('adopts a Passbase identity a webhook created, keeping its declined verdict', async () => {
      const key = randomUUID();
      const now = Math.floor(Date.now() / 1000) - 60;
      await postPassbase(s.url, {
        event: 'VERIFICATION_REVIEWED',
        key,
        status: 'declined',
        created: now,
        updated: now,
        processed: now,
      });
      const adopted = await enrollOk(s.gql, { provider: 'PASSBASE', providerIdentityId: key });
      assert.deepEqual([adopted.status, adopted.riskLevel], ['ACTIVE', 'HIGH']);
      assert.equal(await identityCount(), 1);
    });

    it('answers ALREADY_ENROLLED with existingIdentityId for an ACTIVE or DEACTIVATED identity of the same customer', async () => {
      const first = await enrollOk(s.gql, { phoneNumber: '2025550101', clientCustomerId: 'dup' });
      const again = await enroll(s.gql, { phoneNumber: '2025550102', clientCustomerId: 'dup' });
      assert.equal(codeOf(again), 'ALREADY_ENROLLED');
      assert.equal(again.body.errors?.[0]?.extensions?.existingIdentityId, first.id);
      assert.equal(again.body.data, null);

      assert.equal((await deactivate(first.id)).body.data?.deactivateIdentity.status, 'DEACTIVATED');
      const whileDeactivated = await enroll(s.gql, { phoneNumber: '2025550102', clientCustomerId: 'dup' });
      assert.equal(codeOf(whileDeactivated), 'ALREADY_ENROLLED');
      assert.equal(whileDeactivated.body.errors?.[0]?.extensions?.existingIdentityId, first.id);

      // The same customer id with another provider is another enrollment.
      await enrollOk(s.gql, { provider: 'VOVE', providerIdentityId: 'r', clientCustomerId: 'dup' });
      assert.equal(await identityCount(), 2);
    });

    it('lets exactly one of 5 concurrent identical enrollments through; the others name it', async () => {
      const results = await Promise.all(
        Array.from({ length: 5 }, () =>
          enroll(s.gql, { phoneNumber: '2025550111', clientCustomerId: 'race' }),
        ),
      );
      const winners = results.filter((r) => r.body.data?.enrollIdentity);
      assert.equal(winners.length, 1);
      const winner = winners[0]!.body.data!.enrollIdentity.id;
      const losers = results.filter((r) => !r.body.data?.enrollIdentity);
      assert.deepEqual(
        losers.map((r) => [codeOf(r), r.body.errors?.[0]?.extensions?.existingIdentityId]),
        Array.from({ length: 4 }, () => ['ALREADY_ENROLLED', winner]),
      );
      assert.equal(await identityCount(), 1);
      assert.equal(await eventCount(), 1);
    });

    it('enrolls the same phone number twice without clientCustomerId (no duplicate check)', async () => {
      await enrollOk(s.gql, { phoneNumber: '2025550123' });
      await enrollOk(s.gql, { phoneNumber: '2025550123' });
      assert.equal(await identityCount(), 2);
    });

    for (const [what, phoneNumber] of [
      ['letters', 'abcdefghij'],
      ['too short', '202555012'],
      ['too long', '202555012345'],
      ['a non-US E.164 number', '+442071838750'],
      ['a US-length number with country code 44', '+44 202 555 0123'],
      ['an area code starting with 1', '1025550123'],
      ['empty', ''],
      ['blank', '   '],
      ['SQL-looking text', "2025550123'); DROP TABLE identities; --"],
      ['a control character', '202555\u00000123'],
    ] as const) {
      it(`refuses ${what} as phoneNumber with INVALID_PHONE_NUMBER and stores nothing`, async () => {
        const res = await enroll(s.gql, { phoneNumber, clientCustomerId: 'c' });
        assert.equal(codeOf(res), 'INVALID_PHONE_NUMBER');
        assert.match(res.body.errors?.[0]?.message ?? '', /phoneNumber must be a US number/);
        assert.equal(await identityCount(), 0);
      });
    }

    it('refuses a Canadian number with INVALID_PHONE_NUMBER saying it is not a US number, and stores nothing', async () => {
      const res = await enroll(s.gql, { phoneNumber: '+1 416 555 0123', clientCustomerId: 'c-toronto' });
      assert.equal(codeOf(res), 'INVALID_PHONE_NUMBER');
      assert.match(res.body.errors?.[0]?.message ?? '', /^phoneNumber is not a US number: .*Canada/);
      assert.equal(res.body.data, null);
      assert.equal(await identityCount(), 0);
      assert.equal(await eventCount(), 0);
    });

    it('refuses a PROVE enrollment without phoneNumber with BAD_USER_INPUT', async () => {
      const res = await enroll(s.gql, { clientCustomerId: 'c' });
      assert.equal(codeOf(res), 'BAD_USER_INPUT');
      assert.match(res.body.errors?.[0]?.message ?? '', /phoneNumber is required for PROVE/);
    });

    for (const [what, input, message] of [
      [
        'a providerIdentityId for PROVE',
        { phoneNumber: '2025550123', providerIdentityId: 'x' },
        /assigned by Prove/,
      ],
      [
        'an empty clientCustomerId',
        { phoneNumber: '2025550123', clientCustomerId: '  ' },
        /must not be empty/,
      ],
      [
        'a clientCustomerId over 200 characters',
        { phoneNumber: '2025550123', clientCustomerId: 'c'.repeat(201) },
        /at most 200/,
      ],
      [
        'a control character in clientCustomerId',
        { phoneNumber: '2025550123', clientCustomerId: 'a\nb' },
        /control characters/,
      ],
      [
        'a control character in providerIdentityId',
        { provider: 'VOVE', providerIdentityId: 'a\u0007b' },
        /control characters/,
      ],
    ] as const) {
      it(`refuses ${what} with BAD_USER_INPUT`, async () => {
        const res = await enroll(s.gql, input);
        assert.equal(codeOf(res), 'BAD_USER_INPUT');
        assert.match(res.body.errors?.[0]?.message ?? '', message);
        assert.equal(await identityCount(), 0);
      });
    }

    it('answers MONITORING_ENDED for a PASSBASE providerIdentityId whose identity ENDED, and re-enrolls an ENDED PROVE customer', async () => {
      // PASSBASE identities only end through the shared event path; record one the way webhooks do.
      const key = randomUUID();
      const ended: NormalizedEvent = {
        provider: 'PASSBASE',
        providerEventId: randomUUID(),
        providerIdentityId: key,
        clientCustomerId: null,
        type: 'DISCONNECT',
        rawType: 'DISCONNECT',
        description: null,
        occurredAt: new Date(Date.now() - 1000),
        newCarrier: null,
        newLineType: null,
        verificationStatus: null,
      };
      await s.app.db.query('SELECT record_events(NULL, $1::jsonb, $2::jsonb)', [
        JSON.stringify(toEventRows([ended])),
        JSON.stringify(toSummaryRows([ended])),
      ]);
      const [row] = await s.app.db.query(
        'SELECT id, status FROM identities WHERE provider_identity_id = $1',
        [key],
      );
      assert.equal(row.status, 'ENDED');
      const res = await enroll(s.gql, { provider: 'PASSBASE', providerIdentityId: key });
      assert.equal(codeOf(res), 'MONITORING_ENDED');
      assert.equal(res.body.errors?.[0]?.extensions?.existingIdentityId, row.id);

      const prove = await enrollOk(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'ended-cust' });
      await disconnect(prove);
      const again = await enrollOk(s.gql, { phoneNumber: '2025550124', clientCustomerId: 'ended-cust' });
      assert.notEqual(again.id, prove.id, 'an ENDED identity does not block its customer: a new identity');
      assert.equal(again.status, 'ACTIVE');
    });
  });

  describe('batchEnrollIdentities', () => {
    it('refuses an empty batch with BAD_USER_INPUT and 101 items with BATCH_TOO_LARGE, storing nothing', async () => {
      const empty = await batchEnroll(s.gql, []);
      assert.equal(codeOf(empty), 'BAD_USER_INPUT');
      const items = Array.from({ length: 101 }, (_, i) => ({
        phoneNumber: '2025550123',
        clientCustomerId: `c${i}`,
      }));
      const tooMany = await batchEnroll(s.gql, items);
      assert.equal(codeOf(tooMany), 'BATCH_TOO_LARGE');
      assert.equal(tooMany.body.data, null);
      assert.equal(await identityCount(), 0);
    });

    it('enrolls the good items and fails each bad one alone, in input order, with the right counts', async () => {
      const existing = await enrollOk(s.gql, { phoneNumber: '2025550100', clientCustomerId: 'taken' });
      const res = await batchEnroll(s.gql, [
        { phoneNumber: '2025550101', clientCustomerId: 'b-0' },
        { phoneNumber: 'not a phone', clientCustomerId: 'b-1' },
        { provider: 'VOVE', providerIdentityId: 'vove-b-2', clientCustomerId: 'b-2' },
        { phoneNumber: '2025550103', clientCustomerId: 'taken' },
        { phoneNumber: '2025550104', clientCustomerId: 'b-0' },
        { provider: 'PASSBASE' },
        { phoneNumber: '+1 (202) 555-0106' },
      ]);
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      const payload = res.body.data!.batchEnrollIdentities;
      assert.deepEqual([payload.enrolledCount, payload.failedCount], [3, 4]);
      assert.deepEqual(
        payload.results.map((r) => [r.index, r.identity?.clientCustomerId ?? null, r.error?.code ?? null]),
        [
          [0, 'b-0', null],
          [1, null, 'INVALID_PHONE_NUMBER'],
          [2, 'b-2', null],
          [3, null, 'ALREADY_ENROLLED'],
          [4, null, 'BAD_USER_INPUT'],
          [5, null, 'BAD_USER_INPUT'],
          [6, null, null],
        ],
      );
      assert.equal(payload.results[3]?.error?.existingIdentityId, existing.id);
      assert.match(
        payload.results[4]?.error?.message ?? '',
        /same provider and clientCustomerId .* as item 0/,
      );
      assert.equal(payload.results[6]?.identity?.phoneNumber, '+12025550106');
      assert.ok(payload.results.every((r) => (r.identity === null) !== (r.error === null)));
      assert.equal(await identityCount(), 4);
      assert.equal(await count("SELECT count(*) AS n FROM identity_events WHERE type = 'ENROLLED'"), 4);
      const vove = payload.results[2]!.identity!;
      assert.deepEqual(
        (await eventsOf(s.gql, vove.id, 1)).map((e) => [e.type, e.provider]),
        [['ENROLLED', 'VOVE']],
      );
    });

    it('enrolls a batch of 100 in sandbox mode in one call', async () => {
      const items = Array.from({ length: 100 }, (_, i) => ({
        phoneNumber: `20255${String(50000 + i).padStart(5, '0')}`,
        clientCustomerId: `bulk-${i}`,
      }));
      const res = await batchEnroll(s.gql, items);
      assert.equal(res.body.errors, undefined, JSON.stringify(res.body.errors));
      const payload = res.body.data!.batchEnrollIdentities;
      assert.deepEqual([payload.enrolledCount, payload.failedCount], [100, 0]);
      assert.deepEqual(
        payload.results.map((r) => [r.index, r.identity?.clientCustomerId, r.identity?.status]),
        items.map((item, i) => [i, item.clientCustomerId, 'ACTIVE']),
      );
      assert.equal(new Set(payload.results.map((r) => r.identity?.providerIdentityId)).size, 100);
      assert.equal(await count("SELECT count(*) AS n FROM identity_events WHERE type = 'ENROLLED'"), 100);
    });
  });

  describe('deactivateIdentity and reactivateIdentity', () => {
    it('deactivates (status, deactivatedAt, event) and reactivates (ACTIVE, event); repeating either changes nothing', async () => {
      const identity = await enrollOk(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'd-1' });
      const off = (await deactivate(identity.id)).body.data!.deactivateIdentity;
      assert.equal(off.status, 'DEACTIVATED');
      assert.ok(off.deactivatedAt && off.deactivatedAt >= identity.enrolledAt!);
      assert.equal(off.enrolledAt, identity.enrolledAt);
      assert.equal(off.lastEventAt, off.deactivatedAt);

      const offAgain = await deactivate(identity.id);
      assert.equal(offAgain.body.errors, undefined);
      assert.deepEqual(offAgain.body.data?.deactivateIdentity, off, 'idempotent');

      const on = (await reactivate(identity.id)).body.data!.reactivateIdentity;
      assert.deepEqual([on.status, on.deactivatedAt], ['ACTIVE', null]);
      const onAgain = await reactivate(identity.id);
      assert.deepEqual(onAgain.body.data?.reactivateIdentity, on, 'idempotent');

      const events = await eventsOf(s.gql, identity.id, 3);
      assert.deepEqual(
        events.map((e) => [e.type, e.provider, e.description]),
        [
          ['REACTIVATED', 'PROVE', 'reactivated by dev-admin'],
          ['DEACTIVATED', 'PROVE', 'deactivated by dev-admin'],
          ['ENROLLED', 'PROVE', 'enrolled by dev-admin'],
        ],
      );
    });

    it('refuses to reactivate or deactivate an ENDED identity with MONITORING_ENDED', async () => {
      const identity = await enrollOk(s.gql, { phoneNumber: '2025550123', clientCustomerId: 'e-1' });
      await disconnect(identity);
      const on = await reactivate(identity.id);
      assert.equal(codeOf(on), 'MONITORING_ENDED');
      assert.match(on.body.errors?.[0]?.message ?? '', /ENDED.*enroll it again/);
      assert.equal(codeOf(await deactivate(identity.id)), 'MONITORING_ENDED');
      const [row] = await s.app.db.query('SELECT status FROM identities WHERE id = $1', [identity.id]);
      assert.equal(row.status, 'ENDED');
      assert.equal(await eventCount(), 2, 'ENROLLED and DISCONNECT only');
    });

    it('keeps the order of rapid deactivate/reactivate cycles (database clock, serialised per identity)', async () => {
      const identity = await enrollOk(s.gql, { phoneNumber: '2025550123' });
      for (let i = 0; i < 5; i++) {
        assert.equal((await deactivate(identity.id)).body.data?.deactivateIdentity.status, 'DEACTIVATED');
        assert.equal((await reactivate(identity.id)).body.data?.reactivateIdentity.status, 'ACTIVE');
      }
      assert.equal((await eventsOf(s.gql, identity.id, 11)).length, 11);
    });

    it('answers NOT_FOUND for an unknown id and BAD_USER_INPUT for a malformed one', async () => {
      const unknown = await deactivate(randomUUID());
      assert.equal(codeOf(unknown), 'NOT_FOUND');
      assert.equal(codeOf(await reactivate(randomUUID())), 'NOT_FOUND');
      assert.equal(codeOf(await deactivate('not-an-id')), 'BAD_USER_INPUT');
    });
  });

  describe('auth', () => {
    const calls: [string, string, Record<string, unknown>][] = [
      ['enrollIdentity', ENROLL, { input: { phoneNumber: '2025550123' } }],
      [
        'batchEnrollIdentities',
        `mutation($ids: [EnrollIdentityInput!]!) { batchEnrollIdentities(identities: $ids) { enrolledCount } }`,
        { ids: [{ phoneNumber: '2025550123' }] },
      ],
      ['deactivateIdentity', DEACTIVATE, { id: randomUUID() }],
      ['reactivateIdentity', REACTIVATE, { id: randomUUID() }],
    ];
    for (const [name, query, variables] of calls) {
      it(`${name}: FORBIDDEN with identities:read only, UNAUTHENTICATED without a token`, async () => {
        const reader = await s.gql(query, variables, {
          token: await s.token(['identities:read', 'pii:read']),
        });
        assert.equal(codeOf(reader), 'FORBIDDEN');
        assert.match(reader.body.errors?.[0]?.message ?? '', /identities:write/);
        const anonymous = await s.gql(query, variables, { token: null });
        assert.equal(codeOf(anonymous), 'UNAUTHENTICATED');
        assert.equal(await identityCount(), 0);
      });
    }
  });
});
