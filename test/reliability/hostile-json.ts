/**
 * Generated JSON texts a parser must survive: deep nesting, strings near the body limit, unicode
 * (lone surrogates, U+0000 escapes, invalid UTF-8 bytes), prototype keys, out-of-range numbers,
 * duplicate keys, and provider fields of every wrong type. Texts are written by hand (not by
 * JSON.stringify) so a `__proto__` key and a duplicate key reach the server as written.
 */
import fc from 'fast-check';

/** A JSON value as text to be, with keys kept as written (duplicates and `__proto__` included). */
export type Json =
  | { t: 'raw'; text: string }
  | { t: 'arr'; items: Json[] }
  | { t: 'obj'; entries: [string, Json][] }
  | { t: 'deep'; depth: number; open: '[' | '{"a":' };

/** Serialises a Json tree; `deep` expands to `depth` nested arrays or objects around a 1. */
export function serialise(j: Json): string {
  switch (j.t) {
    case 'raw':
      return j.text;
    case 'arr':
      return `[${j.items.map(serialise).join(',')}]`;
    case 'obj':
      return `{${j.entries.map(([k, v]) => `${JSON.stringify(k)}:${serialise(v)}`).join(',')}}`;
    case 'deep':
      return `${j.open.repeat(j.depth)}1${(j.open === '[' ? ']' : '}').repeat(j.depth)}`;
  }
}

const raw = (text: string): Json => ({ t: 'raw', text });

/** Strings a store or a log could choke on; JSON.stringify writes lone surrogates as \ud800 escapes. */
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud83d', '\u2028\u2029', '%s%n', "'; --"),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty'),
  fc.constantFrom('PORT', 'DISCONNECT', 'LINETYPE_CHANGE', 'successful', 'declined', 'VERIFICATION_REVIEWED'),
  fc.constantFrom('2026-01-01T00:00:00Z', 'not a date', '0000-00-00T00:00:00Z', '+275760-09-13T00:00:00Z'),
  fc.uuid(),
);

/** Numbers as text: 1e400 (infinity to a double), -0, huge integers, tiny exponents. */
const nastyNumber = fc.oneof(
  fc.constantFrom(
    '1e400',
    '-1e400',
    '-0',
    '1e-400',
    '123456789012345678901234567890',
    '0.0000001',
    '9007199254740993',
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
);

const leaf: fc.Arbitrary<Json> = fc.oneof(
  nastyString.map((s) => raw(JSON.stringify(s))),
  nastyNumber.map(raw),
  fc.constantFrom(raw('null'), raw('true'), raw('false'), raw('{}'), raw('[]')),
);

/** Any JSON value, at most a few levels deep (deep nesting is a case of its own). */
const value: fc.Arbitrary<Json> = fc.letrec<{ v: Json }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('v'), { maxLength: 4 }).map((items): Json => ({ t: 'arr', items })),
    fc
      .array(fc.tuple(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor')), tie('v')), {
        maxLength: 4,
      })
      .map((entries): Json => ({ t: 'obj', entries })),
  ),
})).v;

/** An object with some of `fields` (repeats allowed: duplicate keys) plus prototype keys. */
function objectOf(fields: readonly string[]): fc.Arbitrary<Json> {
  const key = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...fields) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype') },
  );
  return fc
    .array(fc.tuple(key, fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 1, arbitrary: value })), {
      maxLength: fields.length + 2,
    })
    .map((entries): Json => ({ t: 'obj', entries }));
}

const PROVE_FIELDS = [
  'eventId',
  'eventID',
  'identityId',
  'identityID',
  'proveId',
  'eventType',
  'event',
  'eventTimestamp',
  'eventTimeStamp',
  'clientCustomerId',
  'newCarrier',
  'newLineType',
];
const VOVE_FIELDS = ['status', 'refId', 'userId'];
const PASSBASE_FIELDS = ['event', 'key', 'status', 'created', 'updated', 'processed'];

/** A body that is hostile at the top: deep, huge, not JSON, not an object, a wrong shape. */
const anyTop: fc.Arbitrary<Json> = fc.oneof(
  value,
  fc
    .record({
      depth: fc.integer({ min: 1, max: 200_000 }),
      open: fc.constantFrom('[' as const, '{"a":' as const),
    })
    .map(({ depth, open }): Json => ({ t: 'deep', depth, open })),
  fc.string({ unit: 'binary', maxLength: 30 }).map(raw),
);

const str = (a: fc.Arbitrary<string>) => a.map((x) => raw(JSON.stringify(x)));
/** A field that is mostly well formed (so events are stored) and sometimes any nasty value. */
const mostly = (good: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 4, arbitrary: str(good) }, { weight: 1, arbitrary: str(nastyString) });
const timestamp = fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true });

/** A notification with every required field, their values mostly usable: reaches the store. */
const proveNotification: fc.Arbitrary<Json> = fc
  .record({
    id: mostly(fc.uuid()),
    identity: mostly(fc.string({ minLength: 1, maxLength: 80 })),
    type: mostly(
      fc.constantFrom('PORT', 'DISCONNECT', 'LINETYPE_CHANGE', 'PHONE_NUMBER_CHANGE', 'SOMETHING_NEW'),
    ),
    at: mostly(timestamp.map((d) => d.toISOString())),
    carrier: str(nastyString),
  })
  .map(
    (n): Json => ({
      t: 'obj',
      entries: [
        ['eventId', n.id],
        ['identityId', n.identity],
        ['eventType', n.type],
        ['eventTimestamp', n.at],
        ['newCarrier', n.carrier],
      ],
    }),
  );

/** Prove bodies: `notifications` of every type, items with wrong fields, duplicate and prototype keys. */
export const proveBody: fc.Arbitrary<Json> = fc.oneof(
  anyTop,
  fc
    .tuple(
      fc.oneof(
        {
          weight: 4,
          arbitrary: fc
            .array(proveNotification, { minLength: 1, maxLength: 5 })
            .map((items): Json => ({ t: 'arr', items })),
        },
        {
          weight: 4,
          arbitrary: fc
            .array(objectOf(PROVE_FIELDS), { maxLength: 5 })
            .map((items): Json => ({ t: 'arr', items })),
        },
        { weight: 1, arbitrary: value },
        {
          weight: 1,
          arbitrary: fc
            .array(leaf, { minLength: 99, maxLength: 103 })
            .map((items): Json => ({ t: 'arr', items })),
        },
      ),
      fc.array(fc.tuple(fc.constantFrom('notifications', '__proto__', 'constructor', 'extra'), value), {
        maxLength: 2,
      }),
    )
    .map(
      ([notifications, extra]): Json => ({ t: 'obj', entries: [['notifications', notifications], ...extra] }),
    ),
);

/** VOVE bodies: status and refId of every type, the deprecated userId, prototype keys. */
export const voveBody: fc.Arbitrary<Json> = fc.oneof(
  { weight: 1, arbitrary: anyTop },
  { weight: 4, arbitrary: objectOf(VOVE_FIELDS) },
);

/** Passbase plaintexts: the event's fields of every type. */
export const passbaseBody: fc.Arbitrary<Json> = fc.oneof(
  { weight: 1, arbitrary: anyTop },
  { weight: 4, arbitrary: objectOf(PASSBASE_FIELDS) },
  {
    weight: 4,
    arbitrary: fc
      .record({
        event: mostly(fc.constantFrom('VERIFICATION_COMPLETED', 'VERIFICATION_REVIEWED')),
        key: mostly(fc.uuid()),
        status: mostly(fc.constantFrom('pending', 'approved', 'declined')),
        at: fc.oneof(
          { weight: 4, arbitrary: timestamp.map((d) => raw(String(Math.floor(d.getTime() / 1000)))) },
          { weight: 1, arbitrary: leaf },
        ),
      })
      .map(
        (p): Json => ({
          t: 'obj',
          entries: [
            ['event', p.event],
            ['key', p.key],
            ['status', p.status],
            ['created', p.at],
            ['updated', p.at],
            ['processed', p.at],
          ],
        }),
      ),
  },
);

/**
 * Bytes around a text: sometimes a string near the 1 MiB body limit (either side of it), sometimes
 * invalid UTF-8 (a lone surrogate's bytes, a stray continuation byte) spliced in.
 */
export const bodyBytes = (body: fc.Arbitrary<Json>): fc.Arbitrary<Buffer> =>
  fc.oneof(
    { weight: 30, arbitrary: body.map((j) => Buffer.from(serialise(j), 'utf8')) },
    {
      weight: 1,
      arbitrary: fc
        .record({
          size: fc.integer({ min: 1024 * 1024 - 200, max: 1024 * 1024 + 10 }),
          char: fc.constantFrom('a', 'é', '\u0000'),
        })
        .map(({ size, char }) => {
          // JSON.stringify writes U+0000 as \u0000: six bytes each, so the text is escapes from end to end.
          const unit = Buffer.byteLength(JSON.stringify(char).slice(1, -1));
          const prefix = '{"notifications":[{"eventId":"';
          return Buffer.from(
            `${prefix}${JSON.stringify(char.repeat(Math.max(0, Math.floor((size - prefix.length - 4) / unit)))).slice(1, -1)}"}]}`,
          );
        }),
    },
    {
      weight: 3,
      arbitrary: fc
        .tuple(body, fc.constantFrom([0xed, 0xa0, 0x80], [0x80], [0xff, 0xfe], [0xc0, 0xaf]), fc.nat())
        .map(([j, bad, at]) => {
          const text = Buffer.from(serialise(j), 'utf8');
          const i = text.length === 0 ? 0 : at % text.length;
          return Buffer.concat([text.subarray(0, i), Buffer.from(bad), text.subarray(i)]);
        }),
    },
  );
