// A surrogate without its other half.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The text as PostgreSQL can store it: U+0000 (refused by text and jsonb) and lone surrogates (refused
 * by jsonb) become U+FFFD, everything else is kept. Authentic deliveries may carry either, since JSON
 * allows them as escapes; refusing them would lose a verified delivery, and the replacement is the same
 * every time, so ids stay stable keys (a redelivery is still a duplicate, a replayed token still a replay).
 */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD').replace(LONE_SURROGATE, '\uFFFD');
}
