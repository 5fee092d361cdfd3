/**
 * The CSV side of `npm run enroll` (src/cli/enroll.ts): reading the customers file, one record at a
 * time so that a malformed line fails alone, and writing the failures file.
 */
import { CsvError, parse } from 'csv-parse/sync';

/** The columns enroll reads, as spelled in the header (matched case-insensitively); others are ignored. */
export const COLUMNS = ['phoneNumber', 'clientCustomerId', 'provider', 'providerIdentityId'] as const;
export type Column = (typeof COLUMNS)[number];
const REQUIRED: readonly Column[] = ['phoneNumber', 'clientCustomerId'];

/** A data line: its values by column (empty string when blank), or why it is not valid CSV. */
export type CsvRow =
  | { line: number; values: Record<Column, string>; malformed?: never }
  | { line: number; malformed: string; values?: never };

/** The file cannot be used at all (no header, a required column missing): nothing is enrolled. */
export class CsvHeaderError extends Error {
  override name = 'CsvHeaderError';
}

/** A quoted field may span lines; one with an unbalanced quote is given up after this many. */
const MAX_RECORD_LINES = 50;

/** Why csv-parse refused a record, in words that hold for the line alone (its own messages count lines from the record). */
function describeCsvError(err: unknown): string {
  const code = err instanceof CsvError ? err.code : undefined;
  switch (code) {
    case 'INVALID_OPENING_QUOTE':
      return 'not valid CSV: a quote inside an unquoted field (quote the whole field and double the quote)';
    case 'CSV_INVALID_CLOSING_QUOTE':
      return 'not valid CSV: text after the closing quote of a field';
    case 'CSV_QUOTE_NOT_CLOSED':
      return 'not valid CSV: a quoted field is not closed';
    default:
      return `not valid CSV (${code ?? 'unreadable'})`;
  }
}

type ParsedRecord = { line: number; fields: string[] } | { line: number; error: string };

/**
 * The file's records with the line each starts on. csv-parse's own recovery (skip_records_with_error)
 * resumes mid-line after a bad quote and can swallow the rest of the file into one unclosed field, so
 * each record is cut out here (a line, or more while a quoted field is open) and parsed alone.
 */
function* records(text: string): Generator<ParsedRecord> {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let i = 0;
  while (i < lines.length) {
    const start = i;
    const first = (lines[i] as string).replace(/\r$/, '');
    let chunk = first;
    // An odd number of quotes: a quoted field goes on to the next line (escaped quotes come in pairs).
    while (quotes(chunk) % 2 === 1 && i + 1 < lines.length && i - start < MAX_RECORD_LINES) {
      i++;
      chunk += `\n${(lines[i] as string).replace(/\r$/, '')}`;
    }
    if (chunk.trim() === '') {
      i++;
      continue;
    }
    try {
      const parsed = parse(chunk);
      if (parsed.length !== 1) throw new Error('not one record');
      yield { line: start + 1, fields: parsed[0] as string[] };
      i++;
    } catch (err) {
      // Only the first line is given up, and said why as a line alone: the next may be a good record.
      yield { line: start + 1, error: describeCsvError(i > start ? errorOf(first) : err) };
      i = start + 1;
    }
  }
}

/** What csv-parse says of one line alone (null: nothing). */
function errorOf(line: string): unknown {
  try {
    parse(line);
    return null;
  } catch (err) {
    return err;
  }
}

const quotes = (s: string) => s.split('"').length - 1;

/** Where each known column is in the header; throws CsvHeaderError when the header is unusable. */
function readHeader(header: ParsedRecord | undefined): Map<Column, number> {
  if (header === undefined) throw new CsvHeaderError('the file is empty: it needs a header row');
  if ('error' in header) throw new CsvHeaderError(`line ${header.line}: the header row is ${header.error}`);
  const positions = new Map<Column, number>();
  header.fields.forEach((name, index) => {
    const column = COLUMNS.find((c) => c.toLowerCase() === name.trim().toLowerCase());
    if (column === undefined) return;
    if (positions.has(column)) {
      throw new CsvHeaderError(`line ${header.line}: the header has the column ${column} twice`);
    }
    positions.set(column, index);
  });
  const missing = REQUIRED.filter((c) => !positions.has(c));
  if (missing.length > 0) {
    throw new CsvHeaderError(
      `line ${header.line}: the header has no ${missing.join(' or ')} column ` +
        `(it needs ${REQUIRED.join(' and ')}; provider and providerIdentityId are optional)`,
    );
  }
  return positions;
}

/**
 * The data rows of an enrollment CSV with a header row. Blank lines (and lines of empty fields, as
 * spreadsheets leave) are skipped; a line that is not valid CSV or has the wrong number of fields is a
 * malformed row. Throws CsvHeaderError when the header is missing or lacks a required column.
 */
export function readEnrollmentCsv(text: string): CsvRow[] {
  const all = records(text);
  const header = all.next().value as ParsedRecord | undefined;
  const positions = readHeader(header);
  const width = header && 'fields' in header ? header.fields.length : 0;
  const rows: CsvRow[] = [];
  for (const r of all) {
    if ('error' in r) {
      rows.push({ line: r.line, malformed: r.error });
    } else if (r.fields.every((f) => f.trim() === '')) {
      // nothing to enroll, nothing to report
    } else if (r.fields.length !== width) {
      rows.push({ line: r.line, malformed: `has ${r.fields.length} fields, the header has ${width}` });
    } else {
      const values = Object.fromEntries(
        COLUMNS.map((c) => [c, positions.has(c) ? (r.fields[positions.get(c) as number] as string) : '']),
      ) as Record<Column, string>;
      rows.push({ line: r.line, values });
    }
  }
  return rows;
}

/** One CSV field, quoted when it must be (RFC 4180: a comma, quote or line break; edge spaces kept). */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** CSV text of a header and rows, one line each. */
export function toCsv(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [header, ...rows].map((r) => `${r.map(csvField).join(',')}\n`).join('');
}
