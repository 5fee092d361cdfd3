import type { MigrationInterface, QueryRunner } from 'typeorm';
import { objectOf, SQL_FILES } from '../src/db/sql-files.js';
import { DERIVE_IDENTITY_STATE_V1 } from './1763780100000-IngestFunctions.js';
import { EVENT_HORIZON_V1 } from './1763780200000-EventHorizon.js';
import { RECORD_EVENTS_V2 } from './1763780300000-LeanerDelivery.js';
import { INGEST_BATCH_V2 } from './1763780700000-DeliverySigningKey.js';

/** The functions and types versioned migrations made; sql/ files came after this migration. */
const MADE_BY_MIGRATIONS = new Set([
  'function event_horizon',
  'function derive_identity_state',
  'function record_events',
  'function ingest_batch',
  'type ingest_event',
  'type ingest_summary',
  'type ingest_batch_delivery',
  'type ingest_batch_event',
  'type ingest_batch_summary',
]);

/**
 * This is the last migration before sql/ (docs/adr/0012-sql-files.md): migrate() applies the files after
 * it. Reverting it first drops what the files added (whatever they hold by then, newest file first) and
 * puts back the migrations' own event_horizon() and derive_identity_state(); the rest of the down
 * restores record_events() and ingest_batch() as before.
 */
async function dropSqlFiles(q: QueryRunner): Promise<void> {
  for (const file of [...SQL_FILES].reverse()) {
    const { kind, name } = objectOf(file);
    if (MADE_BY_MIGRATIONS.has(`${kind} ${name}`)) continue;
    if (kind === 'type') {
      await q.query(`DROP TYPE IF EXISTS ${name}`);
      continue;
    }
    const overloads: { f: string }[] = await q.query(
      `SELECT oid::regprocedure::text AS f FROM pg_proc
       WHERE proname = $1 AND pronamespace = current_schema()::regnamespace`,
      [name],
    );
    for (const { f } of overloads) await q.query(`DROP FUNCTION ${f}`);
  }
  await q.query(EVENT_HORIZON_V1);
  await q.query(DERIVE_IDENTITY_STATE_V1);
}

/**
 * An event is the same event when its provider, event id, identity and raw type are the same, not its
 * provider and event id alone. Prove's Identity Manager guide gives five notifications of one identity
 * one `eventId` (one per event type): deduplicated by the id alone, four of them were counted as
 * duplicates and lost, and Prove never retries. A false duplicate loses an event; a missed one costs a
 * row, so the key errs wide. The raw type (not the normalised one) keeps two unknown types apart. For
 * Passbase and VOVE, whose event ids already name one event (and whose retries repeat the identity and
 * type), the wider key changes nothing. providerEventId in the API stays the provider's id.
 *
 * The new unique index is built before the old one goes, so the table is never without one (a plain
 * CREATE INDEX holds off writes to identity_events while it runs). ingest_batch() and record_events()
 * are re-created in full with the new ON CONFLICT target, which must name the index's columns.
 */
export class ProveEventKey1763780800000 implements MigrationInterface {
  name = 'ProveEventKey1763780800000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNIQUE INDEX identity_events_event_key
      ON identity_events (provider, provider_event_id, identity_id, raw_type)`);
    await q.query('DROP INDEX identity_events_provider_event_key');
    await q.query(RECORD_EVENTS_V3);
    await q.query(INGEST_BATCH_V3);
  }

  async down(q: QueryRunner): Promise<void> {
    // The older key cannot hold events this one told apart; deleting them would lose data, so say so.
    const [row] = (await q.query(`SELECT count(*)::int AS n FROM (
        SELECT 1 FROM identity_events GROUP BY provider, provider_event_id HAVING count(*) > 1) AS shared`)) as {
      n: number;
    }[];
    if ((row?.n ?? 0) > 0) {
      throw new Error(
        `cannot revert ProveEventKey: ${row?.n} provider event id(s) stored more than once (for several identities or event types), which the unique key (provider, provider_event_id) cannot hold`,
      );
    }
    await dropSqlFiles(q);
    await q.query(
      'CREATE UNIQUE INDEX identity_events_provider_event_key ON identity_events (provider, provider_event_id)',
    );
    await q.query('DROP INDEX identity_events_event_key');
    await q.query(RECORD_EVENTS_V2);
    await q.query(INGEST_BATCH_V2);
  }
}

/** record_events() of LeanerDelivery, deduplicating on the wider key. */
export const RECORD_EVENTS_V3 = `
      CREATE OR REPLACE FUNCTION record_events(delivery_id uuid, events jsonb, summaries jsonb) RETURNS int
      LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        accepted int;
        stored_ids uuid[];
        applied uuid[];
        pending uuid[];
      BEGIN
        -- An identity never seen here is created by its first event (nothing is dropped).
        INSERT INTO identities (provider, provider_identity_id, client_customer_id)
        SELECT DISTINCT ON (provider, provider_identity_id) provider, provider_identity_id, client_customer_id
        FROM jsonb_populate_recordset(NULL::ingest_event, events)
        ORDER BY provider, provider_identity_id, ord
        ON CONFLICT (provider, provider_identity_id) DO NOTHING;

        WITH stored AS (
          INSERT INTO identity_events (identity_id, delivery_id, provider, provider_event_id, type, raw_type,
            description, occurred_at, client_customer_id, new_carrier, new_line_type, verification_status,
            status_effect, risk_mode, risk_effect, tiebreak)
          -- A correlated lookup per event (index identities_provider_identity_key): a join would be
          -- planned for the recordset's default estimate of 100 rows and scan every identity.
          SELECT (SELECT i.id FROM identities i
                  WHERE i.provider = x.provider AND i.provider_identity_id = x.provider_identity_id),
                 delivery_id, x.provider, x.provider_event_id, x.type, x.raw_type, x.description,
                 x.occurred_at, x.client_customer_id, x.new_carrier, x.new_line_type, x.verification_status,
                 x.status_effect, x.risk_mode, x.risk_effect, x.tiebreak
          FROM jsonb_populate_recordset(NULL::ingest_event, events) x
          ORDER BY x.ord
          ON CONFLICT (provider, provider_event_id, identity_id, raw_type) DO NOTHING
          RETURNING identity_id
        )
        SELECT count(*), array_agg(identity_id) INTO accepted, stored_ids FROM stored;
        IF accepted = 0 THEN
          RETURN 0;
        END IF;

        -- The usual case: the whole delivery was new (no duplicate: summaries describe exactly what was
        -- stored) and each identity's events all follow what its row reflects. The row is read as its
        -- latest committed version (a concurrent writer's update is waited for and this WHERE re-checked
        -- against it), so no lock is needed here.
        IF accepted = jsonb_array_length(events) THEN
          WITH sm AS MATERIALIZED (
            SELECT (SELECT i.id FROM identities i
                    WHERE i.provider = s.provider AND i.provider_identity_id = s.provider_identity_id) AS id, s.*
            FROM jsonb_populate_recordset(NULL::ingest_summary, summaries) s
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
            -- = ANY drives the update through the primary key: on a join alone, a plan made while the
            -- table was small (plans are generic and kept per session) scans every identity.
            WHERE i.id = ANY (ARRAY(SELECT id FROM sm)) AND i.id = sm.id
              AND (i.last_event_at IS NULL OR sm.first_at > i.last_event_at)
            RETURNING i.id
          )
          SELECT array_agg(id) INTO applied FROM updated;
        END IF;

        -- The rest (a late, older event, or a partly duplicate delivery) is derived from history.
        SELECT array_agg(DISTINCT id) INTO pending
        FROM unnest(stored_ids) AS id WHERE applied IS NULL OR id <> ALL (applied);
        IF pending IS NOT NULL THEN
          PERFORM derive_identity_state(pending);
        END IF;
        RETURN accepted;
      END
      $$`;

/** ingest_batch() of DeliverySigningKey, deduplicating on the wider key. */
export const INGEST_BATCH_V3 = `
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
                                          event_count, rejected_count, rejected_items, signing_key)
          SELECT id, provider, received_at, outcome, correlation_id, body_sha256, event_count,
                 coalesce(jsonb_array_length(rejected_items), 0), nullif(rejected_items, '[]'::jsonb),
                 signing_key
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
          ON CONFLICT (provider, provider_event_id, identity_id, raw_type) DO NOTHING
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
