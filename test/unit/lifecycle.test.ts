import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InjectedStartFailure, Lifecycle } from '../../src/lifecycle.js';

const STEPS = ['a', 'b', 'c'] as const;

describe('Lifecycle (src/lifecycle.ts)', () => {
  it('stops what was started last first, once however often close() is called', async () => {
    const stopped: string[] = [];
    const life = new Lifecycle(STEPS);
    for (const step of STEPS) {
      assert.equal(
        await life.start(
          step,
          async () => step.toUpperCase(),
          (started) => stopped.push(started),
        ),
        step.toUpperCase(),
      );
    }
    life.started();
    await Promise.all([life.close(), life.close()]);
    await life.close();
    assert.deepEqual(stopped, ['C', 'B', 'A']);
  });

  it('fails after the step it is told to, with that step already on the stack', async () => {
    const stopped: string[] = [];
    const life = new Lifecycle(STEPS, { failAfter: 'b' });
    await life.start(
      'a',
      () => undefined,
      () => stopped.push('a'),
    );
    await assert.rejects(
      life.start(
        'b',
        () => undefined,
        () => stopped.push('b'),
      ),
      (err) => err instanceof InjectedStartFailure && err.message === 'start-up told to fail after b',
    );
    await life.close();
    assert.deepEqual(stopped, ['b', 'a']);
  });

  it('runs every stop when one throws, reports it, and throws the first error at the end', async () => {
    const stopped: string[] = [];
    const reported: [string, string][] = [];
    const life = new Lifecycle(STEPS, {
      onStopError: (step, err) => reported.push([step, (err as Error).message]),
    });
    await life.start(
      'a',
      () => undefined,
      () => stopped.push('a'),
    );
    await life.start(
      'b',
      () => undefined,
      async () => {
        throw new Error('b would not stop');
      },
    );
    await life.start(
      'c',
      () => undefined,
      () => {
        throw new Error('c would not stop');
      },
    );
    await assert.rejects(life.close(), /c would not stop/);
    assert.deepEqual(stopped, ['a'], 'a stopped after b and c failed to');
    assert.deepEqual(reported, [
      ['c', 'c would not stop'],
      ['b', 'b would not stop'],
    ]);
  });

  it('refuses a step out of order, and says when a step never ran', async () => {
    const life = new Lifecycle(STEPS);
    await assert.rejects(
      life.start('b', () => undefined),
      /start-up step b out of order: a is next/,
    );
    await life.start('a', () => undefined);
    assert.throws(() => life.started(), /start-up step b never ran/);
  });

  it('a start that throws stacks nothing of its own', async () => {
    const stopped: string[] = [];
    const life = new Lifecycle(STEPS);
    await life.start(
      'a',
      () => undefined,
      () => stopped.push('a'),
    );
    await assert.rejects(
      life.start(
        'b',
        () => Promise.reject(new Error('b failed')),
        () => stopped.push('b'),
      ),
      /b failed/,
    );
    await life.close();
    assert.deepEqual(stopped, ['a']);
  });
});
