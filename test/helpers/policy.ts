import type { DataSource } from 'typeorm';
import { effectOf, foldEvents } from '../../src/domain/identity-policy.js';
import type { EventType } from '../../src/domain/types.js';

/** An identity's stored status and risk level, or null when no row exists. */
export async function storedState(ds: Pick<DataSource, 'query'>, identity: string) {
  const [row] = await ds.query('SELECT status, risk_level FROM identities WHERE provider_identity_id = $1', [
    identity,
  ]);
  return row ? { status: row.status, riskLevel: row.risk_level } : null;
}

/**
 * What the policy says the identity's state is: the fold over its stored events, taken in arrival
 * order (their ids), the way the contract defines it. The SQL under test must agree.
 */
export async function foldedState(ds: Pick<DataSource, 'query'>, identity: string) {
  const rows: { type: EventType; verification_status: string | null; occurred_at: Date }[] = await ds.query(
    `SELECT e.type, e.verification_status, e.occurred_at FROM identity_events e
     JOIN identities i ON i.id = e.identity_id WHERE i.provider_identity_id = $1 ORDER BY e.id`,
    [identity],
  );
  return foldEvents(
    rows.map((r, seq) => ({
      ...effectOf({ type: r.type, verificationStatus: r.verification_status }),
      occurredAt: r.occurred_at,
      seq,
    })),
  );
}
