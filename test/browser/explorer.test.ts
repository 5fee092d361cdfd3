import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { enroll } from '../helpers/enrollment.js';
import { feedSubscriptions } from '../helpers/metrics.js';
import { runCli } from '../helpers/process.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { WEBHOOK_ENV } from '../helpers/webhooks.js';

/**
 * The explorer as a person uses it: Debian's headless Chromium (driven by playwright-core) opens
 * GET /graphql on the real server, runs a query and a subscription from GraphiQL's editors, and every
 * request it makes is recorded (and refused when not on 127.0.0.1). Leaves /tmp/explorer.png to look at.
 */
const CHROMIUM = '/usr/bin/chromium';
// Root needs --no-sandbox; without the background-networking flags Chromium calls Google hosts.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const QUERY_EDITOR = '.graphiql-query-editor .CodeMirror';
const HEADERS_EDITOR = 'section[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror';
const RESULT = 'section.result-window .CodeMirror';
const RUN = 'button.graphiql-execute-button';

/** One delivery from the simulator (`npm run simulate`), as a newcomer sends one: a signed VOVE status. */
async function simulateOne(url: string): Promise<void> {
  const run = await runCli('simulate', ['--provider', 'vove', '--count', '1', '--url', url], {
    cwd: os.tmpdir(),
    env: { ...WEBHOOK_ENV, NODE_ENV: 'test' },
  });
  assert.equal(run.code, 0, `simulate failed: ${run.stdout}${run.stderr}`);
  assert.match(run.stdout, /200: 1/);
}

/** The text of the CodeMirror editor at `selector` (the page's DOM is not in this project's types). */
function editorValue(page: Page, selector: string): Promise<string> {
  return page.evaluate(`document.querySelector(${JSON.stringify(selector)}).CodeMirror.getValue()`);
}

/** Waits until the CodeMirror editor at `selector` holds `text` (polled from here: the page's CSP forbids eval). */
async function waitForEditorText(page: Page, selector: string, text: string, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await editorValue(page, selector);
    if (value.includes(text)) return;
    assert.ok(Date.now() < deadline, `${selector} never showed ${text}; it shows ${value}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Replaces the query editor's text the way a paste does (no auto-closed brackets) and runs it, once
 * GraphiQL has parsed the new text (100 ms after an edit; before, it would run the old operation's kind).
 */
async function typeAndRun(page: Page, operation: string): Promise<void> {
  await page.click(QUERY_EDITOR);
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(operation);
  assert.equal(await editorValue(page, QUERY_EDITOR), operation);
  const parsed = `document.querySelector(${JSON.stringify(QUERY_EDITOR)}).CodeMirror.documentAST?.loc?.source.body`;
  const deadline = Date.now() + 5000;
  while ((await page.evaluate(parsed)) !== operation) {
    assert.ok(Date.now() < deadline, 'GraphiQL never parsed the typed operation');
    await new Promise((r) => setTimeout(r, 20));
  }
  await page.click(RUN);
}

function isLocal(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'data:' || u.hostname === '127.0.0.1';
}

describe('GraphQL explorer in a real browser', () => {
  let s: TestServer;
  let devToken: string;
  let browser: Browser | undefined;
  let page: Page;
  const requests: string[] = [];
  const sockets: string[] = [];
  const consoleErrors: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) return;
    // AUTH_JWT_SECRET empty counts as unset: dev auth, so the server has a dev token to prefill.
    s = await startTestServer({ env: { ...WEBHOOK_ENV, AUTH_JWT_SECRET: '' } });
    assert.ok(s.app.devToken, 'the server has a dev token');
    devToken = s.app.devToken;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    // Anything not on 127.0.0.1 is refused here as well as recorded below.
    await context.route('**/*', (route) =>
      isLocal(route.request().url()) ? route.continue() : route.abort('blockedbyclient'),
    );
    page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => sockets.push(ws.url()));
    // CSP violations and script errors are reported here.
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text().slice(0, 300)));
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    await page.goto(`${s.url}/graphql`);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('renders GraphiQL from this server alone, with no request leaving 127.0.0.1', async (t) => {
    if (!browser) return t.skip(`Chromium not installed at ${CHROMIUM}: apt-get install -y chromium`);
    await page.waitForSelector(QUERY_EDITOR, { timeout: 20_000 });
    await page.waitForSelector(HEADERS_EDITOR);
    // The schema is fetched by introspection once the page is up: the docs explorer can open it.
    await page.click('button[aria-label="Show Documentation Explorer"]');
    await page.waitForSelector('.graphiql-doc-explorer >> text=Query', { timeout: 15_000 });
    assert.ok(requests.some((u) => u.includes('/graphql/assets/') && u.endsWith('/graphiql.min.js')));
    assert.deepEqual(
      requests.filter((u) => !isLocal(u)),
      [],
    );
    assert.deepEqual(consoleErrors, [], 'no CSP violation or script error');
  });

  it("prefills the headers editor with the dev token, as {'authorization': 'Bearer …'}", async (t) => {
    if (!browser) return t.skip(`Chromium not installed at ${CHROMIUM}: apt-get install -y chromium`);
    assert.deepEqual(JSON.parse(await editorValue(page, HEADERS_EDITOR)), {
      authorization: `Bearer ${devToken}`,
    });
  });

  it('runs a typed query with those headers and shows its data in the result pane', async (t) => {
    if (!browser) return t.skip(`Chromium not installed at ${CHROMIUM}: apt-get install -y chromium`);
    const enrolled = await enroll(
      s.gql,
      { phoneNumber: '2025550123', clientCustomerId: 'explorer' },
      devToken,
    );
    const id = enrolled.body.data?.enrollIdentity.id;
    assert.ok(id, JSON.stringify(enrolled.body));
    await typeAndRun(page, '{ identities(first: 5) { edges { node { id status } } } }');
    await waitForEditorText(page, RESULT, id);
    const result = JSON.parse(await editorValue(page, RESULT)) as {
      data: { identities: { edges: { node: { id: string; status: string } }[] } };
    };
    assert.deepEqual(
      result.data.identities.edges.find((e) => e.node.id === id),
      { node: { id, status: 'ACTIVE' } },
    );
  });

  it('runs a subscription over graphql-ws on /graphql and shows an event sent by npm run simulate', async (t) => {
    if (!browser) return t.skip(`Chromium not installed at ${CHROMIUM}: apt-get install -y chromium`);
    await typeAndRun(page, 'subscription { identityEvents { type identity { id } } }');
    // The server has the subscription once the feed counts it: an event committed now reaches it.
    const deadline = Date.now() + 15_000;
    while ((await feedSubscriptions(s.url)) < 1) {
      assert.ok(
        Date.now() < deadline,
        `no subscription reached the feed; the result pane shows ${await editorValue(page, RESULT)}`,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    await simulateOne(s.url);
    await waitForEditorText(page, RESULT, '"VERIFICATION_STATUS_CHANGED"');
    const result = JSON.parse(await editorValue(page, RESULT)) as {
      data: { identityEvents: { type: string; identity: { id: string } } };
    };
    assert.equal(result.data.identityEvents.type, 'VERIFICATION_STATUS_CHANGED');
    assert.ok(result.data.identityEvents.identity.id);
    assert.deepEqual(sockets, [`${s.url.replace(/^http/, 'ws')}/graphql`]);
    await page.screenshot({ path: '/tmp/explorer.png' });
    assert.deepEqual(
      requests.filter((u) => !isLocal(u)),
      [],
    );
    assert.deepEqual(consoleErrors, []);
  });
});
