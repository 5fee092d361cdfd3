import type { Enrolled, EnrolledIdentity, SimProvider } from './stories.js';

/** Thrown when the server cannot be reached at all; the message names the URL and the cause. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

const PROVIDER_ENUM: Record<SimProvider, string> = { prove: 'PROVE', vove: 'VOVE', passbase: 'PASSBASE' };

/**
 * Up to 50 ACTIVE identities of each provider (ENDED ones would show no change), in one GraphQL request
 * with an `identities:read` token. Resolves with the identities, or with why they could not be listed.
 */
export async function listEnrolled(
  url: string,
  token: string,
  providers: readonly SimProvider[],
): Promise<{ ok: true; enrolled: Enrolled } | { ok: false; reason: string }> {
  const fields = providers.map(
    (p) => `${p}: identities(first: 50, filter: { provider: ${PROVIDER_ENUM[p]}, status: ACTIVE }) {
      edges { node { providerIdentityId clientCustomerId } } }`,
  );
  let res: Response;
  try {
    res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: `{ ${fields.join('\n')} }` }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    throw new UnreachableError(`cannot reach ${url}/graphql (${networkCause(err)}): is the server running?`);
  }
  type Page = { edges: { node: { providerIdentityId: string | null; clientCustomerId: string | null } }[] };
  let body: { data?: Record<string, Page> | null; errors?: { message: string }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    return { ok: false, reason: `${url}/graphql answered ${res.status} without JSON` };
  }
  if (res.status !== 200 || !body.data) {
    const message = body.errors?.[0]?.message ?? 'no data';
    return { ok: false, reason: `${url}/graphql answered ${res.status}: ${message.slice(0, 200)}` };
  }
  const enrolled: Enrolled = { prove: [], vove: [], passbase: [] };
  for (const p of providers) {
    enrolled[p] = (body.data[p]?.edges ?? [])
      .map((e) => e.node)
      .filter((n): n is EnrolledIdentity => typeof n.providerIdentityId === 'string');
  }
  return { ok: true, enrolled };
}

/** What went wrong on the network, in a word or two (ECONNREFUSED, timeout...), never a stack. */
export function networkCause(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timeout';
  const cause =
    err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : null;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message.slice(0, 100);
  return err instanceof Error ? err.message.slice(0, 100) : 'network error';
}
