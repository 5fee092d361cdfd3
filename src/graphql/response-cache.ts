import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type { FormattedExecutionResult, SelectionSetNode } from 'graphql';
import { Kind } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { DataChange } from '../domain/data-change.js';
import type { GraphQLContext } from './context.js';
import type { ReadTags } from './read-tags.js';

/**
 * Answers of repeated read queries, kept until a commit touches what they read (their ReadTags), and
 * at most for the TTL (docs/adr/0008-response-cache.md says when and why).
 */

/** Root fields whose answers depend only on identities, events and the caller's scopes. */
const CACHEABLE_ROOT_FIELDS = new Set(['identity', 'identities', 'events', 'riskSummary', '__typename']);

export interface ResponseCacheOptions {
  /** How long an entry may be served at most, in milliseconds; 0 turns the cache off. */
  ttlMs: number;
  /** Entries kept, least recently used dropped first (default 10,000). */
  maxEntries?: number;
  /** Bytes of JSON kept in all (default 64 MiB); a larger single answer is not kept. */
  maxBytes?: number;
  /** Where `graphql_response_cache_total{result}` is registered, when given. */
  registry?: Registry;
}

type Ctx = GraphQLRequestContext<GraphQLContext>;

/** Whether every root field of the query, through inline fragments and fragment spreads, is cacheable. */
function rootFieldsCacheable(rc: Ctx): boolean {
  const operation = rc.operation;
  if (operation?.operation !== 'query') return false;
  const fragments = new Map(
    (rc.document?.definitions ?? []).flatMap((d) =>
      d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : [],
    ),
  );
  const seen = new Set<string>();
  const walk = (set: SelectionSetNode): boolean =>
    set.selections.every((s) => {
      if (s.kind === Kind.FIELD) return CACHEABLE_ROOT_FIELDS.has(s.name.value);
      if (s.kind === Kind.INLINE_FRAGMENT) return walk(s.selectionSet);
      if (seen.has(s.name.value)) return true;
      seen.add(s.name.value);
      const fragment = fragments.get(s.name.value);
      return fragment !== undefined && walk(fragment);
    });
  return walk(operation.selectionSet);
}

/** The caller's scopes, the document, the operation and the variables, exactly as sent. */
function keyOf(rc: Ctx): string {
  const scopes = rc.contextValue.principal ? [...rc.contextValue.principal.scopes].sort().join(' ') : '-';
  return [scopes, rc.queryHash, rc.operationName ?? '', JSON.stringify(rc.request.variables ?? {})].join(
    '\n',
  );
}

/** Changes remembered for answers still being computed; one computed across more is not kept. */
const CHANGE_LOG = 256;

interface Entry {
  result: FormattedExecutionResult;
  tags: ReadTags;
}

/** Which keys read what, so a change finds its entries without a scan of the whole cache. */
class TagIndex {
  private readonly byIdentity = new Map<string, Set<string>>();
  readonly anyCommit = new Set<string>();
  readonly firstPages = new Map<string, bigint>();

  add(key: string, tags: ReadTags): void {
    for (const id of tags.identities) {
      const keys = this.byIdentity.get(id);
      if (keys) keys.add(key);
      else this.byIdentity.set(id, new Set([key]));
    }
    if (tags.anyCommit) this.anyCommit.add(key);
    if (tags.firstPageFloorUs !== null) this.firstPages.set(key, tags.firstPageFloorUs);
  }

  remove(key: string, tags: ReadTags): void {
    for (const id of tags.identities) {
      const keys = this.byIdentity.get(id);
      keys?.delete(key);
      if (keys?.size === 0) this.byIdentity.delete(id);
    }
    this.anyCommit.delete(key);
    this.firstPages.delete(key);
  }

  /** The keys whose answers the change may alter (ReadTags.affectedBy, without visiting the others). */
  affected(change: DataChange): Set<string> {
    const keys = new Set(this.anyCommit);
    let newest: bigint | null = null;
    for (const i of change.identities) {
      for (const key of this.byIdentity.get(i.id) ?? []) keys.add(key);
      const us = BigInt(i.createdUs);
      if (newest === null || us > newest) newest = us;
    }
    if (newest !== null) for (const [key, floor] of this.firstPages) if (newest >= floor) keys.add(key);
    return keys;
  }
}

export function createResponseCache(opts: ResponseCacheOptions) {
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const index = new TagIndex();
  const entries = new LRUCache<string, Entry>({
    max: opts.maxEntries ?? 10_000,
    maxSize: maxBytes,
    maxEntrySize: Math.min(maxBytes, 4 * 1024 * 1024),
    ttl: Math.max(opts.ttlMs, 1),
    // Every way out (expiry, eviction, deletion, replacement) leaves the index too.
    dispose: (entry, key) => index.remove(key, entry.tags),
  });
  /** Counts changes; the log holds the latest, for answers computed while they came. */
  let seq = 0;
  const changes: { seq: number; change: DataChange | null }[] = [];
  /** Whether a change since `since` may alter an answer that read `tags`. */
  const changedSince = (since: number, tags: ReadTags): boolean => {
    if (since === seq) return false;
    const first = changes[0];
    if (!first || first.seq > since + 1) return true; // older than the log remembers
    return changes.some((c) => c.seq > since && tags.affectedBy(c.change));
  };
  /** Answers being computed, by key: requests that miss meanwhile wait for them. */
  const computing = new Map<string, { seq: number; result: Promise<FormattedExecutionResult | null> }>();
  const outcomes = new Counter({
    name: 'graphql_response_cache_total',
    help:
      'GraphQL operations over HTTP by response cache outcome: hit, shared (waited for the same answer ' +
      'being computed), miss, or bypass (not cacheable)',
    labelNames: ['result'] as const,
    registers: opts.registry ? [opts.registry] : [],
  });
  const respond = (result: FormattedExecutionResult) => ({
    http: { status: undefined, headers: new HeaderMap() },
    body: { kind: 'single' as const, singleResult: result },
  });

  function plugin(): ApolloServerPlugin<GraphQLContext> {
    return {
      async requestDidStart() {
        // Set when this request computes an answer that others may wait for and the cache may keep.
        let pending: {
          key: string;
          seq: number;
          settle: (result: FormattedExecutionResult | null) => void;
        } | null = null;
        return {
          async responseForOperation(rc) {
            if (!rootFieldsCacheable(rc)) {
              outcomes.inc({ result: 'bypass' });
              return null;
            }
            const key = keyOf(rc);
            const hit = entries.get(key);
            if (hit) {
              outcomes.inc({ result: 'hit' });
              return respond(hit.result);
            }
            // Begun with no change since, the answer being computed is as fresh as ours would be.
            const running = computing.get(key);
            const shared = running?.seq === seq ? await running.result : null;
            if (shared) {
              outcomes.inc({ result: 'shared' });
              return respond(shared);
            }
            outcomes.inc({ result: 'miss' });
            let settle: (result: FormattedExecutionResult | null) => void = () => {};
            const result = new Promise<FormattedExecutionResult | null>((resolve) => {
              settle = resolve;
            });
            computing.set(key, { seq, result });
            pending = { key, seq, settle };
            return null;
          },
          async willSendResponse(rc) {
            if (!pending) return;
            const { key, settle } = pending;
            if (computing.get(key)?.seq === pending.seq) computing.delete(key);
            const body = rc.response.body;
            const result = body.kind === 'single' && !body.singleResult.errors ? body.singleResult : null;
            settle(result?.data ? result : null);
            const tags = rc.contextValue.reads;
            if (result?.data && !changedSince(pending.seq, tags)) {
              entries.set(key, { result, tags }, { size: Buffer.byteLength(JSON.stringify(result)) });
              // An answer over the size cap is not kept, and must not be indexed either.
              if (entries.has(key)) index.add(key, tags);
            }
            pending = null;
          },
        };
      },
    };
  }

  return {
    plugin,
    /**
     * Data changed: no answer that read what changed, stored or being computed now, is served again.
     * Without a change (null), every answer is dropped.
     */
    invalidate(change: DataChange | null = null): void {
      seq++;
      changes.push({ seq, change });
      if (changes.length > CHANGE_LOG) changes.shift();
      // Commits come by the thousand per second: an empty cache need not be searched.
      if (entries.size === 0) return;
      if (change === null) entries.clear();
      else for (const key of index.affected(change)) entries.delete(key);
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;
