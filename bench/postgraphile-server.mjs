/**
 * PostGraphile 5 (the amber preset) over DATABASE_URL's public schema, on PORT, for bench/graphql-live.ts:
 * POST /graphql, and /readyz once the schema is built. Plain JS because it runs on Node 22 (PostGraphile
 * 5 needs it; this project runs on 20) and loads PostGraphile from POSTGRAPHILE_PREFIX, the bench's own
 * install (bench/.peers), never from the project's node_modules.
 */

import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const prefix = process.env.POSTGRAPHILE_PREFIX;
if (!prefix) throw new Error('POSTGRAPHILE_PREFIX: the directory PostGraphile is installed in');
// Resolved from the prefix, not from this file's directory (whose node_modules is the project's).
const require = createRequire(path.join(prefix, 'package.json'));
const { postgraphile } = require('postgraphile');
const { PostGraphileAmberPreset } = require('postgraphile/presets/amber');
const { makePgService } = require('postgraphile/adaptors/pg');
const { grafserv } = require('postgraphile/grafserv/node');

const pgl = postgraphile({
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ['public'],
      // Our server's pool size (src/db/data-source.ts), so neither side waits on fewer connections.
      poolConfig: { max: Number(process.env.POSTGRAPHILE_POOL ?? 20) },
    }),
  ],
  grafserv: { graphqlPath: '/graphql', graphiql: false, watch: false },
  grafast: { explain: false },
});
// PostGraphile has no codec for xid8, so it leaves out identity_events.tx_id and event_horizon(), and
// says so with a page-long dump of the type: one line instead.
const warn = console.warn;
let skipped = 0;
console.warn = (message, ...rest) => {
  if (typeof message === 'string' && /'pg_catalog\.xid8'|'public\.event_horizon'/.test(message)) skipped++;
  else warn(message, ...rest);
};
// Built before listening, so /readyz answering means queries are served.
await pgl.getSchema();
console.warn = warn;
if (skipped) warn('postgraphile-server: no xid8 codec: identity_events.tx_id and event_horizon() left out');
const serv = pgl.createServ(grafserv);
// createHandler rather than addTo: the bench needs no websockets, and it leaves unknown paths to us.
const handle = serv.createHandler();
const server = http.createServer((req, res) =>
  handle(req, res, (err) => {
    const ready = !err && req.url === '/readyz';
    res.writeHead(ready ? 200 : err ? 500 : 404, { 'content-type': 'text/plain' });
    res.end(ready ? 'ready' : err ? 'error' : 'not found');
  }),
);
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  Promise.resolve(pgl.release()).then(() => process.exit(0));
});
