/**
 * Deliveries signed or encrypted exactly as each provider does it: the one implementation, used by
 * `npm run simulate` and by the tests (test/fixtures/signers.ts adds the overrides for bad deliveries).
 */
import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { type JWTHeaderParameters, type JWTPayload, SignJWT } from 'jose';
import { Webhook } from 'svix';
import { PROVE_ISSUER } from '../ingest/providers/prove.js';

/** How long a Prove webhook token is valid: exp = iat + 300 (prove-manage-webhooks.txt). */
export const PROVE_TOKEN_LIFETIME_SECONDS = 300;

/** Lowercase hex SHA-256 of the body bytes, as Prove puts it in `body_hash`. */
export function proveBodyHash(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** Prove's claims for one body: iss "Prove Identity", iat = nbf = now, exp = now + 300, a fresh jti. */
export function proveClaims(body: string | Buffer, now = new Date()): JWTPayload {
  const nowSeconds = Math.floor(now.getTime() / 1000);
  return {
    iss: PROVE_ISSUER,
    iat: nowSeconds,
    nbf: nowSeconds,
    exp: nowSeconds + PROVE_TOKEN_LIFETIME_SECONDS,
    jti: randomUUID(),
    body_hash: proveBodyHash(body),
  };
}

/** Signs claims with the Portal secret's UTF-8 bytes, as Prove does (HS256 unless the header says otherwise). */
export function signProveJwt(
  secret: string,
  claims: JWTPayload,
  header: JWTHeaderParameters = { alg: 'HS256', typ: 'JWT' },
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(new TextEncoder().encode(secret));
}

/** The token Prove sends with a delivery of `body`. */
export function signProve(secret: string, body: string | Buffer, now?: Date): Promise<string> {
  return signProveJwt(secret, proveClaims(body, now));
}

/** `Bearer <jwt>` headers as Prove sends them. */
export function proveHeaders(token: string, correlationId?: string): Record<string, string> {
  const headers: Record<string, string> = { 'x-prove-authorization': `Bearer ${token}` };
  if (correlationId !== undefined) headers['x-correlation-id'] = correlationId;
  return headers;
}

export interface SignSvixOptions {
  /** `whsec_<base64>`. */
  secret: string;
  id: string;
  timestamp: Date;
  body: string | Buffer;
}

export interface SvixHeaders {
  'svix-id': string;
  'svix-timestamp': string;
  'svix-signature': string;
}

/** Svix headers for a body, signed by the svix library itself. */
export function signSvix(opts: SignSvixOptions): SvixHeaders {
  return {
    'svix-id': opts.id,
    'svix-timestamp': String(Math.floor(opts.timestamp.getTime() / 1000)),
    'svix-signature': new Webhook(opts.secret).sign(opts.id, opts.timestamp, opts.body),
  };
}

/** base64(IV || AES-256-CBC(PKCS#7) ciphertext), the inverse of passbase-webhooks.txt's decryption. */
export function encryptPassbase(key: Buffer, plaintext: Buffer, iv: Buffer = randomBytes(16)): string {
  // Passbase uses a fresh IV per delivery, hence the random default.
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final()]).toString('base64');
}
