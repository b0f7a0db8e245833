/**
 * Phone numbers, parsed with libphonenumber-js (Google's numbering plans for every country), not
 * matched with a pattern: `+22320000004` has the shape of a Malian number but no operator ever
 * issued it, and only the plan can tell a mobile from a landline.
 *
 * The `max` metadata is used: the default `min` metadata validates lengths and prefixes but
 * cannot tell a number's type (for Mali it answers `undefined` for every number), and the registry
 * must refuse a landline for a committee contact. The cost is about 150 KB of JSON on a server,
 * loaded once.
 */
import { getCountries, isSupportedCountry, parsePhoneNumberFromString, type CountryCode, type NumberType } from 'libphonenumber-js/max';

export type PhoneRegion = CountryCode;

/** The regions the library has a numbering plan for (ISO 3166-1 alpha-2). */
export const PHONE_REGIONS: readonly string[] = getCountries();

export function isPhoneRegion(value: string): value is PhoneRegion {
  return isSupportedCountry(value);
}

/** What a registry number must be: `mobile` receives SMS; `any` may be a landline. */
export type PhoneUse = 'mobile' | 'any';

// FIXED_LINE_OR_MOBILE: plans such as the North American one do not say which a number is.
const MOBILE_TYPES: ReadonlySet<NumberType> = new Set<NumberType>(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

const TYPE_NAMES: Partial<Record<NonNullable<NumberType>, string>> = {
  FIXED_LINE: 'a landline',
  TOLL_FREE: 'a toll-free number',
  PREMIUM_RATE: 'a premium-rate number',
  SHARED_COST: 'a shared-cost number',
  VOIP: 'a VoIP number',
  PERSONAL_NUMBER: 'a personal number',
  PAGER: 'a pager',
  UAN: 'a company number',
  VOICEMAIL: 'a voicemail access number',
};

/**
 * The characters a gateway may spell a number with: ASCII digits, one leading `+`, and the
 * separators people and gateways put between groups. Anything else (`whatsapp:`, full-width
 * digits, letters) is not a phone number of the SMS channel.
 */
const PHONE_SPELLING = /^\(?\+?[0-9 ().\-]+$/;

export type RegistryPhoneResult = { ok: true; e164: string } | { ok: false; problem: string };

/**
 * A registry number: written internationally (`+` and the country code; spaces, dots, dashes and
 * brackets allowed), valid in its country's plan, and a mobile where `use` says so. Returns the
 * E.164 form, which is what the service stores, compares and sends to.
 */
export function parseRegistryPhone(raw: string, use: PhoneUse): RegistryPhoneResult {
  const value = raw.trim();
  if (!/^\(?\+/.test(value) || !PHONE_SPELLING.test(value)) {
    return { ok: false, problem: 'must be an international (E.164) phone number such as +22376000001' };
  }
  const parsed = parsePhoneNumberFromString(value);
  if (!parsed?.isValid()) return { ok: false, problem: `${value} is not a valid phone number in its country's numbering plan` };
  const type = parsed.getType();
  if (use === 'mobile' && (type === undefined || !MOBILE_TYPES.has(type))) {
    return { ok: false, problem: `must be a mobile number (it receives SMS): ${parsed.number} is ${(type && TYPE_NAMES[type]) ?? 'not a mobile number'}` };
  }
  return { ok: true, e164: parsed.number };
}

/**
 * The E.164 form of a sender as a gateway spells it, or null when it is no valid number.
 * Tried in this order, the first valid reading wins:
 * 1. `+...`: international as written;
 * 2. `00...`: the international prefix used in Mali and most of the world, read as `+`;
 * 3. the national form of `defaultRegion` (`76000001` in Mali; also `22376000001`, which the
 *    library recognises as the region's country code followed by a national number);
 * 4. the digits with `+` in front: a gateway that dropped the plus (`33612345678`).
 * A national reading comes before the dropped-plus one because the network's own people are in
 * the default region; a number valid both ways is theirs.
 */
export function normaliseSender(raw: string, defaultRegion: PhoneRegion): string | null {
  const value = raw.trim();
  if (value === '' || !PHONE_SPELLING.test(value)) return null;
  const digits = value.replace(/[^0-9]/g, '');
  if (digits.length < 4 || digits.length > 17) return null;
  const readings = /^\(?\+/.test(value) ? [`+${digits}`] : digits.startsWith('00') ? [`+${digits.slice(2)}`] : [digits, `+${digits}`];
  for (const reading of readings) {
    const parsed = reading.startsWith('+') ? parsePhoneNumberFromString(reading) : parsePhoneNumberFromString(reading, defaultRegion);
    if (parsed?.isValid()) return parsed.number;
  }
  return null;
}
