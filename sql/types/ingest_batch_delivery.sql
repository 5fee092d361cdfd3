-- One verified delivery of a batch, as storeBatch() (src/ingest/store.ts) sends it to ingest_batch().
-- signing_key was added by migration DeliverySigningKey.
CREATE TYPE ingest_batch_delivery AS (
  id uuid, ord int, provider text, received_at timestamptz, outcome text, correlation_id text,
  body_sha256 text, jti text, jti_expires_at timestamptz, event_count int, rejected_items jsonb,
  signing_key text
);
