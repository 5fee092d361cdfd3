import { registerEnumType } from 'type-graphql';
import { EVENT_TYPES, MONITORING_STATUSES, PROVIDERS, RISK_LEVELS } from '../../domain/types.js';

/** type-graphql wants an object per enum; build them from the domain's literal lists (one source). */
function enumObject<T extends string>(values: readonly T[]): { [K in T]: K } {
  return Object.fromEntries(values.map((v) => [v, v])) as { [K in T]: K };
}

export const ProviderEnum = enumObject(PROVIDERS);
export const MonitoringStatusEnum = enumObject(MONITORING_STATUSES);
export const RiskLevelEnum = enumObject(RISK_LEVELS);
export const EventTypeEnum = enumObject(EVENT_TYPES);

registerEnumType(ProviderEnum, { name: 'Provider' });
registerEnumType(MonitoringStatusEnum, { name: 'MonitoringStatus' });
registerEnumType(RiskLevelEnum, { name: 'RiskLevel' });
registerEnumType(EventTypeEnum, { name: 'EventType' });
