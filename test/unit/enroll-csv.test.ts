import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { CsvHeaderError, csvField, readEnrollmentCsv, toCsv } from '../../src/cli/enroll-csv.js';

const HEADER = 'phoneNumber,clientCustomerId,provider,providerIdentityId';

/** Each row as [line, clientCustomerId] or [line, 'malformed: …']. */
const summary = (text: string) =>
  readEnrollmentCsv(text).map((r) =>
    r.malformed === undefined ? [r.line, r.values.clientCustomerId] : [r.line, `malformed: ${r.malformed}`],
  );

describe('readEnrollmentCsv', () => {
  it('reads each column by its header name, whatever the order and case, ignoring other columns', () => {
    const rows = readEnrollmentCsv(
      'Notes,PROVIDERIDENTITYID,clientcustomerid,phoneNumber,Provider\nhi,ref-1,c-1,+12025550100,vove\n',
    );
    assert.deepEqual(rows, [
      {
        line: 2,
        values: {
          phoneNumber: '+12025550100',
          clientCustomerId: 'c-1',
          provider: 'vove',
          providerIdentityId: 'ref-1',
        },
      },
    ]);
  });

  it('leaves optional columns empty when the header does not have them', () => {
    const [row] = readEnrollmentCsv('phoneNumber,clientCustomerId\r\n2025550100,c-1\r\n');
    assert.deepEqual(row?.values, {
      phoneNumber: '2025550100',
      clientCustomerId: 'c-1',
      provider: '',
      providerIdentityId: '',
    });
  });

  it('numbers rows by the line they start on: blank lines, a BOM, CRLF and multi-line quoted fields', () => {
    const text = `\uFEFF${HEADER}\r\n1,a,,\r\n\r\n2,"b\r\nstill b",,\r\n,,,\r\n3,c,,\r\n`;
    assert.deepEqual(summary(text), [
      [2, 'a'],
      [4, 'b\nstill b'],
      [7, 'c'],
    ]);
  });

  it('reports a malformed line alone, by its number, and reads every line after it', () => {
    const text = [
      HEADER,
      '1,a,,',
      '2,b"c,,', // a quote inside an unquoted field
      '3,"d"x,,', // text after a closing quote
      '4,e,,',
      '5,f,,,', // a field too many
      '6,g', // too few
      '7,"h,,', // a quote never closed: must not swallow the lines below
      '8,i,,',
      '9,"j ""quoted"", with comma",,',
    ].join('\n');
    assert.deepEqual(summary(text), [
      [2, 'a'],
      [
        3,
        'malformed: not valid CSV: a quote inside an unquoted field (quote the whole field and double the quote)',
      ],
      [4, 'malformed: not valid CSV: text after the closing quote of a field'],
      [5, 'e'],
      [6, 'malformed: has 5 fields, the header has 4'],
      [7, 'malformed: has 2 fields, the header has 4'],
      [8, 'malformed: not valid CSV: a quoted field is not closed'],
      [9, 'i'],
      [10, 'j "quoted", with comma'],
    ]);
  });

  it('refuses a file without a header, or a header without a required column or with one twice', () => {
    const refusal = (text: string) => {
      try {
        readEnrollmentCsv(text);
      } catch (err) {
        assert.ok(err instanceof CsvHeaderError);
        return err.message;
      }
      return assert.fail('expected a CsvHeaderError');
    };
    assert.equal(refusal('\n\n'), 'the file is empty: it needs a header row');
    assert.equal(
      refusal('phoneNumber,provider\n2025550100,PROVE\n'),
      'line 1: the header has no clientCustomerId column (it needs phoneNumber and clientCustomerId; provider and providerIdentityId are optional)',
    );
    assert.match(refusal('2025550100,c-1\n'), /no phoneNumber or clientCustomerId column/);
    assert.equal(
      refusal('phoneNumber,clientCustomerId,PhoneNumber\n'),
      'line 1: the header has the column phoneNumber twice',
    );
    assert.match(refusal('phoneNumber,"clientCustomerId\n'), /^line 1: the header row is not valid CSV/);
  });
});

describe('csvField and toCsv', () => {
  it('quote only what needs it, and read back as written', () => {
    assert.equal(csvField('plain +12025550100'), 'plain +12025550100');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField(' padded'), '" padded"');
    const rows = [
      ['1', 'a,b', 'say "hi"'],
      ['2', 'two\nlines', ''],
      ['3', ' edge ', 'x\r\ny'],
    ];
    const text = toCsv(['line', 'p', 'q'], rows);
    assert.deepEqual(parse(text), [['line', 'p', 'q'], ...rows]);
  });
});
