import type { SimulateSummary } from './simulate.js';
import { SIM_PROVIDERS } from './stories.js';

/** "200: 97, 202: 3, network error: 1": statuses in numeric order, no answer last. */
export function formatStatuses(byStatus: Record<string, number>): string {
  const order = (key: string) => (/^\d+$/.test(key) ? Number(key) : Number.MAX_SAFE_INTEGER);
  return Object.entries(byStatus)
    .sort(([a], [b]) => order(a) - order(b))
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
}

/** The summary `npm run simulate` prints: totals, answers by status and by provider, the first refusals. */
export function formatSummary(s: SimulateSummary): string {
  const seconds = (s.durationMs / 1000).toFixed(1);
  const listed = s.enrolledListed === null ? '' : ` (of ${s.enrolledListed} listed)`;
  const duplicates =
    (s.events.duplicates > 0 ? `, ${s.events.duplicates} duplicates` : '') +
    (s.events.rejected > 0 ? `, ${s.events.rejected} rejected` : '');
  const lines = [
    `Sent ${s.sent} deliveries to ${s.url} in ${seconds} s: ${s.events.sent} events (${s.events.accepted} stored${duplicates}), ` +
      `for ${s.identities.fresh} new identities and ${s.identities.enrolled} already enrolled${listed}`,
    `  by status   ${formatStatuses(s.byStatus)}`,
  ];
  for (const provider of SIM_PROVIDERS) {
    const p = s.byProvider[provider];
    if (p) lines.push(`  ${provider.padEnd(10)}  ${p.sent} sent; ${formatStatuses(p.byStatus)}`);
  }
  for (const note of s.notes) lines.push(`note: ${note}`);
  if (s.refused === 0) {
    lines.push('All deliveries accepted.');
  } else {
    const what = s.byStatus['network error'] ? 'refused or unanswered' : 'refused';
    lines.push(`${s.refused} of ${s.sent} deliveries ${what}; the first ${s.refusals.length}:`);
    for (const r of s.refusals) {
      lines.push(`  ${r.provider} ${r.status ?? 'network error'}: ${r.body.replace(/\s+/g, ' ').trim()}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
