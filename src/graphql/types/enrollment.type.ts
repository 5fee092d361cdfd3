import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { EnrollErrorCode } from '../../domain/error-codes.js';
import { EnrollErrorCodeEnum } from './enums.js';
import { Identity } from './identity.type.js';

@ObjectType('EnrollError', {
  simpleResolvers: true,
  description: 'Why one item of a batch was not enrolled',
})
export class EnrollError {
  @Field(() => EnrollErrorCodeEnum, { description: 'An error code of the API, e.g. ALREADY_ENROLLED' })
  code!: EnrollErrorCode;

  @Field(() => String)
  message!: string;

  @Field(() => ID, { nullable: true, description: 'The identity that is in the way (ALREADY_ENROLLED)' })
  existingIdentityId!: string | null;
}

@ObjectType('EnrollResult', {
  simpleResolvers: true,
  description: 'One item of a batch: its identity, or its error',
})
export class EnrollResult {
  @Field(() => Int, { description: 'Position of the item in the input list, from 0' })
  index!: number;

  @Field(() => Identity, { nullable: true })
  identity!: Identity | null;

  @Field(() => EnrollError, { nullable: true })
  error!: EnrollError | null;
}

@ObjectType('BatchEnrollPayload', { simpleResolvers: true })
export class BatchEnrollPayload {
  @Field(() => [EnrollResult], { description: 'One per input item, in input order' })
  results!: EnrollResult[];

  @Field(() => Int)
  enrolledCount!: number;

  @Field(() => Int)
  failedCount!: number;
}
