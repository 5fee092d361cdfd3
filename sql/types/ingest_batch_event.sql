-- ingest_event with its delivery's id, for ingest_batch().
CREATE TYPE ingest_batch_event AS (
  ord int, delivery_id uuid, provider text, provider_event_id text, provider_identity_id text,
  client_customer_id text, type text, raw_type text, description text, occurred_at timestamptz,
  new_carrier text, new_line_type text, verification_status text, status_effect text, risk_mode text,
  risk_effect text, tiebreak smallint
);
