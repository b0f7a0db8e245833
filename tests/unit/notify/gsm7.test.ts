import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fitSegment,
  fitsOneSegment,
  GSM7_BASIC,
  GSM7_EXTENSION,
  gsm7Length,
  SEGMENT_SEPTETS,
  toGsm7,
  truncateSeptets,
} from '../../../src/notify/gsm7.js';

const RUNS = { seed: 5, numRuns: 500 } as const;

describe('the GSM 03.38 alphabet', () => {
  it('has 127 basic characters (128 codes less ESC) and 10 in the extension table', () => {
    expect(new Set(GSM7_BASIC).size).toBe(127);
    expect([...GSM7_BASIC]).toHaveLength(127);
    expect(new Set(GSM7_EXTENSION).size).toBe(10);
    expect(GSM7_BASIC).not.toContain('\u001b');
  });

  it('counts a basic character as one septet and an extension character as two', () => {
    expect(gsm7Length('')).toBe(0);
    expect(gsm7Length('Forage de Ségala: 10:42')).toBe(23);
    expect(gsm7Length('^{}\\[~]|€\f')).toBe(20);
    expect(gsm7Length('a€b')).toBe(4);
  });

  it('has the accents French keeps and not those it loses', () => {
    for (const kept of 'éèàùìòÇÉÆæÄÖÑÜäöñüØøÅåß') expect(gsm7Length(kept), kept).toBe(1);
    for (const lost of 'êâîôûëïÿçœÈÀ') expect(gsm7Length(lost), lost).toBeNull();
  });

  it('is null when any character is outside the alphabet', () => {
    expect(gsm7Length('pompe tiɲɛna')).toBeNull();
    expect(gsm7Length('ok 👍')).toBeNull();
    expect(gsm7Length('`')).toBeNull();
    expect(gsm7Length('\t')).toBeNull();
    expect(gsm7Length('\u001b')).toBeNull();
  });

  it('knows whether a text fits one segment', () => {
    expect(fitsOneSegment('a'.repeat(160))).toBe(true);
    expect(fitsOneSegment('a'.repeat(161))).toBe(false);
    expect(fitsOneSegment('€'.repeat(80))).toBe(true);
    expect(fitsOneSegment(`${'€'.repeat(80)}a`)).toBe(false);
    expect(fitsOneSegment('é')).toBe(true);
    expect(fitsOneSegment('ê')).toBe(false);
  });
});

describe('toGsm7', () => {
  it('drops the French accents GSM-7 lacks and keeps the others', () => {
    expect(toGsm7('Forêt, château, île, hôpital, flûte, Noël, maïs, L’Haÿ', 'fr')).toBe("Foret, chateau, ile, hopital, flute, Noel, mais, L'Hay");
    expect(toGsm7('été à Kayes, où, Ségou, Élise', 'fr')).toBe('été à Kayes, où, Ségou, Élise');
    expect(toGsm7('cœur, Œuvre, Lætitia', 'fr')).toBe('coeur, OEuvre, Lætitia');
  });

  it('writes lowercase ç as c and keeps uppercase Ç, which GSM-7 has', () => {
    expect(toGsm7('garçon ÇA', 'fr')).toBe('garcon ÇA');
  });

  it('straightens typographic quotes, dashes, ellipses and non-breaking spaces', () => {
    expect(toGsm7('« l’eau » – “bon” — ‘oui’…', 'fr')).toBe('" l\'eau " - "bon" - \'oui\'...');
    expect(toGsm7('a\u00A0b\u202Fc\u2009d\te', 'fr')).toBe('a b c d e');
    expect(toGsm7('Forage n°3', 'fr')).toBe('Forage no3');
  });

  it('types Bambara letters as on a phone: ɛ→è, ɔ→o, ɲ→ny, ŋ→ng', () => {
    expect(toGsm7('kɔlɔn', 'bm')).toBe('kolon');
    expect(toGsm7('pompe tiɲɛna', 'bm')).toBe('pompe tinyèna');
    expect(toGsm7('Ɛ Ɔ Ɲ Ŋ ŋ', 'bm')).toBe('E O Ny Ng ng');
    expect(toGsm7('Sɛgu ni Ɲɔrɔ', 'fr')).toBe('Sègu ni Nyoro');
  });

  it('drops tone marks written as combining accents', () => {
    expect(toGsm7('kɔ̀lɔ́n', 'bm')).toBe('kolon');
    expect(toGsm7('bá', 'bm')).toBe('bá'.normalize('NFKD').replace(/\p{M}/gu, ''));
  });

  it('composes a decomposed accent before judging it', () => {
    expect(toGsm7('Se\u0301gala', 'fr')).toBe('Ségala');
    expect(toGsm7('fe\u0302te', 'fr')).toBe('fete');
  });

  it('falls back to the base letter, else ?', () => {
    expect(toGsm7('Ő Łódź ﬁn Ａ ²', 'en')).toBe('O ?odz fin A 2');
    expect(toGsm7('马里 Мали', 'en')).toBe('?? ????');
    expect(toGsm7('ok 👍', 'en')).toBe('ok ?');
    expect(toGsm7('👍🏽️', 'en')).toBe('?');
    expect(toGsm7('a\u200Bb\u00ADc\uFEFF', 'en')).toBe('abc');
  });

  it('keeps Greek capitals and extension characters that GSM-7 has', () => {
    expect(toGsm7('Δ Ω € [x] {y} ~|^\\', 'en')).toBe('Δ Ω € [x] {y} ~|^\\');
  });

  it('always returns GSM-7, leaves GSM-7 text as it is, and is idempotent', () => {
    const gsmText = fc.string({ unit: fc.constantFrom(...GSM7_BASIC, ...GSM7_EXTENSION) });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (text) => {
        const out = toGsm7(text, 'bm');
        expect(gsm7Length(out)).not.toBeNull();
        expect(toGsm7(out, 'bm')).toBe(out);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(gsmText, (text) => {
        expect(toGsm7(text, 'fr')).toBe(text);
      }),
      RUNS,
    );
  });
});

describe('truncateSeptets', () => {
  it('leaves a text that fits alone', () => {
    expect(truncateSeptets('Khabou', 6)).toBe('Khabou');
  });

  it('cuts to the budget and ends with the marker', () => {
    expect(truncateSeptets('Marena Diombougou', 10)).toBe('Marena Di.');
    expect(truncateSeptets('Marena Diombougou', 9)).toBe('Marena D.');
    expect(truncateSeptets('Marena Diombougou', 8)).toBe('Marena.');
    expect(gsm7Length(truncateSeptets('abcdefghij', 5))).toBe(5);
  });

  it('never splits an extension character from its escape', () => {
    const cut = truncateSeptets('a€€€€', 6);
    expect(cut).toBe('a€€.');
    expect(gsm7Length(cut)).toBeLessThanOrEqual(6);
  });

  it('refuses text that is not GSM-7', () => {
    expect(() => truncateSeptets('ɛ', 1)).toThrow(RangeError);
  });

  it('never exceeds the budget', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', ' ', '.', '€', 'é', '[') }), fc.integer({ min: 0, max: 40 }), (text, max) => {
        expect(gsm7Length(truncateSeptets(text, max))).toBeLessThanOrEqual(max);
      }),
      RUNS,
    );
  });
});

describe('fitSegment', () => {
  const render = (name: string): string => `${name}: panne pompe 10:42. Repondre OK 17 pour confirmer.`;

  it('uses the first variant that fits', () => {
    expect(fitSegment(render, ['Forage de Khabou', 'Khabou'])).toBe(render('Forage de Khabou'));
    const long = `Forage de ${'K'.repeat(100)}`;
    expect(fitSegment(render, [long, 'K'.repeat(100)])).toBe(render('K'.repeat(100)));
  });

  it('cuts the last variant when none fits, leaving the rest whole', () => {
    const text = fitSegment(render, ['x'.repeat(300)]);
    expect(gsm7Length(text)).toBe(SEGMENT_SEPTETS);
    expect(text.endsWith('.: panne pompe 10:42. Repondre OK 17 pour confirmer.')).toBe(true);
  });

  it('refuses a template whose fixed part alone is too long', () => {
    expect(() => fitSegment((name) => `${name}${'y'.repeat(161)}`, ['a'])).toThrow(RangeError);
  });

  it('refuses a template that renders outside GSM-7', () => {
    expect(() => fitSegment((name) => `${name} ɛ`, ['a'])).toThrow(/not GSM-7/);
  });
});
