import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { toEventRows, toSummaryRows } from '../../src/data/ingest-rows.js';
import { createDataSource } from '../../src/db/data-source.js';
import { effectOf, foldEvents, type OrderedEffect } from '../../src/domain/identity-policy.js';
import type { NormalizedEvent } from '../../src/domain/types.js';
import { EVENT_TYPES, type EventType } from '../../src/domain/types.js';
import { openTestDataSource, type TestDataSource } from '../helpers/db.js';
import { foldedState, storedState } from '../helpers/policy.js';
import { rng, VERIFICATION_STATUSES } from '../helpers/random.js';

describe('derive_identity_state() agrees with the policy fold', () => {
  let t: TestDataSource;
  let ds: DataSource;
  before(async () => {
    t = await openTestDataSource();
    ds = t.ds;
  });
  after(() => t.close());

  it('on 300 random event histories, applied in random arrival order', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const n = 1 + Math.floor(rand() * 8);
      const events: (OrderedEffect & { type: EventType; vs: string | null })[] = [];
      for (let i = 0; i < n; i++) {
        const type = pick(EVENT_TYPES);
        const vs = type.startsWith('VERIFICATION') ? pick(VERIFICATION_STATUSES) : null;
        // Few distinct minutes so ties in occurredAt are common.
        const occurredAt = new Date(Date.UTC(2025, 0, 1, 0, Math.floor(rand() * 4)));
        events.push({ ...effectOf({ type, verificationStatus: vs }), occurredAt, seq: i, type, vs });
      }
      const [{ id }] = await ds.query("INSERT INTO identities (provider) VALUES ('PROVE') RETURNING id");
      for (const e of events) {
        await ds.query(
          `INSERT INTO identity_events (identity_id, provider, provider_event_id, type, raw_type, occurred_at,
             verification_status, status_effect, risk_mode, risk_effect, tiebreak)
           VALUES ($1, 'PROVE', gen_random_uuid()::text, $2, $2, $3, $4, $5, $6, $7, $8)`,
          [id, e.type, e.occurredAt, e.vs, e.status, e.risk?.mode ?? null, e.risk?.level ?? null, e.tiebreak],
        );
      }
      await ds.query('SELECT derive_identity_state(ARRAY[$1::uuid])', [id]);
      const [row] = await ds.query('SELECT status, risk_level FROM identities WHERE id = $1', [id]);
      const expected = foldEvents(events);
      assert.deepEqual(
        { status: row.status, riskLevel: row.risk_level },
        expected,
        `seed ${seed}: ${events.map((e) => `${e.type}/${e.vs}@${e.occurredAt.getUTCMinutes()}`).join(', ')}`,
      );
    }
  });

  /** A random history of one identity as normalized events, with few distinct minutes (ties are common). */
  function history(seed: number, identity: string): NormalizedEvent[] {
    const rand = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    return Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, i) => {
      const type = pick(EVENT_TYPES);
      return {
        provider: 'PROVE' as const,
        providerEventId: `${identity}-${i}`,
        providerIdentityId: identity,
        clientCustomerId: null,
        type,
        rawType: type,
        description: null,
        occurredAt: new Date(Date.UTC(2025, 0, 1, 0, Math.floor(rand() * 5))),
        newCarrier: null,
        newLineType: null,
        verificationStatus: type.startsWith('VERIFICATION') ? pick(VERIFICATION_STATUSES) : null,
      };
    });
  }

  /** Splits events into deliveries of 1 to 3, shuffled (arrival order differs from occurredAt order). */
  function deliveries(seed: number, events: NormalizedEvent[]): NormalizedEvent[][] {
    const rand = rng(seed * 7919);
    const out: NormalizedEvent[][] = [];
    for (let i = 0; i < events.length; ) {
      const n = 1 + Math.floor(rand() * 3);
      out.push(events.slice(i, i + n));
      i += n;
    }
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [out[i], out[j]] = [out[j] as NormalizedEvent[], out[i] as NormalizedEvent[]];
    }
    // Sometimes a delivery comes twice (a provider retry): all duplicates the second time.
    if (rand() < 0.3 && out[0]) out.push(out[0]);
    return out;
  }

  const record = (d: NormalizedEvent[]) =>
    ds.query('SELECT record_events(NULL, $1::jsonb, $2::jsonb)', [
      JSON.stringify(toEventRows(d)),
      JSON.stringify(toSummaryRows(d)),
    ]);

  const expected = (identity: string) => foldedState(ds, identity);
  const actual = (identity: string) => storedState(ds, identity);

  it('on 300 histories delivered in pieces, out of order and with redeliveries (incremental and full paths)', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const identity = `seq-${seed}`;
      for (const d of deliveries(seed, history(seed, identity))) await record(d);
      assert.deepEqual(await actual(identity), await expected(identity), `seed ${seed}`);
    }
  });

  it('with deliveries for the same identities committed concurrently from 8 connections', async () => {
    const big = createDataSource({ url: t.db.url, poolSize: 8 });
    await big.initialize();
    try {
      const work = Array.from({ length: 40 }, (_, k) =>
        deliveries(1000 + k, history(1000 + k, `conc-${k}`)),
      ).flat();
      // Interleave identities so concurrent transactions keep meeting on the same rows.
      work.sort((a, b) => (a[0]?.occurredAt.getTime() ?? 0) - (b[0]?.occurredAt.getTime() ?? 0));
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < work.length) {
            const d = work[next++] as NormalizedEvent[];
            await big.query('SELECT record_events(NULL, $1::jsonb, $2::jsonb)', [
              JSON.stringify(toEventRows(d)),
              JSON.stringify(toSummaryRows(d)),
            ]);
          }
        }),
      );
      for (let k = 0; k < 40; k++)
        assert.deepEqual(await actual(`conc-${k}`), await expected(`conc-${k}`), `identity ${k}`);
    } finally {
      await big.destroy();
    }
  });
});
