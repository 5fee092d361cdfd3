import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopback, prefersHtml } from '../../src/http/explorer.js';
import { explorerHtml } from '../../src/http/explorer-page.js';

/** What Chromium sends when it navigates to a page. */
const BROWSER_ACCEPT =
  'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';

const page = (devToken: string | null) =>
  explorerHtml({
    endpoint: '/graphql',
    devToken,
    styles: ['/graphql/assets/abc/graphiql.min.css'],
    scripts: ['/graphql/assets/abc/graphiql.min.js', '/graphql/assets/def/explorer.js'],
  });

/** The parsed content of the page's JSON settings element. */
function configOf(html: string): { endpoint: string; headers: string | null; defaultQuery: string } {
  const m = /<script type="application\/json" id="explorer-config">([^<]*)<\/script>/.exec(html);
  assert.ok(m, 'the settings element is there, with no < inside');
  return JSON.parse(m[1]!);
}

describe('explorer: which GET /graphql is a browser', () => {
  it('takes a browser navigation (text/html first, */* lower) for the explorer', () => {
    assert.equal(prefersHtml(BROWSER_ACCEPT), true);
    assert.equal(prefersHtml('text/html'), true);
    assert.equal(prefersHtml('TEXT/HTML; charset=utf-8'), true);
    assert.equal(prefersHtml('text/html, application/json;q=0.9'), true);
  });

  it('leaves API clients to Apollo: no Accept, */*, JSON, or JSON ranked as high as HTML', () => {
    assert.equal(prefersHtml(undefined), false);
    assert.equal(prefersHtml(''), false);
    assert.equal(prefersHtml('*/*'), false);
    assert.equal(prefersHtml('application/json'), false);
    assert.equal(prefersHtml('application/graphql-response+json, application/json;q=0.9'), false);
    assert.equal(prefersHtml('text/html, application/json'), false);
    assert.equal(prefersHtml('text/html;q=0.5, */*'), false);
    assert.equal(prefersHtml('text/html;q=0'), false);
    assert.equal(prefersHtml('text/html;q=banana'), false);
  });
});

describe('explorer: whose browser gets the dev token', () => {
  it('this machine only: 127.0.0.0/8, ::1 and 127.x mapped into IPv6', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      assert.equal(isLoopback(a), true, a);
    for (const a of [undefined, '', '10.0.0.5', '192.168.1.2', '::ffff:10.0.0.5', 'fe80::1', '1127.0.0.1']) {
      assert.equal(isLoopback(a), false, String(a));
    }
  });
});

describe('explorer: the page', () => {
  it('carries the dev token as data in the headers GraphiQL prefills', () => {
    const config = configOf(page('eyJ.token.sig'));
    assert.equal(config.endpoint, '/graphql');
    assert.deepEqual(JSON.parse(config.headers ?? ''), { authorization: 'Bearer eyJ.token.sig' });
  });

  it('prefills no headers without a dev token', () => {
    assert.equal(configOf(page(null)).headers, null);
  });

  it('keeps a token that holds </script>, <!-- or a line separator inside its JSON element', () => {
    const hostile = '</script><script>alert(1)</script><!--\u2028&amp;';
    const html = page(hostile);
    assert.deepEqual(JSON.parse(configOf(html).headers ?? ''), { authorization: `Bearer ${hostile}` });
    assert.equal(html.match(/<script/g)?.length, 3, 'the settings element and the two scripts, no more');
    assert.equal(html.match(/<\/script>/g)?.length, 3);
    assert.doesNotMatch(html, /\u2028|<!--/);
  });

  it('has no inline script or style and names no other host (its CSP allows none)', () => {
    const html = page('t');
    for (const tag of html.match(/<script[^>]*>/g) ?? []) {
      assert.match(tag, / src="\/graphql\/assets\/| type="application\/json"/, tag);
    }
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
    assert.doesNotMatch(html, /(https?:)?\/\/[a-z]/i);
  });
});
