/**
 * What a commit changed, as far as readers of identities and events care: the identities it touched
 * (their rows, or their events), each with when it was created, so a cached first page of identities
 * can tell whether one would now appear on it. `null` where a change is not known precisely: anything
 * may have changed.
 */
export interface DataChange {
  identities: readonly ChangedIdentity[];
}

export interface ChangedIdentity {
  id: string;
  /** created_at in microseconds since the epoch, as a decimal string (exact, as cursors keep it). */
  createdUs: string;
}

/** The change of several commits together; unknown (null) as soon as one of them is. */
export function mergeChanges(a: DataChange | null, b: DataChange | null): DataChange | null {
  if (a === null || b === null) return null;
  const byId = new Map(a.identities.map((i) => [i.id, i]));
  for (const i of b.identities) byId.set(i.id, i);
  return { identities: [...byId.values()] };
}
