import { normalizeIdentityId } from '../domain/ids.js';
import { asUserInput } from './errors.js';

/** An identity id argument, BAD_USER_INPUT when it is not a UUID. */
export function parseIdentityId(id: string): string {
  return asUserInput(() => normalizeIdentityId(id));
}
