import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { GraphQLFormattedError } from 'graphql';
import pino from 'pino';
import { ENROLL_ERROR_CODES, ERROR_CODE_LIST } from '../../src/domain/error-codes.js';
import {
  AUTH_ERROR_CODES,
  WEBHOOK_ERROR_CODE_LIST,
  WEBHOOK_ERROR_CODES,
} from '../../src/domain/webhook-codes.js';
import { CLOSE_CODES } from '../../src/graphql/close-codes.js';
import { APOLLO_REQUEST_CODES, maskErrors } from '../../src/graphql/errors.js';
import { DIST } from '../helpers/process.js';

/**
 * Each vocabulary is declared once in code (error codes, webhook answers, close codes); docs/api.md
 * lists them for people. These tests fail when the two drift apart, naming what differs.
 */
const API_MD = path.join(DIST, '..', 'docs', 'api.md');

/** The text under `heading` (a whole line, e.g. "### Error codes") up to the next heading of any level. */
function section(markdown: string, heading: string): string {
  const lines = markdown.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `docs/api.md has the heading "${heading}"`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^#{1,6} /.test(l));
  return rest.slice(0, end < 0 ? undefined : end).join('\n');
}

/** The body rows of each Markdown table in `text`, as trimmed cells (header and separator left out). */
function tables(text: string): string[][][] {
  const found: string[][] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    const row = line.startsWith('|');
    if (row && !inTable) found.push([]);
    if (row) found.at(-1)?.push(line);
    inTable = row;
  }
  return found.map((lines) =>
    lines.slice(2).map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    ),
  );
}

const unquoted = (cell: string | undefined) => (cell ?? '').replace(/`/g, '');
const firstColumn = (rows: string[][]) => rows.map((r) => unquoted(r[0]));

describe('docs/api.md and the vocabularies in code', () => {
  let markdown: string;
  before(async () => {
    markdown = await readFile(API_MD, 'utf8');
  });

  it('lists exactly ERROR_CODES, in order, then exactly Apollo request codes maskErrors lets through', () => {
    const [own, apollo, ...more] = tables(section(markdown, '### Error codes'));
    assert.deepEqual(more, [], 'two tables under "Error codes"');
    assert.deepEqual(firstColumn(own ?? []), ERROR_CODE_LIST);
    assert.deepEqual(firstColumn(apollo ?? []), APOLLO_REQUEST_CODES);
  });

  it("names EnrollErrorCode's values as ENROLL_ERROR_CODES", () => {
    const paragraph = section(markdown, '### Error codes')
      .split('\n\n')
      .find((p) => p.includes('`EnrollErrorCode`'));
    assert.ok(paragraph, 'a paragraph names the EnrollErrorCode enum');
    const codes = [...paragraph.matchAll(/`([A-Z][A-Z_]+)`/g)].map((m) => m[1]);
    assert.deepEqual(codes, ENROLL_ERROR_CODES);
  });

  it('lists every webhook error code with the status it is declared with, and the 401 codes in order', () => {
    const [answers, authCodes, ...more] = tables(section(markdown, '### Webhook answers'));
    assert.deepEqual(more, [], 'two tables under "Webhook answers"');
    const documented = new Map<string, number>();
    for (const [status, body] of answers ?? []) {
      const code = /"error": "(\w+)"/.exec(body ?? '')?.[1];
      if (code) documented.set(code, Number(status));
    }
    for (const code of firstColumn(authCodes ?? [])) documented.set(code, 401);
    assert.deepEqual(
      Object.fromEntries(documented),
      Object.fromEntries(WEBHOOK_ERROR_CODE_LIST.map((c) => [c, WEBHOOK_ERROR_CODES[c].status])),
    );
    assert.deepEqual(firstColumn(authCodes ?? []), AUTH_ERROR_CODES);
  });

  it('lists exactly the close codes of CLOSE_CODES, each once, in ascending order', () => {
    const [rows, ...more] = tables(section(markdown, '## WebSocket close codes'));
    assert.deepEqual(more, [], 'one table under "WebSocket close codes"');
    const declared = Object.values(CLOSE_CODES).map((c) => c.code);
    assert.equal(new Set(declared).size, declared.length, 'no code declared twice');
    assert.deepEqual(
      firstColumn(rows ?? []).map(Number),
      declared.toSorted((a, b) => a - b),
    );
  });
});

describe('maskErrors and ERROR_CODES', () => {
  const mask = maskErrors(pino({ level: 'silent' }));
  const answered = (code: string) => {
    const formatted: GraphQLFormattedError = { message: `said with ${code}`, extensions: { code } };
    return mask(formatted, new Error(`said with ${code}`));
  };

  it("answers every code of the API and Apollo's request codes as thrown, except INTERNAL_SERVER_ERROR", () => {
    for (const code of [...ERROR_CODE_LIST, ...APOLLO_REQUEST_CODES]) {
      const expected =
        code === 'INTERNAL_SERVER_ERROR'
          ? { message: 'Internal server error', extensions: { code } }
          : { message: `said with ${code}`, extensions: { code } };
      assert.deepEqual(answered(code), expected, code);
    }
  });

  it('masks a code in neither list', () => {
    assert.deepEqual(answered('SOMETHING_ELSE'), {
      message: 'Internal server error',
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  });
});
