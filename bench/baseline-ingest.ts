/**
 * Baseline for bench/ingest.ts: plain node:http + pg, no framework and no ORM, doing the same durable
 * work per delivery: read the raw body, verify the Prove token and body hash, parse, and commit through
 * the same single SQL call. By default one transaction per delivery, what a plain receiver does; with
 * BASELINE_GROUP_COMMIT=1, through the same commit queue as our server, so that the ratio to it is the
 * framework's cost alone.
 */
import pg from 'pg';
import type { Queryable } from '../src/data/sql.js';
import { createCommitQueue, INGEST_BATCHING } from '../src/ingest/commit-queue.js';
import { buildRecord, type DeliveryRecord } from '../src/ingest/delivery-record.js';
import { proveProvider } from '../src/ingest/providers/prove.js';
import { storeBatch } from '../src/ingest/store.js';
import { serveBare } from './bare-http.js';

const provider = proveProvider({ secret: process.env.PROVE_WEBHOOK_SECRET ?? '' });
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const db: Queryable = {
  query: <T>(sql: string, params?: unknown[]) => pool.query(sql, params).then((res) => res.rows as T),
};
const store =
  process.env.BASELINE_GROUP_COMMIT === '1'
    ? createCommitQueue({ write: (rs) => storeBatch(db, rs), ...INGEST_BATCHING }).store
    : async (record: DeliveryRecord) => (await storeBatch(db, [record]))[0];

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
    const r = await store(record);
    if (!r || r.replayed) return { status: 409, body: { error: 'replayed_token' } };
    return {
      status: 200,
      body: { accepted: r.accepted, duplicates: r.duplicates, rejected: p.rejected.length },
    };
  },
  () => pool.end(),
);
