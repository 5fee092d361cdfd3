/** Deterministic PRNG (xorshift32) so a failing random test can be replayed from its seed. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Passbase and VOVE verification statuses, for random event histories. */
export const VERIFICATION_STATUSES = [
  'pending',
  'approved',
  'declined',
  'in_progress',
  'successful',
  'suspected',
];
