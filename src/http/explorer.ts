import type { FastifyInstance } from 'fastify';
import { type Asset, assetOf, loadPackageAssets } from './explorer-assets.js';
import { EXPLORER_CSP, EXPLORER_CSS, EXPLORER_SCRIPT, explorerHtml } from './explorer-page.js';

const ENDPOINT = '/graphql';
const JSON_TYPES = ['application/json', 'application/graphql-response+json'];

/** The q of the most specific range of `ranges` that covers `type`; 0 when none does. */
function qualityOf(ranges: { type: string; q: number }[], type: string): number {
  const [major] = type.split('/');
  const exact = ranges.find((r) => r.type === type);
  const family = ranges.find((r) => r.type === `${major}/*`);
  const any = ranges.find((r) => r.type === '*/*');
  return (exact ?? family ?? any)?.q ?? 0;
}

/**
 * Whether an Accept header ranks text/html above every JSON type, as a browser's navigation does
 * (`text/html,…,*\/*;q=0.8`); ties go to JSON, so an API client asking for both still gets JSON.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  const ranges = accept.split(',').flatMap((part) => {
    const [media = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    return media && Number.isFinite(q) && q >= 0 && q <= 1 ? [{ type: media, q }] : [];
  });
  const html = qualityOf(ranges, 'text/html');
  return html > 0 && JSON_TYPES.every((t) => qualityOf(ranges, t) < html);
}

/** Whether a peer address is this machine's (127.0.0.0/8, ::1, or 127.x mapped into IPv6). */
export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || /^(::ffff:)?127\./i.test(address));
}

export interface ExplorerOptions {
  /** Prefilled in GraphiQL's headers editor, for browsers on this machine, when set (src/server.ts App.devToken). */
  devToken: string | null;
}

/**
 * GraphiQL at GET /graphql for browsers (Accept preferring text/html; anything else still reaches
 * Apollo), its files under /graphql/assets/, and GET / redirecting to it. Outside production only:
 * the caller decides. Without the packages installed, it logs why and serves nothing.
 */
export async function registerExplorer(app: FastifyInstance, opts: ExplorerOptions): Promise<void> {
  let packages: Awaited<ReturnType<typeof loadPackageAssets>>;
  try {
    packages = await loadPackageAssets();
  } catch (err) {
    app.log.warn(`GraphQL explorer not served: ${(err as Error).message}`);
    return;
  }
  const script = assetOf('explorer.js', EXPLORER_SCRIPT);
  const css = assetOf('explorer.css', EXPLORER_CSS);
  const pageWith = (devToken: string | null) =>
    explorerHtml({
      endpoint: ENDPOINT,
      devToken,
      styles: [packages['graphiql.min.css'].url, css.url],
      scripts: [
        packages['react.production.min.js'].url,
        packages['react-dom.production.min.js'].url,
        packages['graphiql.min.js'].url,
        script.url,
      ],
    });
  // The dev token is an admin token: a browser elsewhere (a dev server bound to 0.0.0.0) gets the page
  // without it. The socket's own address, so no X-Forwarded-For can claim to be local.
  const withToken = pageWith(opts.devToken);
  const withoutToken = pageWith(null);

  // Apollo owns GET /graphql; this route takes the requests that derive `html`, and only those.
  app.addConstraintStrategy({
    name: 'explorer',
    mustMatchWhenDerived: false,
    storage() {
      const byValue = new Map();
      return {
        get: (value) => byValue.get(value) ?? null,
        set: (value, handler) => {
          byValue.set(value, handler);
        },
      };
    },
    deriveConstraint: (req) => (prefersHtml(req.headers.accept) ? 'html' : undefined),
  });
  app.get(ENDPOINT, { constraints: { explorer: 'html' } }, async (req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('content-security-policy', EXPLORER_CSP)
      // The page holds the dev token: kept by no cache.
      .header('cache-control', 'no-store')
      .header('vary', 'accept')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .send(isLoopback(req.socket.remoteAddress) ? withToken : withoutToken),
  );

  for (const asset of [...Object.values(packages), script, css] as Asset[]) {
    app.get(asset.url, async (_req, reply) =>
      reply
        .header('content-type', asset.contentType)
        // The URL holds a hash of the content: a changed file has a new URL.
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff')
        .send(asset.body),
    );
  }

  app.get('/', async (_req, reply) => reply.redirect(ENDPOINT, 302));
}
