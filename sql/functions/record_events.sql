-- Stores events and derives their identities' state, in the caller's transaction: enrollment,
-- deactivation and reactivation record their events here (src/enrollment/enrollment.store.ts, with a
-- NULL delivery), the way ingest_batch() records a delivery's. Events are idempotent on (provider,
-- provider_event_id, identity, raw type); an identity never seen is created by its first event.
-- Returns how many events were new.
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
$$;
