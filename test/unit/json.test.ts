import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { storableText } from '../../src/domain/text.js';
import { parseJsonBody } from '../../src/ingest/providers/json.js';

const parse = (text: string) => {
  const body = parseJsonBody(Buffer.from(text, 'utf8'));
  assert.ok(body.ok);
  return body.value;
};

describe('text PostgreSQL can store', () => {
  it('replaces U+0000 and lone surrogates with U+FFFD and keeps everything else', () => {
    assert.equal(storableText('a\u0000b'), 'a\uFFFDb');
    assert.equal(storableText('high \uD83D alone'), 'high \uFFFD alone');
    assert.equal(storableText('low \uDE00 alone'), 'low \uFFFD alone');
    assert.equal(storableText('ends high \uD83D'), 'ends high \uFFFD');
    assert.equal(storableText('pair \uD83D\uDE00 kept'), 'pair 😀 kept');
    assert.equal(storableText('plain ünïcödé'), 'plain ünïcödé');
  });

  it('applies to every string of a parsed body, keys and nested values included', () => {
    assert.deepEqual(parse('{"k\\u0000":["\\ud800",{"x":"\\u0000\\udc00"}],"n":1,"e":"\\ud83d\\ude00"}'), {
      'k\uFFFD': ['\uFFFD', { x: '\uFFFD\uFFFD' }],
      n: 1,
      e: '😀',
    });
  });

  it('leaves a body without such escapes as parsed, even with an escaped backslash before "u0000"', () => {
    assert.deepEqual(parse('{"path":"C:\\\\u0000"}'), { path: 'C:\\u0000' });
  });
});

describe('JSON nesting depth', () => {
  const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

  it('parses a body nested 64 levels deep, arrays and objects alike', () => {
    assert.ok(parseJsonBody(Buffer.from(nested(64))).ok);
    assert.ok(parseJsonBody(Buffer.from(`${'{"a":'.repeat(63)}{}${'}'.repeat(63)}`)).ok);
  });

  it('refuses a body nested deeper than 64 levels, saying so', () => {
    for (const text of [nested(65), nested(100_000), `{"n":[${'{"a":'.repeat(70)}1${'}'.repeat(70)}]}`]) {
      assert.deepEqual(parseJsonBody(Buffer.from(text)), {
        ok: false,
        message: 'body is nested deeper than 64 levels',
      });
    }
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    assert.deepEqual(parse(`{"s":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`), {
      s: `${'['.repeat(100)}"${'{'.repeat(100)}`,
    });
  });
});
