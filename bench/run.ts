/** `npm run bench -- <name>`: runs bench/<name>.js (ingest, graphql, feed, startup). */
const name = process.argv[2] ?? 'ingest';
if (!/^[a-z-]+$/.test(name)) throw new Error(`unknown benchmark ${name}`);
await import(`./${name}.js`);
