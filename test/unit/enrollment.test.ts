import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideEnrollment,
  duplicatesWithinBatch,
  type EnrollInput,
  monitoringTransition,
  parseEnrollInput,
  type StoredIdentity,
} from '../../src/domain/enrollment.js';

const codeOf = (input: EnrollInput) => {
  const parsed = parseEnrollInput(input);
  return parsed.ok ? 'ok' : parsed.error.code;
};

describe('parseEnrollInput', () => {
  it('defaults to PROVE (null too), trims, and stores the phone number as E.164', () => {
    for (const provider of [undefined, null]) {
      assert.deepEqual(
        parseEnrollInput({ provider, phoneNumber: ' 202-555-0123 ', clientCustomerId: ' c ' }),
        {
          ok: true,
          value: {
            provider: 'PROVE',
            phoneNumber: '+12025550123',
            clientCustomerId: 'c',
            providerIdentityId: null,
          },
        },
      );
    }
  });

  it('needs a phone number for PROVE (absent: BAD_USER_INPUT, not US: INVALID_PHONE_NUMBER)', () => {
    assert.equal(codeOf({}), 'BAD_USER_INPUT');
    assert.equal(codeOf({ phoneNumber: null }), 'BAD_USER_INPUT');
    assert.equal(codeOf({ phoneNumber: '' }), 'INVALID_PHONE_NUMBER');
    assert.equal(codeOf({ phoneNumber: '+442071838750' }), 'INVALID_PHONE_NUMBER');
    assert.equal(codeOf({ phoneNumber: '2025550123', providerIdentityId: 'p' }), 'BAD_USER_INPUT');
  });

  it('says a Canadian number is not a US number, without echoing it', () => {
    const parsed = parseEnrollInput({ phoneNumber: '+1 416 555 0123' });
    assert.equal(parsed.ok, false);
    if (parsed.ok) return;
    assert.equal(parsed.error.code, 'INVALID_PHONE_NUMBER');
    assert.match(parsed.error.message, /^phoneNumber is not a US number: .*Canada/);
    assert.doesNotMatch(parsed.error.message, /416|0123/);
    const malformed = parseEnrollInput({ phoneNumber: '22025550123' });
    assert.match(malformed.ok ? '' : malformed.error.message, /^phoneNumber must be a US number: 10 digits/);
  });

  it('needs providerIdentityId for PASSBASE and VOVE, and validates a phone number given to them', () => {
    assert.equal(codeOf({ provider: 'PASSBASE' }), 'BAD_USER_INPUT');
    assert.equal(codeOf({ provider: 'VOVE', providerIdentityId: '  ' }), 'BAD_USER_INPUT');
    assert.equal(codeOf({ provider: 'VOVE', providerIdentityId: 'r' }), 'ok');
    assert.equal(
      codeOf({ provider: 'VOVE', providerIdentityId: 'r', phoneNumber: 'x' }),
      'INVALID_PHONE_NUMBER',
    );
  });

  it('refuses empty, overlong and control-character ids, and never echoes the phone number', () => {
    assert.equal(codeOf({ phoneNumber: '2025550123', clientCustomerId: '' }), 'BAD_USER_INPUT');
    assert.equal(codeOf({ phoneNumber: '2025550123', clientCustomerId: 'c'.repeat(200) }), 'ok');
    assert.equal(codeOf({ phoneNumber: '2025550123', clientCustomerId: 'c'.repeat(201) }), 'BAD_USER_INPUT');
    for (const bad of ['a\u0000b', 'a\tb', 'a\u007fb', 'a\u0085b', 'a\u2028b']) {
      assert.equal(
        codeOf({ provider: 'VOVE', providerIdentityId: bad }),
        'BAD_USER_INPUT',
        JSON.stringify(bad),
      );
    }
    const parsed = parseEnrollInput({ phoneNumber: '+44 20 7183 8750' });
    assert.ok(!parsed.ok);
    assert.doesNotMatch(parsed.error.message, /7183/);
  });
});

describe('duplicatesWithinBatch', () => {
  it('points each later item with the same provider and customer or provider id at the first', () => {
    const r = (
      provider: 'PROVE' | 'VOVE',
      clientCustomerId: string | null,
      providerIdentityId: string | null,
    ) => ({
      provider,
      clientCustomerId,
      providerIdentityId,
    });
    const dups = duplicatesWithinBatch([
      r('PROVE', 'a', null),
      null,
      r('PROVE', 'a', null),
      r('VOVE', 'a', 'x'),
      r('VOVE', 'b', 'x'),
      r('PROVE', null, null),
      r('PROVE', null, null),
    ]);
    assert.deepEqual(
      [...dups],
      [
        [2, 0],
        [4, 3],
      ],
    );
  });
});

describe('decideEnrollment', () => {
  const stored = (status: StoredIdentity['status'], enrolled: boolean): StoredIdentity => ({
    id: `${status}-${enrolled}`,
    status,
    enrolledAt: enrolled ? new Date() : null,
  });
  const kind = (byId: StoredIdentity | null, byCustomer: StoredIdentity | null) => {
    const d = decideEnrollment({ provider: 'VOVE' }, byId, byCustomer);
    return d.kind === 'refuse' ? [d.error.code, d.error.existingIdentityId] : [d.kind];
  };

  it('creates, adopts a never-enrolled identity, and refuses enrolled, ENDED or customer-taken ones', () => {
    assert.deepEqual(kind(null, null), ['create']);
    assert.deepEqual(kind(stored('ACTIVE', false), null), ['adopt']);
    assert.deepEqual(kind(stored('DEACTIVATED', false), null), ['adopt']);
    assert.deepEqual(kind(stored('ACTIVE', true), null), ['ALREADY_ENROLLED', 'ACTIVE-true']);
    assert.deepEqual(kind(stored('DEACTIVATED', true), null), ['ALREADY_ENROLLED', 'DEACTIVATED-true']);
    assert.deepEqual(kind(stored('ENDED', true), null), ['MONITORING_ENDED', 'ENDED-true']);
    assert.deepEqual(kind(stored('ENDED', false), null), ['MONITORING_ENDED', 'ENDED-false']);
    assert.deepEqual(kind(null, stored('ACTIVE', true)), ['ALREADY_ENROLLED', 'ACTIVE-true']);
    assert.deepEqual(kind(stored('ACTIVE', false), stored('DEACTIVATED', true)), [
      'ALREADY_ENROLLED',
      'DEACTIVATED-true',
    ]);
  });
});

describe('monitoringTransition', () => {
  it('records a change, answers a repeat unchanged, and refuses ENDED', () => {
    const t = (status: 'ACTIVE' | 'DEACTIVATED' | 'ENDED', action: 'deactivate' | 'reactivate') => {
      const r = monitoringTransition({ id: 'i', status }, action);
      return r.kind === 'record' ? r.type : r.kind === 'refuse' ? r.error.code : r.kind;
    };
    assert.equal(t('ACTIVE', 'deactivate'), 'DEACTIVATED');
    assert.equal(t('DEACTIVATED', 'reactivate'), 'REACTIVATED');
    assert.equal(t('DEACTIVATED', 'deactivate'), 'unchanged');
    assert.equal(t('ACTIVE', 'reactivate'), 'unchanged');
    assert.equal(t('ENDED', 'deactivate'), 'MONITORING_ENDED');
    assert.equal(t('ENDED', 'reactivate'), 'MONITORING_ENDED');
  });
});
