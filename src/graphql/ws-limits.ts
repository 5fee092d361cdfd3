import { createHash } from 'node:crypto';
import type { Principal } from '../auth/scopes.js';
import { ApiError } from './errors.js';

/** What one replica allows over WebSocket (README, Live events). */
export interface WsLimits {
  /** Subscriptions at once on one socket; the next is refused with TOO_MANY_SUBSCRIPTIONS, the socket kept. */
  subscriptionsPerConnection: number;
  /** Sockets at once per token subject (`sub`; per token without one). */
  connectionsPerSubject: number;
  /** Sockets at once, every subject together. */
  connectionsPerReplica: number;
}

export const WS_LIMITS: WsLimits = {
  subscriptionsPerConnection: 100,
  connectionsPerSubject: 20,
  connectionsPerReplica: 5000,
};

/** The error a subscription beyond the per-socket limit ends with. */
export function tooManySubscriptions(limits: WsLimits): ApiError {
  return new ApiError(
    'TOO_MANY_SUBSCRIPTIONS',
    `too many subscriptions on this connection (limit ${limits.subscriptionsPerConnection})`,
  );
}

export type Admission = { ok: true; release: () => void } | { ok: false; reason: string };

/** Counts this replica's acknowledged sockets, in all and per token subject. */
export function createConnectionCounter(limits: WsLimits) {
  const bySubject = new Map<string, number>();
  let total = 0;
  return {
    /** Takes a place for a socket whose token verified, or says which limit is reached. */
    admit(principal: Principal, token: string): Admission {
      // A token without `sub` is a subject of its own, rather than sharing one place with every such token.
      const key =
        principal.subject !== null
          ? `sub:${principal.subject}`
          : `token:${createHash('sha256').update(token).digest('hex')}`;
      const mine = bySubject.get(key) ?? 0;
      if (total >= limits.connectionsPerReplica)
        return {
          ok: false,
          reason: `too many connections on this server (limit ${limits.connectionsPerReplica})`,
        };
      if (mine >= limits.connectionsPerSubject)
        return {
          ok: false,
          reason: `too many connections for this token subject (limit ${limits.connectionsPerSubject})`,
        };
      bySubject.set(key, mine + 1);
      total++;
      let released = false;
      return {
        ok: true,
        release() {
          if (released) return;
          released = true;
          total--;
          const left = (bySubject.get(key) ?? 1) - 1;
          if (left > 0) bySubject.set(key, left);
          else bySubject.delete(key);
        },
      };
    },
  };
}
