import type { TestServer } from './server.js';

/** The enrollment mutations with every field the tests look at. */
const IDENTITY_FIELDS = `id provider providerIdentityId clientCustomerId phoneNumber status riskLevel
  enrolledAt deactivatedAt lastEventAt`;

export const ENROLL = `mutation($input: EnrollIdentityInput!) {
  enrollIdentity(input: $input) { ${IDENTITY_FIELDS} }
}`;

export const BATCH_ENROLL = `mutation($identities: [EnrollIdentityInput!]!) {
  batchEnrollIdentities(identities: $identities) {
    enrolledCount failedCount
    results { index identity { ${IDENTITY_FIELDS} } error { code message existingIdentityId } }
  }
}`;

export const DEACTIVATE = `mutation($id: ID!) { deactivateIdentity(id: $id) { ${IDENTITY_FIELDS} } }`;
export const REACTIVATE = `mutation($id: ID!) { reactivateIdentity(id: $id) { ${IDENTITY_FIELDS} } }`;

export const IDENTITY_EVENTS = `query($id: ID!) {
  events(filter: { identityId: $id }, first: 100) {
    edges { node { type rawType provider providerEventId description occurredAt identity { id } } }
  }
}`;

export interface IdentityView {
  id: string;
  provider: string;
  providerIdentityId: string | null;
  clientCustomerId: string | null;
  phoneNumber: string | null;
  status: string;
  riskLevel: string;
  enrolledAt: string | null;
  deactivatedAt: string | null;
  lastEventAt: string | null;
}

export interface EnrollResultView {
  index: number;
  identity: IdentityView | null;
  error: { code: string; message: string; existingIdentityId: string | null } | null;
}

export interface BatchView {
  enrolledCount: number;
  failedCount: number;
  results: EnrollResultView[];
}

export interface EventView {
  type: string;
  rawType: string;
  provider: string;
  providerEventId: string;
  description: string | null;
  occurredAt: string;
  identity: { id: string };
}

type Gql = TestServer['gql'];
interface Answer<T> {
  status: number;
  body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** The first error's code, or undefined. */
export const codeOf = (res: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) =>
  res.body.errors?.[0]?.extensions?.code;

export async function enroll(
  gql: Gql,
  input: Record<string, unknown>,
  token?: string | null,
): Promise<Answer<{ enrollIdentity: IdentityView }>> {
  return gql<{ enrollIdentity: IdentityView }>(ENROLL, { input }, token === undefined ? {} : { token });
}

/** Enrolls and fails the test on any error; returns the identity. */
export async function enrollOk(gql: Gql, input: Record<string, unknown>): Promise<IdentityView> {
  const res = await enroll(gql, input);
  if (res.body.errors || !res.body.data) throw new Error(JSON.stringify(res.body.errors));
  return res.body.data.enrollIdentity;
}

export async function batchEnroll(
  gql: Gql,
  identities: Record<string, unknown>[],
): Promise<Answer<{ batchEnrollIdentities: BatchView }>> {
  return gql<{ batchEnrollIdentities: BatchView }>(BATCH_ENROLL, { identities });
}

/**
 * An identity's events as the `events` query lists them, newest first, once it lists at least
 * `expected`: the query shows an event only after every older transaction of the cluster has ended
 * (src/data/event.queries.ts), normally within milliseconds, so this waits up to 5 s.
 */
export async function eventsOf(gql: Gql, id: string, expected: number): Promise<EventView[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await gql<{ events: { edges: { node: EventView }[] } }>(IDENTITY_EVENTS, { id });
    if (res.body.errors || !res.body.data) throw new Error(JSON.stringify(res.body.errors));
    const events = res.body.data.events.edges.map((e) => e.node);
    if (events.length >= expected || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
