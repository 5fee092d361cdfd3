/**
 * The webhook simulator behind `npm run simulate`: realistic deliveries for new and already enrolled
 * identities, signed exactly as each provider signs them, sent to a running server.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { listEnrolled, networkCause } from './enrolled.js';
import { encryptPassbase, proveHeaders, signProve, signSvix } from './sign.js';
import { type Enrolled, planStories, SIM_PROVIDERS, type SimProvider, svixMessageId } from './stories.js';

/** The webhook secrets of the server, as src/config.ts reads them. */
export interface SimulatorSecrets {
  prove: string | null;
  vove: string | null;
  passbase: Buffer | null;
}

/** The variable each provider's secret comes from. */
export const SECRET_VARIABLES: Record<SimProvider, string> = {
  prove: 'PROVE_WEBHOOK_SECRET',
  vove: 'VOVE_WEBHOOK_SECRET',
  passbase: 'PASSBASE_WEBHOOK_SECRET',
};

/** A provider was asked for whose secret is not configured; the message names the variable. */
export class MissingSecretError extends Error {
  override name = 'MissingSecretError';
}

export interface SimulateOptions {
  /** The server's base URL, e.g. http://127.0.0.1:4000. */
  url: string;
  providers: readonly SimProvider[];
  /** Deliveries (HTTP requests) in all, shared evenly among the providers. */
  count: number;
  /** At most this many deliveries a second; unset: as fast as `concurrency` stories in flight allow. */
  rate?: number | null;
  secrets: SimulatorSecrets;
  /** A token with `identities:read`: enrolled identities are listed and every third event goes to one. */
  apiToken?: string | null;
  /** Stories (one identity's deliveries, sent in order) in flight at once; default 4. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface Refusal {
  provider: SimProvider;
  /** null: no answer (network error). */
  status: number | null;
  body: string;
}

export interface SimulateSummary {
  url: string;
  sent: number;
  refused: number;
  /** Answers by HTTP status ("200", "202", "401"...), and "network error" for no answer. */
  byStatus: Record<string, number>;
  byProvider: Partial<Record<SimProvider, { sent: number; byStatus: Record<string, number> }>>;
  /** Events sent, and as the server counted them: stored (new), duplicates (already stored), rejected. */
  events: { sent: number; accepted: number; duplicates: number; rejected: number };
  /** Distinct identities the deliveries were for: new ones, and enrolled ones reused. */
  identities: { fresh: number; enrolled: number };
  /** Enrolled identities listed before sending; null when not listed (see notes). */
  enrolledListed: number | null;
  notes: string[];
  /** The first few refusals, their bodies cut short. */
  refusals: Refusal[];
  durationMs: number;
}

const MAX_REFUSALS_KEPT = 5;
const REQUEST_TIMEOUT_MS = 30_000;

/** Throws MissingSecretError naming every variable a requested provider lacks. */
export function checkSecrets(providers: readonly SimProvider[], secrets: SimulatorSecrets): void {
  const missing = providers.filter((p) => secrets[p] === null);
  if (missing.length === 0) return;
  const names = missing.map((p) => SECRET_VARIABLES[p]).join(', ');
  const others = SIM_PROVIDERS.filter((p) => !missing.includes(p) && secrets[p] !== null);
  const hint = others.length > 0 ? `, or choose --provider ${others.join(' or ')}` : '';
  throw new MissingSecretError(
    `${names} ${missing.length > 1 ? 'are' : 'is'} not set, so ${missing.join(' and ')} deliveries cannot be signed: ` +
      `set ${missing.length > 1 ? "them to the server's secrets" : "it to the server's secret"} (development makes one in .data/dev-secrets.json)${hint}`,
  );
}

interface Answer {
  status: number | null;
  body: string;
}

/** The bytes and headers of one delivery of `body`, signed (or encrypted) as its provider does it. */
export async function signDelivery(
  provider: SimProvider,
  body: string,
  secrets: SimulatorSecrets,
  now: Date,
): Promise<{ raw: string; headers: Record<string, string> }> {
  if (provider === 'prove') {
    const token = await signProve(secrets.prove as string, body, now);
    return {
      raw: body,
      headers: { 'content-type': 'application/json', ...proveHeaders(token, `sim-${randomUUID()}`) },
    };
  }
  if (provider === 'vove') {
    const svix = signSvix({ secret: secrets.vove as string, id: svixMessageId(), timestamp: now, body });
    return { raw: body, headers: { 'content-type': 'application/json', ...svix } };
  }
  const raw = encryptPassbase(secrets.passbase as Buffer, Buffer.from(body, 'utf8'));
  return { raw, headers: { 'content-type': 'text/plain' } };
}

/** Signs and POSTs one delivery; never throws (no answer is a null status). */
async function deliver(
  url: string,
  provider: SimProvider,
  body: string,
  secrets: SimulatorSecrets,
  now: Date,
): Promise<Answer> {
  const { raw, headers } = await signDelivery(provider, body, secrets, now);
  try {
    const res = await fetch(`${url}/webhooks/${provider}`, {
      method: 'POST',
      headers,
      body: raw,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: null, body: networkCause(err) };
  }
}

type Counts = Pick<SimulateSummary['events'], 'accepted' | 'duplicates' | 'rejected'>;

/** The counts of a 200 answer; 0 for anything else (a 202 spooled the events, to be counted later). */
function countsOf(answer: Answer): Counts {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(answer.body) as Record<string, unknown>;
  } catch {
    // not JSON: nothing to count
  }
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return { accepted: n(parsed.accepted), duplicates: n(parsed.duplicates), rejected: n(parsed.rejected) };
}

/** Sends `count` deliveries and answers with what the server said; throws only before sending anything. */
export async function simulate(opts: SimulateOptions): Promise<SimulateSummary> {
  checkSecrets(opts.providers, opts.secrets);
  const url = opts.url.replace(/\/+$/, '');
  const started = performance.now();
  const summary: SimulateSummary = {
    url,
    sent: 0,
    refused: 0,
    byStatus: {},
    byProvider: {},
    events: { sent: 0, accepted: 0, duplicates: 0, rejected: 0 },
    identities: { fresh: 0, enrolled: 0 },
    enrolledListed: null,
    notes: [],
    refusals: [],
    durationMs: 0,
  };
  let enrolled: Partial<Enrolled> = {};
  if (opts.apiToken) {
    const listed = await listEnrolled(url, opts.apiToken, opts.providers);
    if (listed.ok) {
      enrolled = listed.enrolled;
      summary.enrolledListed = opts.providers.reduce((n, p) => n + listed.enrolled[p].length, 0);
    } else {
      summary.notes.push(`enrolled identities could not be listed (${listed.reason}): new identities only`);
    }
  }
  const stories = planStories({ providers: opts.providers, count: opts.count, enrolled });
  const distinct = (enrolled: boolean) =>
    new Set(
      stories.flatMap((s) =>
        s.identities
          .filter((i) => i.enrolled === enrolled)
          .map((i) => `${s.provider}:${i.providerIdentityId}`),
      ),
    ).size;
  summary.identities = { fresh: distinct(false), enrolled: distinct(true) };

  const pacingStart = performance.now();
  let slot = 0;
  /** Waits for the next sending slot when a rate is set: slot n opens n/rate seconds after the start. */
  const pace = async () => {
    if (!opts.rate) return;
    const wait = pacingStart + (slot++ * 1000) / opts.rate - performance.now();
    if (wait > 0) await sleep(wait);
  };
  const record = (provider: SimProvider, events: number, answer: Answer) => {
    const key = answer.status === null ? 'network error' : String(answer.status);
    const perProvider = summary.byProvider[provider] ?? { sent: 0, byStatus: {} };
    summary.byProvider[provider] = perProvider;
    summary.sent++;
    perProvider.sent++;
    summary.byStatus[key] = (summary.byStatus[key] ?? 0) + 1;
    perProvider.byStatus[key] = (perProvider.byStatus[key] ?? 0) + 1;
    summary.events.sent += events;
    const ok = answer.status !== null && answer.status >= 200 && answer.status < 300;
    if (ok) {
      const counts = countsOf(answer);
      summary.events.accepted += counts.accepted;
      summary.events.duplicates += counts.duplicates;
      summary.events.rejected += counts.rejected;
    } else {
      summary.refused++;
      if (summary.refusals.length < MAX_REFUSALS_KEPT) {
        summary.refusals.push({ provider, status: answer.status, body: answer.body.slice(0, 300) });
      }
    }
    opts.onProgress?.(summary.sent, opts.count);
  };

  let next = 0;
  const worker = async () => {
    for (let story = stories[next++]; story; story = stories[next++]) {
      for (const step of story.steps) {
        await pace();
        const now = new Date();
        const { body, events } = step(now);
        record(story.provider, events, await deliver(url, story.provider, body, opts.secrets, now));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  summary.durationMs = Math.round(performance.now() - started);
  const spooled = summary.byStatus['202'];
  if (spooled) {
    summary.notes.push(
      `${spooled} deliveries were spooled (202): their events are stored once the database takes them`,
    );
  }
  if (summary.byStatus['network error'] === summary.sent) {
    summary.notes.push(
      `no answer from ${url} at all: is the server running (npm start), and is --url right?`,
    );
  }
  return summary;
}
