/**
 * Events and per-identity summaries in the snake_case shapes the ingest SQL functions take (sql types
 * ingest_event and ingest_summary), with the policy's effects composed in: what webhook ingest and
 * enrollment both hand to record_events() / ingest_batch().
 */
import { effectOf, summarize } from '../domain/identity-policy.js';
import type { NormalizedEvent, Provider } from '../domain/types.js';

/** One event row in the snake_case shape of the `ingest_event` SQL type (`ingest_batch_event` less its delivery). */
export interface IngestEventRow {
  ord: number;
  provider: Provider;
  provider_event_id: string;
  provider_identity_id: string;
  client_customer_id: string | null;
  type: string;
  raw_type: string;
  description: string | null;
  occurred_at: string;
  new_carrier: string | null;
  new_line_type: string | null;
  verification_status: string | null;
  status_effect: string | null;
  risk_mode: string | null;
  risk_effect: string | null;
  tiebreak: number;
}

/** One identity's share of a delivery, composed by the policy, in the shape of the `ingest_summary` SQL type (`ingest_batch_summary` less its delivery). */
export interface IngestSummaryRow {
  provider: Provider;
  provider_identity_id: string;
  count: number;
  ends: boolean;
  last_status: string | null;
  verdict: string | null;
  raise: string | null;
  first_at: string;
  last_at: string;
  deactivated_at: string | null;
  enrolled_at: string | null;
}

/** Groups events by identity and composes each group's effects (src/domain/identity-policy.ts summarize). */
export function toSummaryRows(events: readonly NormalizedEvent[]): IngestSummaryRow[] {
  const groups = new Map<string, NormalizedEvent[]>();
  for (const e of events) {
    const key = `${e.provider}\u0000${e.providerIdentityId}`;
    const g = groups.get(key);
    if (g) g.push(e);
    else groups.set(key, [e]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0] as NormalizedEvent;
    const s = summarize(g.map((e, seq) => ({ ...effectOf(e), occurredAt: e.occurredAt, seq })));
    const latest = (type: string) =>
      g
        .filter((e) => e.type === type)
        .reduce<Date | null>((m, e) => (m && m >= e.occurredAt ? m : e.occurredAt), null);
    return {
      provider: first.provider,
      provider_identity_id: first.providerIdentityId,
      count: s.count,
      ends: s.ends,
      last_status: s.lastStatus,
      verdict: s.verdict,
      raise: s.raise,
      first_at: s.firstAt.toISOString(),
      last_at: s.lastAt.toISOString(),
      deactivated_at: latest('DEACTIVATED')?.toISOString() ?? null,
      enrolled_at: latest('ENROLLED')?.toISOString() ?? null,
    };
  });
}

/** Normalized events with the policy's effect of each, in delivery order. */
export function toEventRows(events: readonly NormalizedEvent[]): IngestEventRow[] {
  return events.map((e, ord) => {
    const effect = effectOf(e);
    return {
      ord,
      provider: e.provider,
      provider_event_id: e.providerEventId,
      provider_identity_id: e.providerIdentityId,
      client_customer_id: e.clientCustomerId,
      type: e.type,
      raw_type: e.rawType,
      description: e.description,
      occurred_at: e.occurredAt.toISOString(),
      new_carrier: e.newCarrier,
      new_line_type: e.newLineType,
      verification_status: e.verificationStatus,
      status_effect: effect.status,
      risk_mode: effect.risk?.mode ?? null,
      risk_effect: effect.risk?.level ?? null,
      tiebreak: effect.tiebreak,
    };
  });
}
