import { signToken } from '../auth/tokens.js';
import type { Config } from '../config.js';

/** Why no token can be signed here; the message says what to pass instead. */
export class LocalTokenError extends Error {
  override name = 'LocalTokenError';
}

/**
 * A token signed with this checkout's API secret (AUTH_JWT_SECRET, or the development secret in
 * .data/dev-secrets.json), as the server verifies it: what scripts use when no token is given.
 * Production gets none: there, tokens come from whoever issues them.
 */
export function localToken(
  config: Config,
  opts: { scopes: readonly string[]; subject: string; expiresIn: string | number },
): Promise<string> {
  const { auth } = config;
  if (config.production) throw new LocalTokenError('NODE_ENV=production signs no tokens here: pass one');
  if (auth.kind === 'jwks') {
    throw new LocalTokenError('API tokens come from the issuer of AUTH_JWKS_URL: pass one');
  }
  if (config.secretSources.auth === 'random') {
    throw new LocalTokenError(
      `NODE_ENV=${config.nodeEnv} without AUTH_JWT_SECRET has no secret to sign with: pass a token`,
    );
  }
  return signToken(auth.secret, {
    ...opts,
    ...(auth.issuer ? { issuer: auth.issuer } : {}),
    ...(auth.audience ? { audience: auth.audience } : {}),
  });
}

/** The URL a server of this configuration listens on, as seen from this machine. */
export function localUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}
