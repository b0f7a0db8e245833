/**
 * The SMS commands of CONTRACT.md sections 5 and 9, parsed from what people actually type on a
 * feature phone. Pure: the caller checks the sender, acts and answers.
 *
 * Accepted, case- and accent-insensitive, with any spacing and punctuation (or none) between the
 * word and the code, and leading spaces or punctuation ignored:
 * - acknowledge (an incident, by the code people were sent): `OK 17`, `ok  17`, `Ok17`, `OK 17.`,
 *   `ok#17`, `OK, 17`, `OK n°17`, `O.K. 17`; also `OKAY`, `OUI` (French "yes"), `AWO` / `AWƆ`
 *   (Bambara "yes") and `YES` followed by a code. Words may follow the code (`OK 17 merci`) but
 *   not another number (`OK 17 18`, `OK 1.7` are refused: which incident was meant is not clear).
 * - repair claimed (technicians only, the caller checks; the data then verifies it): `REPARE 17`,
 *   `RÉPARÉ 17 pompe changée`, `repare17`, `REPAREE 17`, `REPARATION 17`, `REPAIRED 17`,
 *   `FIXED 17`, `DILANNA 17` (Bambara "it was repaired"); whatever follows the code is the note,
 *   kept as typed.
 * - on site (technicians): `ARRIVE 17`, `arrivé 17`, `ARRIVEE 17`, `ARRIVED 17`, `SUR PLACE 17`,
 *   `ON SITE 17`, `N SERA 17` / `SERA 17` (Bambara "n sera": I arrived). Like OK, another number
 *   right after the code is refused (`ARRIVE 17 18`).
 * - waiting for a part (technicians): `PIECE 17 roulement`, `Pièces 17 ...`, `PART 17 bearing`,
 *   `PARTS 17`, `MINƐN 17 ...` / `MINAN 17 ...` (Bambara "minɛn": tool, piece of equipment);
 *   whatever follows the code is the part, kept as typed like the repair note (it may hold
 *   numbers: `PIECE 17 2 roulements`), null when nothing follows.
 * - a fault seen by people: `PANNE`, `panne la pompe ne marche pas`, `PANNES ...`, `BROKEN ...`,
 *   `BREAKDOWN ...`, `FAULT ...`, `TIƝƐNA ...` (Bambara "it broke"; also typed `tinyena`,
 *   `tiyena`, `tinena`). No code: the text is everything after the word as typed, or null. Whether
 *   its first word names a borehole (`PANNE khabou eau sale`) is for the caller to decide.
 * - status: `ETAT`, `état`, `etat?`, `ÉTATS`, `STATUT`, `STATUS`, with anything after it.
 * Anything else (a bare `OK`, `OK abc`, `ARRIVE`, `PIECE abc`, `17`, an empty text, a text longer
 * than `MAX_COMMAND_CHARS`) is `unknown`, which the caller answers with the help text.
 * NATIVE SPEAKER REVIEW NEEDED: the Bambara words `sera` and `minɛn` (the others are in
 * templates.ts's vocabulary).
 * The command word must come first: `Bonjour OK 17` is unknown rather than guessed at.
 */

export type Command =
  | { kind: 'ack'; code: number }
  | { kind: 'repair'; code: number; note: string | null }
  | { kind: 'arrive'; code: number }
  | { kind: 'part'; code: number; part: string | null }
  | { kind: 'fault'; text: string | null }
  | { kind: 'status' }
  | { kind: 'unknown' };

/**
 * Longer than anything a person types as a command (a 6-part concatenated SMS is 918 GSM-7
 * characters): such a text is refused outright instead of being scanned and stored as a note.
 */
export const MAX_COMMAND_CHARS = 1_000;
/** A repair note, a part or the words of a PANNE are kept up to this many characters. */
export const MAX_NOTE_CHARS = 200;
/** Codes are SQLite row ids; more digits than a safe integer holds is not a code. */
const MAX_CODE_DIGITS = 15;

export const ACK_WORDS = ['ok', 'o.k.', 'okay', 'oui', 'awo', 'yes'] as const;
export const REPAIR_WORDS = ['repare', 'reparee', 'reparation', 'repaired', 'fixed', 'dilanna'] as const;
export const STATUS_WORDS = ['etat', 'etats', 'statut', 'status'] as const;
/** A space in a word stands for any separator (`SUR PLACE`, `sur-place`, `surplace`). */
export const ARRIVE_WORDS = ['arrive', 'arrivee', 'arrived', 'sur place', 'on site', 'n sera', 'sera'] as const;
export const PART_WORDS = ['piece', 'pieces', 'part', 'parts', 'minen', 'minan'] as const;
// Bambara "tiɲɛna" folds to "tinyena"; without ɲ on the keypad it is typed "tiyena" or "tinena".
export const FAULT_WORDS = ['panne', 'pannes', 'broken', 'breakdown', 'fault', 'tinyena', 'tiyena', 'tinena'] as const;

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
    .map((word) => word.replace(/\./g, '\\.').replace(/ /g, '[^a-z0-9]*'))
    .join('|');

// Separator: anything but a letter or a digit. `n°` / `numero` may stand before the code.
const CODED = (words: readonly string[]): RegExp =>
  new RegExp(`^[^a-z0-9]*(?:${alternatives(words)})(?![a-z])[^a-z0-9]*(?:(?:n|num|numero)(?![a-z])[^a-z0-9]*)?(\\d+)`);
const ACK = CODED(ACK_WORDS);
const REPAIR = CODED(REPAIR_WORDS);
const ARRIVE = CODED(ARRIVE_WORDS);
const PART = CODED(PART_WORDS);
const WORD = (words: readonly string[]): RegExp => new RegExp(`^[^a-z0-9]*(?:${alternatives(words)})(?![a-z])`);
const STATUS = WORD(STATUS_WORDS);
const FAULT = WORD(FAULT_WORDS);

function code(digits: string): number | null {
  const significant = digits.replace(/^0+(?=\d)/, '');
  return significant.length <= MAX_CODE_DIGITS ? Number(significant) : null;
}

/** `17 18`, `17/18`, `1.7`: another number right after the code, so the code meant is not clear. */
function anotherNumber(rest: string): boolean {
  return /^[^a-z0-9]*\d/.test(rest);
}

/** Free text as typed: leading punctuation dropped, whitespace collapsed, cut at MAX_NOTE_CHARS. */
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
    if (anotherNumber(folded.slice(ack[0].length))) return UNKNOWN;
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

  const arrive = ARRIVE.exec(folded);
  if (arrive?.[1] !== undefined) {
    if (anotherNumber(folded.slice(arrive[0].length))) return UNKNOWN;
    const value = code(arrive[1]);
    return value === null ? UNKNOWN : { kind: 'arrive', code: value };
  }

  const part = PART.exec(folded);
  if (part?.[1] !== undefined) {
    const value = code(part[1]);
    if (value === null) return UNKNOWN;
    const partStart = origin[part[0].length] ?? text.length;
    return { kind: 'part', code: value, part: note(text.slice(partStart)) };
  }

  const fault = FAULT.exec(folded);
  if (fault !== null) {
    const textStart = origin[fault[0].length] ?? text.length;
    return { kind: 'fault', text: note(text.slice(textStart)) };
  }

  if (STATUS.test(folded)) return { kind: 'status' };
  return UNKNOWN;
}
