import type { Config } from '../../config.js';
import { passbaseProvider } from './passbase.js';
import { proveProvider } from './prove.js';
import type { WebhookProvider } from './provider.js';
import { voveProvider } from './vove.js';

export type ProviderSlug = WebhookProvider['slug'];
export const PROVIDER_SLUGS: readonly ProviderSlug[] = ['prove', 'vove', 'passbase'];

/** The registry: each provider's module, or null when its secret is unset (answered 503 provider_not_configured). */
export function createProviders(webhooks: Config['webhooks']): Record<ProviderSlug, WebhookProvider | null> {
  return {
    prove: webhooks.proveSecret ? proveProvider({ secret: webhooks.proveSecret }) : null,
    vove: webhooks.voveSecret ? voveProvider({ secret: webhooks.voveSecret }) : null,
    passbase: webhooks.passbaseKey
      ? passbaseProvider({ key: webhooks.passbaseKey, allowUnencrypted: webhooks.passbaseAllowUnencrypted })
      : null,
  };
}
