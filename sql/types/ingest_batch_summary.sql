-- ingest_summary with its delivery's id, for ingest_batch().
CREATE TYPE ingest_batch_summary AS (
  delivery_id uuid, provider text, provider_identity_id text, count int, ends boolean, last_status text,
  verdict text, raise text, first_at timestamptz, last_at timestamptz, deactivated_at timestamptz,
  enrolled_at timestamptz
);
