/**
 * Enrollment rules of docs/api.md ("Mutations"), as pure functions: what a
 * valid request is, and what to do with one given the identities already stored. The service
 * (src/enrollment/enrollment.service.ts) runs them before calling any provider and again under its lock.
 */
import type { EnrollErrorCode } from './error-codes.js';
import { parseUsPhone } from './phone.js';
import { type MonitoringStatus, PROVIDERS, type Provider } from './types.js';

/** Contract: batch enrollment takes 1 to 100 identities. */
export const MAX_BATCH_ENROLL = 100;
/** Longest clientCustomerId / providerIdentityId accepted (after trimming). */
export const MAX_ID_LENGTH = 200;

export interface EnrollFailure {
  code: EnrollErrorCode;
  message: string;
  existingIdentityId: string | null;
}

/** What a caller sent (GraphQL has checked the types, nothing else). */
export interface EnrollInput {
  phoneNumber?: string | null;
  clientCustomerId?: string | null;
  provider?: Provider | null;
  providerIdentityId?: string | null;
}

/** A valid enrollment request. */
export interface EnrollmentRequest {
  provider: Provider;
  /** E.164 (+1 and 10 digits). Always set for PROVE. */
  phoneNumber: string | null;
  clientCustomerId: string | null;
  /** Passbase key / VOVE refId; null for PROVE until Prove assigns its proveId. */
  providerIdentityId: string | null;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: EnrollFailure };

export const US_PHONE_HINT = 'a US number: 10 digits, or +1 and 10 digits (e.g. +12025550123)';
/** For a well-formed +1 number whose area code belongs to Canada or another NANP member (src/domain/phone.ts). */
export const NOT_US_PHONE =
  'phoneNumber is not a US number: its area code belongs to Canada or another country sharing +1 (Prove monitors US numbers only)';

// C0, DEL, C1, and the Unicode line/paragraph separators: nothing an id needs, everything a log line fears.
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export const failure = (
  code: EnrollErrorCode,
  message: string,
  existingIdentityId: string | null = null,
): EnrollFailure => ({ code, message, existingIdentityId });

/** Trimmed text, or null when absent; a failure message when empty, too long or with control characters. */
function text(name: string, value: string | null | undefined): string | null | EnrollFailure {
  if (value === null || value === undefined) return null;
  const t = value.trim();
  if (t === '') return failure('BAD_USER_INPUT', `${name} must not be empty: omit it or send null`);
  if (t.length > MAX_ID_LENGTH) {
    return failure('BAD_USER_INPUT', `${name} must be at most ${MAX_ID_LENGTH} characters`);
  }
  if (CONTROL.test(t)) return failure('BAD_USER_INPUT', `${name} must not contain control characters`);
  return t;
}

const isFailure = (v: unknown): v is EnrollFailure => typeof v === 'object' && v !== null && 'code' in v;

/**
 * Validates one enrollment. PROVE needs a phone number (absent: BAD_USER_INPUT; present but not a US
 * number, empty included: INVALID_PHONE_NUMBER) and takes no providerIdentityId (Prove assigns it);
 * PASSBASE and VOVE need providerIdentityId, and a phone number given to them is validated the same way.
 * The phone number is never echoed in a message: it is PII, and messages end up in logs.
 */
export function parseEnrollInput(input: EnrollInput): Parsed<EnrollmentRequest> {
  // `provider: Provider = PROVE`; an explicit null means the default too.
  const provider = input.provider ?? 'PROVE';
  if (!PROVIDERS.includes(provider)) {
    return { ok: false, error: failure('BAD_USER_INPUT', `provider must be one of ${PROVIDERS.join(', ')}`) };
  }
  const clientCustomerId = text('clientCustomerId', input.clientCustomerId);
  if (isFailure(clientCustomerId)) return { ok: false, error: clientCustomerId };
  const providerIdentityId = text('providerIdentityId', input.providerIdentityId);
  if (isFailure(providerIdentityId)) return { ok: false, error: providerIdentityId };

  let phoneNumber: string | null = null;
  if (input.phoneNumber !== null && input.phoneNumber !== undefined) {
    const parsed = parseUsPhone(input.phoneNumber);
    if (!parsed.ok) {
      const message = parsed.problem === 'NOT_US' ? NOT_US_PHONE : `phoneNumber must be ${US_PHONE_HINT}`;
      return { ok: false, error: failure('INVALID_PHONE_NUMBER', message) };
    }
    phoneNumber = parsed.e164;
  }

  if (provider === 'PROVE') {
    if (phoneNumber === null) {
      return {
        ok: false,
        error: failure('BAD_USER_INPUT', `phoneNumber is required for PROVE: ${US_PHONE_HINT}`),
      };
    }
    if (providerIdentityId !== null) {
      return {
        ok: false,
        error: failure('BAD_USER_INPUT', 'providerIdentityId is assigned by Prove for PROVE: omit it'),
      };
    }
  } else if (providerIdentityId === null) {
    const what = provider === 'PASSBASE' ? 'the Passbase key' : 'the VOVE refId';
    return {
      ok: false,
      error: failure('BAD_USER_INPUT', `providerIdentityId (${what}) is required for ${provider}`),
    };
  }
  return { ok: true, value: { provider, phoneNumber, clientCustomerId, providerIdentityId } };
}

/** Keys under which two enrollments are the same one (and serialise on one lock). */
export function enrollmentKeys(r: {
  provider: Provider;
  clientCustomerId: string | null;
  providerIdentityId: string | null;
}): string[] {
  const keys: string[] = [];
  if (r.clientCustomerId !== null) keys.push(`${r.provider}:customer:${r.clientCustomerId}`);
  if (r.providerIdentityId !== null) keys.push(`${r.provider}:identity:${r.providerIdentityId}`);
  return keys;
}

/**
 * For each request, the index of an earlier request in the same batch with the same provider and
 * clientCustomerId or providerIdentityId (null requests are skipped). Enrolling both would enroll the
 * customer twice at Prove before the second could be refused, so the later one is refused up front.
 */
export function duplicatesWithinBatch(
  requests: readonly (Parameters<typeof enrollmentKeys>[0] | null)[],
): Map<number, number> {
  const firstByKey = new Map<string, number>();
  const duplicates = new Map<number, number>();
  requests.forEach((r, index) => {
    if (r === null) return;
    const keys = enrollmentKeys(r);
    const earlier = keys.map((k) => firstByKey.get(k)).find((i) => i !== undefined);
    if (earlier !== undefined) duplicates.set(index, earlier);
    else for (const k of keys) firstByKey.set(k, index);
  });
  return duplicates;
}

/** A stored identity as far as enrollment cares. */
export interface StoredIdentity {
  id: string;
  status: MonitoringStatus;
  enrolledAt: Date | null;
}

export type EnrollDecision =
  | { kind: 'create' }
  /** An identity a webhook created (never enrolled here): it becomes the enrolled one. */
  | { kind: 'adopt'; identityId: string }
  | { kind: 'refuse'; error: EnrollFailure };

/**
 * What to do with a valid request, given the identity with the same provider and providerIdentityId
 * (if the id is known yet) and a live (ACTIVE or DEACTIVATED) identity of the same provider and
 * clientCustomerId other than that one.
 *
 * An ENDED identity cannot be enrolled again under the same providerIdentityId (the pair is unique and
 * no event leaves ENDED): MONITORING_ENDED names it. An ENDED identity with only the same
 * clientCustomerId does not block: that is the re-enrollment the contract asks for.
 */
export function decideEnrollment(
  request: { provider: Provider },
  sameProviderId: StoredIdentity | null,
  sameCustomer: StoredIdentity | null,
): EnrollDecision {
  if (sameProviderId !== null) {
    if (sameProviderId.status === 'ENDED') {
      return refuse(
        'MONITORING_ENDED',
        `${request.provider} identity ${sameProviderId.id} with this providerIdentityId has ENDED (the provider ` +
          'stopped monitoring it); it cannot be enrolled again under the same providerIdentityId',
        sameProviderId.id,
      );
    }
    if (sameProviderId.enrolledAt !== null) {
      return refuse(
        'ALREADY_ENROLLED',
        `${request.provider} identity ${sameProviderId.id} with this providerIdentityId is already enrolled ` +
          `(${sameProviderId.status})`,
        sameProviderId.id,
      );
    }
  }
  if (sameCustomer !== null) {
    return refuse(
      'ALREADY_ENROLLED',
      `${request.provider} identity ${sameCustomer.id} with this clientCustomerId is ${sameCustomer.status}`,
      sameCustomer.id,
    );
  }
  return sameProviderId === null ? { kind: 'create' } : { kind: 'adopt', identityId: sameProviderId.id };
}

function refuse(code: EnrollErrorCode, message: string, existingIdentityId: string): EnrollDecision {
  return { kind: 'refuse', error: failure(code, message, existingIdentityId) };
}

export type MonitoringAction = 'deactivate' | 'reactivate';

export type Transition =
  | { kind: 'record'; type: 'DEACTIVATED' | 'REACTIVATED' }
  /** Already where the action leads: answered as a success, no event recorded (a retry is harmless). */
  | { kind: 'unchanged' }
  | { kind: 'refuse'; error: EnrollFailure };

/**
 * Deactivating a DEACTIVATED identity or reactivating an ACTIVE one changes nothing and succeeds;
 * neither action applies to an ENDED identity (MONITORING_ENDED: re-enroll instead), because no event
 * moves an identity out of ENDED and a silent no-op would hide that.
 */
export function monitoringTransition(
  identity: { id: string; status: MonitoringStatus },
  action: MonitoringAction,
): Transition {
  if (identity.status === 'ENDED') {
    return {
      kind: 'refuse',
      error: failure(
        'MONITORING_ENDED',
        `identity ${identity.id} has ENDED (the provider stopped monitoring it), so it cannot be ${action}d: ` +
          'enroll it again instead',
        identity.id,
      ),
    };
  }
  const target = action === 'deactivate' ? 'DEACTIVATED' : 'ACTIVE';
  if (identity.status === target) return { kind: 'unchanged' };
  return { kind: 'record', type: action === 'deactivate' ? 'DEACTIVATED' : 'REACTIVATED' };
}
