import DataLoader from 'dataloader';
import { eventsOfIdentities } from '../data/event.queries.js';
import { identitiesByIds } from '../data/identity.queries.js';
import type { Edge } from '../data/page.js';
import type { Queryable } from '../data/sql.js';
import type { EventPosition } from '../domain/cursor.js';
import type { ReadTags } from './read-tags.js';
import type { Identity } from './types/identity.type.js';
import type { IdentityEvent } from './types/identity-event.type.js';

/** A page of one identity's events: `limit + 1` edges, newest first, strictly older than `after`. */
export interface IdentityEventsKey {
  identityId: string;
  limit: number;
  after: EventPosition | null;
}

export interface Loaders {
  /** Identity by id (null when there is none): one statement per batch. */
  identity: DataLoader<string, Identity | null>;
  /** Events of identities: one statement per batch and distinct (limit, after). */
  identityEvents: DataLoader<IdentityEventsKey, Edge<IdentityEvent>[]>;
}

/** Which page of events (limit and position) as one string: pages asked alike share one. */
export const pageKey = (k: { limit: number; after: EventPosition | null }) =>
  k.after ? `${k.limit}:${k.after.txId}:${k.after.id}` : `${k.limit}:`;

/**
 * Per-request loaders, so a page of N identities with their events costs a constant number of statements.
 * They batch but do not memoise (`cache: false`): a WebSocket operation's context lives as long as its
 * subscription, and a memoised identity would show a stale status and risk on every later event.
 */
export function createLoaders(db: Queryable, reads: ReadTags): Loaders {
  return {
    identity: new DataLoader<string, Identity | null>(
      async (ids) => {
        for (const id of ids) reads.identity(id);
        const found = new Map((await identitiesByIds(db, ids)).map((i) => [i.id, i]));
        return ids.map((id) => found.get(id) ?? null);
      },
      { cache: false },
    ),
    identityEvents: new DataLoader<IdentityEventsKey, Edge<IdentityEvent>[]>(
      async (keys) => {
        // Keys of one batch usually share one page shape (the same field with the same arguments).
        const groups = new Map<string, IdentityEventsKey[]>();
        for (const k of keys) {
          reads.identity(k.identityId);
          const group = groups.get(pageKey(k));
          if (group) group.push(k);
          else groups.set(pageKey(k), [k]);
        }
        const results = new Map<string, Map<string, Edge<IdentityEvent>[]>>();
        await Promise.all(
          [...groups].map(async ([page, group]) => {
            const first = group[0]!;
            const ids = group.map((k) => k.identityId);
            results.set(page, await eventsOfIdentities(db, ids, first.limit, first.after));
          }),
        );
        return keys.map((k) => results.get(pageKey(k))?.get(k.identityId) ?? []);
      },
      { cache: false },
    ),
  };
}
