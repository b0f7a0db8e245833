/**
 * The GSM 03.38 alphabet (3GPP TS 23.038, 7-bit default alphabet and its extension table) and
 * the transliteration that keeps every SMS in it. CONTRACT.md section 5: a message is one segment
 * of at most 160 septets and never switches to UCS-2, which would cut a segment to 70 characters
 * and, on many feature phones in Mali, arrive as unreadable boxes.
 */
import type { Language } from '../config/registry.js';

/** One SMS segment in the GSM 7-bit alphabet, without a user data header. */
export const SEGMENT_SEPTETS = 160;

/**
 * The 127 printable characters of the basic set, in code order 0x00..0x7F. 0x1B (ESC) is the
 * escape to the extension table, not a character. 0x09 is the capital `Ç` (23.038 names it so;
 * some phones draw it as `ç`, which is why lowercase `ç` is transliterated rather than mapped to it).
 */
export const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅå' +
  'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
  ' !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
  '¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** The extension table: each is sent as ESC + a code, two septets. */
export const GSM7_EXTENSION = '\f^{}\\[~]|€';

const BASIC = new Set(GSM7_BASIC);
const EXTENSION = new Set(GSM7_EXTENSION);

/** Septets a character takes: 1 (basic set), 2 (extension table) or null (not in GSM-7). */
export function gsm7Septets(char: string): 1 | 2 | null {
  if (BASIC.has(char)) return 1;
  if (EXTENSION.has(char)) return 2;
  return null;
}

/** Septets the text takes in the GSM 7-bit alphabet, or null when a character is outside it. */
export function gsm7Length(text: string): number | null {
  let septets = 0;
  for (const char of text) {
    const size = gsm7Septets(char);
    if (size === null) return null;
    septets += size;
  }
  return septets;
}

export function fitsOneSegment(text: string): boolean {
  const septets = gsm7Length(text);
  return septets !== null && septets <= SEGMENT_SEPTETS;
}

/**
 * What GSM-7 lacks, spelt the way it is commonly typed on a phone. Anything not listed here and
 * not in GSM-7 falls back to its base letter (NFKD, combining marks stripped), else `?`.
 */
const TRANSLITERATION: Readonly<Record<string, string>> = {
  // French letters missing from GSM-7 (è é à ù ì ò É Ç are in it and stay).
  ê: 'e', â: 'a', î: 'i', ô: 'o', û: 'u', ë: 'e', ï: 'i', ÿ: 'y', ç: 'c',
  Ê: 'E', Â: 'A', Î: 'I', Ô: 'O', Û: 'U', Ë: 'E', Ï: 'I', Ÿ: 'Y', È: 'E', À: 'A', Ù: 'U',
  œ: 'oe', Œ: 'OE',
  // Bambara (Mali's official orthography since 1982). ɛ becomes è, as it is typed on phones and
  // as it was written before 1982; È is not in GSM-7, so Ɛ becomes E. ɔ becomes plain o rather
  // than ò: o is what most people type (ò takes several key presses on a feature phone and Ò is
  // not in GSM-7, so upper and lower case would disagree), and "kɔlɔn" reads as "kolon".
  ɛ: 'è', Ɛ: 'E', ɔ: 'o', Ɔ: 'O', ɲ: 'ny', Ɲ: 'Ny', ŋ: 'ng', Ŋ: 'Ng',
  // Typography that word processors and smartphones put in names and notes.
  '\u2018': "'", '\u2019': "'", '\u201A': "'", '\u201B': "'", '\u2032': "'", '`': "'", '\u00B4': "'",
  '\u2039': "'", '\u203A': "'",
  '\u201C': '"', '\u201D': '"', '\u201E': '"', '\u201F': '"', '\u2033': '"', '«': '"', '»': '"',
  '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u2015': '-', '\u2212': '-',
  '\u2026': '...', '\u2022': '-', '\u00B7': '.', '\u00B0': 'o', '\u00D7': 'x',
  '\t': ' ', '\u00A0': ' ', '\u202F': ' ', '\u2007': ' ', '\u3000': ' ',
};

/** Characters that carry nothing visible: dropped rather than shown as `?`. */
const INVISIBLE = /^(?:\p{M}|\p{Cf}|[\u0000-\u0008\u000B\u000E-\u001F\u007F-\u009F]|[\u{1F3FB}-\u{1F3FF}])$/u;
const SPACES = /^\p{Z}$/u;

function transliterateChar(char: string): string {
  if (BASIC.has(char) || EXTENSION.has(char)) return char;
  const mapped = TRANSLITERATION[char];
  if (mapped !== undefined) return mapped;
  if (SPACES.test(char)) return ' ';
  if (INVISIBLE.test(char)) return '';
  // NFKD also unfolds compatibility forms (ligatures, full-width letters, superscript digits).
  const base = char.normalize('NFKD').replace(/\p{M}/gu, '');
  if (base !== '' && base !== char) {
    const parts = [...base].map((part) => (BASIC.has(part) || EXTENSION.has(part) ? part : (TRANSLITERATION[part] ?? null)));
    if (parts.every((part) => part !== null)) return parts.join('');
  }
  return '?';
}

/**
 * The text in the GSM 7-bit alphabet: kept where GSM-7 has the character, transliterated where it
 * does not, `?` where nothing sensible exists (emoji, other scripts). Never UCS-2.
 *
 * The table is the same for the three languages today; `language` lets one of them choose a
 * different spelling (for example ò for ɔ) without changing callers.
 */
export function toGsm7(text: string, _language: Language = 'fr'): string {
  let out = '';
  // NFC first, so that e + U+0301 becomes é (which GSM-7 has) instead of e and a dropped accent.
  for (const char of text.normalize('NFC')) out += transliterateChar(char);
  return out;
}

/**
 * The longest prefix of a GSM-7 text that fits in `maxSeptets`, ending in `marker` when it had
 * to be cut (trailing spaces and punctuation before the marker are dropped). Never splits an
 * extension character from its escape.
 */
export function truncateSeptets(text: string, maxSeptets: number, marker = '.'): string {
  const length = gsm7Length(text);
  if (length === null) throw new RangeError('truncateSeptets expects GSM-7 text; call toGsm7 first');
  if (length <= maxSeptets) return text;
  const room = maxSeptets - (gsm7Length(marker) ?? marker.length);
  if (room <= 0) return maxSeptets <= 0 ? '' : marker.slice(0, maxSeptets);
  let kept = '';
  let used = 0;
  for (const char of text) {
    const size = gsm7Septets(char) ?? 1;
    if (used + size > room) break;
    kept += char;
    used += size;
  }
  const trimmed = kept.replace(/[\s,;:.\-]+$/u, '');
  return (trimmed === '' ? kept : trimmed) + marker;
}

/**
 * Renders a message whose one variable part (`slot`) may be shortened so the whole fits one
 * segment: tries each variant in order (e.g. the full name, then the name without "Forage de ")
 * and, when none fits, cuts the last one with `truncateSeptets`. `render` must return GSM-7 text
 * and may use the slot once or more. Throws when even an empty slot does not fit: that is a
 * template too long for its fixed parts, a bug the template tests exist to catch.
 */
export function fitSegment(render: (slot: string) => string, variants: readonly string[], maxSeptets = SEGMENT_SEPTETS): string {
  const measure = (text: string): number => {
    const septets = gsm7Length(text);
    if (septets === null) throw new RangeError(`rendered text is not GSM-7: ${JSON.stringify(text)}`);
    return septets;
  };
  for (const variant of variants) {
    const text = render(variant);
    if (measure(text) <= maxSeptets) return text;
  }
  const last = variants[variants.length - 1] ?? '';
  let room = gsm7Length(last) ?? 0;
  for (;;) {
    const slot = truncateSeptets(last, room);
    const text = render(slot);
    const over = measure(text) - maxSeptets;
    if (over <= 0) return text;
    if (room <= 0) throw new RangeError(`message does not fit ${maxSeptets} septets even without its variable part: ${JSON.stringify(text)}`);
    room = Math.max(0, room - over);
  }
}
