import { registerEnumType } from 'type-graphql';
import { ENROLL_ERROR_CODES, ERROR_CODES } from '../../domain/error-codes.js';
import { EVENT_TYPES, MONITORING_STATUSES, PROVIDERS, RISK_LEVELS } from '../../domain/types.js';

/** type-graphql wants an object per enum; build them from the domain's literal lists (one source). */
function enumObject<T extends string>(values: readonly T[]): { [K in T]: K } {
  return Object.fromEntries(values.map((v) => [v, v])) as { [K in T]: K };
}

export const ProviderEnum = enumObject(PROVIDERS);
export const MonitoringStatusEnum = enumObject(MONITORING_STATUSES);
export const RiskLevelEnum = enumObject(RISK_LEVELS);
export const EventTypeEnum = enumObject(EVENT_TYPES);
export const EnrollErrorCodeEnum = enumObject(ENROLL_ERROR_CODES);

registerEnumType(ProviderEnum, { name: 'Provider' });
registerEnumType(MonitoringStatusEnum, { name: 'MonitoringStatus' });
registerEnumType(RiskLevelEnum, { name: 'RiskLevel' });
registerEnumType(EventTypeEnum, { name: 'EventType' });
registerEnumType(EnrollErrorCodeEnum, {
  name: 'EnrollErrorCode',
  description: "Why one enrollment failed: the same strings as the errors' extensions.code",
  // Each value's meaning from the one list of error codes, so the schema documents them too.
  valuesConfig: Object.fromEntries(
    ENROLL_ERROR_CODES.map((c) => [c, { description: ERROR_CODES[c].meaning }]),
  ),
});
