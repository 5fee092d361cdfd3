/**
 * Baseline for bench/ingest.ts: plain node:http + pg, no framework and no ORM, doing the same durable
 * work per delivery: read the raw body, verify the Prove token and body hash, parse, and commit through
 * the same single SQL call. The ratio of our server to this is the framework's cost.
 */
import http from 'node:http';
import pg from 'pg';
import { buildRecord } from '../src/ingest/delivery-record.js';
import { proveProvider } from '../src/ingest/providers/prove.js';

const provider = proveProvider({ secret: process.env.PROVE_WEBHOOK_SECRET ?? '' });
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });

function reply(res: http.ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  if (req.url === '/readyz') return reply(res, 200, { status: 'ready' });
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const raw = Buffer.concat(chunks);
      const now = new Date();
      const v = await provider.verify(raw, req.headers, now);
      if (!v.ok) return reply(res, 401, { error: v.code });
      const p = provider.parse(v.delivery);
      if (!p.ok) return reply(res, 400, { error: 'invalid_payload' });
      const record = buildRecord({
        provider: 'PROVE',
        raw,
        receivedAt: now,
        verified: v.delivery,
        events: p.events,
        rejected: p.rejected,
      });
      const { rows } = await pool.query('SELECT ingest_delivery($1::jsonb, $2::jsonb, $3::jsonb) AS r', [
        JSON.stringify(record.delivery),
        JSON.stringify(record.events),
        JSON.stringify(record.summaries),
      ]);
      const r = rows[0].r;
      if (r.replayed) return reply(res, 409, { error: 'replayed_token' });
      return reply(res, 200, { accepted: r.accepted, duplicates: r.duplicates, rejected: p.rejected.length });
    } catch {
      return reply(res, 503, { error: 'unavailable' });
    }
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => pool.end().then(() => process.exit(0))));
