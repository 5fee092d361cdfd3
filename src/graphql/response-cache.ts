import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import type { FormattedExecutionResult, SelectionSetNode } from 'graphql';
import { Kind } from 'graphql';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { GraphQLContext } from './context.js';

/**
 * Answers of repeated read queries, kept until the data may have changed: emptied when events are
 * committed here or elsewhere, and at the TTL (docs/adr/0008-response-cache.md says when and why).
 */

/** Root fields whose answers depend only on identities, events and the caller's scopes. */
const CACHEABLE_ROOT_FIELDS = new Set(['identity', 'identities', 'events', 'riskSummary', '__typename']);

export interface ResponseCacheOptions {
  /** How long an entry may be served at most, in milliseconds; 0 turns the cache off. */
  ttlMs: number;
  /** Entries kept, least recently used dropped first (default 1,000). */
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

export function createResponseCache(opts: ResponseCacheOptions) {
  const maxBytes = opts.maxBytes ?? 64 * 1024 * 1024;
  const entries = new LRUCache<string, FormattedExecutionResult>({
    max: opts.maxEntries ?? 1000,
    maxSize: maxBytes,
    maxEntrySize: Math.min(maxBytes, 4 * 1024 * 1024),
    ttl: Math.max(opts.ttlMs, 1),
  });
  let generation = 0;
  /** Answers being computed, by key: requests that miss meanwhile wait for them. */
  const computing = new Map<
    string,
    { generation: number; result: Promise<FormattedExecutionResult | null> }
  >();
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
          generation: number;
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
              return respond(hit);
            }
            // Begun under this generation, the answer being computed is as fresh as ours would be.
            const running = computing.get(key);
            const shared = running?.generation === generation ? await running.result : null;
            if (shared) {
              outcomes.inc({ result: 'shared' });
              return respond(shared);
            }
            outcomes.inc({ result: 'miss' });
            let settle: (result: FormattedExecutionResult | null) => void = () => {};
            const result = new Promise<FormattedExecutionResult | null>((resolve) => {
              settle = resolve;
            });
            computing.set(key, { generation, result });
            pending = { key, generation, settle };
            return null;
          },
          async willSendResponse(rc) {
            if (!pending) return;
            const { key, settle } = pending;
            if (computing.get(key)?.generation === pending.generation) computing.delete(key);
            const body = rc.response.body;
            const result = body.kind === 'single' && !body.singleResult.errors ? body.singleResult : null;
            settle(result?.data ? result : null);
            if (result?.data && pending.generation === generation) {
              entries.set(key, result, { size: Buffer.byteLength(JSON.stringify(result)) });
            }
            pending = null;
          },
        };
      },
    };
  }

  return {
    plugin,
    /** The data may have changed: nothing stored so far, or being computed now, is served again. */
    invalidate(): void {
      generation++;
      // Commits come by the thousand per second: an empty cache need not be cleared (it fills arrays).
      if (entries.size > 0) entries.clear();
    },
    get size(): number {
      return entries.size;
    },
  };
}

export type ResponseCache = ReturnType<typeof createResponseCache>;
