/**
 * US phone numbers only: Prove monitors and notifies for US numbers only (../shared/CONTRACT.md).
 * Accepts 10 digits or +1 and 10 digits; spaces, dashes, dots and parentheses between them are ignored.
 * Returns E.164 or null.
 */
export function normalizeUsPhone(input: string): string | null {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 32) return null;
  if (!/^\+?[\d\s().-]+$/.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, '');
  const plus = trimmed.startsWith('+');
  let national: string;
  if (digits.length === 10 && !plus) national = digits;
  // The contract lists 10 digits or +1 and 10 digits: a bare leading 1 (the NANP trunk prefix,
  // `12025550123`) is neither, and accepting it would be an extension nobody documented.
  else if (plus && digits.length === 11 && digits.startsWith('1')) national = digits.slice(1);
  else return null;
  // NANP area codes start with 2-9. The exchange is not checked: Prove's own sandbox numbers
  // (e.g. 2001004031, provider-docs/prove-identity-manager.txt) have exchanges starting with 1.
  if (!/^[2-9]\d{9}$/.test(national)) return null;
  return `+1${national}`;
}

/** Keeps the last 4 digits: what a caller without pii:read sees. */
export function maskPhone(e164: string): string {
  const last4 = e164.slice(-4);
  return `${'*'.repeat(Math.max(0, e164.length - 4))}${last4}`;
}
