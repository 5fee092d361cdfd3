import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskPhone, NON_US_NANP_AREA_CODES, normalizeUsPhone, parseUsPhone } from '../../src/domain/phone.js';

describe('normalizeUsPhone', () => {
  it('stores 10 digits and +1 numbers as E.164', () => {
    assert.equal(normalizeUsPhone('2001004031'), '+12001004031');
    assert.equal(normalizeUsPhone('+12001004031'), '+12001004031');
    assert.equal(normalizeUsPhone('(415) 555-0100'), '+14155550100');
    assert.equal(normalizeUsPhone('+1 415 555 0100'), '+14155550100');
  });

  it('refuses what is not a US number', () => {
    for (const bad of [
      '',
      '   ',
      'abcdefghij',
      '415555010',
      '+442079460000',
      '+33123456789',
      '1234567890',
      "'; DROP TABLE identities; --",
      '415-555-01OO',
      '+1415555010012',
      '14155550100x',
    ]) {
      assert.equal(normalizeUsPhone(bad), null, bad);
    }
  });

  it('reads a leading 1 without the + as the trunk prefix of the same number', () => {
    for (const written of [
      '12025550123',
      '1 202 555 0123',
      '1-202-555-0123',
      '1 (202) 555-0123',
      '+1-202-555-0123',
    ]) {
      assert.equal(normalizeUsPhone(written), '+12025550123', written);
    }
    assert.equal(normalizeUsPhone('1 416 555 0123'), null, 'a Canadian number with the trunk prefix');
  });
});

describe('parseUsPhone', () => {
  it('refuses Canadian numbers as NOT_US, whatever the format', () => {
    for (const canadian of [
      '+1 416 555 0123',
      '4165550123',
      '(604) 555-0123',
      '+15145550123',
      '+1 867 555 0123',
    ]) {
      assert.deepEqual(parseUsPhone(canadian), { ok: false, problem: 'NOT_US' }, canadian);
    }
  });

  it('refuses Caribbean and Atlantic NANP numbers as NOT_US', () => {
    // Jamaica, Dominican Republic, Bahamas, Trinidad and Tobago, Bermuda.
    for (const foreign of [
      '+1 876 555 0123',
      '+1 809 555 0123',
      '2425550123',
      '+18685550123',
      '+1 441 555 0123',
    ]) {
      assert.deepEqual(parseUsPhone(foreign), { ok: false, problem: 'NOT_US' }, foreign);
    }
  });

  it('refuses every listed area code, and lists none twice', () => {
    const listed = Object.values(NON_US_NANP_AREA_CODES).flat();
    assert.equal(new Set(listed).size, listed.length);
    for (const areaCode of listed) {
      assert.match(areaCode, /^[2-9]\d\d$/);
      assert.deepEqual(parseUsPhone(`+1${areaCode}5550123`), { ok: false, problem: 'NOT_US' }, areaCode);
    }
  });

  it('accepts US numbers, Prove sandbox numbers included', () => {
    for (const [input, e164] of [
      ['+1 202 555 0123', '+12025550123'],
      ['(415) 555-0100', '+14155550100'],
      ['212.555.0199', '+12125550199'],
      ['2001004031', '+12001004031'],
      ['+1 907 555 0123', '+19075550123'], // Alaska
      ['+1 808 555 0123', '+18085550123'], // Hawaii
    ] as const) {
      assert.deepEqual(parseUsPhone(input), { ok: true, e164 }, input);
    }
  });

  it('accepts the US territories: Puerto Rico, USVI, Guam, Northern Mariana Islands, American Samoa', () => {
    for (const areaCode of ['787', '939', '340', '671', '670', '684']) {
      assert.deepEqual(parseUsPhone(`+1 ${areaCode} 555 0123`), { ok: true, e164: `+1${areaCode}5550123` });
    }
  });

  it('tells a malformed number (FORMAT) from a foreign one', () => {
    for (const bad of ['', '22025550123', '+14165550123x', '416555012', '+44 20 7183 8750', '1165550123']) {
      assert.deepEqual(parseUsPhone(bad), { ok: false, problem: 'FORMAT' }, bad);
    }
  });
});

describe('maskPhone', () => {
  it('keeps the last 4 digits only', () => {
    assert.equal(maskPhone('+14155550100'), '********0100');
  });
});
