import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface RawSocket {
  socket: net.Socket;
  /** When the connection was established (Date.now()). */
  openedAt: number;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves once the server closed the connection, with when and everything it sent. */
  closed: Promise<{ at: number; data: string }>;
}

/** A plain TCP connection to 127.0.0.1:port, for clients that speak HTTP slowly or not at all. */
export async function connectRaw(port: number): Promise<RawSocket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const received = () => Buffer.concat(chunks).toString('latin1');
  // 'error' (a reset, or EPIPE on a write after the server closed) ends the connection as 'close' does.
  const closed = new Promise<{ at: number; data: string }>((resolve) => {
    socket.once('close', () => resolve({ at: Date.now(), data: received() }));
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, openedAt: Date.now(), received, closed };
}

/** The server's close of `raw`, or a failure naming how long it stayed open when that takes over `ms` after it opened. */
export async function closedWithin(raw: RawSocket, ms: number): Promise<{ at: number; data: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`the server still held the connection ${Date.now() - raw.openedAt} ms after it opened`),
        ),
      Math.max(0, raw.openedAt + ms - Date.now()),
    );
  });
  try {
    return await Promise.race([raw.closed, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `data` one byte every `intervalMs` until it is all sent or the socket closes; returns bytes sent. */
export async function trickle(raw: RawSocket, data: string, intervalMs: number): Promise<number> {
  let sent = 0;
  let gone = false;
  void raw.closed.then(() => {
    gone = true;
  });
  for (const ch of data) {
    if (gone || raw.socket.destroyed) break;
    raw.socket.write(ch);
    sent++;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  return sent;
}

/** This process's soft limit on open files (Linux /proc), or null where it cannot be read. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? null : Number(soft);
  } catch {
    return null;
  }
}
