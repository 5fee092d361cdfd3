import { randomUUID } from 'node:crypto';
import type { BatchItemResult, EnrollmentGateway, EnrollRequest } from './gateway.js';

/**
 * Local sandbox used when no Prove credentials are configured: ids are generated here and every
 * call succeeds, so the rest of the server behaves exactly as with Prove (docs/api.md, Mutations).
 */
export function sandboxGateway(): EnrollmentGateway {
  return {
    mode: 'sandbox',
    enroll: async () => ({ proveId: randomUUID() }),
    batchEnroll: async (items: EnrollRequest[]) =>
      items.map((): BatchItemResult => ({ ok: true, proveId: randomUUID() })),
    deactivate: async () => {},
    activate: async () => {},
  };
}
