import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataSource } from 'typeorm';
import { createDataSource } from '../../src/db/data-source.js';
import { effectOf, foldEvents, type OrderedEffect } from '../../src/domain/identity-policy.js';
import { EVENT_TYPES, type EventType } from '../../src/domain/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

/** Deterministic PRNG so a failure can be replayed from its seed. */
function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const STATUSES = ['pending', 'approved', 'declined', 'in_progress', 'successful', 'suspected'];

describe('derive_identity_state() agrees with the policy fold', () => {
  let db: TestDatabase;
  let ds: DataSource;
  before(async () => {
    db = await createTestDatabase();
    ds = createDataSource({ url: db.url, poolSize: 2 });
    await ds.initialize();
  });
  after(async () => {
    await ds.destroy();
    await db.drop();
  });

  it('on 300 random event histories, applied in random arrival order', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      const n = 1 + Math.floor(rand() * 8);
      const events: (OrderedEffect & { type: EventType; vs: string | null })[] = [];
      for (let i = 0; i < n; i++) {
        const type = pick(EVENT_TYPES);
        const vs = type.startsWith('VERIFICATION') ? pick(STATUSES) : null;
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
});
