import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The budget of rejected deliveries recorded per provider and minute, shared by every replica
 * (src/ingest/rejections.ts takes from it in the statement that records a rejection). One row per
 * provider: the minute it counts and how many it recorded in that minute.
 */
export class RejectionBudget1763780600000 implements MigrationInterface {
  name = 'RejectionBudget1763780600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rejection_budget (
        provider text PRIMARY KEY CHECK (provider IN ('PROVE', 'PASSBASE', 'VOVE')),
        window_start timestamptz NOT NULL,
        used integer NOT NULL CHECK (used > 0)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE rejection_budget');
  }
}
