/**
 * The explorer page (docs/adr/0011-explorer.md): GraphiQL from locally served files, under a CSP that
 * allows scripts, styles and connections to this origin only; the dev token is data, not code.
 */

/** Scripts, styles and connections (HTTP and, by CSP Level 3, ws/wss) only to this origin. */
export const EXPLORER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  // GraphiQL's stylesheet embeds its fonts (Roboto, Fira Code) as data: URLs.
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DEFAULT_QUERY = `# identity-monitor: Ctrl-Enter runs the operation;
# the Docs icon (top left) shows the schema.
# Subscriptions (identityEvents) run over graphql-ws
# on this same URL, authorized by the headers below.

{
  riskSummary {
    total
  }
}
`;

/** The page's own script: reads its settings from the JSON element and mounts GraphiQL. */
export const EXPLORER_SCRIPT = `'use strict';
(() => {
  const config = JSON.parse(document.getElementById('explorer-config').textContent);
  const ws = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const fetcher = GraphiQL.createFetcher({
    url: config.endpoint,
    subscriptionUrl: ws + '//' + location.host + config.endpoint,
    enableIncrementalDelivery: false,
  });
  const props = {
    fetcher,
    defaultQuery: config.defaultQuery,
    defaultEditorToolsVisibility: 'headers',
    shouldPersistHeaders: false,
  };
  if (config.headers !== null) props.defaultHeaders = config.headers;
  ReactDOM.createRoot(document.getElementById('graphiql')).render(React.createElement(GraphiQL, props));
})();
`;

export const EXPLORER_CSS = `html, body { height: 100%; margin: 0; }
#graphiql { height: 100vh; }
`;

export interface ExplorerPage {
  /** The GraphQL endpoint's path, for HTTP and WebSocket alike. */
  endpoint: string;
  /** Prefilled in the headers editor as `{"authorization": "Bearer <token>"}`; null: empty. */
  devToken: string | null;
  /** URLs of the stylesheets and scripts, in load order. */
  styles: readonly string[];
  scripts: readonly string[];
}

/** JSON safe inside a <script> element: no `</script>`, `<!--` or line separator can end or bend it. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function attr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The HTML of the explorer page. */
export function explorerHtml(page: ExplorerPage): string {
  const headers =
    page.devToken === null ? null : JSON.stringify({ authorization: `Bearer ${page.devToken}` }, null, 2);
  const config = { endpoint: page.endpoint, headers, defaultQuery: DEFAULT_QUERY };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>identity-monitor · GraphQL explorer</title>
<link rel="icon" href="data:,">
${page.styles.map((href) => `<link rel="stylesheet" href="${attr(href)}">`).join('\n')}
</head>
<body>
<div id="graphiql">Loading the GraphQL explorer…</div>
<script type="application/json" id="explorer-config">${scriptJson(config)}</script>
${page.scripts.map((src) => `<script src="${attr(src)}"></script>`).join('\n')}
</body>
</html>
`;
}
