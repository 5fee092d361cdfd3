import type { MigrationInterface, QueryRunner } from 'typeorm';

/** record_events() and ingest_delivery() as this migration creates them; LeanerDelivery's down restores them. */
export const RECORD_EVENTS_V1 = `
      CREATE FUNCTION record_events(delivery_id uuid, events jsonb, summaries jsonb) RETURNS int
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
            WHERE i.id = sm.id AND (i.last_event_at IS NULL OR sm.first_at > i.last_event_at)
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

export const INGEST_DELIVERY_V1 = `
      CREATE FUNCTION ingest_delivery(delivery jsonb, events jsonb, summaries jsonb) RETURNS jsonb
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

        INSERT INTO webhook_deliveries (provider, received_at, outcome, correlation_id, body_sha256,
                                        rejected_count, rejected_items)
        VALUES (delivery->>'provider', (delivery->>'receivedAt')::timestamptz, delivery->>'outcome',
                delivery->>'correlationId', delivery->>'bodySha256',
                coalesce(jsonb_array_length(delivery->'rejected'), 0),
                nullif(delivery->'rejected', '[]'::jsonb))
        RETURNING id INTO delivery_id;

        accepted := record_events(delivery_id, events, summaries);

        UPDATE webhook_deliveries
        SET event_count = accepted, duplicate_count = jsonb_array_length(events) - accepted
        WHERE id = delivery_id;

        -- No NOTIFY here: a notifying transaction holds a cluster-wide lock through its commit, which
        -- would serialise every commit. The app notifies after commit (src/events/notifier.ts).
        RETURN jsonb_build_object('replayed', false, 'deliveryId', delivery_id, 'accepted', accepted,
                                  'duplicates', jsonb_array_length(events) - accepted);
      END
      $$`;

/** derive_identity_state() as this migration creates it; ProveEventKey's down restores it. */
export const DERIVE_IDENTITY_STATE_V1 = `
      CREATE OR REPLACE FUNCTION derive_identity_state(ids uuid[]) RETURNS void LANGUAGE plpgsql
      SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        me xid8 := pg_current_xact_id();
      BEGIN
        -- Writers of one identity take turns; the statement below then reads with a fresh snapshot that
        -- sees every event committed before this lock was granted. NO KEY UPDATE does not conflict with
        -- the KEY SHARE locks that event inserts take through the foreign key, so this cannot deadlock
        -- with them; the id order keeps two multi-identity deliveries from deadlocking each other.
        PERFORM 1 FROM identities WHERE id = ANY (ids) ORDER BY id FOR NO KEY UPDATE;

        WITH base AS (
          -- Incremental when this transaction's events all come after everything the row already
          -- reflects (events arriving in order, the common case): fold them onto the row. Otherwise
          -- (a late, older event) derive from the identity's whole history.
          SELECT i.id, i.status, i.risk_level, i.last_event_at, i.enrolled_at, i.deactivated_at,
                 coalesce(own.first_at > i.last_event_at OR (own.first_at IS NOT NULL AND i.last_event_at IS NULL), false)
                   AS incremental
          FROM identities i
          CROSS JOIN LATERAL (SELECT min(e.occurred_at) AS first_at FROM identity_events e
                              WHERE e.identity_id = i.id AND e.tx_id = me) own
          WHERE i.id = ANY (ids)
        ),
        ev AS (
          SELECT e.identity_id, e.occurred_at, e.tiebreak, e.id, e.type, e.status_effect, e.risk_mode, e.risk_effect
          FROM base b JOIN identity_events e ON e.identity_id = b.id AND e.tx_id = me
          WHERE b.incremental
          UNION ALL
          SELECT e.identity_id, e.occurred_at, e.tiebreak, e.id, e.type, e.status_effect, e.risk_mode, e.risk_effect
          FROM base b JOIN identity_events e ON e.identity_id = b.id
          WHERE NOT b.incremental
        ),
        last_verdict AS (
          SELECT DISTINCT ON (identity_id) identity_id, risk_effect, occurred_at, tiebreak, id
          FROM ev WHERE risk_mode = 'replace'
          ORDER BY identity_id, occurred_at DESC, tiebreak DESC, id DESC
        ),
        raised AS (
          SELECT ev.identity_id, max(array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], ev.risk_effect)) AS rank
          FROM ev LEFT JOIN last_verdict v ON v.identity_id = ev.identity_id
          WHERE ev.risk_mode = 'raise'
            AND (v.identity_id IS NULL OR (ev.occurred_at, ev.tiebreak, ev.id) > (v.occurred_at, v.tiebreak, v.id))
          GROUP BY ev.identity_id
        ),
        agg AS (
          SELECT identity_id,
                 bool_or(status_effect = 'ENDED') AS ended,
                 (array_agg(status_effect ORDER BY occurred_at DESC, tiebreak DESC, id DESC)
                    FILTER (WHERE status_effect IS NOT NULL))[1] AS last_status,
                 (array_agg(occurred_at ORDER BY occurred_at DESC, tiebreak DESC, id DESC)
                    FILTER (WHERE type = 'DEACTIVATED'))[1] AS last_deactivated,
                 max(occurred_at) FILTER (WHERE type = 'ENROLLED') AS enrolled_at,
                 max(occurred_at) AS last_event_at
          FROM ev GROUP BY identity_id
        ),
        d AS (
          -- The starting point is the row itself (incremental) or a never-seen identity (full).
          SELECT b.id,
                 CASE WHEN a.ended OR (b.incremental AND b.status = 'ENDED') THEN 'ENDED'
                      ELSE coalesce(a.last_status, CASE WHEN b.incremental THEN b.status ELSE 'ACTIVE' END)
                 END AS status,
                 (ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'])[greatest(
                    coalesce(array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], v.risk_effect),
                             CASE WHEN b.incremental THEN array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], b.risk_level)
                                  ELSE 1 END),
                    coalesce(r.rank, 1))] AS risk_level,
                 coalesce(a.last_deactivated, CASE WHEN b.incremental THEN b.deactivated_at END) AS deactivated_at,
                 coalesce(a.enrolled_at, b.enrolled_at) AS enrolled_at,
                 greatest(a.last_event_at, CASE WHEN b.incremental THEN b.last_event_at END) AS last_event_at
          FROM base b
          JOIN agg a ON a.identity_id = b.id
          LEFT JOIN last_verdict v ON v.identity_id = b.id
          LEFT JOIN raised r ON r.identity_id = b.id
        )
        UPDATE identities i SET
          status = d.status,
          risk_level = d.risk_level,
          enrolled_at = d.enrolled_at,
          deactivated_at = CASE WHEN d.status = 'DEACTIVATED' THEN d.deactivated_at END,
          last_event_at = d.last_event_at,
          updated_at = now()
        FROM d
        WHERE i.id = d.id;
      END
      $$`;

/**
 * Ingestion in one round trip. A webhook delivery is one call of ingest_delivery(): replay guard,
 * delivery record, identities, events (idempotent on the provider event id) and identity state, all
 * in the caller's transaction; record_events() is the part mutations share. Round trips to PostgreSQL, not the framework,
 * decide webhook throughput (see BENCHMARKS.md), hence a function rather than five statements.
 *
 * derive_identity_state() is the closed form of the policy fold in src/domain/identity-policy.ts:
 *   status = ENDED if any event ends the identity, else the last status effect, else the start;
 *   risk   = the highest of (the last verdict, or the start) and every raise ordered after that verdict,
 * with events ordered by (occurred_at, tiebreak, id), starting from the identity's row when the new
 * events all follow what it reflects, else from a fresh identity over its whole history.
 * test/api/policy-sql.test.ts checks both paths against the fold, with concurrent writers.
 */
export class IngestFunctions1763780100000 implements MigrationInterface {
  name = 'IngestFunctions1763780100000';

  async up(q: QueryRunner): Promise<void> {
    // One normalized event as src/ingest/ingest.service.ts sends it (snake_case keys).
    await q.query(`
      CREATE TYPE ingest_event AS (
        ord int, provider text, provider_event_id text, provider_identity_id text, client_customer_id text,
        type text, raw_type text, description text, occurred_at timestamptz, new_carrier text,
        new_line_type text, verification_status text, status_effect text, risk_mode text, risk_effect text,
        tiebreak smallint
      )`);
    await q.query(DERIVE_IDENTITY_STATE_V1);

    // What one delivery's events do to one identity, composed in TypeScript (summarize() in
    // src/domain/identity-policy.ts), applied below without reading the identity's history.
    await q.query(`
      CREATE TYPE ingest_summary AS (
        provider text, provider_identity_id text, count int, ends boolean, last_status text,
        verdict text, raise text, first_at timestamptz, last_at timestamptz,
        deactivated_at timestamptz, enrolled_at timestamptz
      )`);

    await q.query(RECORD_EVENTS_V1);

    await q.query(INGEST_DELIVERY_V1);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION ingest_delivery(jsonb, jsonb, jsonb)');
    await q.query('DROP FUNCTION record_events(uuid, jsonb, jsonb)');
    await q.query('DROP TYPE ingest_summary');
    await q.query('DROP FUNCTION derive_identity_state(uuid[])');
    await q.query('DROP TYPE ingest_event');
  }
}
