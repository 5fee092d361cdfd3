-- The visibility horizon that event queries and the live feed read behind (docs/adr/0003-event-order.md):
-- the oldest transaction still running in this database, or, when none is, the first transaction id not
-- yet begun, both as of the calling statement's snapshot. pg_snapshot_xmin() alone would count other
-- databases' transactions too (ids are cluster-wide); one whose database is unknown still counts, which
-- can only delay an event, never lose one.
-- plpgsql, not sql: PostgreSQL 17 plans a sql function's body again in every statement that calls it,
-- 0.2 ms of the 1.6 a page of identities with their events took; plpgsql keeps its plan for the session
-- (docs/adr/0016-one-statement-per-page.md). STABLE: it sees the calling statement's snapshot either way.
CREATE OR REPLACE FUNCTION event_horizon() RETURNS xid8 LANGUAGE plpgsql STABLE AS $$
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
$$;
