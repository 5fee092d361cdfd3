import { Field, InputType } from 'type-graphql';
import type { Provider } from '../../domain/types.js';
import { ProviderEnum } from './enums.js';

/** One identity to enroll; validated by parseEnrollInput (src/domain/enrollment.ts). */
@InputType('EnrollIdentityInput')
export class EnrollIdentityInput {
  @Field(() => String, {
    nullable: true,
    description: 'Required for PROVE: a US number, 10 digits or +1 and 10 digits; stored as E.164',
  })
  phoneNumber?: string | null;

  @Field(() => String, { nullable: true })
  clientCustomerId?: string | null;

  @Field(() => ProviderEnum, { nullable: true, defaultValue: 'PROVE' })
  provider?: Provider | null;

  @Field(() => String, {
    nullable: true,
    description:
      'Required for PASSBASE (key) and VOVE (refId): links the identity; assigned by Prove for PROVE',
  })
  providerIdentityId?: string | null;
}
