/**
 * The SQL functions and composite types of sql/, each file the current definition of the one object it
 * is named after (functions/x.sql: function x, all its overloads; types/x.sql: type x). After the
 * versioned migrations, migrate() compares each file with the database and applies the files that
 * differ (docs/adr/0012-sql-files.md).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { QueryRunner } from 'typeorm';

/** sql/ of the checkout or image: this module always runs compiled, as dist/src/db/sql-files.js. */
export const SQL_DIR = fileURLToPath(new URL('../../../sql/', import.meta.url));

/**
 * Every file, in the order they are applied: a type before the functions whose signatures name it, and
 * a function before any LANGUAGE sql function calling it (their bodies are checked when created).
 * Listed, as migrations are, so that a file missing from a build fails instead of being skipped.
 */
export const SQL_FILES: readonly string[] = [
  'types/ingest_event.sql',
  'types/ingest_summary.sql',
  'types/ingest_batch_delivery.sql',
  'types/ingest_batch_event.sql',
  'types/ingest_batch_summary.sql',
  'functions/risk_ladder.sql',
  'functions/risk_rank.sql',
  'functions/risk_level.sql',
  'functions/apply_summaries.sql',
  'functions/event_horizon.sql',
  'functions/derive_identity_state.sql',
  'functions/record_events.sql',
  'functions/ingest_batch.sql',
];

export type SqlObjectKind = 'function' | 'type';

/** One function overload or composite type as the catalog describes it, schema left out. */
export interface SqlObject {
  kind: SqlObjectKind;
  name: string;
  /** `name(identity arguments)` for a function, the name for a type. */
  signature: string;
  /** pg_get_functiondef() for a function; for a type, CREATE TYPE with its attributes' format_type(). */
  definition: string;
}

/** What a file must define: the object its path names. */
export function objectOf(file: string): { kind: SqlObjectKind; name: string } {
  const m = /^(functions|types)\/([a-z_][a-z0-9_]*)\.sql$/.exec(file);
  if (!m) throw new Error(`sql/${file}: not functions/<name>.sql or types/<name>.sql`);
  return { kind: m[1] === 'functions' ? 'function' : 'type', name: m[2] as string };
}

export async function readSqlFile(file: string): Promise<string> {
  objectOf(file);
  try {
    return await readFile(`${SQL_DIR}${file}`, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${SQL_DIR}${file} (sql/ ships beside dist/): ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * The functions (not extensions') and composite types of one schema. `schema` is an SQL expression of
 * its oid. Ordered by kind and signature in byte order, so two calls compare as arrays.
 */
export async function definitionsIn(q: QueryRunner, schema: string): Promise<SqlObject[]> {
  const rows: SqlObject[] = await q.query(`
    SELECT * FROM (
    SELECT 'function' AS kind, p.proname AS name,
           p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS signature,
           pg_get_functiondef(p.oid) AS definition
    FROM pg_proc p
    WHERE p.pronamespace = ${schema} AND p.prokind IN ('f', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d
                      WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'type', t.typname, t.typname,
           'CREATE TYPE ' || quote_ident(t.typname) || ' AS (' || (
             SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', '
                               ORDER BY a.attnum)
             FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
    FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
    WHERE t.typnamespace = ${schema}
    ) o ORDER BY kind, signature COLLATE "C"`);
  // pg_get_functiondef names the schema in its first line only; the rest is the same wherever it lives.
  return rows.map((o) => ({
    ...o,
    definition: o.definition.replace(/^(CREATE OR REPLACE \w+ )[^(]*?\./, '$1'),
  }));
}

/** The functions and composite types of the schema objects are created in (public, as a rule). */
export function liveDefinitions(q: QueryRunner): Promise<SqlObject[]> {
  return definitionsIn(q, 'current_schema()::regnamespace');
}

/**
 * What a file defines, found by running it in this session's temporary schema inside a savepoint that
 * is rolled back: nothing is left behind, and the caller's transaction goes on.
 */
export async function fileDefinitions(q: QueryRunner, file: string, sql: string): Promise<SqlObject[]> {
  await q.query('SAVEPOINT sql_file');
  try {
    // Unqualified CREATEs land in the first schema of the path; names in bodies still resolve as live.
    await q.query(`SELECT set_config('search_path', 'pg_temp, ' || current_setting('search_path'), true)`);
    try {
      await q.query(sql);
    } catch (err) {
      throw new Error(`sql/${file}: ${(err as Error).message}`, { cause: err });
    }
    return await definitionsIn(q, 'pg_my_temp_schema()');
  } finally {
    await q.query('ROLLBACK TO SAVEPOINT sql_file');
  }
}

const same = (a: SqlObject[], b: SqlObject[]) =>
  a.length === b.length &&
  a.every((o, i) => o.signature === b[i]?.signature && o.definition === b[i]?.definition);

/**
 * Makes the database's functions and types match sql/, in one transaction on `q`: each file whose
 * objects differ from the live ones is applied. A type that exists but differs is an error, since a
 * composite type cannot be replaced: a versioned migration changes it (ALTER TYPE), then its file.
 * Returns the files applied.
 */
export async function applySqlFiles(q: QueryRunner): Promise<string[]> {
  const applied: string[] = [];
  await q.startTransaction();
  try {
    const live = await liveDefinitions(q);
    for (const file of SQL_FILES) {
      const { kind, name } = objectOf(file);
      const sql = await readSqlFile(file);
      const want = await fileDefinitions(q, file, sql);
      const stray = want.find((o) => o.kind !== kind || o.name !== name);
      if (want.length === 0 || stray)
        throw new Error(
          `sql/${file} must define ${kind} ${name} and nothing else; it defines ${want.map((o) => `${o.kind} ${o.signature}`).join(', ') || 'nothing'}`,
        );
      const have = live.filter((o) => o.kind === kind && o.name === name);
      if (same(want, have)) continue;
      if (kind === 'type' && have.length > 0)
        throw new Error(
          `type ${name} differs from sql/${file}: change it in a versioned migration (ALTER TYPE), then the file\n  database: ${have[0]?.definition}\n  file:     ${want[0]?.definition}`,
        );
      await q.query(sql);
      applied.push(file);
    }
    await q.commitTransaction();
  } catch (err) {
    await q.rollbackTransaction();
    throw err;
  }
  return applied;
}
