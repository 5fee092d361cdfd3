import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXPLORER_CSP, EXPLORER_CSS, EXPLORER_SCRIPT } from '../../src/http/explorer-page.js';
import { startTestServer, TEST_AUTH_SECRET, type TestServer } from '../helpers/server.js';

/** What Chromium sends when it navigates to a page. */
const BROWSER_ACCEPT =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';

const require = createRequire(import.meta.url);
/** A file of an installed package, as the explorer must serve it. */
const packageFile = (pkg: string, file: string) =>
  readFile(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file));

const browserGet = (url: string) => fetch(url, { headers: { accept: BROWSER_ACCEPT } });

/** The asset URLs the page names, scripts and stylesheets alike. */
function assetUrls(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="(\/graphql\/assets\/[^"]+)"/g)].map((m) => m[1]!);
}

/** GET of a raw request path, unnormalized (fetch would resolve `..` before sending). */
function rawGet(base: string, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, { path: rawPath }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString('utf8');
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GraphQL explorer over HTTP', () => {
  let dev: TestServer;
  let withSecret: TestServer;
  let prod: TestServer;
  let page: string;
  before(async () => {
    // AUTH_JWT_SECRET empty counts as unset: dev auth and a dev token, as `npm start` has.
    dev = await startTestServer({ env: { AUTH_JWT_SECRET: '' } });
    withSecret = await startTestServer({ database: dev.database });
    prod = await startTestServer({
      database: dev.database,
      env: { NODE_ENV: 'production', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_AUTH_SECRET },
    });
    page = await (await browserGet(`${dev.url}/graphql`)).text();
  });
  after(async () => {
    await prod?.close();
    await withSecret?.close();
    await dev?.close();
  });

  it('answers a browser GET /graphql with the page: strict CSP, no-store, the dev token as data', async () => {
    const res = await browserGet(`${dev.url}/graphql`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('content-security-policy'), EXPLORER_CSP);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('vary'), 'accept');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    assert.ok(dev.app.devToken);
    assert.ok(html.includes(`Bearer ${dev.app.devToken}`));
    assert.doesNotMatch(html, /https?:\/\//, 'nothing from another host');
  });

  it('serves every file the page names, byte for byte from node_modules, cached for good', async () => {
    const expected: Record<string, Promise<Buffer> | Buffer> = {
      'react.production.min.js': packageFile('react', 'umd/react.production.min.js'),
      'react-dom.production.min.js': packageFile('react-dom', 'umd/react-dom.production.min.js'),
      'graphiql.min.js': packageFile('graphiql', 'graphiql.min.js'),
      'graphiql.min.css': packageFile('graphiql', 'graphiql.min.css'),
      'explorer.js': Buffer.from(EXPLORER_SCRIPT),
      'explorer.css': Buffer.from(EXPLORER_CSS),
    };
    const urls = assetUrls(page);
    assert.deepEqual(urls.map((u) => path.basename(u)).sort(), Object.keys(expected).sort());
    for (const url of urls) {
      const res = await fetch(`${dev.url}${url}`);
      assert.equal(res.status, 200, url);
      const type = url.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8';
      assert.equal(res.headers.get('content-type'), type, url);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(await expected[path.basename(url)]!), `${url} is the installed file`);
    }
  });

  it('serves nothing else under /graphql/assets: other names, other hashes, other methods, ../', async () => {
    const [css] = assetUrls(page).filter((u) => u.endsWith('/graphiql.min.css'));
    assert.ok(css);
    const hashDir = path.posix.dirname(css);
    for (const url of [
      `${hashDir}/graphiql.js`,
      `${hashDir}/package.json`,
      '/graphql/assets/000000000000/graphiql.min.css',
      '/graphql/assets/graphiql.min.css',
      '/graphql/assets/',
    ]) {
      assert.equal((await fetch(`${dev.url}${url}`)).status, 404, url);
    }
    assert.equal((await fetch(`${dev.url}${css}`, { method: 'POST', body: 'x' })).status, 404);
    for (const raw of [
      `${hashDir}/../../../package.json`,
      `${hashDir}/..%2f..%2f..%2fpackage.json`,
      `${hashDir}/%2e%2e/%2e%2e/%2e%2e/package.json`,
      `${css}/../../../../package.json`,
    ]) {
      const res = await rawGet(dev.url, raw);
      assert.equal(res.status, 404, raw);
      assert.doesNotMatch(res.body, /"dependencies"|"version"/, raw);
    }
  });

  it('leaves GraphQL to Apollo for API clients: GET with JSON or any Accept, and POST from a browser', async () => {
    const authorization = `Bearer ${dev.app.devToken}`;
    const query = encodeURIComponent('{ riskSummary { total } }');
    for (const accept of ['application/json', '*/*', 'text/html, application/json']) {
      const res = await fetch(`${dev.url}/graphql?query=${query}`, { headers: { accept, authorization } });
      assert.equal(res.status, 200, accept);
      assert.match(res.headers.get('content-type') ?? '', /^application\/(graphql-response\+)?json/);
      assert.equal(
        ((await res.json()) as { data: { riskSummary: { total: number } } }).data.riskSummary.total,
        0,
      );
    }
    const post = await fetch(`${dev.url}/graphql`, {
      method: 'POST',
      headers: { accept: BROWSER_ACCEPT, authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ riskSummary { total } }' }),
    });
    assert.equal(post.status, 200);
    assert.deepEqual(await post.json(), { data: { riskSummary: { total: 0 } } });
  });

  it('shows no Apollo landing page (loaded from its CDN) where it would: HTML and JSON accepted alike', async () => {
    const res = await fetch(`${dev.url}/graphql`, { headers: { accept: 'text/html, application/json' } });
    assert.doesNotMatch(res.headers.get('content-type') ?? '', /html/);
    assert.doesNotMatch(await res.text(), /<html|apollographql|embeddable|cdn\./i);
  });

  it('redirects GET / to /graphql', async () => {
    const res = await fetch(`${dev.url}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/graphql');
  });

  it('prefills no headers when no dev token exists (AUTH_JWT_SECRET set)', async () => {
    assert.equal(withSecret.app.devToken, null);
    const res = await browserGet(`${withSecret.url}/graphql`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /"headers":null/);
  });

  it('serves no explorer, no landing page and no redirect in production', async () => {
    const res = await browserGet(`${prod.url}/graphql`);
    assert.equal(res.status, 400, 'Apollo refuses a GET without query and token, as before');
    assert.doesNotMatch(res.headers.get('content-type') ?? '', /html/);
    assert.doesNotMatch(await res.text(), /<html|apollographql|embeddable|cdn\.|graphiql/i);
    for (const url of assetUrls(page)) assert.equal((await fetch(`${prod.url}${url}`)).status, 404, url);
    assert.equal((await fetch(`${prod.url}/`, { redirect: 'manual' })).status, 404);
  });
});
