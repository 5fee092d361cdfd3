import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * identity_events.delivery_id stays, without its foreign key. The key was checked once per event row
 * (a locking lookup of the delivery row the same transaction had just inserted): a 100-notification
 * delivery paid 100 checks, a quarter of its time in PostgreSQL (BENCHMARKS.md, webhook ingestion).
 *
 * What the key guarded still holds: ingest_delivery() is the only writer of delivery_id, and it inserts
 * the delivery row in the same transaction before the events; mutations write NULL; no delivery row is
 * ever deleted. A retention job for webhook_deliveries, if one comes, must clear or keep the ids its
 * events refer to. The key from events to identities stays: identity state depends on it, and its
 * KEY SHARE locks are part of how concurrent writers of one identity take turns (IngestFunctions).
 */
export class EventDeliveryLink1763780400000 implements MigrationInterface {
  name = 'EventDeliveryLink1763780400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE identity_events DROP CONSTRAINT identity_events_delivery_id_fkey');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE identity_events ADD CONSTRAINT identity_events_delivery_id_fkey
      FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id)`);
  }
}
