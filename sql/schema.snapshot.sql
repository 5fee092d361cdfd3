-- The schema of an empty database after migrate() (PostgreSQL 17, schema public), from the catalog.
-- Written by `npm run db:dump`; test/api/schema-dump.test.ts fails when it is out of date. Do not edit.

-- Extensions

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;

-- Composite types

CREATE TYPE public.ingest_batch_delivery AS (
    id uuid,
    ord integer,
    provider text,
    received_at timestamp with time zone,
    outcome text,
    correlation_id text,
    body_sha256 text,
    jti text,
    jti_expires_at timestamp with time zone,
    event_count integer,
    rejected_items jsonb,
    signing_key text
);

CREATE TYPE public.ingest_batch_event AS (
    ord integer,
    delivery_id uuid,
    provider text,
    provider_event_id text,
    provider_identity_id text,
    client_customer_id text,
    type text,
    raw_type text,
    description text,
    occurred_at timestamp with time zone,
    new_carrier text,
    new_line_type text,
    verification_status text,
    status_effect text,
    risk_mode text,
    risk_effect text,
    tiebreak smallint
);

CREATE TYPE public.ingest_batch_summary AS (
    delivery_id uuid,
    provider text,
    provider_identity_id text,
    count integer,
    ends boolean,
    last_status text,
    verdict text,
    raise text,
    first_at timestamp with time zone,
    last_at timestamp with time zone,
    deactivated_at timestamp with time zone,
    enrolled_at timestamp with time zone
);

CREATE TYPE public.ingest_event AS (
    ord integer,
    provider text,
    provider_event_id text,
    provider_identity_id text,
    client_customer_id text,
    type text,
    raw_type text,
    description text,
    occurred_at timestamp with time zone,
    new_carrier text,
    new_line_type text,
    verification_status text,
    status_effect text,
    risk_mode text,
    risk_effect text,
    tiebreak smallint
);

CREATE TYPE public.ingest_summary AS (
    provider text,
    provider_identity_id text,
    count integer,
    ends boolean,
    last_status text,
    verdict text,
    raise text,
    first_at timestamp with time zone,
    last_at timestamp with time zone,
    deactivated_at timestamp with time zone,
    enrolled_at timestamp with time zone
);

-- Tables

CREATE TABLE public.identities (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    provider text NOT NULL,
    provider_identity_id text,
    client_customer_id text,
    phone_number text,
    status text DEFAULT 'ACTIVE'::text NOT NULL,
    risk_level text DEFAULT 'UNKNOWN'::text NOT NULL,
    enrolled_at timestamp with time zone,
    deactivated_at timestamp with time zone,
    last_event_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
) WITH (fillfactor=80);

CREATE TABLE public.identity_events (
    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,
    tx_id xid8 DEFAULT pg_current_xact_id() NOT NULL,
    identity_id uuid NOT NULL,
    delivery_id uuid,
    provider text NOT NULL,
    provider_event_id text NOT NULL,
    type text NOT NULL,
    raw_type text NOT NULL,
    description text,
    occurred_at timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    client_customer_id text,
    new_carrier text,
    new_line_type text,
    verification_status text,
    status_effect text,
    risk_mode text,
    risk_effect text,
    tiebreak smallint DEFAULT 0 NOT NULL
);

CREATE TABLE public.prove_token_ids (
    jti text NOT NULL,
    expires_at timestamp with time zone NOT NULL
);

CREATE TABLE public.rejection_budget (
    provider text NOT NULL,
    window_start timestamp with time zone NOT NULL,
    used integer NOT NULL
);

CREATE TABLE public.typeorm_migrations (
    id integer DEFAULT nextval('public.typeorm_migrations_id_seq'::regclass) NOT NULL,
    "timestamp" bigint NOT NULL,
    name character varying NOT NULL
);

CREATE TABLE public.webhook_deliveries (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    provider text NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome text NOT NULL,
    correlation_id text,
    body_sha256 text,
    event_count integer DEFAULT 0 NOT NULL,
    duplicate_count integer DEFAULT 0 NOT NULL,
    rejected_count integer DEFAULT 0 NOT NULL,
    rejected_items jsonb,
    signing_key text
);

-- Sequences

CREATE SEQUENCE public.identity_events_id_seq AS bigint START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 CACHE 1 OWNED BY public.identity_events.id;

CREATE SEQUENCE public.typeorm_migrations_id_seq AS integer START WITH 1 INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 CACHE 1 OWNED BY public.typeorm_migrations.id;

-- Constraints

ALTER TABLE ONLY public.identities ADD CONSTRAINT identities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.identities ADD CONSTRAINT identities_provider_check CHECK ((provider = ANY (ARRAY['PROVE'::text, 'PASSBASE'::text, 'VOVE'::text])));

ALTER TABLE ONLY public.identities ADD CONSTRAINT identities_risk_level_check CHECK ((risk_level = ANY (ARRAY['UNKNOWN'::text, 'LOW'::text, 'MEDIUM'::text, 'HIGH'::text])));

ALTER TABLE ONLY public.identities ADD CONSTRAINT identities_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'DEACTIVATED'::text, 'ENDED'::text])));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_check CHECK (((risk_mode IS NULL) = (risk_effect IS NULL)));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_identity_id_fkey FOREIGN KEY (identity_id) REFERENCES public.identities(id);

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_provider_check CHECK ((provider = ANY (ARRAY['PROVE'::text, 'PASSBASE'::text, 'VOVE'::text])));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_risk_effect_check CHECK ((risk_effect = ANY (ARRAY['UNKNOWN'::text, 'LOW'::text, 'MEDIUM'::text, 'HIGH'::text])));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_risk_mode_check CHECK ((risk_mode = ANY (ARRAY['raise'::text, 'replace'::text])));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_status_effect_check CHECK ((status_effect = ANY (ARRAY['ACTIVE'::text, 'DEACTIVATED'::text, 'ENDED'::text])));

ALTER TABLE ONLY public.identity_events ADD CONSTRAINT identity_events_type_check CHECK ((type = ANY (ARRAY['PHONE_NUMBER_CHANGE'::text, 'DISCONNECT'::text, 'PORT'::text, 'LINE_TYPE_CHANGE'::text, 'MOVED_OUT_OF_COVERAGE'::text, 'VERIFICATION_COMPLETED'::text, 'VERIFICATION_REVIEWED'::text, 'VERIFICATION_STATUS_CHANGED'::text, 'ENROLLED'::text, 'DEACTIVATED'::text, 'REACTIVATED'::text, 'UNKNOWN'::text])));

ALTER TABLE ONLY public.prove_token_ids ADD CONSTRAINT prove_token_ids_pkey PRIMARY KEY (jti);

ALTER TABLE ONLY public.rejection_budget ADD CONSTRAINT rejection_budget_pkey PRIMARY KEY (provider);

ALTER TABLE ONLY public.rejection_budget ADD CONSTRAINT rejection_budget_provider_check CHECK ((provider = ANY (ARRAY['PROVE'::text, 'PASSBASE'::text, 'VOVE'::text])));

ALTER TABLE ONLY public.rejection_budget ADD CONSTRAINT rejection_budget_used_check CHECK ((used > 0));

ALTER TABLE ONLY public.typeorm_migrations ADD CONSTRAINT "PK_bb2f075707dd300ba86d0208923" PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_deliveries ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_deliveries ADD CONSTRAINT webhook_deliveries_provider_check CHECK ((provider = ANY (ARRAY['PROVE'::text, 'PASSBASE'::text, 'VOVE'::text])));

ALTER TABLE ONLY public.webhook_deliveries ADD CONSTRAINT webhook_deliveries_signing_key_check CHECK ((signing_key = ANY (ARRAY['utf8'::text, 'base64'::text])));

-- Indexes

CREATE INDEX identities_created_idx ON public.identities USING btree (created_at DESC, id DESC);

CREATE INDEX identities_customer_idx ON public.identities USING btree (provider, client_customer_id) WHERE (client_customer_id IS NOT NULL);

CREATE UNIQUE INDEX identities_provider_identity_key ON public.identities USING btree (provider, provider_identity_id);

CREATE UNIQUE INDEX identity_events_event_key ON public.identity_events USING btree (provider, provider_event_id, identity_id, raw_type);

CREATE INDEX identity_events_feed_idx ON public.identity_events USING btree (tx_id, id);

CREATE INDEX identity_events_identity_idx ON public.identity_events USING btree (identity_id, tx_id DESC, id DESC);

CREATE INDEX prove_token_ids_expiry_idx ON public.prove_token_ids USING brin (expires_at);

CREATE INDEX webhook_deliveries_provider_idx ON public.webhook_deliveries USING btree (provider, outcome, received_at DESC, id DESC);

CREATE INDEX webhook_deliveries_received_idx ON public.webhook_deliveries USING btree (received_at DESC, id DESC);

-- Functions

CREATE OR REPLACE FUNCTION public.apply_summaries(ids uuid[], summaries public.ingest_summary[])
 RETURNS uuid[]
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
  applied uuid[];
BEGIN
  WITH updated AS (
    UPDATE identities i SET
      status = CASE WHEN i.status = 'ENDED' OR sm.ends THEN 'ENDED' ELSE coalesce(sm.last_status, i.status) END,
      risk_level = risk_level(greatest(risk_rank(coalesce(sm.verdict, i.risk_level)), coalesce(risk_rank(sm.raise), 1))),
      deactivated_at = CASE
        WHEN i.status <> 'ENDED' AND NOT sm.ends AND coalesce(sm.last_status, i.status) = 'DEACTIVATED'
        THEN coalesce(sm.deactivated_at, i.deactivated_at) END,
      enrolled_at = greatest(i.enrolled_at, sm.enrolled_at),
      last_event_at = sm.last_at,
      updated_at = now()
    -- Two arrays unnested side by side: the summary's fields become columns beside its id.
    FROM unnest(ids, summaries) AS sm(id)
    WHERE i.id = ANY (ids) AND i.id = sm.id
      AND (i.last_event_at IS NULL OR sm.first_at > i.last_event_at)
    RETURNING i.id
  )
  SELECT array_agg(id) INTO applied FROM updated;
  RETURN applied;
END
$function$;

CREATE OR REPLACE FUNCTION public.derive_identity_state(ids uuid[])
 RETURNS void
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
    SELECT ev.identity_id, max(risk_rank(ev.risk_effect)) AS rank
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
           risk_level(greatest(
              coalesce(risk_rank(v.risk_effect), CASE WHEN b.incremental THEN risk_rank(b.risk_level) ELSE 1 END),
              coalesce(r.rank, 1))) AS risk_level,
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
$function$;

CREATE OR REPLACE FUNCTION public.event_horizon()
 RETURNS xid8
 LANGUAGE plpgsql
 STABLE
AS $function$
BEGIN
  RETURN (
    SELECT coalesce(
      (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x
        WHERE NOT EXISTS (
          SELECT 1 FROM pg_stat_get_activity(NULL) a
          WHERE a.backend_xid = x::xid
            AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
      pg_snapshot_xmax(s.snap))
    FROM (SELECT pg_current_snapshot() AS snap) s);
END
$function$;

CREATE OR REPLACE FUNCTION public.ingest_batch(deliveries jsonb, events jsonb, summaries jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.record_events(delivery_id uuid, events jsonb, summaries jsonb)
 RETURNS integer
 LANGUAGE plpgsql
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION public.risk_ladder()
 RETURNS text[]
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT ARRAY['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH']
$function$;

CREATE OR REPLACE FUNCTION public.risk_level(rank integer)
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT (risk_ladder())[rank]
$function$;

CREATE OR REPLACE FUNCTION public.risk_rank(level text)
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT array_position(risk_ladder(), level)
$function$;
