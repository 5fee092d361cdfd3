/**
 * Baseline for bench/ingest.ts: plain node:http + pg, no framework and no ORM, doing the same durable
 * work per delivery: read the raw body, verify the Prove token and body hash, parse, and commit through
 * the same single SQL call. The ratio of our server to this is the framework's cost.
 */
import pg from 'pg';
import { buildRecord } from '../src/ingest/delivery-record.js';
import { proveProvider } from '../src/ingest/providers/prove.js';
import { serveBare } from './bare-http.js';

const provider = proveProvider({ secret: process.env.PROVE_WEBHOOK_SECRET ?? '' });
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });

serveBare(
  async (req, raw) => {
    const now = new Date();
    const v = await provider.verify(raw, req.headers, now);
    if (!v.ok) return { status: 401, body: { error: v.code } };
    const p = provider.parse(v.delivery);
    if (!p.ok) return { status: 400, body: { error: 'invalid_payload' } };
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
    if (r.replayed) return { status: 409, body: { error: 'replayed_token' } };
    return {
      status: 200,
      body: { accepted: r.accepted, duplicates: r.duplicates, rejected: p.rejected.length },
    };
  },
  () => pool.end(),
);
