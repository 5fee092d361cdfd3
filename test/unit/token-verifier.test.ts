import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenVerifier, InvalidTokenError, signToken } from '../../src/auth/tokens.js';

const secret = new TextEncoder().encode('token-verifier-test-secret-0123456789');
const verify = createTokenVerifier({ kind: 'secret', secret, issuer: null, audience: null });

describe('the token verifier, remembering verified tokens', () => {
  it('answers each token with its own principal, the second time as the first', async () => {
    const reader = await signToken(secret, { scopes: ['identities:read'], subject: 'reader' });
    const admin = await signToken(secret, { scopes: ['identities:read', 'pii:read'], subject: 'admin' });
    for (let round = 0; round < 2; round++) {
      const [r, a] = [await verify(reader), await verify(admin)];
      assert.deepEqual([r.subject, [...r.scopes]], ['reader', ['identities:read']]);
      assert.deepEqual([a.subject, [...a.scopes].sort()], ['admin', ['identities:read', 'pii:read']]);
    }
  });

  it('refuses a remembered token with one character changed, and refuses it again (refusals are not kept)', async () => {
    const token = await signToken(secret, { scopes: ['events:read'] });
    await verify(token);
    // The signature's first character, not its last: the last base64url character of a 32-byte
    // signature carries two padding bits, so changing A to B there can leave the bytes as they were.
    const at = token.lastIndexOf('.') + 1;
    const tampered = `${token.slice(0, at)}${token[at] === 'A' ? 'B' : 'A'}${token.slice(at + 1)}`;
    for (let round = 0; round < 2; round++) {
      await assert.rejects(verify(tampered), (err) => err instanceof InvalidTokenError);
    }
  });

  it('still refuses a token past its expiry and the clock tolerance', async () => {
    const expired = await signToken(secret, { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    await assert.rejects(verify(expired), { message: 'token expired' });
  });
});
