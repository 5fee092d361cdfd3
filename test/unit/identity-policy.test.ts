import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { effectOf, foldEvents, type OrderedEffect } from '../../src/domain/identity-policy.js';
import type { EventType } from '../../src/domain/types.js';

const at = (minute: number) => new Date(Date.UTC(2025, 0, 1, 0, minute));
function ev(
  type: EventType,
  minute: number,
  seq: number,
  verificationStatus: string | null = null,
): OrderedEffect {
  return { ...effectOf({ type, verificationStatus }), occurredAt: at(minute), seq };
}

describe('identity policy', () => {
  it('follows the contract table for each event alone', () => {
    const cases: [EventType, string | null, string, string][] = [
      ['PHONE_NUMBER_CHANGE', null, 'ENDED', 'HIGH'],
      ['DISCONNECT', null, 'ENDED', 'HIGH'],
      ['MOVED_OUT_OF_COVERAGE', null, 'ENDED', 'MEDIUM'],
      ['PORT', null, 'ACTIVE', 'HIGH'],
      ['LINE_TYPE_CHANGE', null, 'ACTIVE', 'MEDIUM'],
      ['VERIFICATION_REVIEWED', 'declined', 'ACTIVE', 'HIGH'],
      ['VERIFICATION_STATUS_CHANGED', 'suspected', 'ACTIVE', 'HIGH'],
      ['VERIFICATION_REVIEWED', 'approved', 'ACTIVE', 'LOW'],
      ['VERIFICATION_STATUS_CHANGED', 'successful', 'ACTIVE', 'LOW'],
      ['VERIFICATION_COMPLETED', 'pending', 'ACTIVE', 'UNKNOWN'],
      ['VERIFICATION_STATUS_CHANGED', 'in_progress', 'ACTIVE', 'UNKNOWN'],
      ['UNKNOWN', null, 'ACTIVE', 'UNKNOWN'],
      ['ENROLLED', null, 'ACTIVE', 'UNKNOWN'],
      ['DEACTIVATED', null, 'DEACTIVATED', 'UNKNOWN'],
    ];
    for (const [type, vs, status, risk] of cases) {
      assert.deepEqual(foldEvents([ev(type, 1, 1, vs)]), { status, riskLevel: risk }, `${type} ${vs}`);
    }
  });

  it('lets Prove events only raise risk, and a verdict replace it', () => {
    assert.equal(foldEvents([ev('PORT', 1, 1), ev('LINE_TYPE_CHANGE', 2, 2)]).riskLevel, 'HIGH');
    assert.equal(
      foldEvents([ev('PORT', 1, 1), ev('VERIFICATION_STATUS_CHANGED', 2, 2, 'successful')]).riskLevel,
      'LOW',
    );
  });

  it('applies events in occurredAt order whatever the arrival order', () => {
    const arrivedLate = [
      ev('VERIFICATION_STATUS_CHANGED', 5, 1, 'successful'),
      ev('VERIFICATION_STATUS_CHANGED', 1, 2, 'suspected'),
    ];
    assert.equal(foldEvents(arrivedLate).riskLevel, 'LOW');
  });

  it('never leaves ENDED', () => {
    assert.equal(
      foldEvents([ev('DISCONNECT', 1, 1), ev('REACTIVATED', 2, 2), ev('ENROLLED', 3, 3)]).status,
      'ENDED',
    );
    assert.equal(foldEvents([ev('DEACTIVATED', 1, 1), ev('REACTIVATED', 2, 2)]).status, 'ACTIVE');
  });
});

describe('effect summaries', () => {
  it('compose with the fold: applySummary(fold(earlier), summarize(later)) = fold(earlier ++ later)', async () => {
    const { applySummary, summarize } = await import('../../src/domain/identity-policy.js');
    const { EVENT_TYPES } = await import('../../src/domain/types.js');
    const statuses = ['pending', 'approved', 'declined', 'in_progress', 'successful', 'suspected'];
    let x = 7;
    const rand = () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return x / 2 ** 31;
    };
    for (let round = 0; round < 2000; round++) {
      const n = 1 + Math.floor(rand() * 8);
      const split = Math.floor(rand() * n);
      const events = Array.from({ length: n }, (_, i) => {
        const type = EVENT_TYPES[Math.floor(rand() * EVENT_TYPES.length)] as EventType;
        const vs = type.startsWith('VERIFICATION')
          ? (statuses[Math.floor(rand() * statuses.length)] ?? null)
          : null;
        // Earlier events in minutes 0..9, later ones 10..19: every later one sorts after every earlier one.
        const minute = (i < split ? 0 : 10) + Math.floor(rand() * 10);
        return ev(type, minute, i, vs);
      });
      const earlier = events.slice(0, split);
      const later = events.slice(split);
      assert.deepEqual(
        applySummary(foldEvents(earlier), summarize(later)),
        foldEvents(events),
        `round ${round}`,
      );
    }
  });
});
