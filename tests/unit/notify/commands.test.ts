import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ACK_WORDS,
  ARRIVE_WORDS,
  FAULT_WORDS,
  MAX_COMMAND_CHARS,
  MAX_NOTE_CHARS,
  PART_WORDS,
  REPAIR_WORDS,
  STATUS_WORDS,
  parseCommand,
} from '../../../src/notify/commands.js';

describe('parseCommand: OK <code> acknowledges', () => {
  it.each([
    'OK 17',
    'ok  17', // from the issue
    'Ok17', // from the issue
    'OK 17.', // from the issue
    'ok#17',
    'OK, 17',
    'OK:17',
    'OK-17',
    ' OK 17 ',
    '"OK 17"',
    'ok\n17',
    'OK\u00A017',
    'OK n°17',
    'OK numero 17',
    'O.K. 17',
    'okay 17',
    'OK 017',
    'OK 17 merci',
    'OK 17 !',
    'Oui 17',
    'OUI, 17',
    'awɔ 17',
    'AWO 17',
    'yes 17',
    'ＯＫ １７',
  ])('%j', (text) => {
    expect(parseCommand(text)).toEqual({ kind: 'ack', code: 17 });
  });

  it('reads any code up to a safe integer', () => {
    expect(parseCommand('OK 0')).toEqual({ kind: 'ack', code: 0 });
    expect(parseCommand('OK 999999')).toEqual({ kind: 'ack', code: 999_999 });
    expect(parseCommand('OK 123456789012345')).toEqual({ kind: 'ack', code: 123_456_789_012_345 });
  });
});

describe('parseCommand: REPARE <code> [note] records a repair', () => {
  it.each([
    ['REPARE 17', null],
    ['repare17', null],
    ['Réparé 17', null],
    ['RÉPARÉ 17 pompe changee', 'pompe changee'],
    ['réparée 17: pompe changée, câble refait', 'pompe changée, câble refait'],
    ['Reparation 17 - joint remplacé', 'joint remplacé'],
    ['REPARE #17   tuyau\n  remplacé  ', 'tuyau remplacé'],
    ['REPARE 17 2 tuyaux changés', '2 tuyaux changés'],
    ['repaired 17 new float switch', 'new float switch'],
    ['fixed 17', null],
    ['dilanna 17 pompe kɔrɔ bɔra', 'pompe kɔrɔ bɔra'],
    ['REPARE 17 ✅', null],
  ])('%j', (text, note) => {
    expect(parseCommand(text)).toEqual({ kind: 'repair', code: 17, note });
  });

  it('keeps the note as typed, with its accents, cut at MAX_NOTE_CHARS', () => {
    const long = 'é'.repeat(MAX_NOTE_CHARS + 50);
    const command = parseCommand(`REPARE 17 ${long}`);
    expect(command).toEqual({ kind: 'repair', code: 17, note: 'é'.repeat(MAX_NOTE_CHARS) });
  });

  it('takes the note from the original text even when folding changed its length', () => {
    // "…" folds to three dots, full-width letters and digits to ASCII, "ɲ" to "ny".
    expect(parseCommand('…RÉPARÉE…17… Ɲɛ ŋ')).toEqual({ kind: 'repair', code: 17, note: 'Ɲɛ ŋ' });
    expect(parseCommand('ＲＥＰＡＲＥ １７ câble')).toEqual({ kind: 'repair', code: 17, note: 'câble' });
    expect(parseCommand('Répàréé 17 ɲɛ')).toEqual({ kind: 'repair', code: 17, note: 'ɲɛ' });
  });
});

describe('parseCommand: ETAT asks for the status', () => {
  it.each(['ETAT', 'état', 'etat?', 'Etat.', '  ÉTAT  ', 'ETATS', 'statut', 'status', 'Etat svp', 'État du forage ?'])('%j', (text) => {
    expect(parseCommand(text)).toEqual({ kind: 'status' });
  });
});

describe('parseCommand: ARRIVE <code> says the technician is on site', () => {
  it.each([
    'ARRIVE 17',
    'arrivé 17',
    'Arrivée 17',
    'ARRIVEE 17',
    'ARRIVED 17',
    'arrive17',
    'ARRIVE #17.',
    'ARRIVE n°17',
    'SUR PLACE 17',
    'sur place: 17',
    'Sur-place 17',
    'surplace 17',
    'on site 17',
    'SERA 17',
    'sera 17 i ni ce',
    'N sera 17',
    'ARRIVE 17 merci',
    'ARRIVE 17 a 10h', // a number after words is not another code
    'ＡＲＲＩＶＥ １７',
  ])('%j', (text) => {
    expect(parseCommand(text)).toEqual({ kind: 'arrive', code: 17 });
  });
});

describe('parseCommand: PIECE <code> [part] says the repair waits for a part', () => {
  it.each([
    ['PIECE 17 roulement', 'roulement'],
    ['Pièce 17 roulement à billes', 'roulement à billes'],
    ['PIÈCES 17: 2 roulements, 1 joint', '2 roulements, 1 joint'],
    ['piece17', null],
    ['PIECE 17', null],
    ['PIECE 17 18', '18'], // a part may be a number (a reference)
    ['PART 17 bearing', 'bearing'],
    ['parts 17   float\n switch ', 'float switch'],
    ['MINƐN 17 pompe kura', 'pompe kura'],
    ['minen 17 tiyo', 'tiyo'],
    ['MINAN 17 roulement', 'roulement'],
    ['PIECE #17 ✅', null],
  ])('%j', (text, part) => {
    expect(parseCommand(text)).toEqual({ kind: 'part', code: 17, part });
  });

  it('keeps the part as typed, cut at MAX_NOTE_CHARS', () => {
    const long = 'ê'.repeat(MAX_NOTE_CHARS + 10);
    expect(parseCommand(`PIECE 17 ${long}`)).toEqual({ kind: 'part', code: 17, part: 'ê'.repeat(MAX_NOTE_CHARS) });
    expect(parseCommand('…PIÈCE…17… Ɲɛ ŋ')).toEqual({ kind: 'part', code: 17, part: 'Ɲɛ ŋ' });
  });
});

describe('parseCommand: PANNE [words] reports a fault seen by people', () => {
  it.each([
    ['PANNE', null],
    ['panne', null],
    ['Panne.', null],
    ['  PANNE !', null],
    ['panne la pompe ne marche pas', 'la pompe ne marche pas'],
    ['PANNE khabou eau sale', 'khabou eau sale'],
    ['PANNE: khabou   eau\n sale ', 'khabou eau sale'],
    ['Pannes 17', '17'],
    ['PANNE 2 robinets cassés', '2 robinets cassés'],
    ['BROKEN handpump', 'handpump'],
    ['breakdown', null],
    ['FAULT water is dirty', 'water is dirty'],
    ['TIƝƐNA ji tɛ bɔ', 'ji tɛ bɔ'],
    ['tiɲɛna', null],
    ['tinyena pompe', 'pompe'],
    ['Tiyena ji', 'ji'],
    ['tinena', null],
    ['ＰＡＮＮＥ pompe', 'pompe'],
  ])('%j', (text, words) => {
    expect(parseCommand(text)).toEqual({ kind: 'fault', text: words });
  });

  it('keeps the words as typed, whitespace collapsed, cut at MAX_NOTE_CHARS', () => {
    const long = 'é '.repeat(MAX_NOTE_CHARS);
    const command = parseCommand(`PANNE ${long}`);
    expect(command.kind).toBe('fault');
    if (command.kind !== 'fault') return;
    expect(command.text).not.toBeNull();
    expect([...(command.text ?? '')].length).toBeLessThanOrEqual(MAX_NOTE_CHARS);
    expect(command.text?.startsWith('é é é')).toBe(true);
    expect(command.text?.endsWith(' ')).toBe(false);
  });
});

describe('parseCommand: the word lists', () => {
  it('are folded (lowercase, no accents) and each word is read as its command', () => {
    const lists = { ack: ACK_WORDS, repair: REPAIR_WORDS, status: STATUS_WORDS, arrive: ARRIVE_WORDS, part: PART_WORDS, fault: FAULT_WORDS };
    for (const [kind, words] of Object.entries(lists)) {
      for (const word of words) {
        expect(word).toBe(word.toLowerCase().normalize('NFKD').replace(/\p{M}/gu, ''));
        const text = kind === 'status' || kind === 'fault' ? word.toUpperCase() : `${word.toUpperCase()} 17`;
        expect(parseCommand(text).kind, word).toBe(kind);
      }
    }
  });
});

describe('parseCommand: anything else is unknown', () => {
  it.each([
    ['a bare OK', 'OK'],
    ['OK and no number', 'OK abc'],
    ['a bare number', '17'],
    ['empty', ''],
    ['spaces', '   '],
    ['a bare REPARE', 'REPARE'],
    ['REPARE and words', 'REPARE pompe'],
    ['two numbers', 'OK 17 18'],
    ['two numbers glued by a slash', 'OK 17/18'],
    ['a decimal', 'OK 1.7'],
    ['a word starting with OK', 'OKAPI 17'],
    ['a word starting with the keyword', 'Reparement 17'],
    ['the command not first', 'Bonjour OK 17'],
    ['a code too long to be one', `OK ${'9'.repeat(16)}`],
    ['a greeting', 'Salut, la pompe marche'],
    ['a word starting with etat', 'etatique'],
    ['help', 'AIDE'],
    ['a bare ARRIVE', 'ARRIVE'],
    ['ARRIVE and words', 'ARRIVE demain'],
    ['ARRIVE with two numbers', 'ARRIVE 17 18'],
    ['ARRIVE with a slash', 'ARRIVE 17/18'],
    ['ARRIVE with a decimal', 'ARRIVE 1.7'],
    ['a bare PIECE', 'PIECE'],
    ['PIECE and no number', 'PIECE abc'],
    ['PIECE and a part but no code', 'PIECE roulement 17'],
    ['a word starting with arrive', 'Arriver 17'],
    ['a word starting with part', 'Partir 17'],
    ['a word starting with panne', 'Panneau solaire'],
    ['PANNE not first', 'Bonjour PANNE'],
    ['SUR alone', 'SUR 17'],
    ['a code too long for ARRIVE', `ARRIVE ${'9'.repeat(16)}`],
  ])('%s: %j', (_label, text) => {
    expect(parseCommand(text)).toEqual({ kind: 'unknown' });
  });

  it('refuses a 2 KB message outright, even one that starts like a command', () => {
    expect(parseCommand(`OK 17 ${'x'.repeat(2048)}`)).toEqual({ kind: 'unknown' });
    expect(parseCommand(`REPARE 17 ${'pompe '.repeat(400)}`)).toEqual({ kind: 'unknown' });
    expect(parseCommand('x'.repeat(2048))).toEqual({ kind: 'unknown' });
    expect(parseCommand(`ETAT ${'?'.repeat(MAX_COMMAND_CHARS)}`)).toEqual({ kind: 'unknown' });
  });
});

describe('parseCommand (properties)', () => {
  it('never throws and returns a well-formed command for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 1200 }), (text) => {
        const command = parseCommand(text);
        expect(['ack', 'repair', 'arrive', 'part', 'fault', 'status', 'unknown']).toContain(command.kind);
        if (command.kind === 'ack' || command.kind === 'repair' || command.kind === 'arrive' || command.kind === 'part') {
          expect(Number.isSafeInteger(command.code)).toBe(true);
          expect(command.code).toBeGreaterThanOrEqual(0);
        }
        if (command.kind === 'repair' && command.note !== null) expect([...command.note].length).toBeLessThanOrEqual(MAX_NOTE_CHARS);
        if (command.kind === 'part' && command.part !== null) expect([...command.part].length).toBeLessThanOrEqual(MAX_NOTE_CHARS);
        if (command.kind === 'fault' && command.text !== null) {
          expect([...command.text].length).toBeLessThanOrEqual(MAX_NOTE_CHARS);
          expect(command.text).toBe(command.text.trim());
          expect(command.text).not.toBe('');
        }
      }),
      { seed: 3, numRuns: 500 },
    );
  });

  it('reads OK <code> whatever the case, accents and separators', () => {
    const separator = fc.string({ unit: fc.constantFrom(' ', '  ', '.', ',', '#', ':', '-', '\n', '\u00A0'), maxLength: 4 });
    const okWord = fc.constantFrom('OK', 'ok', 'Ok', 'oK', 'Oui', 'OUI', 'óK');
    fc.assert(
      fc.property(separator, okWord, separator, fc.integer({ min: 0, max: 999_999 }), fc.constantFrom('', '.', ' .', '!', ' merci'), (lead, word, sep, code, tail) => {
        expect(parseCommand(`${lead}${word}${sep}${code}${tail}`)).toEqual({ kind: 'ack', code });
      }),
      { seed: 4, numRuns: 300 },
    );
  });
  it('reads ARRIVE and PIECE <code> whatever the case, accents and separators', () => {
    const separator = fc.string({ unit: fc.constantFrom(' ', '  ', '.', ',', '#', ':', '-', '\n', '\u00A0'), maxLength: 4 });
    const arriveWord = fc.constantFrom('ARRIVE', 'arrivé', 'Arrivée', 'ARRIVED', 'Sur place', 'SERA', 'ÀRRIVÉ');
    const partWord = fc.constantFrom('PIECE', 'Pièce', 'PIÈCES', 'part', 'MINƐN', 'minan');
    fc.assert(
      fc.property(separator, arriveWord, partWord, separator, fc.integer({ min: 0, max: 999_999 }), fc.constantFrom('', '.', ' .', '!', ' merci'), (lead, arrive, part, sep, code, tail) => {
        expect(parseCommand(`${lead}${arrive}${sep}${code}${tail}`)).toEqual({ kind: 'arrive', code });
        const parsed = parseCommand(`${lead}${part}${sep}${code}${tail}`);
        expect(parsed.kind === 'part' && parsed.code).toBe(code);
      }),
      { seed: 5, numRuns: 300 },
    );
  });
});
