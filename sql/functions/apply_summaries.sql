-- Folds each summary onto its identity's row (ids[k] takes summaries[k]) when the summary's events
-- all follow what the row reflects, without reading history; answers the ids it applied (NULL: none).
-- The caller vouches that each summary describes exactly the events it stored for that identity;
-- the identities it does not apply are left to derive_identity_state(). record_events() and
-- ingest_batch() both call it, so a policy change is made here once.
CREATE OR REPLACE FUNCTION apply_summaries(ids uuid[], summaries ingest_summary[]) RETURNS uuid[]
-- plpgsql keeps the UPDATE's plan per session (a LANGUAGE sql function would plan it on every call).
-- That plan serves both callers, whichever came first: it must find rows through the primary key
-- however small the table was when it was made, hence = ANY and no sequential scans.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
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
$$;
