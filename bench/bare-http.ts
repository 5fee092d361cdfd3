/**
 * The frameworkless HTTP server the baselines run on: node:http, the whole body as one Buffer, a JSON
 * answer, /readyz, and a clean stop on SIGTERM. Only what each baseline does with a request differs.
 */
import http from 'node:http';

export type BareHandler = (
  req: http.IncomingMessage,
  raw: Buffer,
) => Promise<{ status: number; body: unknown }>;

export function serveBare(handler: BareHandler, onStop: () => Promise<void>): void {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    };
    if (req.url === '/readyz') return reply(200, { status: 'ready' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      handler(req, Buffer.concat(chunks)).then(
        (r) => reply(r.status, r.body),
        () => reply(500, { error: 'internal' }),
      );
    });
  });
  server.listen(Number(process.env.PORT), '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => onStop().then(() => process.exit(0))));
}
