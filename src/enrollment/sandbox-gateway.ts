import { randomUUID } from 'node:crypto';
import type { ProveBatchItemResult, ProveEnrollRequest, ProveGateway } from './prove-gateway.js';

/**
 * Local sandbox used when no Prove credentials are configured: ids are generated here and every
 * call succeeds, so the rest of the server behaves exactly as with Prove (docs/api.md, Mutations).
 */
export function sandboxGateway(): ProveGateway {
  return {
    mode: 'sandbox',
    enroll: async () => ({ proveId: randomUUID() }),
    batchEnroll: async (items: ProveEnrollRequest[]) =>
      items.map((): ProveBatchItemResult => ({ ok: true, proveId: randomUUID() })),
    deactivate: async () => {},
    activate: async () => {},
  };
}
