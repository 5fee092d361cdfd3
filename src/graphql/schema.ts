import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { EnrollmentResolver } from './resolvers/enrollment.resolver.js';
import { IdentityEventResolver } from './resolvers/event.resolver.js';
import { FeedResolver } from './resolvers/feed.resolver.js';
import { IdentityResolver } from './resolvers/identity.resolver.js';
import { RiskSummaryResolver } from './resolvers/risk-summary.resolver.js';
import { WebhookDeliveryResolver } from './resolvers/webhook-delivery.resolver.js';
import { DateTimeScalar } from './scalars.js';

/** Every resolver class; the schema (and schema.graphql) is built from these. */
export const resolvers = [
  IdentityResolver,
  IdentityEventResolver,
  RiskSummaryResolver,
  WebhookDeliveryResolver,
  EnrollmentResolver,
  FeedResolver,
] as const;

/**
 * type-graphql insists on a PubSub once a schema has a subscription, even when each one brings its own
 * `subscribe`. Ours all do: the live feed comes from the database (src/feed/feed.ts), never from an
 * in-process publish, so this one refuses to be used.
 */
const noPubSub = {
  publish(): never {
    throw new Error('in-process publish is not used: the change feed reads events from the database');
  },
  subscribe(): never {
    throw new Error('in-process subscribe is not used: the change feed reads events from the database');
  },
};

/** Builds the executable schema from the decorated classes. */
export async function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    pubSub: noPubSub,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    // Input validation is done by hand at the edge of each resolver (precise messages, no class-validator).
    validate: false,
    emitSchemaFile: false,
  });
}
