import { IdentityEntity } from './identity.entity.js';
import { IdentityEventEntity } from './identity-event.entity.js';
import { ProveTokenIdEntity } from './prove-token-id.entity.js';
import { WebhookDeliveryEntity } from './webhook-delivery.entity.js';

export { IdentityEntity, IdentityEventEntity, ProveTokenIdEntity, WebhookDeliveryEntity };
export const entities = [IdentityEntity, IdentityEventEntity, WebhookDeliveryEntity, ProveTokenIdEntity];
