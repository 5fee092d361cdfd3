import { Field, Int, ObjectType } from 'type-graphql';
import type { RiskSummaryRecord } from '../../domain/records.js';
import type { MonitoringStatus, RiskLevel } from '../../domain/types.js';
import { MonitoringStatusEnum, RiskLevelEnum } from './enums.js';

@ObjectType('RiskCount', { simpleResolvers: true })
export class RiskCount {
  @Field(() => RiskLevelEnum)
  riskLevel!: RiskLevel;

  @Field(() => Int)
  count!: number;
}

@ObjectType('StatusCount', { simpleResolvers: true })
export class StatusCount {
  @Field(() => MonitoringStatusEnum)
  status!: MonitoringStatus;

  @Field(() => Int)
  count!: number;
}

@ObjectType('RiskSummary', {
  simpleResolvers: true,
  description:
    'Identity counts for dashboards; every level and status is listed, zeros included, in enum order',
})
export class RiskSummary implements RiskSummaryRecord {
  @Field(() => [RiskCount])
  byRiskLevel!: RiskCount[];

  @Field(() => [StatusCount])
  byStatus!: StatusCount[];

  @Field(() => Int)
  total!: number;
}
