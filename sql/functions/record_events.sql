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
  -- latest committed version (a concurrent writer's update is waited for and apply_summaries' WHERE
  -- re-checked against it), so no lock is needed here.
  IF accepted = jsonb_array_length(events) THEN
    SELECT apply_summaries(
             array_agg((SELECT i.id FROM identities i
                        WHERE i.provider = s.provider AND i.provider_identity_id = s.provider_identity_id)),
             array_agg(s))
    INTO applied
    FROM jsonb_populate_recordset(NULL::ingest_summary, summaries) s;
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
