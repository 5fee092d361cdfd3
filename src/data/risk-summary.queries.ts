import type { RiskSummaryRecord } from '../domain/records.js';
import {
  MONITORING_STATUSES,
  type MonitoringStatus,
  type Provider,
  RISK_LEVELS,
  type RiskLevel,
} from '../domain/types.js';
import type { Queryable } from './sql.js';

interface CountRow {
  risk_level: RiskLevel | null;
  status: MonitoringStatus | null;
  /** GROUPING(risk_level, status): 1 = counted by risk level, 2 = by status, 3 = the total. */
  grouping: number;
  n: string;
}

/**
 * Identity counts by risk level, by status and in total, in ONE statement (GROUPING SETS, so the three
 * come from the same snapshot and add up). Levels and statuses with no identity are listed with 0,
 * in enum order.
 */
export async function riskSummary(db: Queryable, provider: Provider | null): Promise<RiskSummaryRecord> {
  const rows = await db.query<CountRow[]>(
    `SELECT risk_level, status, GROUPING(risk_level, status) AS grouping, count(*)::text AS n
     FROM identities WHERE $1::text IS NULL OR provider = $1::text
     GROUP BY GROUPING SETS ((risk_level), (status), ())`,
    [provider],
  );
  const byRisk = new Map<RiskLevel, number>();
  const byStatus = new Map<MonitoringStatus, number>();
  let total = 0;
  for (const r of rows) {
    if (r.grouping === 1 && r.risk_level) byRisk.set(r.risk_level, Number(r.n));
    else if (r.grouping === 2 && r.status) byStatus.set(r.status, Number(r.n));
    else if (r.grouping === 3) total = Number(r.n);
  }
  return {
    byRiskLevel: RISK_LEVELS.map((riskLevel) => ({ riskLevel, count: byRisk.get(riskLevel) ?? 0 })),
    byStatus: MONITORING_STATUSES.map((status) => ({ status, count: byStatus.get(status) ?? 0 })),
    total,
  };
}
