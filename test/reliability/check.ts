/**
 * The checker: holds the database to the load generator's ledger. Every event of every acknowledged
 * delivery is stored exactly once, no stored event is one only a forged delivery (or nobody) sent, and
 * each identity's status and risk level equal the policy's fold over its stored events.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { DataSource } from 'typeorm';
import { foldedState, storedState } from '../helpers/policy.js';
import { acknowledged, type LedgerEntry, type SentEvent } from './ledger.js';

export interface CheckReport {
  /** Distinct events carried by acknowledged deliveries. */
  acknowledgedEvents: number;
  storedEvents: number;
  /** Acknowledged, yet not stored. */
  lost: string[];
  /** Stored more than once. */
  duplicates: string[];
  /** Stored though no genuine delivery carried it, or a forged delivery answered 2xx. */
  forgeries: string[];
  /** Identities whose row disagrees with the fold over their events. */
  stateMismatches: string[];
}

const keyOf = (e: SentEvent) => [e.provider, e.providerEventId, e.providerIdentityId, e.rawType].join('|');

/** Queries in TypeORM's shape (rows), so the policy helpers run on a plain pg client. */
function rowsOf(client: pg.ClientBase): Pick<DataSource, 'query'> {
  const query = async (sql: string, params?: unknown[]) => (await client.query(sql, params)).rows;
  return { query: query as DataSource['query'] };
}

/** Prints a run's figures beside the report's counts, then requires every list of the report empty. */
export function assertNothingLost(label: string, figures: object, report: CheckReport): void {
  const { lost, duplicates, forgeries, stateMismatches } = report;
  const counts = {
    lost: lost.length,
    duplicates: duplicates.length,
    forgeries: forgeries.length,
    stateMismatches: stateMismatches.length,
  };
  console.log(`${label} figures: ${JSON.stringify({ ...figures, ...counts })}`);
  assert.deepEqual(lost, []);
  assert.deepEqual(duplicates, []);
  assert.deepEqual(forgeries, []);
  assert.deepEqual(stateMismatches, []);
}

/** Compares the database with the ledger; the report lists every discrepancy (all empty = pass). */
export async function checkLedger(
  ledger: readonly LedgerEntry[],
  client: pg.ClientBase,
): Promise<CheckReport> {
  const acked = new Set<string>();
  const genuine = new Set<string>();
  const forgeries: string[] = [];
  for (const entry of ledger) {
    if (entry.forged && acknowledged(entry))
      forgeries.push(`forged delivery ${entry.seq} answered ${entry.status}`);
    for (const e of entry.events) {
      if (!entry.forged) genuine.add(keyOf(e));
      if (!entry.forged && acknowledged(entry)) acked.add(keyOf(e));
    }
  }
  const { rows } = await client.query<{ key: string; n: number }>(
    `SELECT concat_ws('|', e.provider, e.provider_event_id, i.provider_identity_id, e.raw_type) AS key,
            count(*)::int AS n
     FROM identity_events e JOIN identities i ON i.id = e.identity_id GROUP BY 1`,
  );
  const stored = new Map(rows.map((r) => [r.key, r.n]));
  const lost = [...acked].filter((k) => !stored.has(k));
  const duplicates = rows.filter((r) => r.n > 1).map((r) => `${r.key} ×${r.n}`);
  forgeries.push(
    ...rows.filter((r) => !genuine.has(r.key)).map((r) => `stored, never genuinely sent: ${r.key}`),
  );

  const db = rowsOf(client);
  const identities = new Set(ledger.flatMap((e) => e.events.map((x) => x.providerIdentityId)));
  const stateMismatches: string[] = [];
  for (const id of identities) {
    const row = await storedState(db, id);
    if (row === null) continue; // nothing of it stored (every delivery for it refused or unanswered)
    const folded = await foldedState(db, id);
    if (row.status !== folded.status || row.riskLevel !== folded.riskLevel)
      stateMismatches.push(
        `${id}: stored ${row.status}/${row.riskLevel}, fold ${folded.status}/${folded.riskLevel}`,
      );
  }
  return {
    acknowledgedEvents: acked.size,
    storedEvents: rows.length,
    lost,
    duplicates,
    forgeries,
    stateMismatches,
  };
}

/** Spooled records still waiting to be loaded (failed/ counts too: a set-aside delivery is not stored). */
export async function spoolBacklog(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [])).filter((n) => n.endsWith('.json'));
  const failed = (await readdir(path.join(dir, 'failed')).catch(() => [])).map((n) => `failed/${n}`);
  return [...names, ...failed];
}
