-- Commits any number of verified deliveries in one transaction (src/ingest/store.ts), each statement
-- set-based over the whole batch; each delivery keeps the meaning it had alone, in batch order
-- (docs/adr/0009-group-commit.md):
-- - replay guard: a token id already stored, or used by an earlier delivery of the batch, makes its
--   delivery "replayed", and nothing of it is stored;
-- - events: idempotent on (provider, provider_event_id, identity, raw type); an event twice in a batch
--   is stored once, for the first delivery that carries it, and counted as a duplicate of the later ones;
-- - identity state: an identity whose new events all came from one delivery, in order, takes that
--   delivery's summary; any other is derived by derive_identity_state().
-- Locks are taken in a fixed order where two batches can meet (token ids and new identities by key,
-- identity rows by id). The delivery ids come from the caller, the events' order from `ord`, global to
-- the batch. Returns {"stored": [delivery ids not replayed], "accepted": {id: n}, "changed": {id:
-- [identity ids its new events went to]}, "created_us": {identity id: its created_at in µs}}: what the
-- response cache drops answers by (src/graphql/read-tags.ts).
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
  changed jsonb;
  created_us jsonb;
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
    RETURN jsonb_build_object('stored', '[]'::jsonb, 'accepted', '{}'::jsonb, 'changed', '{}'::jsonb,
                              'created_us', '{}'::jsonb);
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
         (SELECT jsonb_object_agg(delivery_id, ids)
          FROM (SELECT delivery_id, jsonb_agg(DISTINCT identity_id) AS ids FROM ins GROUP BY delivery_id) per),
         (SELECT array_agg(identity_id) FROM per_identity),
         -- Identities whose new events here all came from one delivery: its summary may apply.
         (SELECT jsonb_object_agg(identity_id, jsonb_build_array(delivery_id, n))
          FROM per_identity WHERE carriers = 1)
  INTO accepted, changed, touched, sole;
  accepted := coalesce(accepted, '{}'::jsonb);
  changed := coalesce(changed, '{}'::jsonb);

  UPDATE webhook_deliveries w
  SET event_count = coalesce((accepted->>w.id::text)::int, 0),
      duplicate_count = w.event_count - coalesce((accepted->>w.id::text)::int, 0)
  WHERE w.id = ANY (stored) AND w.event_count <> coalesce((accepted->>w.id::text)::int, 0);
  IF touched IS NULL THEN
    RETURN jsonb_build_object('stored', to_jsonb(stored), 'accepted', accepted, 'changed', changed,
                              'created_us', '{}'::jsonb);
  END IF;

  -- Identity rows are locked in id order before any is written: two batches that share identities
  -- then take turns instead of deadlocking (the updates below would lock them in no set order).
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
    carried AS MATERIALIZED (
      SELECT f.*, sole->(f.id::text) AS carrier FROM found f
    )
    SELECT apply_summaries(
             array_agg(c.id),
             -- ingest_batch_summary less its delivery: an ingest_summary.
             array_agg(ROW(c.provider, c.provider_identity_id, c.count, c.ends, c.last_status, c.verdict, c.raise,
                           c.first_at, c.last_at, c.deactivated_at, c.enrolled_at)::ingest_summary))
    INTO applied
    FROM carried c
    WHERE c.carrier->>0 = c.delivery_id::text AND (c.carrier->>1)::int = c.count;
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
  -- would serialise every commit. The app notifies after commit (src/feed/notifier.ts).
  SELECT jsonb_object_agg(i.id, (extract(epoch FROM i.created_at) * 1000000)::bigint::text)
  INTO created_us FROM identities i WHERE i.id = ANY (touched);
  RETURN jsonb_build_object('stored', to_jsonb(stored), 'accepted', accepted, 'changed', changed,
                            'created_us', created_us);
END
$$;
