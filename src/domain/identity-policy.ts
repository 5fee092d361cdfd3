import type { EventType, MonitoringStatus, RiskLevel } from './types.js';
import { RISK_LEVELS } from './types.js';

/**
 * The identity state policy of docs/api.md ("State policy"), as data and pure functions.
 *
 * `effectOf` says what one event does; it is computed at ingest and stored with the event.
 * `foldEvents` is the policy's literal definition (apply effects one by one in occurredAt order);
 * the database derives the same state in closed form (sql/functions/derive_identity_state.sql) so
 * ingestion needs one round trip, and a test checks both agree.
 */

export type RiskMode = 'raise' | 'replace';

export interface EventEffect {
  /** The status the event moves the identity to, if any. ENDED is final. */
  status: MonitoringStatus | null;
  /** Prove change events raise risk (the highest stands); a Passbase/VOVE verdict replaces it. */
  risk: { mode: RiskMode; level: RiskLevel } | null;
  /** Orders events with the same occurredAt: a review outranks the completion it follows. */
  tiebreak: number;
}

const NONE: EventEffect = { status: null, risk: null, tiebreak: 0 };

/** Verdicts of verification providers, by their own status values (Passbase's and VOVE ID's webhook docs). */
const VERDICT: Readonly<Record<string, RiskLevel>> = {
  declined: 'HIGH',
  suspected: 'HIGH',
  approved: 'LOW',
  successful: 'LOW',
  pending: 'UNKNOWN',
  in_progress: 'UNKNOWN',
};

export function effectOf(e: { type: EventType; verificationStatus: string | null }): EventEffect {
  switch (e.type) {
    case 'PHONE_NUMBER_CHANGE':
    case 'DISCONNECT':
      return { status: 'ENDED', risk: { mode: 'raise', level: 'HIGH' }, tiebreak: 0 };
    case 'MOVED_OUT_OF_COVERAGE':
      return { status: 'ENDED', risk: { mode: 'raise', level: 'MEDIUM' }, tiebreak: 0 };
    case 'PORT':
      return { status: null, risk: { mode: 'raise', level: 'HIGH' }, tiebreak: 0 };
    case 'LINE_TYPE_CHANGE':
      return { status: null, risk: { mode: 'raise', level: 'MEDIUM' }, tiebreak: 0 };
    case 'VERIFICATION_COMPLETED':
    case 'VERIFICATION_REVIEWED':
    case 'VERIFICATION_STATUS_CHANGED': {
      const level = e.verificationStatus === null ? undefined : VERDICT[e.verificationStatus];
      // Passbase: once reviewed, a completion with the same timestamp must not win (it came first).
      const tiebreak = e.type === 'VERIFICATION_REVIEWED' ? 1 : 0;
      return level === undefined
        ? { ...NONE, tiebreak }
        : { status: null, risk: { mode: 'replace', level }, tiebreak };
    }
    case 'ENROLLED':
    case 'REACTIVATED':
      return { status: 'ACTIVE', risk: null, tiebreak: 0 };
    case 'DEACTIVATED':
      return { status: 'DEACTIVATED', risk: null, tiebreak: 0 };
    case 'UNKNOWN':
      return NONE;
  }
}

export interface IdentityState {
  status: MonitoringStatus;
  riskLevel: RiskLevel;
}

/** The state of an identity nobody has said anything about yet (a webhook may create one). */
export const INITIAL_STATE: IdentityState = { status: 'ACTIVE', riskLevel: 'UNKNOWN' };

export function riskRank(level: RiskLevel): number {
  return RISK_LEVELS.indexOf(level);
}

/** One step of the policy. */
export function applyEffect(state: IdentityState, effect: EventEffect): IdentityState {
  const status = state.status === 'ENDED' || effect.status === null ? state.status : effect.status;
  let riskLevel = state.riskLevel;
  if (effect.risk?.mode === 'raise' && riskRank(effect.risk.level) > riskRank(riskLevel))
    riskLevel = effect.risk.level;
  if (effect.risk?.mode === 'replace') riskLevel = effect.risk.level;
  return { status, riskLevel };
}

export interface OrderedEffect extends EventEffect {
  occurredAt: Date;
  /** Arrival order, the last tie-break. */
  seq: number;
}

/** The policy's definition: effects applied in (occurredAt, tiebreak, arrival) order, whatever the arrival order. */
export function foldEvents(
  events: readonly OrderedEffect[],
  initial: IdentityState = INITIAL_STATE,
): IdentityState {
  return [...events]
    .sort(
      (a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.tiebreak - b.tiebreak || a.seq - b.seq,
    )
    .reduce(applyEffect, initial);
}

/**
 * What a run of events does to an identity whose row reflects only earlier events: the policy fold
 * composed ahead of time, so the database can apply a whole delivery to a row without reading its
 * history. `applySummary(fold(earlier), summarize(later))` equals `fold(earlier ++ later)` whenever
 * every later event sorts after every earlier one (test/unit/identity-policy.test.ts).
 */
export interface EffectSummary {
  count: number;
  ends: boolean;
  lastStatus: MonitoringStatus | null;
  /** The last verdict's level, if the run has one. */
  verdict: RiskLevel | null;
  /** The highest raise after the last verdict (after the start, without one). */
  raise: RiskLevel | null;
  firstAt: Date;
  lastAt: Date;
}

export function summarize(events: readonly OrderedEffect[]): EffectSummary {
  const sorted = [...events].sort(
    (a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.tiebreak - b.tiebreak || a.seq - b.seq,
  );
  const first = sorted[0];
  const last = sorted.at(-1);
  if (!first || !last) throw new RangeError('summarize needs at least one event');
  let ends = false;
  let lastStatus: MonitoringStatus | null = null;
  let verdict: RiskLevel | null = null;
  let raise: RiskLevel | null = null;
  for (const e of sorted) {
    if (e.status === 'ENDED') ends = true;
    if (e.status) lastStatus = e.status;
    if (e.risk?.mode === 'replace') {
      verdict = e.risk.level;
      raise = null;
    } else if (e.risk?.mode === 'raise' && (raise === null || riskRank(e.risk.level) > riskRank(raise))) {
      raise = e.risk.level;
    }
  }
  return {
    count: sorted.length,
    ends,
    lastStatus,
    verdict,
    raise,
    firstAt: first.occurredAt,
    lastAt: last.occurredAt,
  };
}

export function applySummary(state: IdentityState, s: EffectSummary): IdentityState {
  const status = state.status === 'ENDED' || s.ends ? 'ENDED' : (s.lastStatus ?? state.status);
  const base = s.verdict ?? state.riskLevel;
  const riskLevel = s.raise !== null && riskRank(s.raise) > riskRank(base) ? s.raise : base;
  return { status, riskLevel };
}
