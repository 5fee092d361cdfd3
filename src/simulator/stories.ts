/**
 * What the simulator sends: realistic deliveries, grouped into stories (one identity's deliveries, sent
 * in order), shaped as each provider's documentation shows them and as src/ingest/providers reads them.
 */
import { randomBytes, randomUUID } from 'node:crypto';

export const SIM_PROVIDERS = ['prove', 'vove', 'passbase'] as const;
export type SimProvider = (typeof SIM_PROVIDERS)[number];

/** An identity already enrolled on the server, to send events for. */
export interface EnrolledIdentity {
  providerIdentityId: string;
  clientCustomerId: string | null;
}

export type Enrolled = Record<SimProvider, readonly EnrolledIdentity[]>;

/** One delivery's plaintext body, built when it is sent so its timestamps are the sending time. */
export interface Step {
  body: string;
  /** Events the body carries (Prove: its notifications). */
  events: number;
}

export interface Story {
  provider: SimProvider;
  steps: ((now: Date) => Step)[];
  /** The identities its events are for; `enrolled`: one listed on the server, not a new one. */
  identities: { providerIdentityId: string; enrolled: boolean }[];
}

type Random = () => number;

function pick<T>(items: readonly T[], random: Random): T {
  return items[Math.floor(random() * items.length)] as T;
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** "2025-01-23T10:11:12Z", the shape of the docs' samples. */
function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// Each Prove product spells the fields its own way (the three sample payloads of test/unit/prove.test.ts);
// one account sends one product's notifications, so each delivery uses one dialect throughout.
const PROVE_DIALECTS = [
  { eventId: 'eventId', identityId: 'identityId', timestamp: 'eventTimestamp', lineType: 'LINE_TYPE_CHANGE' },
  { eventId: 'eventID', identityId: 'identityID', timestamp: 'eventTimestamp', lineType: 'LINETYPE_CHANGE' },
  { eventId: 'eventId', identityId: 'identityID', timestamp: 'eventTimeStamp', lineType: 'LINETYPE_CHANGE' },
  { eventId: 'eventId', identityId: 'proveId', timestamp: 'eventTimestamp', lineType: 'LINE_TYPE_CHANGE' },
] as const;
type ProveDialect = (typeof PROVE_DIALECTS)[number];

const CARRIERS = ['AT&T Wireless', 'T-Mobile USA', 'Verizon Wireless', 'US Cellular', 'Google Voice'];
const LINE_TYPES = ['Mobile', 'Landline', 'Fixed VoIP', 'Non-Fixed VoIP'];

/** Prove's change events, weighted so ports and line type changes (risk raised, monitoring goes on) lead. */
const PROVE_CHANGES: readonly {
  weight: number;
  fields: (dialect: ProveDialect, random: Random) => Record<string, string>;
}[] = [
  {
    weight: 3,
    fields: (_d, r) => ({
      event: 'phone number ported to new provider',
      eventType: 'PORT',
      newCarrier: pick(CARRIERS, r),
    }),
  },
  {
    weight: 2,
    fields: (d, r) => ({
      event: 'phone number line type changed',
      eventType: d.lineType,
      newLineType: pick(LINE_TYPES, r),
    }),
  },
  { weight: 1, fields: () => ({ event: 'phone number change detected', eventType: 'PHONE_NUMBER_CHANGE' }) },
  { weight: 1, fields: () => ({ event: 'phone number disconnected', eventType: 'DISCONNECT' }) },
  {
    weight: 1,
    fields: () => ({ event: 'phone number moved out of coverage', eventType: 'MOVED_OUT_OF_COVERAGE' }),
  },
];

function proveChange(dialect: ProveDialect, random: Random): Record<string, string> {
  let roll = random() * PROVE_CHANGES.reduce((sum, c) => sum + c.weight, 0);
  for (const change of PROVE_CHANGES) {
    roll -= change.weight;
    if (roll < 0) return change.fields(dialect, random);
  }
  return PROVE_CHANGES[0]!.fields(dialect, random);
}

/** Hands out identities: every third one is an enrolled identity (in turn), the others new. */
class IdentityPicker {
  private served = 0;
  private reused = 0;

  constructor(private readonly pool: readonly EnrolledIdentity[]) {}

  next(): EnrolledIdentity & { enrolled: boolean } {
    if (this.pool.length > 0 && this.served++ % 3 === 0) {
      return { ...this.pool[this.reused++ % this.pool.length]!, enrolled: true };
    }
    return { providerIdentityId: randomUUID(), clientCustomerId: randomUUID(), enrolled: false };
  }
}

function identitiesOf(picked: readonly (EnrolledIdentity & { enrolled: boolean })[]): Story['identities'] {
  return picked.map(({ providerIdentityId, enrolled }) => ({ providerIdentityId, enrolled }));
}

/** A Prove delivery: usually one notification, sometimes two or three (Prove batches up to 100). */
function proveStory(picker: IdentityPicker, random: Random): Story {
  const size = random() < 0.8 ? 1 : random() < 0.5 ? 2 : 3;
  const identities = Array.from({ length: size }, () => picker.next());
  const dialect = pick(PROVE_DIALECTS, random);
  const changes = identities.map(() => proveChange(dialect, random));
  const step = (now: Date): Step => {
    const notifications = identities.map((identity, i) => ({
      [dialect.eventId]: randomUUID(),
      ...changes[i],
      [dialect.timestamp]: isoSeconds(now),
      clientCustomerId: identity.clientCustomerId ?? randomUUID(),
      [dialect.identityId]: identity.providerIdentityId,
    }));
    return { body: JSON.stringify({ notifications }), events: notifications.length };
  };
  return { provider: 'prove', steps: [step], identities: identitiesOf(identities) };
}

/** A VOVE verification: in_progress, pending, then successful or suspected, for one refId. */
function voveStory(picker: IdentityPicker, random: Random): Story {
  const identity = picker.next();
  const refId = identity.providerIdentityId;
  const verdict = random() < 0.7 ? 'successful' : 'suspected';
  const steps = ['in_progress', 'pending', verdict].map(
    (status) => (): Step => ({ body: JSON.stringify({ status, refId }), events: 1 }),
  );
  return { provider: 'vove', steps, identities: identitiesOf([identity]) };
}

/**
 * A Passbase verification: VERIFICATION_COMPLETED (pending), then VERIFICATION_REVIEWED (approved or
 * declined). `lastSecond` is shared by the stories of a run: the event id is made of key, event, status
 * and `updated`, so two verifications of one key in the same second would be one event twice.
 */
function passbaseStory(picker: IdentityPicker, random: Random, lastSecond: Map<string, number>): Story {
  const identity = picker.next();
  const key = identity.providerIdentityId;
  const status = random() < 0.7 ? 'approved' : 'declined';
  let completedAt = 0;
  let created = 0;
  const completed = (now: Date): Step => {
    // The user started a few minutes ago; completion is the moment before the review.
    completedAt = Math.max(unixSeconds(now) - 1, (lastSecond.get(key) ?? 0) + 1);
    lastSecond.set(key, completedAt);
    created = completedAt - 60 - Math.floor(random() * 540);
    const body = { event: 'VERIFICATION_COMPLETED', key, status: 'pending', created, updated: completedAt };
    return { body: JSON.stringify({ ...body, processed: completedAt }), events: 1 };
  };
  const reviewed = (now: Date): Step => {
    // updated is part of the event id: a review must come later than the completion it follows.
    const updated = Math.max(unixSeconds(now), completedAt + 1);
    lastSecond.set(key, updated);
    const body = { event: 'VERIFICATION_REVIEWED', key, status, created, updated, processed: updated };
    return { body: JSON.stringify(body), events: 1 };
  };
  return { provider: 'passbase', steps: [completed, reviewed], identities: identitiesOf([identity]) };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Stories holding `count` deliveries in all, shared evenly among the providers (the last story of each
 * cut short when needed), interleaved so the providers' deliveries alternate.
 */
export function planStories(opts: {
  providers: readonly SimProvider[];
  count: number;
  enrolled?: Partial<Enrolled>;
  random?: Random;
}): Story[] {
  const random = opts.random ?? Math.random;
  const perProvider = opts.providers.map((provider, i) => {
    // A Passbase key is a UUID; an identity enrolled with another key could not be sent a valid event.
    const pool = (opts.enrolled?.[provider] ?? []).filter(
      (e) => provider !== 'passbase' || UUID.test(e.providerIdentityId),
    );
    const picker = new IdentityPicker(pool);
    const lastSecond = new Map<string, number>();
    const story = () =>
      provider === 'prove'
        ? proveStory(picker, random)
        : provider === 'vove'
          ? voveStory(picker, random)
          : passbaseStory(picker, random, lastSecond);
    let quota =
      Math.floor(opts.count / opts.providers.length) + (i < opts.count % opts.providers.length ? 1 : 0);
    const stories: Story[] = [];
    while (quota > 0) {
      const next = story();
      next.steps = next.steps.slice(0, quota);
      quota -= next.steps.length;
      stories.push(next);
    }
    return stories;
  });
  const out: Story[] = [];
  for (let i = 0; perProvider.some((stories) => i < stories.length); i++) {
    for (const stories of perProvider) if (i < stories.length) out.push(stories[i]!);
  }
  return out;
}

/** A Svix message id: `msg_` and 27 base62 characters, as Svix makes them. */
export function svixMessageId(): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  return `msg_${Array.from(randomBytes(27), (b) => alphabet[b % 62]).join('')}`;
}
