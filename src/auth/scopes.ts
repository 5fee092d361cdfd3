/** API scopes (docs/api.md, "Auth and scopes"). */
export const SCOPES = [
  'identities:read',
  'events:read',
  'events:subscribe',
  'identities:write',
  'pii:read',
  'deliveries:read',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling, once their token is verified. */
export interface Principal {
  subject: string | null;
  scopes: ReadonlySet<string>;
  /** Token expiry (ms since epoch): every token has one (src/auth/tokens.ts). */
  expiresAt: number;
}
