import type { TimePosition } from '../domain/cursor.js';
import type { IdentityRecord } from '../domain/records.js';
import type { MonitoringStatus, Provider, RiskLevel } from '../domain/types.js';
import type { Edge } from './page.js';
import { fromMicros, IDENTITY_COLUMNS, type IdentityRow, identityEdge, toIdentityRecord } from './rows.js';
import { Params, type Queryable, where } from './sql.js';

/** Every field given must match (AND); an absent or null field does not filter. */
export interface IdentityCriteria {
  status?: MonitoringStatus | null;
  riskLevel?: RiskLevel | null;
  provider?: Provider | null;
  clientCustomerId?: string | null;
  providerIdentityId?: string | null;
}

/**
 * A page of identities, newest first by (created_at DESC, id DESC), strictly after `after`;
 * `limit + 1` rows so the caller knows whether there is a next page. Served by identities_created_idx.
 */
export async function listIdentities(
  db: Queryable,
  filter: IdentityCriteria | null | undefined,
  limit: number,
  after: TimePosition | null,
): Promise<Edge<IdentityRecord>[]> {
  const p = new Params();
  const conditions: string[] = [];
  if (filter?.status != null) conditions.push(`i.status = ${p.add(filter.status)}`);
  if (filter?.riskLevel != null) conditions.push(`i.risk_level = ${p.add(filter.riskLevel)}`);
  if (filter?.provider != null) conditions.push(`i.provider = ${p.add(filter.provider)}`);
  if (filter?.clientCustomerId != null) {
    conditions.push(`i.client_customer_id = ${p.add(filter.clientCustomerId)}`);
  }
  if (filter?.providerIdentityId != null) {
    conditions.push(`i.provider_identity_id = ${p.add(filter.providerIdentityId)}`);
  }
  if (after) {
    conditions.push(`(i.created_at, i.id) < (${fromMicros(p.add(after.us))}, ${p.add(after.id)}::uuid)`);
  }
  const rows = await db.query<IdentityRow[]>(
    `SELECT ${IDENTITY_COLUMNS} FROM identities i ${where(conditions)}
     ORDER BY i.created_at DESC, i.id DESC LIMIT ${p.add(limit + 1)}`,
    p.values,
  );
  return rows.map(identityEdge);
}

/** Identities by id, in one statement (the identity loader's batch). Unknown ids are left out. */
export async function identitiesByIds(db: Queryable, ids: readonly string[]): Promise<IdentityRecord[]> {
  const rows = await db.query<IdentityRow[]>(
    `SELECT ${IDENTITY_COLUMNS} FROM identities i WHERE i.id = ANY($1::uuid[])`,
    [[...new Set(ids)]],
  );
  return rows.map(toIdentityRecord);
}
