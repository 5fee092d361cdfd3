import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Identities, their events, webhook deliveries and consumed Prove token ids.
 * Keys and indexes follow the queries of docs/api.md (GraphQL); see docs/adr/0003-event-order.md for
 * why events carry the writing transaction's id (tx_id) and are read in (tx_id, id) order.
 */
export class InitialSchema1763780000000 implements MigrationInterface {
  name = 'InitialSchema1763780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE identities (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL CHECK (provider IN ('PROVE', 'PASSBASE', 'VOVE')),
        provider_identity_id text,
        client_customer_id text,
        phone_number text,
        status text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'DEACTIVATED', 'ENDED')),
        risk_level text NOT NULL DEFAULT 'UNKNOWN' CHECK (risk_level IN ('UNKNOWN', 'LOW', 'MEDIUM', 'HIGH')),
        enrolled_at timestamptz,
        deactivated_at timestamptz,
        last_event_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      ) WITH (fillfactor = 80)`);
    // Every event updates its identity's row: no index covers the columns that change (status, risk,
    // timestamps) and pages keep room (fillfactor), so those updates stay HOT (no index writes).
    // Webhooks find their identity by the provider's id; NULLs (local enrollments awaiting one) stay distinct.
    await q.query(
      'CREATE UNIQUE INDEX identities_provider_identity_key ON identities (provider, provider_identity_id)',
    );
    // ALREADY_ENROLLED checks look up live identities by customer id.
    await q.query(`CREATE INDEX identities_customer_idx ON identities (provider, client_customer_id)
      WHERE client_customer_id IS NOT NULL`);
    // Pages of identities, newest first.
    await q.query('CREATE INDEX identities_created_idx ON identities (created_at DESC, id DESC)');

    await q.query(`
      CREATE TABLE webhook_deliveries (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        provider text NOT NULL CHECK (provider IN ('PROVE', 'PASSBASE', 'VOVE')),
        received_at timestamptz NOT NULL DEFAULT now(),
        outcome text NOT NULL,
        correlation_id text,
        body_sha256 text,
        event_count integer NOT NULL DEFAULT 0,
        duplicate_count integer NOT NULL DEFAULT 0,
        rejected_count integer NOT NULL DEFAULT 0,
        rejected_items jsonb
      )`);
    await q.query(
      'CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at DESC, id DESC)',
    );
    await q.query(`CREATE INDEX webhook_deliveries_provider_idx
      ON webhook_deliveries (provider, outcome, received_at DESC, id DESC)`);

    await q.query(`
      CREATE TABLE identity_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        identity_id uuid NOT NULL REFERENCES identities (id),
        delivery_id uuid REFERENCES webhook_deliveries (id),
        provider text NOT NULL CHECK (provider IN ('PROVE', 'PASSBASE', 'VOVE')),
        provider_event_id text NOT NULL,
        type text NOT NULL CHECK (type IN ('PHONE_NUMBER_CHANGE', 'DISCONNECT', 'PORT', 'LINE_TYPE_CHANGE',
          'MOVED_OUT_OF_COVERAGE', 'VERIFICATION_COMPLETED', 'VERIFICATION_REVIEWED',
          'VERIFICATION_STATUS_CHANGED', 'ENROLLED', 'DEACTIVATED', 'REACTIVATED', 'UNKNOWN')),
        raw_type text NOT NULL,
        description text,
        occurred_at timestamptz NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now(),
        client_customer_id text,
        new_carrier text,
        new_line_type text,
        verification_status text,
        -- What the policy (src/domain/identity-policy.ts) says this event does to its identity.
        status_effect text CHECK (status_effect IN ('ACTIVE', 'DEACTIVATED', 'ENDED')),
        risk_mode text CHECK (risk_mode IN ('raise', 'replace')),
        risk_effect text CHECK (risk_effect IN ('UNKNOWN', 'LOW', 'MEDIUM', 'HIGH')),
        tiebreak smallint NOT NULL DEFAULT 0,
        CHECK ((risk_mode IS NULL) = (risk_effect IS NULL))
      )`);
    // Idempotency: a provider's event is stored once.
    await q.query(
      'CREATE UNIQUE INDEX identity_events_provider_event_key ON identity_events (provider, provider_event_id)',
    );
    // An identity's events, newest first, and its state derivation.
    await q.query(
      'CREATE INDEX identity_events_identity_idx ON identity_events (identity_id, tx_id DESC, id DESC)',
    );
    // The change feed and the global event list read in (tx_id, id) order.
    await q.query('CREATE INDEX identity_events_feed_idx ON identity_events (tx_id, id)');

    await q.query(`
      CREATE TABLE prove_token_ids (
        jti text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      )`);
    await q.query('CREATE INDEX prove_token_ids_expiry_idx ON prove_token_ids (expires_at)');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE prove_token_ids');
    await q.query('DROP TABLE identity_events');
    await q.query('DROP TABLE webhook_deliveries');
    await q.query('DROP TABLE identities');
  }
}
