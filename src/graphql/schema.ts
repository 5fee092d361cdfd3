import type { GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { IdentityEventResolver } from './resolvers/event.resolver.js';
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
] as const;

/** Builds the executable schema from the decorated classes. */
export async function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    // Input validation is done by hand at the edge of each resolver (precise messages, no class-validator).
    validate: false,
    emitSchemaFile: false,
  });
}
