import { badInput } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates an identity id before it reaches SQL, so a typo is BAD_USER_INPUT, not a server error. */
export function parseIdentityId(id: string): string {
  if (!UUID.test(id)) throw badInput(`identity id must be a UUID, got ${JSON.stringify(id.slice(0, 64))}`);
  return id.toLowerCase();
}
