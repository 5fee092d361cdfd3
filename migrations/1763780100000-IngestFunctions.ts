import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ingestion in one round trip. A webhook delivery is one call of ingest_delivery(): replay guard,
 * delivery record, identities, events (idempotent on the provider event id), identity state and the
 * change notification, all in the caller's transaction. Round trips to PostgreSQL, not the framework,
 * decide webhook throughput (see BENCHMARKS.md), hence a function rather than five statements.
 *
 * derive_identity_state() is the closed form of the policy fold in src/domain/identity-policy.ts:
 *   status = ENDED if any event ends the identity, else the last status effect, else ACTIVE;
 *   risk   = the highest of (the last verdict, or UNKNOWN) and every raise ordered after that verdict,
 * with events ordered by (occurred_at, tiebreak, id). test/api/policy.test.ts checks it against the fold.
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
    await q.query(`
      CREATE FUNCTION derive_identity_state(ids uuid[]) RETURNS void LANGUAGE sql AS $$
        WITH last_verdict AS (
          SELECT DISTINCT ON (identity_id) identity_id, risk_effect, occurred_at, tiebreak, id
          FROM identity_events
          WHERE identity_id = ANY (ids) AND risk_mode = 'replace'
          ORDER BY identity_id, occurred_at DESC, tiebreak DESC, id DESC
        ),
        raised AS (
          SELECT e.identity_id,
                 max(array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], e.risk_effect)) AS rank
          FROM identity_events e
          LEFT JOIN last_verdict v ON v.identity_id = e.identity_id
          WHERE e.identity_id = ANY (ids) AND e.risk_mode = 'raise'
            AND (v.identity_id IS NULL OR (e.occurred_at, e.tiebreak, e.id) > (v.occurred_at, v.tiebreak, v.id))
          GROUP BY e.identity_id
        ),
        statuses AS (
          SELECT identity_id,
                 bool_or(status_effect = 'ENDED') AS ended,
                 (array_agg(status_effect ORDER BY occurred_at DESC, tiebreak DESC, id DESC)
                    FILTER (WHERE status_effect IS NOT NULL))[1] AS last_status,
                 (array_agg(occurred_at ORDER BY occurred_at DESC, tiebreak DESC, id DESC)
                    FILTER (WHERE type = 'DEACTIVATED'))[1] AS last_deactivated,
                 max(occurred_at) FILTER (WHERE type = 'ENROLLED') AS enrolled_at,
                 max(occurred_at) AS last_event_at
          FROM identity_events
          WHERE identity_id = ANY (ids)
          GROUP BY identity_id
        )
        UPDATE identities i SET
          status = d.status,
          risk_level = d.risk_level,
          enrolled_at = coalesce(d.enrolled_at, i.enrolled_at),
          deactivated_at = CASE WHEN d.status = 'DEACTIVATED' THEN d.last_deactivated END,
          last_event_at = d.last_event_at,
          updated_at = now()
        FROM (
          SELECT s.identity_id,
                 CASE WHEN s.ended THEN 'ENDED' ELSE coalesce(s.last_status, 'ACTIVE') END AS status,
                 (ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'])[greatest(
                    coalesce(array_position(ARRAY['UNKNOWN','LOW','MEDIUM','HIGH'], v.risk_effect), 1),
                    coalesce(r.rank, 1))] AS risk_level,
                 s.last_deactivated, s.enrolled_at, s.last_event_at
          FROM statuses s
          LEFT JOIN last_verdict v ON v.identity_id = s.identity_id
          LEFT JOIN raised r ON r.identity_id = s.identity_id
        ) d
        WHERE i.id = d.identity_id
      $$`);

    await q.query(`
      CREATE FUNCTION ingest_delivery(delivery jsonb, events jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        delivery_id uuid;
        jti text := delivery->>'jti';
        accepted int := 0;
        affected uuid[];
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

        -- An identity never enrolled here is created by its first event (nothing is dropped).
        INSERT INTO identities (provider, provider_identity_id, client_customer_id)
        SELECT DISTINCT ON (provider, provider_identity_id) provider, provider_identity_id, client_customer_id
        FROM jsonb_populate_recordset(NULL::ingest_event, events)
        ORDER BY provider, provider_identity_id, ord
        ON CONFLICT (provider, provider_identity_id) DO NOTHING;

        WITH stored AS (
          INSERT INTO identity_events (identity_id, delivery_id, provider, provider_event_id, type, raw_type,
            description, occurred_at, client_customer_id, new_carrier, new_line_type, verification_status,
            status_effect, risk_mode, risk_effect, tiebreak)
          SELECT i.id, delivery_id, x.provider, x.provider_event_id, x.type, x.raw_type, x.description,
                 x.occurred_at, x.client_customer_id, x.new_carrier, x.new_line_type, x.verification_status,
                 x.status_effect, x.risk_mode, x.risk_effect, x.tiebreak
          FROM jsonb_populate_recordset(NULL::ingest_event, events) x
          JOIN identities i ON i.provider = x.provider AND i.provider_identity_id = x.provider_identity_id
          ORDER BY x.ord
          ON CONFLICT (provider, provider_event_id) DO NOTHING
          RETURNING identity_id
        )
        SELECT count(*), array_agg(DISTINCT identity_id) INTO accepted, affected FROM stored;

        IF accepted > 0 THEN
          PERFORM derive_identity_state(affected);
          -- Delivered on commit; listeners read new events by position, never from the payload.
          PERFORM pg_notify('identity_events', '');
        END IF;

        UPDATE webhook_deliveries
        SET event_count = accepted, duplicate_count = jsonb_array_length(events) - accepted
        WHERE id = delivery_id;

        RETURN jsonb_build_object('replayed', false, 'deliveryId', delivery_id, 'accepted', accepted,
                                  'duplicates', jsonb_array_length(events) - accepted);
      END
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION ingest_delivery(jsonb, jsonb)');
    await q.query('DROP FUNCTION derive_identity_state(uuid[])');
    await q.query('DROP TYPE ingest_event');
  }
}
