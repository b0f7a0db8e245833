/**
 * The cause table (CONTRACT.md section 9): which alert explains which, so that the alerts of one
 * borehole that share a cause are one incident and people are told once, with the cause named.
 * Data, not code: a pair is "this alert, when it is there, is why that one fired". It is listed
 * in docs/incidents.md. Low water at the intake and a dry-run fault explain each other (either
 * can be seen first): there the one seen first stays the cause. Tests check that no other pair
 * explains itself through a chain. Two causes neither of which explains the other can still meet
 * in one incident through a consequence they share (a silent device and a pump fault, both
 * explaining `no_flow`): then too the first seen stays the cause. Which alerts make one incident,
 * and so who is told once, does not depend on the order.
 */
import { MANUAL_RULE, type AlertRule } from '../rules/types.js';

/**
 * What an alert is, for the cause table: the rule, and for `pump_fault` the fault code when the
 * pump's controller gave one (`dry_run` explains more than a fault in general).
 */
export interface AlertKind {
  rule: AlertRule;
  fault?: string | null | undefined;
}

/** `pump_fault:dry_run` for a dry-run fault, else the rule itself. */
type CauseKey = AlertRule | 'pump_fault:dry_run';

export interface CauseLink {
  cause: CauseKey;
  explains: readonly CauseKey[];
  why: string;
}

/** Every pair where one alert is the consequence of the other. Read top to bottom in docs. */
export const CAUSE_TABLE: readonly CauseLink[] = [
  {
    cause: 'offline',
    explains: ['no_flow', 'low_output', 'current_rising', 'short_cycling'],
    why: 'a silent device sends no flow and no volume: what is judged from missing data is the silence',
  },
  {
    cause: 'pump_fault:dry_run',
    explains: ['low_water', 'no_flow', 'low_output', 'short_cycling'],
    why: 'the pump protected itself from running dry: the water is below it, nothing flows, the day gives little',
  },
  {
    cause: 'pump_fault',
    explains: ['no_flow', 'low_output', 'short_cycling', 'current_rising'],
    why: 'a pump in fault gives no water; its protection trips and restarts it',
  },
  {
    cause: 'low_water',
    explains: ['pump_fault:dry_run', 'no_flow', 'low_output', 'short_cycling'],
    why: 'water at the intake: the pump runs dry (its dry-run fault comes later), sucks air, stops on its level switch',
  },
  {
    cause: 'no_flow',
    explains: ['low_output'],
    why: 'no flow all day is little water that day',
  },
  {
    cause: 'current_rising',
    explains: ['low_output'],
    why: 'a worn or clogged pump gives less water',
  },
  {
    cause: 'short_cycling',
    explains: ['low_output'],
    why: 'a pump that keeps stopping pumps less',
  },
  // A person's report is the same breakdown the sensors see: any data alert explains it, and
  // names the fault better than the words of an SMS. A dry-run fault has a row of its own, so it
  // is named here too: without it a PANNE and then the pump's dry-run fault were two incidents,
  // everybody told twice (tests/unit/incidents/causes.test.ts).
  ...(['offline', 'pump_fault', 'pump_fault:dry_run', 'no_flow', 'low_water', 'short_cycling', 'low_output', 'current_rising'] as const).map(
    (cause): CauseLink => ({ cause, explains: [MANUAL_RULE], why: 'the sensors name what people reported' }),
  ),
];

function keyOf(kind: AlertKind): CauseKey {
  return kind.rule === 'pump_fault' && kind.fault === 'dry_run' ? 'pump_fault:dry_run' : kind.rule;
}

/** The keys a kind matches as a consequence: a dry-run fault is also a pump fault. */
function consequenceKeys(kind: AlertKind): CauseKey[] {
  const key = keyOf(kind);
  return key === 'pump_fault:dry_run' ? ['pump_fault:dry_run', 'pump_fault'] : [key];
}

const EXPLAINS = new Map<CauseKey, Set<CauseKey>>();
for (const link of CAUSE_TABLE) {
  const set = EXPLAINS.get(link.cause) ?? new Set<CauseKey>();
  for (const rule of link.explains) set.add(rule);
  EXPLAINS.set(link.cause, set);
}

/** Whether `cause` explains `effect` directly (one row of the table). */
export function explains(cause: AlertKind, effect: AlertKind): boolean {
  const explained = EXPLAINS.get(keyOf(cause));
  if (!explained) return false;
  return consequenceKeys(effect).some((key) => explained.has(key));
}

/** Whether the two alerts belong to one incident: the same kind, or one explains the other. */
export function related(a: AlertKind, b: AlertKind): boolean {
  return keyOf(a) === keyOf(b) || a.rule === b.rule || explains(a, b) || explains(b, a);
}

/**
 * The incident's cause among its alerts: the one no other explains. Where two explain each other
 * (low water at the intake and a dry-run fault: either can come first), the one that opened first
 * stays the cause, so that what people were told is not contradicted by the next reading.
 */
export function rootCause<K extends AlertKind>(alerts: readonly K[]): K | undefined {
  let root: K | undefined;
  for (const alert of alerts) {
    if (root === undefined) root = alert;
    else if (explains(alert, root) && !explains(root, alert)) root = alert;
  }
  return root;
}

/** Alerts that never need a person to act: shown and reported, never an incident of their own. */
export const INFORMATION_ONLY: ReadonlySet<AlertRule> = new Set<AlertRule>(['maintenance_due']);
