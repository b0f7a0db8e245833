/**
 * The SMS commands of CONTRACT.md section 5, parsed from what people actually type on a feature
 * phone. Pure: the caller checks the sender, acts and answers.
 *
 * Accepted, case- and accent-insensitive, with any spacing and punctuation (or none) between the
 * word and the code, and leading spaces or punctuation ignored:
 * - acknowledge: `OK 17`, `ok  17`, `Ok17`, `OK 17.`, `ok#17`, `OK, 17`, `OK n°17`, `O.K. 17`;
 *   also `OKAY`, `OUI` (French "yes"), `AWO` / `AWƆ` (Bambara "yes") and `YES` followed by a
 *   code. Words may follow the code (`OK 17 merci`) but not another number (`OK 17 18`, `OK 1.7`
 *   are refused: which alert was meant is not clear).
 * - repair (technicians only, the caller checks): `REPARE 17`, `RÉPARÉ 17 pompe changée`,
 *   `repare17`, `REPAREE 17`, `REPARATION 17`, `REPAIRED 17`, `FIXED 17`, `DILANNA 17` (Bambara
 *   "it was repaired"); whatever follows the code is the note, kept as typed.
 * - status: `ETAT`, `état`, `etat?`, `ÉTATS`, `STATUT`, `STATUS`, with anything after it.
 * Anything else (a bare `OK`, `OK abc`, `17`, an empty text, a text longer than
 * `MAX_COMMAND_CHARS`) is `unknown`, which the caller answers with the help text.
 * The command word must come first: `Bonjour OK 17` is unknown rather than guessed at.
 */

export type Command =
  | { kind: 'ack'; code: number }
  | { kind: 'repair'; code: number; note: string | null }
  | { kind: 'status' }
  | { kind: 'unknown' };

/**
 * Longer than anything a person types as a command (a 6-part concatenated SMS is 918 GSM-7
 * characters): such a text is refused outright instead of being scanned and stored as a note.
 */
export const MAX_COMMAND_CHARS = 1_000;
/** A repair note is kept up to this many characters. */
export const MAX_NOTE_CHARS = 200;
/** Codes are SQLite row ids; more digits than a safe integer holds is not a code. */
const MAX_CODE_DIGITS = 15;

export const ACK_WORDS = ['ok', 'o.k.', 'okay', 'oui', 'awo', 'yes'] as const;
export const REPAIR_WORDS = ['repare', 'reparee', 'reparation', 'repaired', 'fixed', 'dilanna'] as const;
export const STATUS_WORDS = ['etat', 'etats', 'statut', 'status'] as const;

const UNKNOWN: Command = { kind: 'unknown' };

/** Letters outside Latin decomposition, folded the way they are typed (see gsm7.ts). */
const FOLD_EXTRA: Readonly<Record<string, string>> = { ɛ: 'e', ɔ: 'o', ɲ: 'ny', ŋ: 'ng', œ: 'oe', æ: 'ae' };

/**
 * The text lowercased, without accents, compatibility forms unfolded (full-width letters), and
 * for each folded UTF-16 unit the index in the original text it came from, so that the note can
 * be taken from the original as typed.
 */
function fold(text: string): { folded: string; origin: number[] } {
  let folded = '';
  const origin: number[] = [];
  let index = 0;
  for (const char of text) {
    const lower = char.toLowerCase();
    const base = FOLD_EXTRA[lower] ?? lower.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
    for (let unit = 0; unit < base.length; unit += 1) origin.push(index);
    folded += base;
    index += char.length;
  }
  origin.push(text.length);
  return { folded, origin };
}

const alternatives = (words: readonly string[]): string =>
  [...words]
    .sort((a, b) => b.length - a.length)
    .map((word) => word.replace(/\./g, '\\.'))
    .join('|');

// Separator: anything but a letter or a digit. `n°` / `numero` may stand before the code.
const CODED = (words: readonly string[]): RegExp =>
  new RegExp(`^[^a-z0-9]*(?:${alternatives(words)})(?![a-z])[^a-z0-9]*(?:(?:n|num|numero)(?![a-z])[^a-z0-9]*)?(\\d+)`);
const ACK = CODED(ACK_WORDS);
const REPAIR = CODED(REPAIR_WORDS);
const STATUS = new RegExp(`^[^a-z0-9]*(?:${alternatives(STATUS_WORDS)})(?![a-z])`);

function code(digits: string): number | null {
  const significant = digits.replace(/^0+(?=\d)/, '');
  return significant.length <= MAX_CODE_DIGITS ? Number(significant) : null;
}

function note(rest: string): string | null {
  const clean = rest
    .replace(/^[\s\p{P}\p{S}]+/u, '')
    .replace(/\s+/gu, ' ')
    .trim();
  if (clean === '') return null;
  const chars = [...clean];
  return chars.length <= MAX_NOTE_CHARS ? clean : chars.slice(0, MAX_NOTE_CHARS).join('').trimEnd();
}

export function parseCommand(text: string): Command {
  if (text.length > MAX_COMMAND_CHARS) return UNKNOWN;
  const { folded, origin } = fold(text);

  const ack = ACK.exec(folded);
  if (ack?.[1] !== undefined) {
    const rest = folded.slice(ack[0].length);
    // `OK 17 18`, `OK 17/18`, `OK 1.7`: another number follows, the alert meant is not clear.
    if (/^[^a-z0-9]*\d/.test(rest)) return UNKNOWN;
    const value = code(ack[1]);
    return value === null ? UNKNOWN : { kind: 'ack', code: value };
  }

  const repair = REPAIR.exec(folded);
  if (repair?.[1] !== undefined) {
    const value = code(repair[1]);
    if (value === null) return UNKNOWN;
    const noteStart = origin[repair[0].length] ?? text.length;
    return { kind: 'repair', code: value, note: note(text.slice(noteStart)) };
  }

  if (STATUS.test(folded)) return { kind: 'status' };
  return UNKNOWN;
}
