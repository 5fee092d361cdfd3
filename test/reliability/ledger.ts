/**
 * A ledgered load generator: signed Prove, VOVE and Passbase deliveries at a bounded concurrency, for a
 * bounded count or time, each recorded with what it carried and what the server answered. The
 * checker (check.ts) holds the server to that record: every 2xx'd event stored once, nothing else.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { passbaseEventId } from '../../src/ingest/providers/passbase.js';
import { encryptPassbase, proveHeaders, signProve, signSvix } from '../../src/simulator/sign.js';
import { rng } from '../helpers/random.js';
import { PASSBASE_KEY, PROVE_SECRET, VOVE_SECRET } from '../helpers/webhooks.js';

export type LedgerProvider = 'PROVE' | 'VOVE' | 'PASSBASE';

/** One event as the server keys it (index identity_events_event_key, identity by its provider id). */
export interface SentEvent {
  provider: LedgerProvider;
  providerEventId: string;
  providerIdentityId: string;
  rawType: string;
}

export interface LedgerEntry {
  seq: number;
  provider: LedgerProvider;
  /** Signed with a wrong secret: must be refused (401) and never stored. */
  forged: boolean;
  events: SentEvent[];
  /** The answer, or the network error when there was none (connection refused or reset by a kill). */
  status?: number;
  body?: unknown;
  error?: string;
  /** When it was sent (Date.now()) and how long the answer took, in ms. */
  sentAt?: number;
  ms?: number;
}

/** 2xx: the server promised the delivery is durable. */
export function acknowledged(e: LedgerEntry): boolean {
  return e.status !== undefined && e.status >= 200 && e.status < 300;
}

export interface LoadOptions {
  /** The server's base URL (http://127.0.0.1:port); a fixed port keeps it across restarts. */
  url: string;
  seed: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Stop after this many deliveries, or this many ms, or on stop(), whichever comes first. */
  maxDeliveries: number;
  maxMs: number;
  /** Distinct identities per provider: fewer means more events per identity for the fold. */
  identities?: number;
  /** Share of deliveries signed with a wrong secret (default 0.05). */
  forgedShare?: number;
  /** Share of deliveries that resend an earlier delivery's events (a provider's retry; default 0.1). */
  resendShare?: number;
  /**
   * Deliveries per second, sent on a fixed schedule whatever the answers take (open loop), when
   * `concurrency` allows; without it, each worker sends as soon as its last answer came (closed loop).
   */
  rate?: number;
}

export interface Load {
  ledger: LedgerEntry[];
  /** Resolves when the last request in flight has its answer. */
  done: Promise<void>;
  stop(): Promise<void>;
}

type Random = () => number;
type Built = { provider: LedgerProvider; events: SentEvent[]; send: (forged: boolean) => Promise<Outgoing> };
type Outgoing = { path: string; body: string; headers: Record<string, string> };

const PROVE_TYPES = ['PORT', 'LINE_TYPE_CHANGE', 'LINETYPE_CHANGE', 'DISCONNECT', 'MOVED_OUT_OF_COVERAGE'];
const VOVE_STATUSES = ['in_progress', 'pending', 'successful', 'suspected'];
const PASSBASE_EVENTS = ['VERIFICATION_COMPLETED', 'VERIFICATION_REVIEWED'];
const PASSBASE_STATUSES = ['pending', 'approved', 'declined'];

const pick = <T>(items: readonly T[], random: Random): T => items[Math.floor(random() * items.length)] as T;
/** A moment in the last hour: events arrive out of occurredAt order, as the policy must handle. */
const past = (random: Random) => new Date(Date.now() - Math.floor(random() * 3_600_000));

function proveDelivery(run: string, seq: number, random: Random, ids: number): Built {
  const notifications = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => ({
    eventId: `${run}-p${seq}-${i}`,
    event: 'change',
    eventType: pick(PROVE_TYPES, random),
    eventTimestamp: past(random).toISOString(),
    identityId: `${run}-prove-${Math.floor(random() * ids)}`,
  }));
  return proveBuilt(notifications);
}

function proveBuilt(notifications: Record<string, string>[]): Built {
  const body = JSON.stringify({ notifications });
  return {
    provider: 'PROVE',
    events: notifications.map((n) => ({
      provider: 'PROVE',
      providerEventId: String(n.eventId),
      providerIdentityId: String(n.identityId),
      rawType: String(n.eventType),
    })),
    // A fresh token for every send, as Prove signs every delivery anew.
    send: async (forged) => ({
      path: '/webhooks/prove',
      body,
      headers: {
        'content-type': 'application/json',
        ...proveHeaders(await signProve(forged ? `${PROVE_SECRET}-forged` : PROVE_SECRET, body)),
      },
    }),
  };
}

function voveDelivery(run: string, seq: number, random: Random, ids: number): Built {
  const id = `msg_${run}_${seq}`;
  const status = pick(VOVE_STATUSES, random);
  const refId = `${run}-vove-${Math.floor(random() * ids)}`;
  const body = JSON.stringify({ status, refId });
  // Svix signs every attempt anew, same id and a fresh timestamp: a resend minutes later (a 10-minute
  // soak's) is within its 5 minutes' tolerance as the first send was. Each send is up to a minute old.
  const ageMs = Math.floor(random() * 60_000);
  return {
    provider: 'VOVE',
    events: [{ provider: 'VOVE', providerEventId: id, providerIdentityId: refId, rawType: status }],
    send: async (forged) => {
      const timestamp = new Date(Date.now() - ageMs);
      const headers = signSvix({ secret: VOVE_SECRET, id, timestamp, body });
      // A forged body under a genuine signature: what an attacker who saw one delivery could try.
      return {
        path: '/webhooks/vove',
        body: forged ? body.replace(status, `${status} `) : body,
        headers: { 'content-type': 'application/json', ...headers },
      };
    },
  };
}

function passbaseDelivery(run: string, _seq: number, random: Random, ids: number): Built {
  const key = `${run.slice(0, 8)}-0000-4000-8000-${String(Math.floor(random() * ids)).padStart(12, '0')}`;
  const event = pick(PASSBASE_EVENTS, random);
  const status = pick(PASSBASE_STATUSES, random);
  const updated = Math.floor(past(random).getTime() / 1000);
  const json = { event, key, status, created: updated - 60, updated, processed: updated };
  return {
    provider: 'PASSBASE',
    events: [
      {
        provider: 'PASSBASE',
        providerEventId: passbaseEventId(key, event, status, updated),
        providerIdentityId: key,
        rawType: event,
      },
    ],
    send: async (forged) => ({
      path: '/webhooks/passbase',
      body: encryptPassbase(
        Buffer.from(forged ? PASSBASE_KEY.replace(/^p/, 'q') : PASSBASE_KEY),
        Buffer.from(JSON.stringify(json)),
      ),
      headers: { 'content-type': 'text/plain' },
    }),
  };
}

const BUILDERS = [proveDelivery, voveDelivery, passbaseDelivery];

/** Starts the load; it runs until a bound is reached or stop() is called. */
export function startLoad(opts: LoadOptions): Load {
  const random = rng(opts.seed);
  // Ids unique to this run (and a valid hex prefix for Passbase's uuid keys).
  const run = randomUUID().replaceAll('-', '').slice(0, 12);
  const ids = opts.identities ?? 20;
  const ledger: LedgerEntry[] = [];
  const built: Built[] = [];
  const startedAt = Date.now();
  const deadline = startedAt + opts.maxMs;
  let stopped = false;

  const next = (): { entry: LedgerEntry; b: Built } | null => {
    if (stopped || ledger.length >= opts.maxDeliveries || Date.now() > deadline) return null;
    const seq = ledger.length;
    const resend = built.length > 0 && random() < (opts.resendShare ?? 0.1);
    // A resend repeats a Prove delivery's notifications (new token) or a Svix message (same id): duplicates.
    const b = resend
      ? pick(built, random)
      : (pick(BUILDERS, random) as (typeof BUILDERS)[number])(run, seq, random, ids);
    if (!resend) built.push(b);
    const forged = random() < (opts.forgedShare ?? 0.05);
    const entry: LedgerEntry = { seq, provider: b.provider, forged, events: b.events };
    ledger.push(entry);
    return { entry, b };
  };

  const worker = async () => {
    for (let job = next(); job; job = next()) {
      if (opts.rate) {
        const due = startedAt + (job.entry.seq * 1000) / opts.rate;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      const out = await job.b.send(job.entry.forged);
      job.entry.sentAt = Date.now();
      try {
        const res = await fetch(`${opts.url}${out.path}`, {
          method: 'POST',
          headers: out.headers,
          body: out.body,
          signal: AbortSignal.timeout(30_000),
        });
        job.entry.status = res.status;
        const text = await res.text();
        job.entry.ms = Date.now() - job.entry.sentAt;
        job.entry.body = text.startsWith('{') ? JSON.parse(text) : text;
      } catch (err) {
        job.entry.error = String((err as { cause?: unknown }).cause ?? err);
        // The server is down (killed, restarting): do not spin while it comes back.
        await sleep(200);
      }
    }
  };
  const done = Promise.all(Array.from({ length: opts.concurrency }, worker)).then(() => undefined);
  return {
    ledger,
    done,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** Figures for a report: deliveries sent, acknowledged, spooled, refused, failed on the network. */
export function tally(ledger: readonly LedgerEntry[]) {
  return {
    deliveries: ledger.length,
    acknowledged: ledger.filter(acknowledged).length,
    spooled: ledger.filter((e) => e.status === 202).length,
    forgedSent: ledger.filter((e) => e.forged).length,
    networkErrors: ledger.filter((e) => e.error !== undefined).length,
    otherAnswers: ledger.filter((e) => e.status !== undefined && !acknowledged(e)).length,
  };
}
