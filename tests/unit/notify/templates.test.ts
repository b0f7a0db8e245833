import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LANGUAGES, loadRegistry, type Language } from '../../../src/config/registry.js';
import { KNOWN_FAULT_CODES } from '../../../src/contract/payloads.js';
import { describeFault } from '../../../src/rules/messages.js';
import { RULE_IDS, SEVERITIES, type RuleId } from '../../../src/rules/types.js';
import { gsm7Length, SEGMENT_SEPTETS } from '../../../src/notify/gsm7.js';
import {
  renderAckConfirmation,
  renderAlert,
  renderHelp,
  renderNotAllowed,
  renderRepairConfirmation,
  renderStatus,
  renderSummary,
  renderUnknownAlert,
  renderWaterBack,
  withoutGenericPrefix,
  type StatusEntry,
} from '../../../src/notify/templates.js';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../config/boreholes.example.yaml', import.meta.url));
const RUNS = { seed: 17, numRuns: 300 } as const;

/** Synthetic 80-character names: plain, with a generic prefix, and characters that expand or count double. */
const SYNTHETIC_NAMES = [
  'N'.repeat(80),
  `Forage de ${'Marena Diombougou '.repeat(5)}`.slice(0, 80),
  'ɲ'.repeat(80), // 160 septets once typed as "ny"
  '€'.repeat(80), // 160 septets: extension characters count double
  'Kɔlɔn ' + 'Sɛgu ŋɔ ɲɛ '.repeat(7).slice(0, 74),
  '💧'.repeat(40), // 80 UTF-16 units
];
const CODES = [0, 17, 999_999];
const TIMES = ['00:00', '10:42', '23:59'];

function expectOneSegment(text: string): void {
  const septets = gsm7Length(text);
  expect(septets, `not GSM-7: ${text}`).not.toBeNull();
  expect(septets, text).toBeLessThanOrEqual(SEGMENT_SEPTETS);
}

let registryNames: string[] = [];

beforeAll(async () => {
  const registry = await loadRegistry(EXAMPLE_PATH);
  // The longest names, and the borehole names with accents (the registry has "Ségala").
  registryNames = [...registry.boreholes.values()].map((borehole) => borehole.name).sort((a, b) => b.length - a.length);
});

function allNames(): string[] {
  expect(registryNames.length).toBeGreaterThan(0);
  return [...registryNames, ...SYNTHETIC_NAMES];
}

describe('alert messages', () => {
  it('are word for word the example of CONTRACT.md section 5', () => {
    expect(
      renderAlert('fr', { boreholeName: 'Forage de Khabou', rule: 'pump_fault', severity: 'critical', fault: 'dry_run', localTime: '10:42', code: 17 }),
    ).toBe('Forage de Khabou: panne pompe (marche a sec) 10:42. Repondre OK 17 pour confirmer.');
  });

  it('fit one segment and keep the code and the time, for every rule, severity, language and long name', () => {
    let rendered = 0;
    for (const language of LANGUAGES) {
      for (const rule of RULE_IDS) {
        for (const severity of SEVERITIES) {
          for (const boreholeName of allNames()) {
            for (const escalation of [false, true]) {
              for (const [index, code] of CODES.entries()) {
                const localTime = TIMES[index] ?? '10:42';
                const faults = rule === 'pump_fault' ? [undefined, ...KNOWN_FAULT_CODES, 'bearing_noise_x'] : [undefined];
                for (const fault of faults) {
                  const text = renderAlert(language, { boreholeName, rule, severity, fault, localTime, code, escalation });
                  expectOneSegment(text);
                  expect(text).toContain(`OK ${code}`);
                  expect(text).toContain(localTime);
                  rendered += 1;
                }
              }
            }
          }
        }
      }
    }
    expect(rendered).toBeGreaterThan(1000);
  });

  it('keep the registry names whole (they all fit)', () => {
    for (const language of LANGUAGES) {
      for (const boreholeName of allNames().slice(0, registryNames.length)) {
        const text = renderAlert(language, { boreholeName, rule: 'short_cycling', severity: 'warning', localTime: '10:42', code: 999_999, escalation: true });
        expect(text).toContain(boreholeName);
      }
    }
  });

  it('name the problem in words, never the rule id', () => {
    for (const language of LANGUAGES) {
      for (const rule of RULE_IDS) {
        const text = renderAlert(language, { boreholeName: 'Forage de Khabou', rule, severity: 'critical', localTime: '10:42', code: 17 });
        expect(text).not.toContain(rule);
      }
    }
  });

  it('say low water differently when the water is below the pump', () => {
    const at = (severity: 'warning' | 'critical'): string =>
      renderAlert('fr', { boreholeName: 'Forage de Khabou', rule: 'low_water', severity, localTime: '06:10', code: 4 });
    expect(at('warning')).toBe("Forage de Khabou: niveau d'eau bas 06:10. Repondre OK 4 pour confirmer.");
    expect(at('critical')).toBe("Forage de Khabou: plus d'eau au niveau de la pompe 06:10. Repondre OK 4 pour confirmer.");
  });

  it('translate a fault given as a code or as its French description, and show a short unknown code as is', () => {
    const fault = (value: string | undefined, language: Language = 'en'): string =>
      renderAlert(language, { boreholeName: 'Khabou', rule: 'pump_fault', severity: 'critical', fault: value, localTime: '10:42', code: 17 });
    expect(fault('dry_run')).toBe('Khabou: pump fault (running dry) 10:42. Reply OK 17 to confirm.');
    expect(fault(describeFault('dry_run'))).toBe(fault('dry_run'));
    expect(fault('E42')).toBe('Khabou: pump fault (E42) 10:42. Reply OK 17 to confirm.');
    expect(fault('a long and strange fault description')).toBe(fault(undefined));
    expect(fault('dry_run', 'bm')).toBe('Khabou: pompe tinyèna (a bè baara ji ko) 10:42. Aw ye OK 17 ci.');
  });

  it('escalate with the time the alert opened and say nobody confirmed it', () => {
    const input = { boreholeName: 'Forage de Khabou', rule: 'no_flow', severity: 'critical', localTime: '03:15', code: 17, escalation: true } as const;
    expect(renderAlert('fr', input)).toBe(
      "URGENT Forage de Khabou: pompe en marche mais pas d'eau depuis 03:15, alerte non confirmee. Repondre OK 17 pour confirmer.",
    );
    expect(renderAlert('en', input)).toBe('URGENT Forage de Khabou: pump running but no water since 03:15, alert not confirmed. Reply OK 17 to confirm.');
    expect(renderAlert('bm', input)).toBe('URGENT Forage de Khabou: pompe bè baara nka ji tè bo kabini 03:15, mogo si ma jaabi. Aw ye OK 17 ci.');
  });

  it('write Bambara as it is typed on a phone', () => {
    const text = renderAlert('bm', { boreholeName: 'Kɔlɔn Sɛgu', rule: 'pump_fault', severity: 'critical', localTime: '10:42', code: 17 });
    expect(text).toBe('Kolon Sègu: pompe tinyèna 10:42. Aw ye OK 17 ci.');
  });

  it('shorten a long name by dropping "Forage de" first, then cutting it with a dot', () => {
    const name = `Forage de ${'Marena Diombougou '.repeat(5)}`.trim();
    const text = renderAlert('fr', { boreholeName: name, rule: 'short_cycling', severity: 'warning', localTime: '10:42', code: 999_999, escalation: true });
    expect(text.startsWith('URGENT Marena Diombougou Marena')).toBe(true);
    expect(text).toMatch(/^URGENT Marena[^:]*\.: la pompe demarre/);
    expect(gsm7Length(text)).toBeLessThanOrEqual(SEGMENT_SEPTETS);

    const dropped = `Forage de ${'K'.repeat(90)}`;
    expect(renderAlert('fr', { boreholeName: dropped, rule: 'offline', severity: 'warning', localTime: '10:42', code: 17 })).toBe(
      `${'K'.repeat(90)}: le forage ne repond plus 10:42. Repondre OK 17 pour confirmer.`,
    );
  });

  it('leave at least 30 characters of a long name in the longest message', () => {
    for (const language of LANGUAGES) {
      const text = renderAlert(language, { boreholeName: 'x'.repeat(200), rule: 'short_cycling', severity: 'warning', localTime: '10:42', code: 999_999, escalation: true });
      expect(text.match(/x+/)?.[0].length, text).toBeGreaterThanOrEqual(30);
    }
  });

  it('put a name on one line', () => {
    const text = renderAlert('en', { boreholeName: '  Forage\nde\tKhabou  ', rule: 'offline', severity: 'warning', localTime: '10:42', code: 1 });
    expect(text).toBe('Forage de Khabou: borehole not reporting 10:42. Reply OK 1 to confirm.');
  });

  it('refuse a time that is not HH:MM and a code that is not a non-negative integer', () => {
    const base = { boreholeName: 'Khabou', rule: 'offline', severity: 'warning', localTime: '10:42', code: 17 } as const;
    expect(() => renderAlert('fr', { ...base, localTime: '10:42:00' })).toThrow(RangeError);
    expect(() => renderAlert('fr', { ...base, localTime: '24:00' })).toThrow(RangeError);
    expect(() => renderAlert('fr', { ...base, code: -1 })).toThrow(RangeError);
    expect(() => renderAlert('fr', { ...base, code: 1.5 })).toThrow(RangeError);
  });

  it('always fit and keep the code and the time, whatever the name (property)', () => {
    const bambara = fc.constantFrom('ɛ', 'Ɛ', 'ɔ', 'Ɔ', 'ɲ', 'Ɲ', 'ŋ', 'Ŋ', '€', '[', 'ê', 'œ', ' ', '\n', '💧', '👍🏽', 'Forage de ', 'a');
    const nameArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 120 }),
      fc.string({ unit: bambara, maxLength: 120 }),
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...LANGUAGES),
        nameArb,
        fc.constantFrom(...RULE_IDS),
        fc.constantFrom(...SEVERITIES),
        fc.integer({ min: 0, max: 999_999 }),
        fc.integer({ min: 0, max: 23 * 60 + 59 }),
        fc.boolean(),
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        (language, boreholeName, rule, severity, code, minutes, escalation, fault) => {
          const localTime = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
          const alert = renderAlert(language, { boreholeName, rule, severity, fault, localTime, code, escalation });
          expectOneSegment(alert);
          expect(alert).toContain(`OK ${code}`);
          expect(alert).toContain(localTime);

          const back = renderWaterBack(language, { boreholeName, localTime, code });
          expectOneSegment(back);
          expect(back).toContain(` ${code} `);
          expect(back).toContain(localTime);

          const ack = renderAckConfirmation(language, { boreholeName, rule, code });
          expectOneSegment(ack);
          expect(ack).toContain(`OK ${code}`);

          const repair = renderRepairConfirmation(language, { boreholeName, rule, code });
          expectOneSegment(repair);
          expect(repair).toContain(`REPARE ${code}`);

          const status = renderStatus(language, [{ name: boreholeName, status: 'alert', openAlerts: [{ code, rule }] }]);
          expectOneSegment(status);
          expect(status).toContain(`OK ${code}`);

          expectOneSegment(renderSummary(language, { count: code, boreholeNames: [boreholeName, boreholeName.slice(3)] }));
        },
      ),
      RUNS,
    );
  });
});

describe('water back, confirmations and answers', () => {
  it('fit one segment and keep the code and the time, for every language and long name', () => {
    for (const language of LANGUAGES) {
      for (const boreholeName of allNames()) {
        for (const code of CODES) {
          const back = renderWaterBack(language, { boreholeName, localTime: '23:59', code });
          expectOneSegment(back);
          expect(back).toContain(` ${code} `);
          expect(back).toContain('23:59');
          for (const rule of RULE_IDS) {
            const ack = renderAckConfirmation(language, { boreholeName, rule, code });
            expectOneSegment(ack);
            expect(ack.startsWith(`OK ${code} `)).toBe(true);
            const repair = renderRepairConfirmation(language, { boreholeName, rule, code });
            expectOneSegment(repair);
            expect(repair.startsWith(`REPARE ${code} `)).toBe(true);
          }
        }
      }
      for (const code of CODES) {
        const unknown = renderUnknownAlert(language, code);
        expectOneSegment(unknown);
        expect(unknown).toContain(` ${code}`);
      }
      expectOneSegment(renderNotAllowed(language));
      expect(renderNotAllowed(language)).toContain('REPARE');
      const help = renderHelp(language);
      expectOneSegment(help);
      for (const command of ['OK', 'ARRIVE', 'PIECE', 'REPARE', 'PANNE', 'ETAT']) expect(help).toContain(command);
    }
  });

  it('say the water is back', () => {
    const input = { boreholeName: 'Forage de Khabou', localTime: '11:30', code: 17 };
    expect(renderWaterBack('fr', input)).toBe("Forage de Khabou: l'eau est revenue 11:30. Alerte 17 terminee.");
    expect(renderWaterBack('en', input)).toBe('Forage de Khabou: water is back 11:30. Alert 17 closed.');
    expect(renderWaterBack('bm', input)).toBe('Forage de Khabou: ji seginna 11:30. Alerte 17 datugura.');
  });

  it('confirm an acknowledgement and a repair by echoing the command', () => {
    const input = { boreholeName: 'Forage de Khabou', rule: 'pump_fault', code: 17 } as const;
    expect(renderAckConfirmation('fr', input)).toBe('OK 17 recu, merci. Forage de Khabou: panne pompe.');
    expect(renderRepairConfirmation('fr', input)).toBe('REPARE 17 recu, merci. Forage de Khabou: reparation notee (panne pompe), alerte terminee.');
    expect(renderAckConfirmation('bm', input)).toBe('OK 17 sorola, i ni ce. Forage de Khabou: pompe tinyèna.');
  });
});

describe('the answer to ETAT', () => {
  const three: StatusEntry[] = [
    { name: 'Forage de Khabou', status: 'ok', openAlerts: [] },
    { name: 'Forage de Ségala', status: 'alert', openAlerts: [{ code: 18, rule: 'low_water' }, { code: 17, rule: 'pump_fault' }] },
    { name: 'Forage de Diamou', status: 'offline', openAlerts: [] },
  ];

  it('lists problems first, with the code to confirm each alert', () => {
    expect(renderStatus('fr', three)).toBe('Ségala: panne pompe (OK 17), niveau bas (OK 18). Diamou: ne repond plus. Khabou: normal.');
    expect(renderStatus('en', three)).toBe('Ségala: pump fault (OK 17), low water (OK 18). Diamou: not reporting. Khabou: fine.');
    expect(renderStatus('bm', three)).toBe('Ségala: pompe tinyèna (OK 17), ji dogoyara (OK 18). Diamou: kunnafoni tè. Khabou: a ka nyi.');
  });

  it('says when the number has no borehole', () => {
    for (const language of LANGUAGES) expectOneSegment(renderStatus(language, []));
    expect(renderStatus('fr', [])).toBe('Aucun forage pour ce numero.');
  });

  it('ends with +N when too many lines, N counting the lines left out', () => {
    const many: StatusEntry[] = Array.from({ length: 30 }, (_, index) => ({
      name: `Forage de Village ${index}`,
      status: index % 3 === 0 ? 'ok' : 'alert',
      openAlerts: index % 3 === 0 ? [] : RULE_IDS.slice(0, 1 + (index % 7)).map((rule, n) => ({ code: 900_000 + index * 10 + n, rule })),
    }));
    const totalLines = many.reduce((sum, borehole) => sum + Math.max(1, borehole.openAlerts.length), 0);
    for (const language of LANGUAGES) {
      const text = renderStatus(language, many);
      expectOneSegment(text);
      const left = Number(/\+(\d+)$/.exec(text)?.[1]);
      const shownAlerts = text.match(/\(OK \d+\)/g)?.length ?? 0;
      const shownOthers = (text.match(/: [^(.]*?(?:\.|$)/g) ?? []).filter((part) => !part.includes('(OK')).length;
      expect(left).toBeGreaterThan(0);
      expect(shownAlerts + shownOthers + left).toBe(totalLines);
    }
  });

  it('fits with every rule open on boreholes with the longest names', () => {
    const names = allNames();
    const entries: StatusEntry[] = names.map((name, index) => ({
      name,
      status: 'alert',
      openAlerts: RULE_IDS.map((rule: RuleId, n) => ({ code: 999_999 - index * 7 - n, rule })),
    }));
    for (const language of LANGUAGES) {
      for (let count = 1; count <= entries.length; count += 1) {
        const text = renderStatus(language, entries.slice(0, count));
        expectOneSegment(text);
        expect(text).toMatch(/\(OK \d+\)/);
      }
    }
  });
});

describe('the summary of folded messages', () => {
  it('counts the messages and names each borehole once', () => {
    const input = { count: 5, boreholeNames: ['Forage de Khabou', 'Forage de Ségala', 'Forage de Khabou'] };
    expect(renderSummary('fr', input)).toBe('5 autres messages (Khabou, Ségala). Envoyez ETAT pour voir les alertes.');
    expect(renderSummary('en', input)).toBe('5 more messages (Khabou, Ségala). Send ETAT to see the alerts.');
    expect(renderSummary('bm', input)).toBe('Cikan wèrè 5 (Khabou, Ségala). Aw ye ETAT ci ka alertew lajè.');
    expect(renderSummary('fr', { count: 1, boreholeNames: [] })).toBe('1 autre message. Envoyez ETAT pour voir les alertes.');
  });

  it('ends the list with +N when the names do not fit', () => {
    const boreholeNames = [...allNames(), ...Array.from({ length: 40 }, (_, index) => `Forage de Kouniakary ${index}`)];
    for (const language of LANGUAGES) {
      const text = renderSummary(language, { count: 999_999, boreholeNames });
      expectOneSegment(text);
      expect(text).toContain('999999');
      expect(text).toMatch(/ \+\d+\)/);
    }
  });
});

describe('withoutGenericPrefix', () => {
  it('drops the generic words a villager does not need', () => {
    expect(withoutGenericPrefix('Forage de Khabou')).toBe('Khabou');
    expect(withoutGenericPrefix("Forage d'Ansongo")).toBe('Ansongo');
    expect(withoutGenericPrefix('forage du Marché')).toBe('Marché');
    expect(withoutGenericPrefix('Kolon Segu')).toBe('Segu');
    expect(withoutGenericPrefix('Khabou')).toBeNull();
    expect(withoutGenericPrefix('Forage')).toBeNull();
    expect(withoutGenericPrefix('Forageville')).toBeNull();
  });
});
