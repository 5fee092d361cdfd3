/** What a list query returns: up to `limit + 1` edges, the extra one only telling there is a next page. */
export interface Edge<N> {
  cursor: string;
  node: N;
}

export interface Connection<N> {
  edges: Edge<N>[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** Cuts a `limit + 1` fetch down to a Relay connection. */
export function toConnection<N>(edges: Edge<N>[], limit: number): Connection<N> {
  const page = edges.slice(0, limit);
  return {
    edges: page,
    pageInfo: { hasNextPage: edges.length > limit, endCursor: page.at(-1)?.cursor ?? null },
  };
}
