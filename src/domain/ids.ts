import { InvalidInputError } from './errors.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An identity id checked before it reaches SQL, so a typo is the caller's error, not a server error. */
export function normalizeIdentityId(id: string): string {
  if (!UUID.test(id)) {
    throw new InvalidInputError(`identity id must be a UUID, got ${JSON.stringify(id.slice(0, 64))}`);
  }
  return id.toLowerCase();
}
