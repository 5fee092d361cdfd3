/** Thrown by a start-up told to fail after a step (StartOptions.failAfter in src/server.ts). */
export class InjectedStartFailure extends Error {
  override name = 'InjectedStartFailure';
}

/**
 * What start-up started, each with its stop, on one stack: a start-up that fails at any step and a
 * close() unwind the same stack, last started first, so the two cannot drift apart. Steps run in the
 * order of the list given, which is thereby the one list of them (tests fail each in turn).
 */
export class Lifecycle<Step extends string> {
  private readonly stops: { step: Step; stop: () => unknown }[] = [];
  private next = 0;
  private closing: Promise<void> | null = null;

  constructor(
    private readonly steps: readonly Step[],
    private readonly opts: {
      /** Fail right after this step has started (and its stop is on the stack). */
      failAfter?: Step | undefined;
      /** Told of each stop that fails; the others still run. */
      onStopError?: (step: Step, err: unknown) => void;
    } = {},
  ) {}

  /** Runs the next step; `stop`, when given, undoes it and is stacked before the next step starts. */
  async start<T>(step: Step, start: () => T | Promise<T>, stop?: (started: T) => unknown): Promise<T> {
    const expected = this.steps[this.next];
    if (step !== expected)
      throw new Error(`start-up step ${step} out of order: ${expected ?? 'none'} is next`);
    if (this.closing) throw new Error(`start-up step ${step} after close`);
    this.next++;
    const started = await start();
    if (stop) this.stops.push({ step, stop: () => stop(started) });
    if (this.opts.failAfter === step) throw new InjectedStartFailure(`start-up told to fail after ${step}`);
    return started;
  }

  /** Throws unless every step has run: a step left out of start-up would never be stopped either. */
  started(): void {
    if (this.next !== this.steps.length) throw new Error(`start-up step ${this.steps[this.next]} never ran`);
  }

  /**
   * Stops what was started, last first; once, however often it is called. A stop that throws is reported
   * and the rest still run (a pool left open would keep the process alive); the first error is thrown.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let failure: { err: unknown } | null = null;
      for (const { step, stop } of [...this.stops].reverse()) {
        try {
          await stop();
        } catch (err) {
          this.opts.onStopError?.(step, err);
          failure ??= { err };
        }
      }
      if (failure) throw failure.err;
    })();
    return this.closing;
  }
}
