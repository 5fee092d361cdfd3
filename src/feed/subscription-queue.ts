/**
 * The AsyncIterator graphql-ws pulls one subscription's events from. graphql-ws awaits each send before
 * pulling the next, so a stalled socket stops pulling and `length` grows; the feed checks it before
 * every dispatch (src/feed/feed.ts), which is what bounds it.
 */
export class SubscriptionQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private done = false;

  constructor(private readonly onClose: () => void) {}

  get length(): number {
    return this.items.length;
  }

  /** True once closed: nothing more is taken or handed out. */
  get closed(): boolean {
    return this.done;
  }

  /** Queues an item; false once the queue is closed. */
  push(item: T): boolean {
    if (this.done) return false;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
    return true;
  }

  next(): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** The consumer is gone (unsubscribe, socket closed): release everything. */
  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    this.items.length = 0;
    this.waiting?.({ value: undefined, done: true });
    this.waiting = null;
    this.onClose();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}
