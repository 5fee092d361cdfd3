/** `npm run bench -- <name>`: runs bench/<name>.js (startup, ingest, ingest-sql, graphql, feed, enroll). */
const name = process.argv[2] ?? 'ingest';
if (!/^[a-z-]+$/.test(name)) throw new Error(`unknown benchmark ${name}`);
await import(`./${name}.js`);
