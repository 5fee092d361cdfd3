import type { MigrationInterface, QueryRunner } from 'typeorm';
import { INGEST_DELIVERY_V1, RECORD_EVENTS_V1 } from './1763780100000-IngestFunctions.js';

/** ingest_delivery() as this migration leaves it; BatchIngest's down restores it. */
export const INGEST_DELIVERY_V2 = `
      CREATE OR REPLACE FUNCTION ingest_delivery(delivery jsonb, events jsonb, summaries jsonb) RETURNS jsonb
      LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        delivery_id uuid;
        jti text := delivery->>'jti';
        accepted int;
      BEGIN
        -- Replay guard first: a second use of a token id stores nothing. Concurrent copies serialise on
        -- the primary key, and exactly one inserts.
        IF jti IS NOT NULL THEN
          INSERT INTO prove_token_ids (jti, expires_at)
          VALUES (jti, (delivery->>'jtiExpiresAt')::timestamptz)
          ON CONFLICT DO NOTHING;
          IF NOT FOUND THEN
            RETURN jsonb_build_object('replayed', true);
          END IF;
        END IF;

        -- Recorded as if every event were new, the usual case; corrected below when some were not.
        INSERT INTO webhook_deliveries (provider, received_at, outcome, correlation_id, body_sha256,
                                        event_count, rejected_count, rejected_items)
        VALUES (delivery->>'provider', (delivery->>'receivedAt')::timestamptz, delivery->>'outcome',
                delivery->>'correlationId', delivery->>'bodySha256', jsonb_array_length(events),
                coalesce(jsonb_array_length(delivery->'rejected'), 0),
                nullif(delivery->'rejected', '[]'::jsonb))
        RETURNING id INTO delivery_id;

        accepted := record_events(delivery_id, events, summaries);

        IF accepted <> jsonb_array_length(events) THEN
          UPDATE webhook_deliveries
          SET event_count = accepted, duplicate_count = jsonb_array_length(events) - accepted
          WHERE id = delivery_id;
        END IF;

        -- No NOTIFY here: a notifying transaction holds a cluster-wide lock through its commit, which
        -- would serialise every commit. The app notifies after commit (src/events/notifier.ts).
        RETURN jsonb_build_object('replayed', false, 'deliveryId', delivery_id, 'accepted', accepted,
                                  'duplicates', jsonb_array_length(events) - accepted);
      END
      $$`;

/**
 * Less PostgreSQL work per webhook delivery (BENCHMARKS.md, webhook ingestion):
 * - record_events() updates identities through the primary key, always: its UPDATE … FROM join was
 *   planned once per session, and a plan made while identities was small scanned the whole table
 *   (2.3 of 3.6 ms per delivery, seen with auto_explain);
 * - the delivery row is inserted with the counts of an all-new delivery, the usual case, and updated
 *   only when some events were duplicates: most deliveries write their row once, not twice;
 * - the token ids' expiry index, read only by the purge every 5 minutes, becomes a BRIN index: rows
 *   arrive in expiry order, and a BRIN index is not written on every insert as a B-tree is.
 */
export class LeanerDelivery1763780300000 implements MigrationInterface {
  name = 'LeanerDelivery1763780300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(INGEST_DELIVERY_V2);
    await q.query(RECORD_EVENTS_V2);
    await q.query('DROP INDEX prove_token_ids_expiry_idx');
    await q.query('CREATE INDEX prove_token_ids_expiry_idx ON prove_token_ids USING brin (expires_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX prove_token_ids_expiry_idx');
    await q.query('CREATE INDEX prove_token_ids_expiry_idx ON prove_token_ids (expires_at)');
    await q.query('DROP FUNCTION record_events(uuid, jsonb, jsonb)');
    await q.query(RECORD_EVENTS_V1);
    await q.query('DROP FUNCTION ingest_delivery(jsonb, jsonb, jsonb)');
    await q.query(INGEST_DELIVERY_V1);
  }
}

/** record_events() as this migration leaves it; a later migration's down restores it. */
export const RECORD_EVENTS_V2 = `
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
          ON CONFLICT (provider, provider_event_id) DO NOTHING
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
