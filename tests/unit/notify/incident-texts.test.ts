import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LANGUAGES, loadRegistry, type Language } from '../../../src/config/registry.js';
import { KNOWN_FAULT_CODES } from '../../../src/contract/payloads.js';
import { ALERT_RULES, SEVERITIES, type AlertRule, type Severity } from '../../../src/rules/types.js';
import { gsm7Length, SEGMENT_SEPTETS } from '../../../src/notify/gsm7.js';
import {
  MIN_NAME_SEPTETS,
  renderCommandAnswer,
  renderConfirmationQuestion,
  renderIncidentCritical,
  renderIncidentEscalation,
  renderIncidentOpened,
  renderIncidentReminder,
  renderIncidentReopened,
  renderIncidentVerified,
  type Audience,
  type CommandAnswer,
  type IncidentTextInput,
} from '../../../src/notify/incident-texts.js';
import { renderAlert, withoutGenericPrefix } from '../../../src/notify/templates.js';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../config/boreholes.example.yaml', import.meta.url));
const AUDIENCES: readonly Audience[] = ['committee', 'technician', 'escalation'];
const REASONS = ['unacknowledged', 'respond_missed', 'repair_missed'] as const;
const WHYS = ['relapse', 'unconfirmed'] as const;
const TARGETS = ['respond', 'repair'] as const;
const COMMANDS = ['ARRIVE', 'PIECE', 'REPARE'] as const;

/** As in templates.test.ts: plain, generic prefix, characters that expand or count double. */
const SYNTHETIC_NAMES = [
  'N'.repeat(80),
  `Forage de ${'Marena Diombougou '.repeat(5)}`.slice(0, 80),
  'ɲ'.repeat(80),
  '€'.repeat(80),
  'Kɔlɔn ' + 'Sɛgu ŋɔ ɲɛ '.repeat(7).slice(0, 74),
  '💧'.repeat(40),
  'x'.repeat(300),
];
const CODES = [0, 17, 999_999, 999_999_999];
const TIMES = ['00:00', '10:42', '23:59', '31/12 23:59'];

const KHABOU: IncidentTextInput = { boreholeName: 'Forage de Khabou', cause: 'pump_fault', severity: 'critical', fault: 'dry_run', localTime: '10:42', code: 17 };

function expectOneSegment(text: string): void {
  const septets = gsm7Length(text);
  expect(septets, `not GSM-7: ${text}`).not.toBeNull();
  expect(septets, text).toBeLessThanOrEqual(SEGMENT_SEPTETS);
}

let registryNames: string[] = [];

beforeAll(async () => {
  const registry = await loadRegistry(EXAMPLE_PATH);
  registryNames = [...registry.boreholes.values()].map((borehole) => borehole.name).sort((a, b) => b.length - a.length);
});

function allNames(): string[] {
  expect(registryNames.length).toBeGreaterThan(0);
  return [...registryNames, ...SYNTHETIC_NAMES];
}

/** Every incident message for one input, with the times each must keep. */
function incidentMessages(language: Language, input: IncidentTextInput, dueLocal: string): { text: string; times: string[]; what: string }[] {
  const out: { text: string; times: string[]; what: string }[] = [];
  const time = [input.localTime];
  for (const audience of AUDIENCES) {
    for (const workOrder of [false, true]) {
      out.push({ what: `opened ${audience} ${workOrder}`, times: time, text: renderIncidentOpened(language, { ...input, audience, workOrder }) });
    }
    out.push({ what: `critical ${audience}`, times: time, text: renderIncidentCritical(language, { ...input, audience }) });
    out.push({ what: `verified ${audience}`, times: time, text: renderIncidentVerified(language, { ...input, audience }) });
    for (const why of WHYS) out.push({ what: `reopened ${audience} ${why}`, times: time, text: renderIncidentReopened(language, { ...input, audience, why }) });
  }
  for (const reason of REASONS) out.push({ what: `escalation ${reason}`, times: time, text: renderIncidentEscalation(language, { ...input, reason }) });
  for (const target of TARGETS) {
    out.push({ what: `reminder ${target}`, times: [input.localTime, dueLocal], text: renderIncidentReminder(language, { ...input, target, dueLocal }) });
  }
  out.push({ what: 'question', times: [], text: renderConfirmationQuestion(language, input) });
  return out;
}

function answers(boreholeName: string, cause: AlertRule, code: number, part: string | null): CommandAnswer[] {
  return [
    { kind: 'acknowledged', boreholeName, cause, code },
    { kind: 'on_site', boreholeName, code },
    { kind: 'waiting_parts', boreholeName, code, part },
    { kind: 'waiting_parts', boreholeName, code, part: null },
    { kind: 'repair_claimed', boreholeName, code, verifyMinutes: 30 },
    { kind: 'repair_claimed', boreholeName, code, verifyMinutes: 100_000, verifiedBy: 'committee' },
    { kind: 'repair_claimed', boreholeName, code, verifyMinutes: 100_000, verifiedBy: 'data' },
    { kind: 'repair_confirmed', boreholeName, code },
    { kind: 'fault_opened', boreholeName, code },
    { kind: 'fault_known', boreholeName, code },
    { kind: 'closed', code },
    { kind: 'missed_call', boreholeName, cause, code },
    ...COMMANDS.map((command): CommandAnswer => ({ kind: 'technician_only', command })),
    { kind: 'unknown_incident', code },
  ];
}

describe('incident messages: French, a typical case of each', () => {
  it('opens with the contract example for the committee, and the work order commands for the technician', () => {
    expect(renderIncidentOpened('fr', { ...KHABOU, audience: 'committee', workOrder: true })).toBe(
      'Forage de Khabou: panne pompe (marche a sec) 10:42. Repondre OK 17 pour confirmer.',
    );
    // The committee reads what the alert said before incidents (CONTRACT.md section 5).
    expect(renderIncidentOpened('fr', { ...KHABOU, audience: 'committee', workOrder: true })).toBe(
      renderAlert('fr', { boreholeName: KHABOU.boreholeName, rule: 'pump_fault', severity: 'critical', fault: 'dry_run', localTime: '10:42', code: 17 }),
    );
    expect(renderIncidentOpened('fr', { ...KHABOU, audience: 'technician', workOrder: true })).toBe(
      'Forage de Khabou: panne pompe (marche a sec) 10:42. Envoyer OK 17 (vu), ARRIVE 17 (sur place), PIECE 17 <piece>, REPARE 17 (repare).',
    );
    expect(renderIncidentOpened('fr', { ...KHABOU, severity: 'warning', cause: 'low_water', audience: 'technician', workOrder: false })).toBe(
      "Forage de Khabou: niveau d'eau bas 10:42. Repondre OK 17 pour confirmer.",
    );
  });

  it('shortens the commands before it cuts a long name short', () => {
    const input = { ...KHABOU, cause: 'short_cycling', code: 999_999, audience: 'technician', workOrder: true } as const;
    expect(renderIncidentOpened('fr', { ...input, boreholeName: 'Forage de Marena Diombougou Kouniakary' })).toBe(
      "Forage de Marena Diombougou Kouniakary: la pompe demarre et s'arrete trop souvent 10:42. Envoyer OK 999999, ARRIVE 999999, PIECE 999999 <piece>, REPARE 999999.",
    );
    expect(renderIncidentOpened('fr', { ...input, boreholeName: 'Forage de Marena Diombougou Marena Diombougou Marena' })).toBe(
      "Marena Diombougou Marena Diombougou Marena: la pompe demarre et s'arrete trop souvent 10:42. Panne 999999: envoyer OK, ARRIVE, PIECE ou REPARE suivi de 999999.",
    );
    // Longer still: the name is cut, but not below MIN_NAME_SEPTETS.
    const cut = renderIncidentOpened('fr', { ...input, boreholeName: `Forage de ${'Marena Diombougou '.repeat(4)}` });
    expectOneSegment(cut);
    expect(cut.split(':')[0]?.length).toBeGreaterThanOrEqual(MIN_NAME_SEPTETS);
  });

  it('says URGENT when it rises to critical', () => {
    const input = { ...KHABOU, cause: 'low_water', localTime: '11:05' } as const;
    expect(renderIncidentCritical('fr', { ...input, audience: 'committee' })).toBe(
      "URGENT Forage de Khabou: plus d'eau au niveau de la pompe 11:05, la panne 17 s'aggrave. Repondre OK 17 pour confirmer.",
    );
    expect(renderIncidentCritical('fr', { ...input, audience: 'technician' })).toBe(
      "URGENT Forage de Khabou: plus d'eau au niveau de la pompe 11:05, la panne 17 s'aggrave. Envoyer ARRIVE 17 une fois sur place.",
    );
    expect(renderIncidentCritical('fr', { ...input, audience: 'escalation' })).toBe(
      "URGENT Forage de Khabou: plus d'eau au niveau de la pompe 11:05, la panne 17 s'aggrave. Le technicien est prevenu.",
    );
  });

  it('escalates for each reason', () => {
    expect(renderIncidentEscalation('fr', { ...KHABOU, reason: 'unacknowledged' })).toBe(
      'URGENT Forage de Khabou: panne pompe (marche a sec) depuis 10:42, panne 17 non confirmee. Repondre OK 17 pour confirmer.',
    );
    expect(renderIncidentEscalation('fr', { ...KHABOU, reason: 'respond_missed' })).toBe(
      "URGENT Forage de Khabou: panne pompe (marche a sec) depuis 10:42, delai d'intervention depasse (panne 17). Envoyer OK 17 ou ARRIVE 17.",
    );
    expect(renderIncidentEscalation('fr', { ...KHABOU, reason: 'repair_missed', localTime: '18/11 10:42' })).toBe(
      'URGENT Forage de Khabou: panne pompe (marche a sec) depuis 18/11 10:42, delai de reparation depasse (panne 17). Envoyer REPARE 17 apres reparation.',
    );
  });

  it('reminds before a target with its due time, HH:MM or dd/MM HH:MM', () => {
    const input = { ...KHABOU, boreholeName: 'Khabou' };
    expect(renderIncidentReminder('fr', { ...input, target: 'respond', dueLocal: '14:05' })).toBe(
      'Rappel 17 Khabou: panne pompe (marche a sec) depuis 10:42, a confirmer avant 14:05. Envoyer OK 17 ou ARRIVE 17.',
    );
    expect(renderIncidentReminder('fr', { ...input, target: 'repair', dueLocal: '21/11 14:05' })).toBe(
      'Rappel 17 Khabou: panne pompe (marche a sec) depuis 10:42, reparation attendue avant 21/11 14:05. Envoyer REPARE 17 apres reparation.',
    );
  });

  it('tells the committee the water is back and the technician the repair is verified', () => {
    const input = { ...KHABOU, localTime: '15:30' };
    expect(renderIncidentVerified('fr', { ...input, audience: 'committee' })).toBe("Forage de Khabou: l'eau est revenue 15:30. Panne 17 terminee, merci.");
    expect(renderIncidentVerified('fr', { ...input, audience: 'technician' })).toBe('Forage de Khabou: reparation 17 verifiee 15:30, panne terminee. Merci.');
    expect(renderIncidentVerified('fr', { ...input, cause: 'offline', audience: 'committee' })).toBe(
      'Forage de Khabou: le forage repond de nouveau 15:30. Panne 17 terminee, merci.',
    );
  });

  it('reopens after a relapse or an unconfirmed repair', () => {
    expect(renderIncidentReopened('fr', { ...KHABOU, localTime: '20:10', audience: 'technician', why: 'relapse' })).toBe(
      'Forage de Khabou: panne pompe (marche a sec) 20:10, la panne 17 est revenue apres reparation. Envoyer ARRIVE 17 sur place, REPARE 17 apres.',
    );
    expect(renderIncidentReopened('fr', { ...KHABOU, localTime: '20:10', audience: 'committee', why: 'relapse' })).toBe(
      'Forage de Khabou: panne pompe (marche a sec) 20:10, la panne 17 est revenue. Le technicien est prevenu.',
    );
    expect(renderIncidentReopened('fr', { ...KHABOU, localTime: '12:00', audience: 'technician', why: 'unconfirmed' })).toBe(
      'Forage de Khabou: panne pompe, REPARE 17 de 12:00 non confirme par les donnees. Panne rouverte: verifier puis renvoyer REPARE 17.',
    );
  });

  it('asks the committee to confirm a repair no sensor can', () => {
    expect(renderConfirmationQuestion('fr', { boreholeName: 'Forage de Khabou', code: 17 })).toBe(
      "Forage de Khabou: le technicien dit avoir repare la panne 17. Si l'eau coule de nouveau, repondre OK 17.",
    );
  });
});

describe('command answers: French', () => {
  const name = 'Forage de Khabou';
  it.each([
    [{ kind: 'acknowledged', boreholeName: name, cause: 'pump_fault', code: 17 }, 'OK 17 recu, merci. Forage de Khabou: panne pompe.'],
    [{ kind: 'on_site', boreholeName: name, code: 17 }, 'ARRIVE 17 recu. Forage de Khabou: arrivee sur place notee. Ensuite PIECE 17 <piece> ou REPARE 17.'],
    [
      { kind: 'waiting_parts', boreholeName: name, code: 17, part: 'roulement 6204' },
      'PIECE 17 recu. Forage de Khabou: attente de piece notee (roulement 6204). REPARE 17 apres reparation.',
    ],
    [{ kind: 'waiting_parts', boreholeName: name, code: 17, part: null }, 'PIECE 17 recu. Forage de Khabou: attente de piece notee. REPARE 17 apres reparation.'],
    [
      { kind: 'repair_claimed', boreholeName: name, code: 17, verifyMinutes: 30 },
      'REPARE 17 recu, merci. Forage de Khabou: la reparation sera verifiee par les donnees (30 min de pompage normal).',
    ],
    [
      { kind: 'repair_claimed', boreholeName: name, code: 17, verifyMinutes: 30, verifiedBy: 'committee' },
      "REPARE 17 recu, merci. Forage de Khabou: le comite va confirmer que l'eau coule.",
    ],
    [{ kind: 'repair_confirmed', boreholeName: name, code: 17 }, "OK 17 recu, merci. Forage de Khabou: l'eau coule, panne 17 terminee."],
    [{ kind: 'fault_opened', boreholeName: name, code: 17 }, 'PANNE recue, merci. Forage de Khabou: panne 17 ouverte, le technicien est prevenu.'],
    [{ kind: 'fault_known', boreholeName: name, code: 17 }, 'PANNE recue, merci. Forage de Khabou: la panne 17 est deja signalee, le technicien est prevenu.'],
    [
      { kind: 'need_borehole', boreholeIds: ['khabou', 'segala', 'diamou'] },
      'Quel forage? Envoyer PANNE <forage> <message>, <forage> parmi: khabou, segala, diamou.',
    ],
    [{ kind: 'closed', code: 17 }, 'La panne 17 est deja terminee. Si le probleme revient, envoyer PANNE.'],
    [{ kind: 'missed_call', boreholeName: name, cause: 'no_flow', code: 17 }, "Appel recu, merci. Forage de Khabou: pas d'eau, panne 17 confirmee."],
    [{ kind: 'technician_only', command: 'PIECE' }, 'Seul le technicien peut envoyer PIECE. Pour confirmer une panne, envoyer OK et son numero.'],
    [{ kind: 'unknown_incident', code: 17 }, 'Pas de panne ouverte avec le numero 17. Envoyer ETAT pour voir les pannes.'],
  ] satisfies [CommandAnswer, string][])('%j', (answer, expected) => {
    expect(renderCommandAnswer('fr', answer)).toBe(expected);
  });

  it('lists the boreholes of a phone as far as they fit, then +N', () => {
    const boreholeIds = Array.from({ length: 40 }, (_, index) => `forage-kouniakary-${index}`);
    for (const language of LANGUAGES) {
      const text = renderCommandAnswer(language, { kind: 'need_borehole', boreholeIds });
      expectOneSegment(text);
      const left = Number(/\+(\d+)\.?$/.exec(text)?.[1]);
      const shown = text.match(/forage-kouniakary-\d+/g) ?? [];
      expect(shown.length).toBeGreaterThan(0);
      expect(shown.length + left).toBe(40);
      // Ids are typed back: never cut.
      for (const id of shown) expect(boreholeIds).toContain(id);
    }
  });

  it('echoes a long part shortened, and the name stays readable', () => {
    const text = renderCommandAnswer('fr', { kind: 'waiting_parts', boreholeName: 'Forage de Khabou', code: 17, part: 'roulement à billes 6204 2RS, joint torique et câble 3x2.5 mm² de 40 mètres' });
    expectOneSegment(text);
    expect(text).toBe('PIECE 17 recu. Forage de Khabou: attente de piece notee (roulement à billes 6204 2RS, joint tori.). REPARE 17 apres reparation.');
  });
});

describe('incident texts in Bambara and English', () => {
  it('write Bambara as typed on a phone', () => {
    expect(renderIncidentOpened('bm', { ...KHABOU, audience: 'committee', workOrder: true })).toBe(
      'Forage de Khabou: pompe tinyèna (a bè baara ji ko) 10:42. Aw ye OK 17 ci.',
    );
    expect(renderIncidentVerified('bm', { ...KHABOU, localTime: '15:30', audience: 'committee' })).toBe(
      'Forage de Khabou: ji seginna 15:30. Tinyèni 17 datugura, aw ni ce.',
    );
    expect(renderCommandAnswer('bm', { kind: 'unknown_incident', code: 17 })).toBe('Tinyèni 17 tè yen walima a datugura. Aw ye ETAT ci ka tinyèniw lajè.');
  });

  it('say it in English', () => {
    expect(renderIncidentOpened('en', { ...KHABOU, audience: 'technician', workOrder: true })).toBe(
      'Forage de Khabou: pump fault (running dry) 10:42. Send OK 17 (seen), ARRIVE 17 (on site), PIECE 17 <part>, REPARE 17 (repaired).',
    );
    expect(renderCommandAnswer('en', { kind: 'repair_claimed', boreholeName: 'Khabou', code: 17, verifyMinutes: 30 })).toBe(
      'REPARE 17 received, thank you. Khabou: the data will verify the repair (30 min of normal pumping).',
    );
  });

  it('never name the cause by its rule id', () => {
    for (const language of LANGUAGES) {
      for (const cause of ALERT_RULES) {
        for (const { text } of incidentMessages(language, { ...KHABOU, cause, fault: undefined }, '14:05')) expect(text).not.toContain(cause);
      }
    }
  });
});

describe('every incident text is one segment and keeps the code and the times', () => {
  it('for every language, cause, severity, audience, reason and long name', () => {
    let rendered = 0;
    for (const language of LANGUAGES) {
      for (const cause of ALERT_RULES) {
        const severities: readonly Severity[] = cause === 'low_water' ? SEVERITIES : ['critical'];
        // The longest fault words in each language, and an unknown code of the longest length shown.
        const faults = cause === 'pump_fault' ? [undefined, 'undervoltage', 'dry_run', 'overheat', 'abcdefghijklmnop'] : [undefined];
        for (const severity of severities) {
          for (const fault of faults) {
            for (const boreholeName of allNames()) {
              for (const [index, code] of CODES.entries()) {
                const localTime = TIMES[index] ?? '10:42';
                const dueLocal = TIMES[(index + 1) % TIMES.length] ?? '10:42';
                for (const { text, times, what } of incidentMessages(language, { boreholeName, cause, severity, fault, localTime, code }, dueLocal)) {
                  expectOneSegment(text);
                  expect(text, what).toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
                  for (const time of times) expect(text, what).toContain(time);
                  rendered += 1;
                }
                for (const answer of answers(boreholeName, cause, code, boreholeName)) {
                  const text = renderCommandAnswer(language, answer);
                  expectOneSegment(text);
                  if ('code' in answer) expect(text, answer.kind).toMatch(new RegExp(`(?<!\\d)${code}(?!\\d)`));
                  rendered += 1;
                }
              }
            }
          }
        }
      }
    }
    expect(rendered).toBeGreaterThan(10_000);
  }, 60_000);

  it('keep the registry names whole, at most without "Forage de", even in the longest case', () => {
    for (const language of LANGUAGES) {
      for (const boreholeName of registryNames) {
        const input = { boreholeName, cause: 'short_cycling', severity: 'critical', localTime: '31/12 23:59', code: 999_999 } as const;
        const short = withoutGenericPrefix(boreholeName) ?? boreholeName;
        for (const { text, what } of incidentMessages(language, input, '31/12 23:59')) expect(text, what).toContain(short);
      }
    }
  });

  it('leave at least MIN_NAME_SEPTETS of a long name (its cut mark included)', () => {
    for (const language of LANGUAGES) {
      for (const cause of ALERT_RULES) {
        for (const fault of cause === 'pump_fault' ? KNOWN_FAULT_CODES : [undefined]) {
          const input = { boreholeName: 'x'.repeat(200), cause, severity: 'critical', fault, localTime: '31/12 23:59', code: 999_999 } as const;
          for (const { text, what } of incidentMessages(language, input, '31/12 23:59')) {
            expect(text.match(/x+\.?/)?.[0].length, `${language} ${what}: ${text}`).toBeGreaterThanOrEqual(MIN_NAME_SEPTETS);
          }
          for (const answer of answers('x'.repeat(200), cause, 999_999, 'y'.repeat(200))) {
            const text = renderCommandAnswer(language, answer);
            if ('boreholeName' in answer) expect(text.match(/x+\.?/)?.[0].length, `${language} ${answer.kind}: ${text}`).toBeGreaterThanOrEqual(MIN_NAME_SEPTETS);
          }
        }
      }
    }
  });

  it('refuse a time that is neither HH:MM nor dd/MM HH:MM, a negative code and bad minutes', () => {
    expect(() => renderIncidentOpened('fr', { ...KHABOU, localTime: '10:42:00', audience: 'committee', workOrder: false })).toThrow(RangeError);
    expect(() => renderIncidentOpened('fr', { ...KHABOU, localTime: '32/01 10:42', audience: 'committee', workOrder: false })).toThrow(RangeError);
    expect(() => renderIncidentReminder('fr', { ...KHABOU, target: 'repair', dueLocal: '21/13 14:05' })).toThrow(RangeError);
    expect(() => renderIncidentEscalation('fr', { ...KHABOU, code: -1, reason: 'unacknowledged' })).toThrow(RangeError);
    expect(() => renderCommandAnswer('fr', { kind: 'repair_claimed', boreholeName: 'Khabou', code: 17, verifyMinutes: 1.5 })).toThrow(RangeError);
  });

  it('whatever the name, part and time (property)', () => {
    const odd = fc.constantFrom('ɛ', 'Ɛ', 'ɔ', 'Ɔ', 'ɲ', 'Ɲ', 'ŋ', 'Ŋ', '€', '[', 'ê', 'œ', ' ', '\n', '💧', '👍🏽', 'Forage de ', 'a');
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.string({ unit: 'grapheme', maxLength: 120 }),
      fc.string({ unit: odd, maxLength: 120 }),
    );
    const clock = fc.tuple(fc.integer({ min: 0, max: 23 * 60 + 59 }), fc.option(fc.tuple(fc.integer({ min: 1, max: 31 }), fc.integer({ min: 1, max: 12 })), { nil: undefined }));
    const format = ([minutes, day]: [number, [number, number] | undefined]): string => {
      const hhmm = `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
      return day === undefined ? hhmm : `${String(day[0]).padStart(2, '0')}/${String(day[1]).padStart(2, '0')} ${hhmm}`;
    };
    fc.assert(
      fc.property(
        fc.constantFrom(...LANGUAGES),
        text,
        fc.constantFrom(...ALERT_RULES),
        fc.constantFrom(...SEVERITIES),
        fc.integer({ min: 0, max: 999_999_999 }),
        clock,
        clock,
        fc.option(fc.string({ maxLength: 80 }), { nil: undefined }),
        fc.option(text, { nil: null }),
        fc.array(fc.oneof(fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,62}$/), text), { maxLength: 30 }),
        (language, boreholeName, cause, severity, code, at, due, fault, part, boreholeIds) => {
          const localTime = format(at);
          const dueLocal = format(due);
          const codePattern = new RegExp(`(?<!\\d)${code}(?!\\d)`);
          for (const message of incidentMessages(language, { boreholeName, cause, severity, fault, localTime, code }, dueLocal)) {
            expectOneSegment(message.text);
            expect(message.text, message.what).toMatch(codePattern);
            for (const time of message.times) expect(message.text, message.what).toContain(time);
          }
          for (const answer of answers(boreholeName, cause, code, part)) {
            const rendered = renderCommandAnswer(language, answer);
            expectOneSegment(rendered);
            if ('code' in answer) expect(rendered, answer.kind).toMatch(codePattern);
          }
          expectOneSegment(renderCommandAnswer(language, { kind: 'need_borehole', boreholeIds }));
        },
      ),
      { seed: 15, numRuns: 300 },
    );
  });
});
