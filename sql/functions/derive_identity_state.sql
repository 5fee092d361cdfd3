-- The closed form of the policy fold in src/domain/identity-policy.ts, for the identities whose
-- state a delivery's summary could not give (late events, duplicates, several deliveries of a batch):
--   status = ENDED if any event ends the identity, else the last status effect, else the start;
--   risk   = the highest of (the last verdict, or the start) and every raise ordered after that verdict,
-- with events ordered by (occurred_at, tiebreak, id), starting from the identity's row when this
-- transaction's events all follow what it reflects, else from a fresh identity over its whole history.
-- test/api/policy-sql.test.ts checks both paths against the fold, with concurrent writers.
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
$$;
