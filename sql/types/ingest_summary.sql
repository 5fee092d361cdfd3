-- What one delivery's events do to one identity, composed in TypeScript (summarize() in
-- src/domain/identity-policy.ts) and applied by record_events() without reading the identity's history.
CREATE TYPE ingest_summary AS (
  provider text, provider_identity_id text, count int, ends boolean, last_status text,
  verdict text, raise text, first_at timestamptz, last_at timestamptz,
  deactivated_at timestamptz, enrolled_at timestamptz
);
