import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { NormalizedEvent } from '../../src/domain/types.js';
import { passbaseProvider } from '../../src/ingest/providers/passbase.js';
import { proveProvider } from '../../src/ingest/providers/prove.js';
import type { WebhookProvider } from '../../src/ingest/providers/provider.js';
import { voveProvider } from '../../src/ingest/providers/vove.js';
import { signDelivery } from '../../src/simulator/simulate.js';
import { planStories, type SimProvider, type Story } from '../../src/simulator/stories.js';
import { rng } from '../helpers/random.js';
import { PASSBASE_KEY, PROVE_SECRET, VOVE_SECRET } from '../helpers/webhooks.js';

const secrets = { prove: PROVE_SECRET, vove: VOVE_SECRET, passbase: Buffer.from(PASSBASE_KEY) };
const providers: Record<SimProvider, WebhookProvider> = {
  prove: proveProvider({ secret: PROVE_SECRET }),
  vove: voveProvider({ secret: VOVE_SECRET }),
  passbase: passbaseProvider({ key: Buffer.from(PASSBASE_KEY), allowUnencrypted: false }),
};

/** Signs each step as the simulator does and runs the server's own verify and parse on it. */
async function receive(story: Story, now = new Date()): Promise<NormalizedEvent[]> {
  const events: NormalizedEvent[] = [];
  for (const step of story.steps) {
    const { body } = step(now);
    const { raw, headers } = await signDelivery(story.provider, body, secrets, now);
    const provider = providers[story.provider];
    const verified = await provider.verify(Buffer.from(raw), headers, now);
    assert.ok(verified.ok, `${story.provider}: ${verified.ok ? '' : verified.code}`);
    const parsed = provider.parse(verified.delivery);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.message);
    assert.deepEqual(parsed.rejected, [], 'no notification is rejected');
    events.push(...parsed.events);
  }
  return events;
}

describe('simulator stories', () => {
  it('shares the count evenly among providers, cutting the last story short, interleaved', () => {
    const stories = planStories({ providers: ['prove', 'vove', 'passbase'], count: 10, random: rng(7) });
    const steps = (p: SimProvider) =>
      stories.filter((s) => s.provider === p).reduce((n, s) => n + s.steps.length, 0);
    assert.deepEqual([steps('prove'), steps('vove'), steps('passbase')], [4, 3, 3]);
    assert.deepEqual(
      stories.slice(0, 3).map((s) => s.provider),
      ['prove', 'vove', 'passbase'],
    );
    const cut = planStories({ providers: ['vove'], count: 5, random: rng(1) });
    assert.deepEqual(
      cut.map((s) => s.steps.length),
      [3, 2],
    );
  });

  it('every Prove notification, across seeds and dialects, is verified and read whole by the server code', async () => {
    const types = new Set<string>();
    const rawTypes = new Set<string>();
    for (const story of planStories({ providers: ['prove'], count: 200, random: rng(42) })) {
      for (const e of await receive(story)) {
        types.add(e.type);
        rawTypes.add(e.rawType);
        if (e.type === 'PORT') assert.ok(e.newCarrier, 'a port names the new carrier');
        if (e.type === 'LINE_TYPE_CHANGE') assert.ok(e.newLineType, 'a line type change names the new type');
        assert.ok(e.clientCustomerId && e.description);
      }
    }
    assert.deepEqual([...types].sort(), [
      'DISCONNECT',
      'LINE_TYPE_CHANGE',
      'MOVED_OUT_OF_COVERAGE',
      'PHONE_NUMBER_CHANGE',
      'PORT',
    ]);
    assert.ok(rawTypes.has('LINETYPE_CHANGE') && rawTypes.has('LINE_TYPE_CHANGE'), 'both spellings are sent');
  });

  it('a VOVE story is in_progress, pending, then a verdict for one refId', async () => {
    for (const story of planStories({ providers: ['vove'], count: 30, random: rng(3) })) {
      const events = await receive(story);
      assert.equal(new Set(events.map((e) => e.providerIdentityId)).size, 1);
      const [first, second, verdict] = events.map((e) => e.verificationStatus);
      assert.deepEqual([first, second], ['in_progress', 'pending']);
      assert.ok(verdict === 'successful' || verdict === 'suspected', String(verdict));
    }
  });

  it('a Passbase story completes then is reviewed, later, for one key; a key reused at once gets new ids', async () => {
    const key = randomUUID();
    const stories = planStories({
      providers: ['passbase'],
      count: 8,
      enrolled: { passbase: [{ providerIdentityId: key, clientCustomerId: null }] },
      random: rng(5),
    });
    const ids = new Set<string>();
    const now = new Date();
    for (const story of stories) {
      const [completed, reviewed] = await receive(story, now);
      assert.equal(completed?.type, 'VERIFICATION_COMPLETED');
      assert.equal(completed?.verificationStatus, 'pending');
      assert.equal(reviewed?.type, 'VERIFICATION_REVIEWED');
      assert.ok(['approved', 'declined'].includes(String(reviewed?.verificationStatus)));
      assert.ok(reviewed!.occurredAt > completed!.occurredAt, 'the review comes after the completion');
      for (const e of [completed, reviewed]) ids.add(e!.providerEventId);
    }
    assert.equal(ids.size, 8, 'no two events share an id, even for the key reused in the same second');
  });

  it('every third identity is an enrolled one, in turn; a Passbase identity whose key is no UUID is never used', () => {
    const enrolled = {
      vove: [
        { providerIdentityId: 'ref-a', clientCustomerId: null },
        { providerIdentityId: 'ref-b', clientCustomerId: null },
      ],
      passbase: [{ providerIdentityId: 'not-a-uuid', clientCustomerId: null }],
    };
    const vove = planStories({ providers: ['vove'], count: 18, enrolled, random: rng(9) });
    assert.deepEqual(
      vove.map((s) => (s.identities[0]?.enrolled ? s.identities[0].providerIdentityId : 'new')),
      ['ref-a', 'new', 'new', 'ref-b', 'new', 'new'],
    );
    const passbase = planStories({ providers: ['passbase'], count: 6, enrolled, random: rng(9) });
    assert.ok(passbase.every((s) => s.identities.every((i) => !i.enrolled)));
  });
});
