/**
 * Enrollment, batch enrollment, deactivation and reactivation (docs/api.md, "Mutations").
 * The order is always: validate, call the provider (Prove or the sandbox), then store in one
 * transaction whose events take the webhook path (record_events), then wake the change feed. A failed
 * provider call changes nothing locally.
 */
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { Queryable } from '../data/sql.js';
import {
  decideEnrollment,
  duplicatesWithinBatch,
  type EnrollErrorCode,
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
import type { ChangeNotifier } from '../feed/notifier.js';
import {
  adminEvent,
  findExisting,
  findIdentity,
  lockEnrollmentKeys,
  lockIdentity,
  recordEvents,
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
    readonly code: EnrollErrorCode | 'NOT_FOUND' | 'BATCH_TOO_LARGE',
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

/** Calls Prove (or the sandbox) for the PROVE items; one answer per item, in order. */
type ProveCall = (items: ProveEnrollRequest[]) => Promise<ProveBatchItemResult[]>;

interface Refusal {
  candidate: Candidate;
  error: EnrollFailure;
  /** Prove enrolled it for nothing: tell Prove to stop monitoring it. */
  orphan: boolean;
}

/** A valid request that reached the store, its providerIdentityId known (Prove's id for PROVE). */
interface Candidate {
  index: number;
  request: EnrollmentRequest;
  providerIdentityId: string;
  /** Prove enrolled it just now: if it is not stored after all, Prove must be told to stop. */
  freshProveId: boolean;
}

export function createEnrollmentService(deps: EnrollmentDeps) {
  const { db, gateway, notifier, log } = deps;

  /** The steps shared by single and batch enrollment; `callProve` is the one difference. */
  async function enrollMany(
    inputs: readonly EnrollInput[],
    actor: string,
    callProve: ProveCall,
  ): Promise<EnrollOutcome[]> {
    const outcomes: EnrollOutcome[] = inputs.map((_, index) => ({ index, identityId: null, error: null }));
    const fail = (index: number, error: EnrollFailure) => {
      (outcomes[index] as EnrollOutcome).error = error;
    };

    const requests = inputs.map((input, index): EnrollmentRequest | null => {
      const parsed = parseEnrollInput(input);
      if (parsed.ok) return parsed.value;
      fail(index, parsed.error);
      return null;
    });
    for (const [index, first] of duplicatesWithinBatch(requests)) {
      fail(
        index,
        failure(
          'BAD_USER_INPUT',
          `item ${index} has the same provider and clientCustomerId or providerIdentityId as item ${first}`,
        ),
      );
      requests[index] = null;
    }

    // Refuse what is already enrolled before Prove enrolls it a second time; checked again under the lock.
    const valid = requests.flatMap((request, index) => (request ? [{ index, request }] : []));
    const existing = await findExisting(
      db,
      valid.map(({ index, request }) => ({ ord: index, ...request })),
    );
    const ready = valid.filter(({ index, request }) => {
      const found = existing.get(index);
      const decision = decideEnrollment(request, found?.byId ?? null, found?.byCustomer ?? null);
      if (decision.kind === 'refuse') fail(index, decision.error);
      return decision.kind !== 'refuse';
    });

    const candidates = await withProviderIds(ready, callProve, fail);
    const stored = await store(candidates, actor, fail);
    for (const [index, identityId] of stored) (outcomes[index] as EnrollOutcome).identityId = identityId;
    return outcomes;
  }

  /** PASSBASE/VOVE items keep their id; PROVE items get Prove's, or fail with Prove's answer. */
  async function withProviderIds(
    ready: readonly { index: number; request: EnrollmentRequest }[],
    callProve: ProveCall,
    fail: (index: number, error: EnrollFailure) => void,
  ): Promise<Candidate[]> {
    const prove = ready.filter((r) => r.request.provider === 'PROVE');
    const answers = new Map<number, ProveBatchItemResult>();
    if (prove.length > 0) {
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
      prove.forEach(({ index }, k) => {
        const result = results[k];
        if (result) answers.set(index, result);
      });
    }
    return ready.flatMap(({ index, request }): Candidate[] => {
      if (request.provider !== 'PROVE') {
        return [
          { index, request, providerIdentityId: request.providerIdentityId as string, freshProveId: false },
        ];
      }
      const answer = answers.get(index);
      if (answer?.ok) return [{ index, request, providerIdentityId: answer.proveId, freshProveId: true }];
      fail(index, proveRefusal(answer));
      return [];
    });
  }

  /** Stores the candidates (see storeOnce), then answers the refused ones. Returns index → identity id. */
  async function store(
    candidates: readonly Candidate[],
    actor: string,
    fail: (index: number, error: EnrollFailure) => void,
  ): Promise<Map<number, string>> {
    if (candidates.length === 0) return new Map();
    // Prove answering one proveId for two items of a batch: the later one is refused after the store.
    const sameProveId = duplicatesWithinBatch(candidates.map(asKeyed));
    let stored: Stored;
    try {
      stored = await retryOnConflict(
        () => db.transaction((m) => storeOnce(m, candidates, new Set(sameProveId.keys()), actor)),
        log,
      );
    } catch (err) {
      // Prove has enrolled these and nothing is stored: an operator must be able to reconcile them. They
      // are not deactivated here, since a commit whose answer was lost may have stored them after all.
      const proveIds = candidates.filter((c) => c.freshProveId).map((c) => c.providerIdentityId);
      if (proveIds.length > 0) {
        log.error({ err, proveIds }, 'Prove enrolled identities that could not be stored');
      }
      throw err;
    }
    const { ids, refused } = stored;
    if (ids.size > 0) notifier.poke();

    for (const [ord, first] of sameProveId) {
      const c = candidates[ord] as Candidate;
      const firstId = ids.get((candidates[first] as Candidate).index) ?? null;
      const firstIndex = (candidates[first] as Candidate).index;
      fail(
        c.index,
        failure('ALREADY_ENROLLED', `Prove answered the proveId of item ${firstIndex} again`, firstId),
      );
    }
    for (const { candidate, error } of refused) fail(candidate.index, error);
    await releaseOrphans(refused.filter((r) => r.orphan).map((r) => r.candidate.providerIdentityId));
    return ids;
  }

  /**
   * Prove enrolled these, then a concurrent enrollment of the same customer won the lock: stop Prove
   * monitoring them, or its notifications would create a second identity of that customer. Best effort.
   */
  async function releaseOrphans(proveIds: readonly string[]) {
    for (const proveId of proveIds) {
      try {
        await gateway.deactivate(proveId);
      } catch (err) {
        log.warn({ err }, 'could not deactivate a Prove enrollment that lost a concurrent enrollment');
      }
    }
  }

  /** Deactivation and reactivation: Prove first (for PROVE), then the event, under the row lock. */
  async function changeMonitoring(id: string, action: MonitoringAction, actor: string): Promise<string> {
    const current = await findIdentity(db.manager, id);
    if (!current) throw new EnrollmentError('NOT_FOUND', `identity ${id} not found`);
    const plan = monitoringTransition(current, action);
    if (plan.kind === 'refuse') throw asError(plan.error);
    if (plan.kind === 'unchanged') return id;
    const providerIdentityId = current.providerIdentityId;
    // Every identity gets one from its enrollment or its first webhook; record_events finds it by it.
    if (providerIdentityId === null) throw new Error(`identity ${id} has no provider identity id`);

    if (current.provider === 'PROVE') {
      try {
        if (action === 'deactivate') await gateway.deactivate(providerIdentityId);
        else await gateway.activate(providerIdentityId);
      } catch (err) {
        if (!(err instanceof ProviderUnavailableError)) throw err;
        log.warn({ err, ...providerDetails(err), identityId: id, action }, 'Prove refused or failed');
        throw new EnrollmentError('PROVIDER_UNAVAILABLE', err.message);
      }
    }

    const recorded = await db.transaction(async (m) => {
      const locked = await lockIdentity(m, id);
      if (!locked) throw new EnrollmentError('NOT_FOUND', `identity ${id} not found`);
      const row = locked.identity;
      // A webhook or a concurrent mutation may have moved it since the first read.
      const now = monitoringTransition(row, action);
      if (now.kind === 'refuse') throw asError(now.error);
      if (now.kind === 'unchanged') return false;
      await recordEvents(m, [
        adminEvent({
          provider: row.provider,
          providerIdentityId,
          clientCustomerId: row.clientCustomerId,
          type: now.type,
          actor,
          occurredAt: locked.now,
        }),
      ]);
      return true;
    });
    if (recorded) {
      notifier.poke();
      log.info({ identityId: id, action, actor }, `identity ${action}d`);
    }
    return id;
  }

  return {
    /** Enrolls one identity; throws EnrollmentError. Returns the identity's id. */
    async enroll(input: EnrollInput, actor: string): Promise<string> {
      const [outcome] = await enrollMany([input], actor, async ([item]) => [await enrollOne(item)]);
      if (!outcome) throw new Error('enrollment produced no outcome');
      if (outcome.error) throw asError(outcome.error);
      if (outcome.identityId === null)
        throw new Error('enrollment produced neither an identity nor an error');
      log.info({ identityId: outcome.identityId, actor }, 'identity enrolled');
      return outcome.identityId;
    },

    /** 1 to 100 enrollments, each succeeding or failing alone; Prove is called once for all PROVE items. */
    async enrollBatch(inputs: readonly EnrollInput[], actor: string): Promise<EnrollOutcome[]> {
      if (inputs.length === 0) {
        throw new EnrollmentError('BAD_USER_INPUT', 'identities must hold at least one item');
      }
      if (inputs.length > MAX_BATCH_ENROLL) {
        throw new EnrollmentError(
          'BATCH_TOO_LARGE',
          `a batch holds at most ${MAX_BATCH_ENROLL} identities, got ${inputs.length}`,
        );
      }
      const outcomes = await enrollMany(inputs, actor, (items) => gateway.batchEnroll(items));
      const enrolled = outcomes.filter((o) => o.identityId !== null).length;
      log.info({ enrolled, failed: outcomes.length - enrolled, actor }, 'batch enrollment');
      return outcomes;
    },

    deactivate: (id: string, actor: string) => changeMonitoring(id, 'deactivate', actor),
    reactivate: (id: string, actor: string) => changeMonitoring(id, 'reactivate', actor),
  };

  /**
   * Prove's single enrollment refuses a bad number with a 400 whose message says so: answer it as the
   * batch item error Prove sends for the same number (INVALID_PHONE_NUMBER), not as an outage a client
   * would retry.
   */
  async function enrollOne(item: ProveEnrollRequest | undefined): Promise<ProveBatchItemResult> {
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
}

export type EnrollmentService = ReturnType<typeof createEnrollmentService>;

function asKeyed(c: Candidate) {
  return {
    provider: c.request.provider,
    clientCustomerId: c.request.clientCustomerId,
    providerIdentityId: c.providerIdentityId,
  };
}

interface Stored {
  /** Input index → identity id. */
  ids: Map<number, string>;
  refused: Refusal[];
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
  const ids = new Map<number, string>();
  const refused: Refusal[] = [];
  const now = await lockEnrollmentKeys(
    m,
    candidates.flatMap((c) => enrollmentKeys(asKeyed(c))),
  );
  const existing = await findExisting(
    m,
    candidates.map((c, ord) => ({ ...asKeyed(c), ord })),
  );
  const accepted = candidates.filter((c, ord) => {
    if (skip.has(ord)) return false;
    const found = existing.get(ord);
    const decision = decideEnrollment(c.request, found?.byId ?? null, found?.byCustomer ?? null);
    if (decision.kind === 'refuse') {
      // A proveId already stored here is that identity's, not one to take back from Prove.
      refused.push({ candidate: c, error: decision.error, orphan: c.freshProveId && !found?.byId });
    }
    return decision.kind !== 'refuse';
  });
  const rows = await upsertIdentities(
    m,
    accepted.map((c) => ({ ...c.request, providerIdentityId: c.providerIdentityId })),
  );
  const byKey = new Map(rows.map((r) => [`${r.provider}\u0000${r.providerIdentityId}`, r]));
  const events = accepted.flatMap((c) => {
    const row = byKey.get(`${c.request.provider}\u0000${c.providerIdentityId}`);
    if (!row) {
      // Only a webhook ending it between the check and the upsert gets here.
      const error = failure('MONITORING_ENDED', 'the identity ENDED while it was being enrolled');
      refused.push({ candidate: c, error, orphan: false });
      return [];
    }
    ids.set(c.index, row.id);
    return [
      adminEvent({
        provider: row.provider,
        providerIdentityId: row.providerIdentityId,
        clientCustomerId: row.clientCustomerId,
        type: 'ENROLLED',
        actor,
        occurredAt: now,
      }),
    ];
  });
  await recordEvents(m, events);
  return { ids, refused };
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

function asError(f: EnrollFailure): EnrollmentError {
  return new EnrollmentError(f.code, f.message, f.existingIdentityId);
}

/** A PROVE item Prove did not enroll: its per-item answer, with the codes the API speaks. */
function proveRefusal(answer: ProveBatchItemResult | undefined): EnrollFailure {
  if (answer === undefined) return failure('PROVIDER_UNAVAILABLE', 'Prove gave no answer for this item');
  if (answer.ok) throw new Error('not a refusal');
  return answer.code === 'INVALID_PHONE_NUMBER'
    ? failure('INVALID_PHONE_NUMBER', `Prove refused the phone number: ${answer.message}`)
    : failure('PROVIDER_UNAVAILABLE', answer.message);
}
