import type { ColumnType } from 'typeorm';

/**
 * A CHECK that `column` holds one of `values`, as the migrations write it; the values come from the
 * domain's lists, and test/api/entities.test.ts compares the result with the migrated constraint.
 */
export const oneOf = (column: string, values: readonly string[]) =>
  `${column} IN (${values.map((v) => `'${v}'`).join(', ')})`;

/**
 * PostgreSQL's 64-bit transaction id. TypeORM's driver does not list it, so a DataSource is told of it
 * (acceptColumnTypes in index.ts) before it validates the entities.
 */
export const XID8 = 'xid8' as ColumnType;
