/**
 * The SMS texts of CONTRACT.md section 5, in the committee's language (`fr` default, `bm`, `en`).
 * Pure functions of plain values: no clock, no registry, no I/O. Every text is GSM-7 and fits one
 * segment (160 septets): when it would not, the borehole name is shortened (first without a
 * leading "Forage de ", then cut with a `.`), never the alert code nor the time.
 *
 * French is written without accents, as in the contract's example and as people type it on a
 * feature phone. Bambara is written in the official orthography (ɛ ɔ ɲ ŋ) and transliterated
 * by `toGsm7` the way it is typed on phones; it keeps the French loanwords villagers use
 * (pompe, forage, alerte, technicien).
 *
 * NATIVE SPEAKER REVIEW NEEDED: the Bambara texts were written by a non-native speaker from
 * common vocabulary (ji: water, tiɲɛna: broke, seginna: came back, dilanna: was repaired,
 * jaabi: answer, ci: send, kabini: since, kunnafoni: news). A Bambara-speaking member of a water
 * committee should read every string in `BM` before it reaches a village.
 */
import type { Language } from '../config/registry.js';
import { KNOWN_FAULT_CODES, type KnownFaultCode } from '../contract/payloads.js';
import { STATUS_URGENCY, type BoreholeStatus } from '../domain/borehole-status.js';
import { describeFault } from '../rules/messages.js';
import type { AlertRule, Severity } from '../rules/types.js';
import { fitSegment, gsm7Length, SEGMENT_SEPTETS, toGsm7, truncateSeptets } from './gsm7.js';

export interface AlertTextInput {
  boreholeName: string;
  rule: AlertRule;
  severity: Severity;
  /** The pump's fault code (`dry_run`, `overload`...) or its French description; pump_fault only. */
  fault?: string;
  /** Local time the alert opened, `HH:MM`. */
  localTime: string;
  code: number;
  /** The escalation sent to the technician and the regional contact when nobody confirmed. */
  escalation?: boolean;
}

export interface WaterBackInput {
  boreholeName: string;
  localTime: string;
  code: number;
}

export interface ConfirmationInput {
  boreholeName: string;
  rule: AlertRule;
  code: number;
}

export interface StatusEntry {
  name: string;
  status: BoreholeStatus;
  openAlerts: readonly { code: number; rule: AlertRule }[];
}

export interface SummaryInput {
  /** How many messages were folded into this one. */
  count: number;
  boreholeNames: readonly string[];
}

interface Texts {
  /** The problem as a villager says it; low_water depends on the severity. */
  problem: Record<Exclude<AlertRule, 'pump_fault' | 'low_water'>, string> & {
    pump_fault: string;
    low_water: { warning: string; critical: string };
  };
  /** Short words for lists (ETAT, confirmations). */
  short: Record<AlertRule, string>;
  fault: Record<KnownFaultCode, string>;
  status: Record<BoreholeStatus, string>;
  alert: (name: string, problem: string, time: string, code: string) => string;
  escalation: (name: string, problem: string, time: string, code: string) => string;
  waterBack: (name: string, time: string, code: string) => string;
  ack: (name: string, problem: string, code: string) => string;
  repair: (name: string, problem: string, code: string) => string;
  summary: (count: number, names: string) => string;
  noBoreholes: string;
  notAllowed: string;
  unknownAlert: (code: string) => string;
  help: string;
}

const FR: Texts = {
  problem: {
    pump_fault: 'panne pompe',
    no_flow: "pompe en marche mais pas d'eau",
    low_water: { warning: "niveau d'eau bas", critical: "plus d'eau au niveau de la pompe" },
    offline: 'le forage ne repond plus',
    short_cycling: "la pompe demarre et s'arrete trop souvent",
    low_output: "le forage donne peu d'eau",
    maintenance_due: 'entretien de la pompe a prevoir',
    current_rising: 'pompe usee ou bouchee: courant en hausse',
    reported_by_person: 'panne signalee par les usagers',
  },
  short: {
    pump_fault: 'panne pompe',
    no_flow: "pas d'eau",
    low_water: 'niveau bas',
    offline: 'ne repond plus',
    short_cycling: 'demarrages frequents',
    low_output: "peu d'eau",
    maintenance_due: 'entretien',
    current_rising: 'courant en hausse',
    reported_by_person: 'panne signalee',
  },
  fault: {
    dry_run: 'marche a sec',
    overload: 'surcharge',
    overheat: 'surchauffe',
    undervoltage: 'courant trop faible',
    overvoltage: 'courant trop fort',
    phase_loss: 'perte de phase',
    sensor_fault: 'defaut capteur',
  },
  status: { ok: 'normal', alert: 'alerte', offline: 'ne repond plus', unknown: 'pas de nouvelles' },
  // CONTRACT.md section 5's example, word for word.
  alert: (name, problem, time, code) => `${name}: ${problem} ${time}. Repondre OK ${code} pour confirmer.`,
  escalation: (name, problem, time, code) => `URGENT ${name}: ${problem} depuis ${time}, alerte non confirmee. Repondre OK ${code} pour confirmer.`,
  waterBack: (name, time, code) => `${name}: l'eau est revenue ${time}. Alerte ${code} terminee.`,
  ack: (name, problem, code) => `OK ${code} recu, merci. ${name}: ${problem}.`,
  repair: (name, problem, code) => `REPARE ${code} recu, merci. ${name}: reparation notee (${problem}), alerte terminee.`,
  summary: (count, names) => `${count} ${count === 1 ? 'autre message' : 'autres messages'}${names === '' ? '' : ` (${names})`}. Envoyez ETAT pour voir les alertes.`,
  noBoreholes: 'Aucun forage pour ce numero.',
  notAllowed: 'Seul le technicien peut envoyer REPARE. Pour confirmer une alerte, envoyez OK et son numero.',
  unknownAlert: (code) => `Pas d'alerte ouverte avec le numero ${code}. Envoyez ETAT pour voir les alertes.`,
  // Each command once, the technicians' last: one segment leaves no room to explain them all.
  help: "Commandes: OK <numero> pour confirmer, PANNE <message> pour signaler, ETAT pour l'etat. Technicien: ARRIVE <numero>, PIECE <numero> <piece>, REPARE <numero>.",
};

const EN: Texts = {
  problem: {
    pump_fault: 'pump fault',
    no_flow: 'pump running but no water',
    low_water: { warning: 'low water level', critical: 'water below the pump' },
    offline: 'borehole not reporting',
    short_cycling: 'pump starting and stopping too often',
    low_output: 'borehole giving little water',
    maintenance_due: 'pump service due',
    current_rising: 'pump wearing or clogging: current rising',
    reported_by_person: 'breakdown reported by users',
  },
  short: {
    pump_fault: 'pump fault',
    no_flow: 'no water',
    low_water: 'low water',
    offline: 'not reporting',
    short_cycling: 'frequent starts',
    low_output: 'low output',
    maintenance_due: 'service due',
    current_rising: 'current rising',
    reported_by_person: 'reported breakdown',
  },
  fault: {
    dry_run: 'running dry',
    overload: 'overload',
    overheat: 'overheating',
    undervoltage: 'low voltage',
    overvoltage: 'high voltage',
    phase_loss: 'phase loss',
    sensor_fault: 'sensor fault',
  },
  status: { ok: 'fine', alert: 'alert', offline: 'not reporting', unknown: 'no data' },
  alert: (name, problem, time, code) => `${name}: ${problem} ${time}. Reply OK ${code} to confirm.`,
  escalation: (name, problem, time, code) => `URGENT ${name}: ${problem} since ${time}, alert not confirmed. Reply OK ${code} to confirm.`,
  waterBack: (name, time, code) => `${name}: water is back ${time}. Alert ${code} closed.`,
  ack: (name, problem, code) => `OK ${code} received, thank you. ${name}: ${problem}.`,
  repair: (name, problem, code) => `REPARE ${code} received, thank you. ${name}: repair recorded (${problem}), alert closed.`,
  summary: (count, names) => `${count} more ${count === 1 ? 'message' : 'messages'}${names === '' ? '' : ` (${names})`}. Send ETAT to see the alerts.`,
  noBoreholes: 'No borehole for this number.',
  notAllowed: 'Only the technician can send REPARE. To confirm an alert, send OK and its number.',
  unknownAlert: (code) => `No open alert with number ${code}. Send ETAT to see the alerts.`,
  help: 'Commands: OK <number> to confirm, PANNE <message> to report a fault, ETAT for the status. Technician: ARRIVE <number>, PIECE <number> <part>, REPARE <number>.',
};

// NATIVE SPEAKER REVIEW NEEDED (see the file comment). Literal meanings, for the reviewer:
// "Aw ye OK 17 ci" = send OK 17; "mɔgɔ si ma jaabi" = nobody answered; "i ni ce" = thank you;
// "sɔrɔla" = was received; "datugura" = was closed; "walima" = or; "nimɔrɔ" = number;
// "pompe kuran bɛ caya, aw ye a lajɛ" = the pump's current is growing, look at it (current_rising);
// "mɔgɔw ko forage tiɲɛna" = people say the borehole broke; "tiɲɛni fɔra" = a breakdown was told;
// help: "kuma" = words, "tiɲɛni fɔ" = tell a breakdown, "minɛn" = tool, piece of equipment.
const BM: Texts = {
  problem: {
    pump_fault: 'pompe tiɲɛna',
    no_flow: 'pompe bɛ baara nka ji tɛ bɔ',
    low_water: { warning: 'ji dɔgɔyara', critical: 'ji banna pompe yɔrɔ la' },
    offline: 'forage kunnafoni tɛ na',
    short_cycling: 'pompe bɛ jɔ ka wuli kojugu',
    low_output: 'forage ji ka dɔgɔ',
    maintenance_due: 'pompe lajɛli waati sera',
    current_rising: 'pompe kuran bɛ caya, aw ye a lajɛ',
    reported_by_person: 'mɔgɔw ko forage tiɲɛna',
  },
  short: {
    pump_fault: 'pompe tiɲɛna',
    no_flow: 'ji tɛ bɔ',
    low_water: 'ji dɔgɔyara',
    offline: 'kunnafoni tɛ',
    short_cycling: 'pompe bɛ jɔ kojugu',
    low_output: 'ji ka dɔgɔ',
    maintenance_due: 'lajɛli waati',
    current_rising: 'kuran bɛ caya',
    reported_by_person: 'tiɲɛni fɔra',
  },
  fault: {
    dry_run: 'a bɛ baara ji kɔ',
    overload: 'surcharge',
    overheat: 'a kalayara',
    undervoltage: 'kuran ka dɔgɔ',
    overvoltage: 'kuran ka ca',
    phase_loss: 'perte de phase',
    sensor_fault: 'capteur tiɲɛna',
  },
  status: { ok: 'a ka ɲi', alert: 'alerte', offline: 'kunnafoni tɛ', unknown: 'a ma dɔn' },
  alert: (name, problem, time, code) => `${name}: ${problem} ${time}. Aw ye OK ${code} ci.`,
  escalation: (name, problem, time, code) => `URGENT ${name}: ${problem} kabini ${time}, mɔgɔ si ma jaabi. Aw ye OK ${code} ci.`,
  waterBack: (name, time, code) => `${name}: ji seginna ${time}. Alerte ${code} datugura.`,
  ack: (name, problem, code) => `OK ${code} sɔrɔla, i ni ce. ${name}: ${problem}.`,
  repair: (name, problem, code) => `REPARE ${code} sɔrɔla, i ni ce. ${name} dilanna (${problem}), alerte datugura.`,
  summary: (count, names) => `Cikan wɛrɛ ${count}${names === '' ? '' : ` (${names})`}. Aw ye ETAT ci ka alertew lajɛ.`,
  noBoreholes: 'Forage si tɛ nin nimɔrɔ ta la.',
  notAllowed: 'Technicien dɔrɔn de bɛ se ka REPARE ci. Alerte jaabi: aw ye OK ni a nimɔrɔ ci.',
  unknownAlert: (code) => `Alerte ${code} tɛ yen walima a datugura. Aw ye ETAT ci ka alertew lajɛ.`,
  help: 'Aw ye nin ci: OK <nimɔrɔ> (jaabi), PANNE <kuma> (tiɲɛni fɔ), ETAT (kunnafoni). Technicien: ARRIVE <nimɔrɔ>, PIECE <nimɔrɔ> <minɛn>, REPARE <nimɔrɔ>.',
};

const TEXTS: Record<Language, Texts> = { fr: FR, bm: BM, en: EN };

const TIME_PATTERN = /^(?:[01]\d|2[0-3]):[0-5]\d$/;

/** Leading generic words a name can lose first: "Forage de Khabou" → "Khabou". */
const GENERIC_PREFIX = /^(?:forage|puits|borehole|kolon)(?:\s+(?:de\s+la|de|du|des|of|the)\s+|\s+d'\s*|\s+)(?=\S)/i;

function texts(language: Language): Texts {
  return TEXTS[language] ?? FR;
}

export function checkCode(code: number): string {
  if (!Number.isSafeInteger(code) || code < 0) throw new RangeError(`alert code must be a non-negative integer, got ${code}`);
  return String(code);
}

function checkCount(count: number): number {
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  return count;
}

function checkTime(localTime: string): string {
  if (!TIME_PATTERN.test(localTime)) throw new RangeError(`local time must be HH:MM, got ${JSON.stringify(localTime)}`);
  return localTime;
}

/** A name on one line in GSM-7: whitespace collapsed, transliterated. */
function cleanName(name: string, language: Language): string {
  const flat = toGsm7(name.replace(/\s+/gu, ' ').trim(), language).replace(/[\n\r\f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat === '' ? '?' : flat;
}

/** The same name without its leading generic words, or null when it has none. */
export function withoutGenericPrefix(name: string): string | null {
  const stripped = name.replace(GENERIC_PREFIX, '');
  return stripped !== name && stripped !== '' ? stripped : null;
}

/** The ways a name may be written, longest first: as registered, then without "Forage de ". */
export function nameVariants(name: string, language: Language): string[] {
  const clean = cleanName(name, language);
  const short = withoutGenericPrefix(clean);
  return short === null ? [clean] : [clean, short];
}

function faultWords(t: Texts, fault: string | undefined): string | null {
  if (fault === undefined) return null;
  const raw = fault.trim();
  if (raw === '') return null;
  const known = KNOWN_FAULT_CODES.find((code) => code === raw || describeFault(code) === raw);
  if (known !== undefined) return t.fault[known];
  // An unknown code is shown as sent when it is short and plain (a technician can look it up);
  // anything else would only confuse a villager or crowd out the name.
  return /^[A-Za-z0-9_.-]{1,16}$/.test(raw) ? raw : null;
}

function problemWords(t: Texts, rule: AlertRule, severity: Severity, fault: string | undefined): string {
  if (rule === 'low_water') return severity === 'critical' ? t.problem.low_water.critical : t.problem.low_water.warning;
  if (rule === 'pump_fault') {
    const words = faultWords(t, fault);
    return words === null ? t.problem.pump_fault : `${t.problem.pump_fault} (${words})`;
  }
  return t.problem[rule];
}

/** The problem in the language's words (not yet GSM-7): what an alert or an incident message names. */
export function problemText(language: Language, rule: AlertRule, severity: Severity, fault?: string): string {
  return problemWords(texts(language), rule, severity, fault);
}

/** The problem in a few words, for lists and confirmations (not yet GSM-7). */
export function shortProblemText(language: Language, rule: AlertRule): string {
  return texts(language).short[rule];
}

/** An alert: the borehole, the problem, the time it started and the code to answer with. */
export function renderAlert(language: Language, input: AlertTextInput): string {
  const t = texts(language);
  const code = checkCode(input.code);
  const time = checkTime(input.localTime);
  const problem = problemWords(t, input.rule, input.severity, input.fault);
  const template = input.escalation === true ? t.escalation : t.alert;
  // Names arrive already in GSM-7 (nameVariants), and toGsm7 leaves GSM-7 text as it is.
  return fitSegment((name) => toGsm7(template(name, problem, time, code), language), nameVariants(input.boreholeName, language));
}

/** A critical alert resolved: the water is back. */
export function renderWaterBack(language: Language, input: WaterBackInput): string {
  const t = texts(language);
  const code = checkCode(input.code);
  const time = checkTime(input.localTime);
  return fitSegment((name) => toGsm7(t.waterBack(name, time, code), language), nameVariants(input.boreholeName, language));
}

/** The answer to `OK <code>` that acknowledged an alert. */
export function renderAckConfirmation(language: Language, input: ConfirmationInput): string {
  const t = texts(language);
  const code = checkCode(input.code);
  return fitSegment((name) => toGsm7(t.ack(name, t.short[input.rule], code), language), nameVariants(input.boreholeName, language));
}

/** The answer to `REPARE <code>` that resolved an alert and recorded the repair. */
export function renderRepairConfirmation(language: Language, input: ConfirmationInput): string {
  const t = texts(language);
  const code = checkCode(input.code);
  return fitSegment((name) => toGsm7(t.repair(name, t.short[input.rule], code), language), nameVariants(input.boreholeName, language));
}

/** Septets left for a name in a list (ETAT, summaries), so one long name cannot crowd out the rest. */
const LIST_NAME_SEPTETS = 24;

function listName(name: string, language: Language): string {
  const clean = cleanName(name, language);
  return truncateSeptets(withoutGenericPrefix(clean) ?? clean, LIST_NAME_SEPTETS);
}

function septets(text: string): number {
  return gsm7Length(text) ?? Number.POSITIVE_INFINITY;
}

/**
 * The answer to ETAT: each of the sender's boreholes with its state, or its open alerts and the
 * code to confirm each, problems first. When everything does not fit, the text ends with `+N`,
 * N being the number of lines (alerts, or boreholes without an alert) left out.
 */
export function renderStatus(language: Language, boreholes: readonly StatusEntry[]): string {
  const t = texts(language);
  if (boreholes.length === 0) return toGsm7(t.noBoreholes, language);
  const sorted = boreholes
    .map((borehole, index) => ({ borehole, index }))
    .sort((a, b) => STATUS_URGENCY[a.borehole.status] - STATUS_URGENCY[b.borehole.status] || a.index - b.index)
    .map(({ borehole }) => borehole);
  // One line per open alert, or one per borehole without an alert; consecutive lines of the
  // same borehole share its name.
  const lines = sorted.flatMap((borehole, group) => {
    const name = listName(borehole.name, language);
    if (borehole.openAlerts.length === 0) return [{ group, name, words: toGsm7(t.status[borehole.status], language) }];
    return [...borehole.openAlerts]
      .sort((a, b) => a.code - b.code)
      .map((alert) => ({ group, name, words: toGsm7(`${t.short[alert.rule]} (OK ${checkCode(alert.code)})`, language) }));
  });

  // Invariant: `text` always leaves room for the `. +N` that ends it if the next line does not fit.
  let text = '';
  let lastGroup = -1;
  for (const [index, line] of lines.entries()) {
    const candidate =
      line.group === lastGroup ? `${text}, ${line.words}` : `${text}${text === '' ? '' : '. '}${line.name}: ${line.words}`;
    const after = lines.length - index - 1;
    const ending = after === 0 ? '.' : `. +${after}`;
    if (septets(candidate + ending) > SEGMENT_SEPTETS) {
      const left = lines.length - index;
      return text === '' ? `+${left}` : `${text}. +${left}`;
    }
    text = candidate;
    lastGroup = line.group;
  }
  return `${text}.`;
}

/** The message that stands for those folded when a phone reached its hourly limit. */
export function renderSummary(language: Language, input: SummaryInput): string {
  const t = texts(language);
  const count = checkCount(input.count);
  const names = [...new Set(input.boreholeNames.map((name) => listName(name, language)))];
  const render = (list: string): string => toGsm7(t.summary(count, list), language);
  // Same invariant as in renderStatus: room is left for the ` +N` of the names that would follow.
  let shown = '';
  for (const [index, name] of names.entries()) {
    const candidate = shown === '' ? name : `${shown}, ${name}`;
    const after = names.length - index - 1;
    if (septets(render(after === 0 ? candidate : `${candidate} +${after}`)) > SEGMENT_SEPTETS) {
      const left = names.length - index;
      return render(shown === '' ? `+${left}` : `${shown} +${left}`);
    }
    shown = candidate;
  }
  return render(shown);
}

/** The answer to REPARE from a number that is not a technician's. */
export function renderNotAllowed(language: Language): string {
  return toGsm7(texts(language).notAllowed, language);
}

/** The answer to OK or REPARE with a code that names no open alert of the sender's boreholes. */
export function renderUnknownAlert(language: Language, code: number): string {
  return toGsm7(texts(language).unknownAlert(checkCode(code)), language);
}

/** The answer to a message that is no command: what the commands are. */
export function renderHelp(language: Language): string {
  return toGsm7(texts(language).help, language);
}
