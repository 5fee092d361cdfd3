import { GraphQLScalarType, Kind } from 'graphql';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

function parse(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_8601.test(value)) {
    throw new TypeError('DateTime must be an ISO 8601 date-time with a time zone, e.g. 2025-01-23T10:11:12Z');
  }
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new TypeError(`DateTime ${JSON.stringify(value)} is not a real date`);
  return d;
}

/** `DateTime`: an ISO 8601 string in UTC (contract), e.g. "2025-01-23T10:11:12.000Z". */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO 8601 date-time string in UTC, e.g. 2025-01-23T10:11:12.000Z',
  serialize(value) {
    const d = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(d.getTime())) throw new TypeError('DateTime cannot represent an invalid date');
    return d.toISOString();
  },
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new TypeError('DateTime must be a string');
    return parse(ast.value);
  },
});
