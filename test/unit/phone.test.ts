import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskPhone, normalizeUsPhone } from '../../src/domain/phone.js';

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

  it('refuses 11 digits starting with 1 without the +: the contract lists 10 digits or +1 and 10', () => {
    for (const bad of ['12025550123', '1 202 555 0123', '1-202-555-0123', '1 (202) 555-0123']) {
      assert.equal(normalizeUsPhone(bad), null, bad);
    }
    assert.equal(normalizeUsPhone('+1-202-555-0123'), '+12025550123');
  });
});

describe('maskPhone', () => {
  it('keeps the last 4 digits only', () => {
    assert.equal(maskPhone('+14155550100'), '********0100');
  });
});
