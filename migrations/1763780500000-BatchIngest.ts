import type { MigrationInterface, QueryRunner } from 'typeorm';
import { INGEST_DELIVERY_V2 } from './1763780300000-LeanerDelivery.js';

/**
 * ingest_batch() replaces ingest_delivery(): it commits any number of verified deliveries in one
 * transaction, each statement set-based over the whole batch. Deliveries that arrive while earlier
 * ones are being committed wait and go together (src/ingest/commit-queue.ts), so under load one
 * commit, one round trip and one execution of each statement serve many deliveries: 0.9 ms of
 * PostgreSQL CPU per single-notification delivery alone, 0.25 ms in batches of 25 (BENCHMARKS.md).
 *
 * Each delivery keeps the meaning it had alone, in batch order:
 * - replay guard: a token id already stored, or used by an earlier delivery of the same batch, makes
 *   its delivery "replayed", and nothing of it is stored (no delivery row, no event);
 * - events: idempotent on (provider, provider_event_id); an event twice in a batch is stored once,
 *   for the first delivery that carries it, and counted as a duplicate of the later ones;
 * - identity state: an identity whose new events all came from one delivery, in order, takes that
 *   delivery's summary (composed by the policy in TypeScript) as record_events() does; any other
 *   (several deliveries of the batch, duplicates, late events) is derived by derive_identity_state(),
 *   which folds every event this transaction stored in (occurred_at, tiebreak, id) order.
 * Locks are taken in a fixed order where two batches can meet (token ids and new identities by key,
 * identity rows by id), so concurrent batches do not deadlock on those. Two batches carrying the same
 * new events in opposite orders still can; the caller then writes each delivery alone.
 *
 * The delivery ids come from the caller (it keeps them to answer each delivery), the events' order from
 * `ord`, global to the batch; events and summaries carry their delivery's id. The result: {"stored": [delivery ids not replayed], "accepted": {id: n}}.
 */
export class BatchIngest1763780500000 implements MigrationInterface {
  name = 'BatchIngest1763780500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TYPE ingest_batch_delivery AS (
        id uuid, ord int, provider text, received_at timestamptz, outcome text, correlation_id text,
        body_sha256 text, jti text, jti_expires_at timestamptz, event_count int, rejected_items jsonb
      )`);
    await q.query(`
      CREATE TYPE ingest_batch_event AS (
        ord int, delivery_id uuid, provider text, provider_event_id text, provider_identity_id text,
        client_customer_id text, type text, raw_type text, description text, occurred_at timestamptz,
        new_carrier text, new_line_type text, verification_status text, status_effect text, risk_mode text,
        risk_effect text, tiebreak smallint
      )`);
    await q.query(`
      CREATE TYPE ingest_batch_summary AS (
        delivery_id uuid, provider text, provider_identity_id text, count int, ends boolean, last_status text,
        verdict text, raise text, first_at timestamptz, last_at timestamptz, deactivated_at timestamptz,
        enrolled_at timestamptz
      )`);
    await q.query(INGEST_BATCH_V1);
    await q.query('DROP FUNCTION ingest_delivery(jsonb, jsonb, jsonb)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(INGEST_DELIVERY_V2);
    await q.query('DROP FUNCTION ingest_batch(jsonb, jsonb, jsonb)');
    await q.query('DROP TYPE ingest_batch_summary');
    await q.query('DROP TYPE ingest_batch_event');
    await q.query('DROP TYPE ingest_batch_delivery');
  }
}

/** ingest_batch() as this migration creates it; a later migration's down restores it. */
export const INGEST_BATCH_V1 = `
      CREATE OR REPLACE FUNCTION ingest_batch(deliveries jsonb, events jsonb, summaries jsonb) RETURNS jsonb
      LANGUAGE plpgsql
      -- Plans are made once per connection (generic), and every statement here finds its rows through
      -- an index. A plan made while a table is small would scan it whole, and keep doing so once it is
      -- large (LeanerDelivery): scans are ruled out instead.
      SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
      DECLARE
        won text[];
        stored uuid[];
        accepted jsonb;
        touched uuid[];
        sole jsonb;
        applied uuid[];
        pending uuid[];
      BEGIN
        -- Replay guard first. Token ids are inserted in key order, so two batches sharing some wait for
        -- each other in the same order; concurrent copies serialise on the key and exactly one inserts.
        WITH ins AS (
          INSERT INTO prove_token_ids (jti, expires_at)
          SELECT DISTINCT ON (d.jti) d.jti, d.jti_expires_at
          FROM jsonb_populate_recordset(NULL::ingest_batch_delivery, deliveries) d
          WHERE d.jti IS NOT NULL
          ORDER BY d.jti, d.ord
          ON CONFLICT DO NOTHING
          RETURNING jti
        )
        SELECT array_agg(jti) INTO won FROM ins;

        -- A delivery is stored when it has no token id, or when it is the first of the batch with a
        -- token id that was not stored before. Each row is written with the counts of an all-new
        -- delivery, the usual case, and corrected below when some events were duplicates.
        WITH d AS (
          SELECT d.*, d.jti IS NULL OR (d.jti = ANY (won) AND d.ord = min(d.ord) OVER (PARTITION BY d.jti)) AS fresh
          FROM jsonb_populate_recordset(NULL::ingest_batch_delivery, deliveries) d
        ),
        ins AS (
          INSERT INTO webhook_deliveries (id, provider, received_at, outcome, correlation_id, body_sha256,
                                          event_count, rejected_count, rejected_items)
          SELECT id, provider, received_at, outcome, correlation_id, body_sha256, event_count,
                 coalesce(jsonb_array_length(rejected_items), 0), nullif(rejected_items, '[]'::jsonb)
          FROM d WHERE fresh
          ORDER BY ord
          RETURNING id
        )
        SELECT array_agg(id) INTO stored FROM ins;
        IF stored IS NULL THEN
          RETURN jsonb_build_object('stored', '[]'::jsonb, 'accepted', '{}'::jsonb);
        END IF;

        -- An identity never seen here is created by its first event (nothing is dropped), in key order.
        INSERT INTO identities (provider, provider_identity_id, client_customer_id)
        SELECT DISTINCT ON (provider, provider_identity_id) provider, provider_identity_id, client_customer_id
        FROM jsonb_populate_recordset(NULL::ingest_batch_event, events)
        WHERE delivery_id = ANY (stored)
        ORDER BY provider, provider_identity_id, ord
        ON CONFLICT (provider, provider_identity_id) DO NOTHING;

        WITH ins AS (
          INSERT INTO identity_events (identity_id, delivery_id, provider, provider_event_id, type, raw_type,
            description, occurred_at, client_customer_id, new_carrier, new_line_type, verification_status,
            status_effect, risk_mode, risk_effect, tiebreak)
          -- A correlated lookup per event (index identities_provider_identity_key): a join would be
          -- planned for the recordset's default estimate of 100 rows and scan every identity.
          SELECT (SELECT i.id FROM identities i
                  WHERE i.provider = x.provider AND i.provider_identity_id = x.provider_identity_id),
                 x.delivery_id, x.provider, x.provider_event_id, x.type, x.raw_type, x.description,
                 x.occurred_at, x.client_customer_id, x.new_carrier, x.new_line_type, x.verification_status,
                 x.status_effect, x.risk_mode, x.risk_effect, x.tiebreak
          FROM jsonb_populate_recordset(NULL::ingest_batch_event, events) x
          WHERE x.delivery_id = ANY (stored)
          ORDER BY x.ord
          ON CONFLICT (provider, provider_event_id) DO NOTHING
          RETURNING identity_id, delivery_id
        ),
        per_identity AS (
          SELECT identity_id, min(delivery_id::text) AS delivery_id, count(*) AS n,
                 count(DISTINCT delivery_id) AS carriers
          FROM ins GROUP BY identity_id
        )
        SELECT (SELECT jsonb_object_agg(delivery_id, n)
                FROM (SELECT delivery_id, count(*) AS n FROM ins GROUP BY delivery_id) per),
               (SELECT array_agg(identity_id) FROM per_identity),
               -- Identities whose new events here all came from one delivery: its summary may apply.
               (SELECT jsonb_object_agg(identity_id, jsonb_build_array(delivery_id, n))
                FROM per_identity WHERE carriers = 1)
        INTO accepted, touched, sole;
        accepted := coalesce(accepted, '{}'::jsonb);

        UPDATE webhook_deliveries w
        SET event_count = coalesce((accepted->>w.id::text)::int, 0),
            duplicate_count = w.event_count - coalesce((accepted->>w.id::text)::int, 0)
        WHERE w.id = ANY (stored) AND w.event_count <> coalesce((accepted->>w.id::text)::int, 0);
        IF touched IS NULL THEN
          RETURN jsonb_build_object('stored', to_jsonb(stored), 'accepted', accepted);
        END IF;

        -- Identity rows are locked in id order before any is written: two batches that share identities
        -- then take turns instead of deadlocking (the update below would lock them in no set order).
        PERFORM 1 FROM identities WHERE id = ANY (touched) ORDER BY id FOR NO KEY UPDATE;

        -- The usual case: an identity's new events all came from one delivery, which stored every event it
        -- had for it (its summary describes exactly what was stored), and they all follow what the row
        -- reflects. The summary is then folded onto the row as it is, without reading history (the row is
        -- locked, so it is the latest committed version).
        IF sole IS NOT NULL THEN
          WITH found AS MATERIALIZED (
            SELECT (SELECT i.id FROM identities i
                    WHERE i.provider = s.provider AND i.provider_identity_id = s.provider_identity_id) AS id, s.*
            FROM jsonb_populate_recordset(NULL::ingest_batch_summary, summaries) s
            WHERE s.delivery_id = ANY (stored)
          ),
          sm AS MATERIALIZED (
            SELECT f.*, sole->(f.id::text) AS carrier FROM found f
          ),
          updated AS (
            UPDATE identities i SET
              status = CASE WHEN i.status = 'ENDED' OR sm.ends THEN 'ENDED' ELSE coalesce(sm.last_status, i.status) END,
              risk_level = (ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'])[greatest(
                array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], coalesce(sm.verdict, i.risk_level)),
                coalesce(array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], sm.raise), 1))],
              deactivated_at = CASE
                WHEN i.status <> 'ENDED' AND NOT sm.ends AND coalesce(sm.last_status, i.status) = 'DEACTIVATED'
                THEN coalesce(sm.deactivated_at, i.deactivated_at) END,
              enrolled_at = greatest(i.enrolled_at, sm.enrolled_at),
              last_event_at = sm.last_at,
              updated_at = now()
            FROM sm
            WHERE i.id = sm.id AND sm.carrier->>0 = sm.delivery_id::text AND (sm.carrier->>1)::int = sm.count
              AND (i.last_event_at IS NULL OR sm.first_at > i.last_event_at)
            RETURNING i.id
          )
          SELECT array_agg(id) INTO applied FROM updated;
        END IF;

        -- The rest (a late, older event, a partly duplicate delivery, an identity several deliveries of the
        -- batch wrote to) is derived from this transaction's events, or from history when they come late.
        pending := ARRAY(SELECT unnest(touched) EXCEPT SELECT unnest(applied));
        IF cardinality(pending) = 0 THEN
          pending := NULL;
        END IF;
        IF pending IS NOT NULL THEN
          PERFORM derive_identity_state(pending);
        END IF;

        -- No NOTIFY here: a notifying transaction holds a cluster-wide lock through its commit, which
        -- would serialise every commit. The app notifies after commit (src/events/notifier.ts).
        RETURN jsonb_build_object('stored', to_jsonb(stored), 'accepted', accepted);
      END
      $$`;
