import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute, print } from 'graphql';
import type { GraphQLContext } from './context.js';

/**
 * Subscription execution shared between subscribers (the `subscribe` of graphql-ws). graphql-js would
 * execute every event once per subscription: with 10,000 subscribers, 10,000 executions of the same
 * selection over the same event. Here an event is executed once per distinct (document, variables,
 * operation, scopes), the only inputs its result depends on, and the result is handed to every
 * subscription with that key. Results hang off the event object (a WeakMap), so they go with it.
 */
const shared = new WeakMap<object, Map<string, ExecutionResult | Promise<ExecutionResult>>>();

function keyOf(args: ExecutionArgs): string {
  const scopes = [...((args.contextValue as GraphQLContext | undefined)?.principal?.scopes ?? [])].sort();
  return JSON.stringify([
    print(args.document),
    args.variableValues ?? null,
    args.operationName ?? null,
    scopes,
  ]);
}

function executeShared(args: ExecutionArgs, key: string, event: unknown) {
  if (typeof event !== 'object' || event === null) return execute({ ...args, rootValue: event });
  let byKey = shared.get(event);
  if (!byKey) {
    byKey = new Map();
    shared.set(event, byKey);
  }
  let result = byKey.get(key);
  if (!result) {
    result = execute({ ...args, rootValue: event });
    byKey.set(key, result);
  }
  return result;
}

export async function sharedSubscribe(
  args: ExecutionArgs,
): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in Object(stream))) return stream as ExecutionResult;
  const source = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const key = keyOf(args);
  const done = { value: undefined, done: true } as const;
  const iterator: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const r = await source.next();
      return r.done ? done : { value: await executeShared(args, key, r.value), done: false };
    },
    // Unsubscribing must reach the source, which releases its place in the feed.
    async return() {
      await source.return?.();
      return done;
    },
    async throw(err: unknown) {
      await source.return?.();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
