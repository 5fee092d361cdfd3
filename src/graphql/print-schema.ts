import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { printSchema } from 'graphql';
import { createSchema } from './schema.js';

/** The SDL committed as schema.graphql (definition order kept: RiskLevel's order means something). */
export async function schemaSdl(): Promise<string> {
  return `${printSchema(await createSchema())}\n`;
}

// `npm run schema` writes the file; a test fails when the committed file and the code disagree.
if (import.meta.url === `file://${process.argv[1]}`) {
  await writeFile(new URL('../../../schema.graphql', import.meta.url), await schemaSdl());
}
