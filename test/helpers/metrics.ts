/** The feed_subscriptions gauge from GET /metrics: how many subscriptions the server's feed holds. */
export async function feedSubscriptions(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^feed_subscriptions (\d+)/m.exec(text)?.[1] ?? 0);
}
