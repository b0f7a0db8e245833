import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_CHARS, MAX_NOTE_CHARS, parseCommand } from '../../../src/notify/commands.js';

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
        expect(['ack', 'repair', 'status', 'unknown']).toContain(command.kind);
        if (command.kind === 'ack' || command.kind === 'repair') {
          expect(Number.isSafeInteger(command.code)).toBe(true);
          expect(command.code).toBeGreaterThanOrEqual(0);
        }
        if (command.kind === 'repair' && command.note !== null) expect([...command.note].length).toBeLessThanOrEqual(MAX_NOTE_CHARS);
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
});
