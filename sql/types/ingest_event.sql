-- One normalized event as src/ingest/delivery-record.ts builds it (snake_case keys), read by
-- record_events().
CREATE TYPE ingest_event AS (
  ord int, provider text, provider_event_id text, provider_identity_id text, client_customer_id text,
  type text, raw_type text, description text, occurred_at timestamptz, new_carrier text,
  new_line_type text, verification_status text, status_effect text, risk_mode text, risk_effect text,
  tiebreak smallint
);
