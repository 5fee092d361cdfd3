/** Calls `probe` every 20 ms until `done` holds of its answer or `ms` pass; returns the last answer. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (t: T) => boolean, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const t = await probe();
    if (done(t) || Date.now() > deadline) return t;
    await new Promise((r) => setTimeout(r, 20));
  }
}
