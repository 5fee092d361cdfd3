/**
 * US phone numbers only, since Prove monitors US numbers only: +1 numbers whose area code is not one
 * of another NANP country's; US territories are accepted (docs/adr/0014-us-phone-numbers.md says why
 * a deny-list, and why the territories).
 */

/**
 * Area codes of the NANP members that are not the US, by ISO 3166 code: NANPA's assignments
 * (https://www.nationalnanpa.com/area_codes/), as libphonenumber's region metadata carries them
 * (resources/PhoneNumberMetadata.xml: the fixed-line patterns of CA, the leading digits of the
 * others). Canada's list ends with its non-geographic codes 600, 622 and 633, which no US region
 * uses; the non-geographic codes every member shares (toll-free 8XX, 5XX, 900) are not here.
 */
export const NON_US_NANP_AREA_CODES: Readonly<Record<string, readonly string[]>> = {
  // biome-ignore format: one province's codes per line would not help; sorted, they are easy to check
  CA: [
    '204', '226', '236', '249', '250', '257', '263', '273', '289', '306', '343', '354', '365', '367',
    '368', '382', '403', '416', '418', '428', '431', '437', '438', '450', '468', '474', '506', '514',
    '519', '548', '579', '581', '584', '587', '604', '613', '639', '647', '672', '683', '705', '709',
    '742', '753', '778', '780', '782', '807', '819', '825', '867', '873', '879', '902', '905', '942',
    '600', '622', '633',
  ],
  AG: ['268'], // Antigua and Barbuda
  AI: ['264'], // Anguilla
  BB: ['246'], // Barbados
  BM: ['441'], // Bermuda
  BS: ['242'], // Bahamas
  DM: ['767'], // Dominica
  DO: ['809', '829', '849'], // Dominican Republic
  GD: ['473'], // Grenada
  JM: ['658', '876'], // Jamaica
  KN: ['869'], // Saint Kitts and Nevis
  KY: ['345'], // Cayman Islands
  LC: ['758'], // Saint Lucia
  MS: ['664'], // Montserrat
  SX: ['721'], // Sint Maarten
  TC: ['649'], // Turks and Caicos Islands
  TT: ['868'], // Trinidad and Tobago
  VC: ['784'], // Saint Vincent and the Grenadines
  VG: ['284'], // British Virgin Islands
};

const NON_US = new Set(Object.values(NON_US_NANP_AREA_CODES).flat());

/** Why a number was refused: not a +1 number of the accepted shape, or a +1 number of another country. */
export type UsPhoneProblem = 'FORMAT' | 'NOT_US';

export type UsPhone = { ok: true; e164: string } | { ok: false; problem: UsPhoneProblem };

/**
 * Accepts 10 digits, or +1 (or 1) and 10 digits; spaces, dashes, dots and parentheses between them are
 * ignored.
 * Returns the number as E.164, or why it is refused.
 */
export function parseUsPhone(input: string): UsPhone {
  const trimmed = input.trim();
  if (trimmed.length === 0 || trimmed.length > 32) return { ok: false, problem: 'FORMAT' };
  if (!/^\+?[\d\s().-]+$/.test(trimmed)) return { ok: false, problem: 'FORMAT' };
  const digits = trimmed.replace(/\D/g, '');
  const plus = trimmed.startsWith('+');
  let national: string;
  if (digits.length === 10 && !plus) national = digits;
  // A leading 1 without the + (`1-202-555-0123`) is the NANP trunk prefix, how many US callers write
  // their number: the same number, unambiguously, so it is read as +1 rather than refused.
  else if (digits.length === 11 && digits.startsWith('1')) national = digits.slice(1);
  else return { ok: false, problem: 'FORMAT' };
  // NANP area codes start with 2-9. The exchange is not checked: Prove's own sandbox numbers
  // (e.g. 2001004031, in Prove's Identity Manager implementation guide) have exchanges starting with 1.
  if (!/^[2-9]\d{9}$/.test(national)) return { ok: false, problem: 'FORMAT' };
  if (NON_US.has(national.slice(0, 3))) return { ok: false, problem: 'NOT_US' };
  return { ok: true, e164: `+1${national}` };
}

/** parseUsPhone without the reason: E.164, or null when the number is refused. */
export function normalizeUsPhone(input: string): string | null {
  const parsed = parseUsPhone(input);
  return parsed.ok ? parsed.e164 : null;
}

/** Keeps the last 4 digits: what a caller without pii:read sees. */
export function maskPhone(e164: string): string {
  const last4 = e164.slice(-4);
  return `${'*'.repeat(Math.max(0, e164.length - 4))}${last4}`;
}
