/**
 * Enrollment, batch enrollment, deactivation and reactivation (docs/api.md, "Mutations"), as steps that
 * each take what they need and return what they decided:
 * - enroll, enrollBatch: validate → refuse what is stored → call Prove (or the sandbox) for the PROVE
 *   items → store in one transaction whose events take the webhook path (record_events) → wake the
 *   change feed → tell Prove to drop what it enrolled for nothing;
 * - deactivate, reactivate: look up → call Prove for a PROVE identity → record the event under the
 *   row lock → wake the change feed.
 * A failed provider call changes nothing locally.
 */
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import type { Queryable } from '../data/sql.js';
import {
  decideEnrollment,
  duplicatesWithinBatch,
  type EnrollFailure,
  type EnrollInput,
  type EnrollmentRequest,
  enrollmentKeys,
  failure,
  MAX_BATCH_ENROLL,
  type MonitoringAction,
  monitoringTransition,
  parseEnrollInput,
} from '../domain/enrollment.js';
import type { EnrollmentErrorCode } from '../domain/error-codes.js';
import type { ChangeNotifier } from '../feed/notifier.js';
import {
  adminEvent,
  type Existing,
  findExisting,
  findIdentity,
  lockEnrollmentKeys,
  lockIdentity,
  recordEvents,
  type StoredRow,
  upsertIdentities,
} from './enrollment.store.js';
import {
  type ProveBatchItemResult,
  type ProveEnrollRequest,
  type ProveGateway,
  ProviderUnavailableError,
  providerDetails,
} from './prove-gateway.js';

/** A refusal the caller should see as it is; the GraphQL layer maps `code` to `extensions.code`. */
export class EnrollmentError extends Error {
  override name = 'EnrollmentError';
  constructor(
    readonly code: EnrollmentErrorCode,
    message: string,
    readonly existingIdentityId: string | null = null,
  ) {
    super(message);
  }
}

/** One batch item's outcome, in input order. */
export interface EnrollOutcome {
  index: number;
  identityId: string | null;
  error: EnrollFailure | null;
}

export interface EnrollmentDeps {
  db: DataSource;
  gateway: ProveGateway;
  notifier: ChangeNotifier;
  log: Logger;
}

export function createEnrollmentService(deps: EnrollmentDeps) {
  return {
    /** Enrolls one identity; throws EnrollmentError. Returns the identity's id. */
    enroll: (input: EnrollInput, actor: string) => enroll(deps, input, actor),
    /** 1 to 100 enrollments, each succeeding or failing alone; Prove is called once for all PROVE items. */
    enrollBatch: (inputs: readonly EnrollInput[], actor: string) => enrollBatch(deps, inputs, actor),
    deactivate: (id: string, actor: string) => changeMonitoring(deps, id, 'deactivate', actor),
    reactivate: (id: string, actor: string) => changeMonitoring(deps, id, 'reactivate', actor),
  };
}

export type EnrollmentService = ReturnType<typeof createEnrollmentService>;

// ---------------------------------------------------------------------------------------------
// Enrollment, composed

/** Calls Prove (or the sandbox) for the PROVE items; one answer per item, in order. */
type ProveCall = (items: ProveEnrollRequest[]) => Promise<ProveBatchItemResult[]>;

async function enroll(deps: EnrollmentDeps, input: EnrollInput, actor: string): Promise<string> {
  const [outcome] = await enrollMany(deps, [input], actor, async ([item]) => [
    await enrollAtProve(deps.gateway, item),
  ]);
  if (!outcome) throw new Error('enrollment produced no outcome');
  if (outcome.error) throw asError(outcome.error);
  if (outcome.identityId === null) throw new Error('enrollment produced neither an identity nor an error');
  deps.log.info({ identityId: outcome.identityId, actor }, 'identity enrolled');
  return outcome.identityId;
}

async function enrollBatch(
  deps: EnrollmentDeps,
  inputs: readonly EnrollInput[],
  actor: string,
): Promise<EnrollOutcome[]> {
  if (inputs.length === 0) {
    throw new EnrollmentError('BAD_USER_INPUT', 'identities must hold at least one item');
  }
  if (inputs.length > MAX_BATCH_ENROLL) {
    throw new EnrollmentError(
      'BATCH_TOO_LARGE',
      `a batch holds at most ${MAX_BATCH_ENROLL} identities, got ${inputs.length}`,
    );
  }
  const outcomes = await enrollMany(deps, inputs, actor, (items) => deps.gateway.batchEnroll(items));
  const enrolled = outcomes.filter((o) => o.identityId !== null).length;
  deps.log.info({ enrolled, failed: outcomes.length - enrolled, actor }, 'batch enrollment');
  return outcomes;
}

/** The steps shared by single and batch enrollment; `callProve` is the one difference. */
async function enrollMany(
  deps: EnrollmentDeps,
  inputs: readonly EnrollInput[],
  actor: string,
  callProve: ProveCall,
): Promise<EnrollOutcome[]> {
  const checked = validate(inputs);
  const looked = await refuseStored(deps.db, checked.valid);
  const assigned = await assignProviderIds(deps.log, looked.ready, callProve);
  const stored = await store(deps, assigned.candidates, actor);
  if (stored.ids.size > 0) deps.notifier.poke();
  await releaseOrphans(deps, stored.orphans);
  return outcomesOf(inputs.length, stored.ids, [
    ...checked.refused,
    ...looked.refused,
    ...assigned.refused,
    ...stored.refused,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Enrollment, step by step

/** A valid request, by its input index. */
interface Valid {
  index: number;
  request: EnrollmentRequest;
}

/** An item's refusal, by its input index. */
interface Refused {
  index: number;
  error: EnrollFailure;
}

/** A valid request that reached the store, its providerIdentityId known (Prove's id for PROVE). */
interface Candidate extends Valid {
  providerIdentityId: string;
  /** Prove enrolled it just now: if it is not stored after all, Prove must be told to stop. */
  freshProveId: boolean;
}

/**
 * Parses every input, and refuses the later of two items with the same provider and clientCustomerId
 * or providerIdentityId (enrolling both would enroll the customer twice at Prove).
 */
function validate(inputs: readonly EnrollInput[]): { valid: Valid[]; refused: Refused[] } {
  const refused: Refused[] = [];
  const requests = inputs.map((input, index): EnrollmentRequest | null => {
    const parsed = parseEnrollInput(input);
    if (parsed.ok) return parsed.value;
    refused.push({ index, error: parsed.error });
    return null;
  });
  for (const [index, first] of duplicatesWithinBatch(requests)) {
    const message = `item ${index} has the same provider and clientCustomerId or providerIdentityId as item ${first}`;
    refused.push({ index, error: failure('BAD_USER_INPUT', message) });
    requests[index] = null;
  }
  const valid = requests.flatMap((request, index) => (request ? [{ index, request }] : []));
  return { valid, refused };
}

/** Refuses what is already enrolled before Prove enrolls it a second time; checked again under the lock. */
async function refuseStored(
  db: Queryable,
  valid: readonly Valid[],
): Promise<{ ready: Valid[]; refused: Refused[] }> {
  const existing = await findExisting(
    db,
    valid.map(({ index, request }) => ({ ord: index, ...request })),
  );
  const ready: Valid[] = [];
  const refused: Refused[] = [];
  for (const item of valid) {
    const decision = decide(item.request, existing.get(item.index));
    if (decision.kind === 'refuse') refused.push({ index: item.index, error: decision.error });
    else ready.push(item);
  }
  return { ready, refused };
}

function decide(request: EnrollmentRequest, found: Existing | undefined) {
  return decideEnrollment(request, found?.byId ?? null, found?.byCustomer ?? null);
}

/** PASSBASE/VOVE items keep their id; PROVE items get Prove's, or are refused with Prove's answer. */
async function assignProviderIds(
  log: Logger,
  ready: readonly Valid[],
  callProve: ProveCall,
): Promise<{ candidates: Candidate[]; refused: Refused[] }> {
  const answers = await askProve(
    log,
    ready.filter((r) => r.request.provider === 'PROVE'),
    callProve,
  );
  const candidates: Candidate[] = [];
  const refused: Refused[] = [];
  for (const { index, request } of ready) {
    if (request.provider !== 'PROVE') {
      const providerIdentityId = request.providerIdentityId as string;
      candidates.push({ index, request, providerIdentityId, freshProveId: false });
      continue;
    }
    const answer = answers.get(index);
    if (answer?.ok)
      candidates.push({ index, request, providerIdentityId: answer.proveId, freshProveId: true });
    else refused.push({ index, error: proveRefusal(answer) });
  }
  return { candidates, refused };
}

/** Prove's answer per PROVE item, by input index; an outage answers every item PROVIDER_UNAVAILABLE. */
async function askProve(
  log: Logger,
  prove: readonly Valid[],
  callProve: ProveCall,
): Promise<Map<number, ProveBatchItemResult>> {
  if (prove.length === 0) return new Map();
  const items = prove.map(({ request }) => ({
    phoneNumber: request.phoneNumber as string,
    clientCustomerId: request.clientCustomerId,
  }));
  let results: ProveBatchItemResult[];
  try {
    results = await callProve(items);
  } catch (err) {
    if (!(err instanceof ProviderUnavailableError)) throw err;
    log.warn({ err, ...providerDetails(err), items: items.length }, 'Prove enrollment failed');
    results = items.map(() => ({ ok: false, code: 'PROVIDER_UNAVAILABLE', message: err.message }));
  }
  return new Map(
    prove.flatMap(({ index }, k): [number, ProveBatchItemResult][] => {
      const result = results[k];
      return result ? [[index, result]] : [];
    }),
  );
}

/**
 * Prove's single enrollment refuses a bad number with a 400 whose message says so: answer it as the
 * batch item error Prove sends for the same number (INVALID_PHONE_NUMBER), not as an outage a client
 * would retry.
 */
async function enrollAtProve(
  gateway: ProveGateway,
  item: ProveEnrollRequest | undefined,
): Promise<ProveBatchItemResult> {
  if (!item) throw new Error('no item to enroll');
  try {
    return { ok: true, proveId: (await gateway.enroll(item)).proveId };
  } catch (err) {
    if (
      err instanceof ProviderUnavailableError &&
      err.status === 400 &&
      /invalid phone number/i.test(err.message)
    ) {
      return { ok: false, code: 'INVALID_PHONE_NUMBER', message: err.message };
    }
    throw err;
  }
}

/** A PROVE item Prove did not enroll: its per-item answer, with the codes the API speaks. */
function proveRefusal(answer: ProveBatchItemResult | undefined): EnrollFailure {
  if (answer === undefined) return failure('PROVIDER_UNAVAILABLE', 'Prove gave no answer for this item');
  if (answer.ok) throw new Error('not a refusal');
  return answer.code === 'INVALID_PHONE_NUMBER'
    ? failure('INVALID_PHONE_NUMBER', `Prove refused the phone number: ${answer.message}`)
    : failure('PROVIDER_UNAVAILABLE', answer.message);
}

interface StoreResult {
  /** Input index → identity id. */
  ids: Map<number, string>;
  refused: Refused[];
  /** proveIds Prove enrolled for nothing: a concurrent enrollment of the same customer won. */
  orphans: string[];
}

/** Stores the candidates (see storeOnce), running the transaction again after a deadlock. */
async function store(
  deps: Pick<EnrollmentDeps, 'db' | 'log'>,
  candidates: readonly Candidate[],
  actor: string,
): Promise<StoreResult> {
  if (candidates.length === 0) return { ids: new Map(), refused: [], orphans: [] };
  // Prove answering one proveId for two items of a batch: the later one is refused after the store.
  const sameProveId = duplicatesWithinBatch(candidates.map(asKeyed));
  let stored: Stored;
  try {
    stored = await retryOnConflict(
      () => deps.db.transaction((m) => storeOnce(m, candidates, new Set(sameProveId.keys()), actor)),
      deps.log,
    );
  } catch (err) {
    // Prove has enrolled these and nothing is stored: an operator must be able to reconcile them. They
    // are not deactivated here, since a commit whose answer was lost may have stored them after all.
    const proveIds = candidates.filter((c) => c.freshProveId).map((c) => c.providerIdentityId);
    if (proveIds.length > 0) {
      deps.log.error({ err, proveIds }, 'Prove enrolled identities that could not be stored');
    }
    throw err;
  }
  const refused = [...sameProveId].map(([ord, first]): Refused => {
    const { index } = candidates[ord] as Candidate;
    const firstIndex = (candidates[first] as Candidate).index;
    const message = `Prove answered the proveId of item ${firstIndex} again`;
    return { index, error: failure('ALREADY_ENROLLED', message, stored.ids.get(firstIndex) ?? null) };
  });
  for (const { candidate, error } of stored.refused) refused.push({ index: candidate.index, error });
  const orphans = stored.refused.filter((r) => r.orphan).map((r) => r.candidate.providerIdentityId);
  return { ids: stored.ids, refused, orphans };
}

/** A candidate refused under the lock. */
interface LateRefusal {
  candidate: Candidate;
  error: EnrollFailure;
  /** Prove enrolled it for nothing: tell Prove to stop monitoring it. */
  orphan: boolean;
}

interface Stored {
  /** Input index → identity id. */
  ids: Map<number, string>;
  refused: LateRefusal[];
}

/**
 * One transaction: lock every item's keys, check again what is stored (a concurrent enrollment may
 * have won meanwhile), create or adopt the identities, and record their ENROLLED events through
 * record_events, which derives their state. `skip` holds candidate positions refused beforehand.
 */
async function storeOnce(
  m: Queryable,
  candidates: readonly Candidate[],
  skip: ReadonlySet<number>,
  actor: string,
): Promise<Stored> {
  const now = await lockEnrollmentKeys(
    m,
    candidates.flatMap((c) => enrollmentKeys(asKeyed(c))),
  );
  const existing = await findExisting(
    m,
    candidates.map((c, ord) => ({ ...asKeyed(c), ord })),
  );
  const checked = recheck(candidates, existing, skip);
  const rows = await upsertIdentities(
    m,
    checked.accepted.map((c) => ({ ...c.request, providerIdentityId: c.providerIdentityId })),
  );
  const matched = matchStored(checked.accepted, rows);
  await recordEvents(
    m,
    matched.stored.map(({ row }) =>
      adminEvent({
        provider: row.provider,
        providerIdentityId: row.providerIdentityId,
        clientCustomerId: row.clientCustomerId,
        type: 'ENROLLED',
        actor,
        occurredAt: now,
      }),
    ),
  );
  const ids = new Map(matched.stored.map(({ candidate, row }) => [candidate.index, row.id]));
  return { ids, refused: [...checked.refused, ...matched.refused] };
}

/** The enrollment decision again, under the lock; candidates at `skip` positions are left out. */
function recheck(
  candidates: readonly Candidate[],
  existing: ReadonlyMap<number, Existing>,
  skip: ReadonlySet<number>,
): { accepted: Candidate[]; refused: LateRefusal[] } {
  const accepted: Candidate[] = [];
  const refused: LateRefusal[] = [];
  candidates.forEach((c, ord) => {
    if (skip.has(ord)) return;
    const found = existing.get(ord);
    const decision = decide(c.request, found);
    if (decision.kind !== 'refuse') accepted.push(c);
    // A proveId already stored here is that identity's, not one to take back from Prove.
    else refused.push({ candidate: c, error: decision.error, orphan: c.freshProveId && !found?.byId });
  });
  return { accepted, refused };
}

/** Each accepted candidate with its stored row; a row missing from the upsert's answer was ENDED meanwhile. */
function matchStored(
  accepted: readonly Candidate[],
  rows: readonly StoredRow[],
): { stored: { candidate: Candidate; row: StoredRow }[]; refused: LateRefusal[] } {
  const byKey = new Map(rows.map((r) => [`${r.provider}\u0000${r.providerIdentityId}`, r]));
  const stored: { candidate: Candidate; row: StoredRow }[] = [];
  const refused: LateRefusal[] = [];
  for (const candidate of accepted) {
    const row = byKey.get(`${candidate.request.provider}\u0000${candidate.providerIdentityId}`);
    if (row) stored.push({ candidate, row });
    else {
      // Only a webhook ending it between the check and the upsert gets here.
      const error = failure('MONITORING_ENDED', 'the identity ENDED while it was being enrolled');
      refused.push({ candidate, error, orphan: false });
    }
  }
  return { stored, refused };
}

/**
 * Prove enrolled these, then a concurrent enrollment of the same customer won the lock: stop Prove
 * monitoring them, or its notifications would create a second identity of that customer. Best effort.
 */
async function releaseOrphans(
  deps: Pick<EnrollmentDeps, 'gateway' | 'log'>,
  proveIds: readonly string[],
): Promise<void> {
  for (const proveId of proveIds) {
    try {
      await deps.gateway.deactivate(proveId);
    } catch (err) {
      deps.log.warn({ err }, 'could not deactivate a Prove enrollment that lost a concurrent enrollment');
    }
  }
}

/** Every input's outcome, in input order: its identity, or its refusal. */
function outcomesOf(
  count: number,
  ids: ReadonlyMap<number, string>,
  refused: readonly Refused[],
): EnrollOutcome[] {
  const errors = new Map(refused.map((r) => [r.index, r.error]));
  return Array.from({ length: count }, (_, index) => ({
    index,
    identityId: ids.get(index) ?? null,
    error: errors.get(index) ?? null,
  }));
}

function asKeyed(c: Candidate) {
  return {
    provider: c.request.provider,
    clientCustomerId: c.request.clientCustomerId,
    providerIdentityId: c.providerIdentityId,
  };
}

/** SQLSTATEs after which the whole transaction can simply run again: deadlock, serialization failure. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 3;

/**
 * Runs a transaction again when PostgreSQL aborted it for a deadlock (an adoption updates rows a
 * multi-identity webhook delivery may be updating in another order). Its decisions are re-made under
 * its locks each time, so a rerun is safe.
 */
async function retryOnConflict<T>(run: () => Promise<T>, log: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const e = err as { code?: unknown; driverError?: { code?: unknown } };
      const code = e.code ?? e.driverError?.code;
      if (attempt >= MAX_ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      log.warn({ err, attempt }, 'enrollment transaction aborted by PostgreSQL; running it again');
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Deactivation and reactivation

/** Prove first (for PROVE), then the event, under the row lock. */
async function changeMonitoring(
  deps: EnrollmentDeps,
  id: string,
  action: MonitoringAction,
  actor: string,
): Promise<string> {
  const current = await findIdentity(deps.db.manager, id);
  if (!current) throw notFound(id);
  const plan = monitoringTransition(current, action);
  if (plan.kind === 'refuse') throw asError(plan.error);
  if (plan.kind === 'unchanged') return id;
  const { providerIdentityId } = current;
  // Every identity gets one from its enrollment or its first webhook; record_events finds it by it.
  if (providerIdentityId === null) throw new Error(`identity ${id} has no provider identity id`);

  if (current.provider === 'PROVE') await tellProve(deps, providerIdentityId, action, id);
  const recorded = await deps.db.transaction((m) =>
    recordMonitoringChange(m, id, providerIdentityId, action, actor),
  );
  if (recorded) {
    deps.notifier.poke();
    deps.log.info({ identityId: id, action, actor }, `identity ${action}d`);
  }
  return id;
}

/** Tells Prove to stop or resume monitoring; a refusal or an outage is PROVIDER_UNAVAILABLE. */
async function tellProve(
  deps: Pick<EnrollmentDeps, 'gateway' | 'log'>,
  proveId: string,
  action: MonitoringAction,
  identityId: string,
): Promise<void> {
  try {
    if (action === 'deactivate') await deps.gateway.deactivate(proveId);
    else await deps.gateway.activate(proveId);
  } catch (err) {
    if (!(err instanceof ProviderUnavailableError)) throw err;
    deps.log.warn({ err, ...providerDetails(err), identityId, action }, 'Prove refused or failed');
    throw new EnrollmentError('PROVIDER_UNAVAILABLE', err.message);
  }
}

/**
 * Under the row lock, decides again (a webhook or a concurrent mutation may have moved the identity
 * since the first read) and records the event. False when there was nothing left to record.
 */
async function recordMonitoringChange(
  m: EntityManager,
  id: string,
  providerIdentityId: string,
  action: MonitoringAction,
  actor: string,
): Promise<boolean> {
  const locked = await lockIdentity(m, id);
  if (!locked) throw notFound(id);
  const { identity, now } = locked;
  const plan = monitoringTransition(identity, action);
  if (plan.kind === 'refuse') throw asError(plan.error);
  if (plan.kind === 'unchanged') return false;
  await recordEvents(m, [
    adminEvent({
      provider: identity.provider,
      providerIdentityId,
      clientCustomerId: identity.clientCustomerId,
      type: plan.type,
      actor,
      occurredAt: now,
    }),
  ]);
  return true;
}

const notFound = (id: string) => new EnrollmentError('NOT_FOUND', `identity ${id} not found`);

function asError(f: EnrollFailure): EnrollmentError {
  return new EnrollmentError(f.code, f.message, f.existingIdentityId);
}
