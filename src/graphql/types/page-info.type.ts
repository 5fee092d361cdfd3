import { Field, ObjectType } from 'type-graphql';

@ObjectType('PageInfo', {
  simpleResolvers: true,
  description: 'Where a page ends: pass endCursor to `after` for the next one',
})
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true, description: 'Cursor of the last edge; null for an empty page' })
  endCursor!: string | null;
}
