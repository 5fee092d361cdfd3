import type { MigrationInterface, QueryRunner } from 'typeorm';

/** event_horizon() as this migration creates it; ProveEventKey's down restores it. */
export const EVENT_HORIZON_V1 = `
      CREATE OR REPLACE FUNCTION event_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
        SELECT coalesce(
          (SELECT min(x) FROM pg_snapshot_xip(s.snap) AS x
            WHERE NOT EXISTS (
              SELECT 1 FROM pg_stat_get_activity(NULL) a
              WHERE a.backend_xid = x::xid
                AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
          pg_snapshot_xmax(s.snap))
        FROM (SELECT pg_current_snapshot() AS snap) s
      $$`;

/**
 * The visibility horizon that event queries and the live feed read behind (docs/adr/0003-event-order.md):
 * the oldest transaction still running in this database, or, when none is, the first transaction id not
 * yet begun, both as of the calling statement's snapshot.
 *
 * pg_snapshot_xmin() alone counts transactions of every database in the cluster, since transaction ids
 * are cluster-wide: a CREATE DATABASE or an idle-in-transaction session in another database would hold
 * our events back although it can never write them. Only transactions known to belong to another
 * database are left out; one whose database is unknown (it just ended, or its session is hidden from
 * this role) still counts, which can only delay an event, never lose one.
 */
export class EventHorizon1763780200000 implements MigrationInterface {
  name = 'EventHorizon1763780200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(EVENT_HORIZON_V1);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP FUNCTION event_horizon()');
  }
}
