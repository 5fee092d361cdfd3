import { storableText } from '../domain/text.js';

/** Collects bind parameters while a statement is assembled: values never enter the SQL text. */
export class Params {
  readonly values: unknown[] = [];

  /** Adds a value and returns its placeholder, e.g. `$3`. */
  add(value: unknown): string {
    // Text is compared with stored text as the store kept it: PostgreSQL refuses U+0000 in a parameter.
    this.values.push(typeof value === 'string' ? storableText(value) : value);
    return `$${this.values.length}`;
  }
}

/** `WHERE a AND b …`, or nothing when there are no conditions. */
export const where = (conditions: readonly string[]) =>
  conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;

/** What every query needs of a database: TypeORM's DataSource, or an EntityManager inside a transaction. */
export interface Queryable {
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T>;
}
