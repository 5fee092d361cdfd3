/**
 * One `batchEnrollIdentities` call for `npm run enroll` (src/cli/enroll.ts), its answer sorted into
 * what the run does next: per-row results, a batch failed as a whole (its rows fail, the run goes on),
 * or a reason to stop (the server cannot be reached, or refuses the token).
 */
import type { EnrollInput } from '../domain/enrollment.js';

const MUTATION = `mutation Enroll($identities: [EnrollIdentityInput!]!) {
  batchEnrollIdentities(identities: $identities) {
    results { index identity { id } error { code message existingIdentityId } }
  }
}`;

/** Longer than the server's own provider timeouts and retries take for 100 identities. */
const TIMEOUT_MS = 120_000;

export interface ItemResult {
  index: number;
  identity: { id: string } | null;
  error: { code: string; message: string; existingIdentityId: string | null } | null;
}

/**
 * The codes the CLI reports itself in its failures file, for rows the API never judged (every other
 * code there is the server's, as answered): BAD_USER_INPUT and DUPLICATE_ROW for a row refused before
 * sending, MALFORMED_CSV, NO_RESULT for an item the answer left out, TIMEOUT and HTTP_<status> for a
 * batch without a GraphQL answer.
 */
export type ReportCode =
  | 'BAD_USER_INPUT'
  | 'DUPLICATE_ROW'
  | 'MALFORMED_CSV'
  | 'NO_RESULT'
  | 'TIMEOUT'
  | `HTTP_${number}`;

export type BatchAnswer =
  | { kind: 'results'; results: ItemResult[] }
  /** `code`: the server's error code, or a ReportCode when it gave none. */
  | { kind: 'failed'; code: string; message: string };

/** The run cannot go on (unreachable server, refused token): the message is one line for the admin. */
export class FatalError extends Error {
  override name = 'FatalError';
}

interface GraphQLBody {
  data?: { batchEnrollIdentities?: { results: ItemResult[] } } | null;
  errors?: { message?: string; extensions?: { code?: string } }[];
}

/** Codes that would fail every batch alike: stop at the first instead of failing every row. */
const STOP_CODES: Record<string, string> = {
  UNAUTHENTICATED: 'the server refused the token',
  FORBIDDEN: 'the token is not allowed to enroll',
  GRAPHQL_VALIDATION_FAILED: 'the server does not accept the enrollment mutation (is --url this API?)',
  GRAPHQL_PARSE_FAILED: 'the server does not accept the enrollment mutation (is --url this API?)',
};

/** Sends one batch (1 to 100 inputs) to `endpoint` (…/graphql); throws FatalError when the run must stop. */
export async function enrollBatch(
  endpoint: string,
  token: string,
  inputs: EnrollInput[],
): Promise<BatchAnswer> {
  let res: Response;
  try {
    res = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: MUTATION, variables: { identities: inputs } }),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') {
      return {
        kind: 'failed',
        code: 'TIMEOUT' satisfies ReportCode,
        message: `no answer within ${TIMEOUT_MS / 1000} s; these rows may have been enrolled: run again to find out`,
      };
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FatalError(
      `cannot reach ${endpoint}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
    );
  }
  if (res.status === 401 || res.status === 403) {
    const first = (await readJson(res))?.errors?.[0]?.message;
    throw new FatalError(`the server refused the token (HTTP ${res.status}${first ? `: ${first}` : ''})`);
  }
  if (res.status === 404) throw new FatalError(`${endpoint} answered 404: is --url this API?`);
  const body = await readJson(res);
  const results = body?.data?.batchEnrollIdentities?.results;
  if (res.ok && results) return { kind: 'results', results };
  const error = body?.errors?.[0];
  const code = error?.extensions?.code;
  if (code && Object.hasOwn(STOP_CODES, code)) {
    throw new FatalError(`${STOP_CODES[code]} (${code}${error?.message ? `: ${error.message}` : ''})`);
  }
  if (code) return { kind: 'failed', code, message: error?.message ?? code };
  return {
    kind: 'failed',
    code: `HTTP_${res.status}` satisfies ReportCode,
    message: `the server answered HTTP ${res.status} ${res.statusText} without a GraphQL result`,
  };
}

/** The body as GraphQL JSON, or null (a proxy's HTML error page, an empty body). */
async function readJson(res: Response): Promise<GraphQLBody | null> {
  try {
    return (await res.json()) as GraphQLBody;
  } catch {
    return null;
  }
}
