/** The rules of CONTRACT.md section 4 and the per-borehole state they keep. Plain data. */
import { z } from 'zod';
import { CATALOGUE } from './catalogue/index.js';

export const RULE_IDS = ['pump_fault', 'no_flow', 'low_water', 'offline', 'short_cycling', 'low_output', 'maintenance_due', 'current_rising'] as const;
export type RuleId = (typeof RULE_IDS)[number];

/**
 * A fault seen by people (`PANNE`, CONTRACT.md section 9), not by the sensors: an alert rule of its
 * own, with no definition in the catalogue (nothing judges it; a person opens it, a repair closes it).
 */
export const MANUAL_RULE = 'reported_by_person';
/** What an alert is about: a rule of the catalogue, or a person's report. */
export type AlertRule = RuleId | typeof MANUAL_RULE;
export const ALERT_RULES: readonly AlertRule[] = [...RULE_IDS, MANUAL_RULE];

export function isDataRule(rule: AlertRule): rule is RuleId {
  return rule !== MANUAL_RULE;
}

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const severityRank = (severity: Severity): number => SEVERITIES.indexOf(severity);

/**
 * Where one rule stands for one borehole. Absent means idle: the condition does not hold.
 * - pending: the condition holds, its duration is not reached yet (no alert);
 * - firing: an alert is open;
 * - clearing: the alert is open, the condition stopped holding at `clearSinceMs`.
 */
export const conditionSchema = z.object({
  phase: z.enum(['pending', 'firing', 'clearing']),
  sinceMs: z.number(),
  severity: z.enum(SEVERITIES),
  clearSinceMs: z.number().optional(),
  /** What the rule measured when it last held (shown in the alert's message). */
  detail: z.string(),
});
export type Condition = z.infer<typeof conditionSchema>;

/**
 * A pump or flow reading waiting for the other topic before `no_flow` judges it (docs/rules.md,
 * "Across topics"). Kept small: the value is 1/0 for the pump's `running`, litres per minute for
 * the flow; `arrivedAtMs` is the service clock when it arrived, for the horizon.
 */
export const jointEntrySchema = z.object({
  tsMs: z.number(),
  kind: z.enum(['pump', 'flow']),
  value: z.number(),
  arrivedAtMs: z.number(),
});
export type JointEntry = z.infer<typeof jointEntrySchema>;

/**
 * The pump and flow timeline that `no_flow`, the one rule that joins two topics, is judged on.
 * It advances only to the newest instant both topics have reached, so a flow reading stamped
 * before a pump reading but arriving after it is still judged in its place.
 */
export const jointTimelineSchema = z.object({
  /** Newest instant judged on this timeline. */
  atMs: z.number().nullable(),
  running: z.boolean().nullable(),
  pumpTsMs: z.number().nullable(),
  flowLpm: z.number().nullable(),
  flowTsMs: z.number().nullable(),
  /** Readings newer than `atMs`, oldest first, waiting for the other topic to reach them. */
  queue: z.array(jointEntrySchema),
});
export type JointTimeline = z.infer<typeof jointTimelineSchema>;

export function initialJointTimeline(): JointTimeline {
  return { atMs: null, running: null, pumpTsMs: null, flowLpm: null, flowTsMs: null, queue: [] };
}

/** The version of the saved state's shape; `state.ts` reads every earlier one. */
export const RULE_STATE_VERSION = 2;

/**
 * What every rule shares: where each topic's timeline stands and what it last said, the joint
 * timeline, and where each rule stands. Each topic has its own timeline (`lastPumpTsMs`,
 * `lastFlowTsMs`, `lastLevelTsMs`): a reading older than its own topic's newest arrived late and
 * is not judged, whatever the other topics did.
 */
const sharedStateShape = {
  version: z.literal(RULE_STATE_VERSION),
  /** Newest reading time judged, any topic (for display and tests; rules use the per-topic times). */
  lastTsMs: z.number().nullable(),
  /** Service-clock time of the last message from the borehole (offline is judged on this). */
  lastHeardAtMs: z.number().nullable(),
  running: z.boolean().nullable(),
  lastPumpTsMs: z.number().nullable(),
  flowLpm: z.number().nullable(),
  lastFlowTsMs: z.number().nullable(),
  depthM: z.number().nullable(),
  lastLevelTsMs: z.number().nullable(),
  joint: jointTimelineSchema,
  conditions: z.partialRecord(z.enum(RULE_IDS), conditionSchema),
};

type Catalogue = typeof CATALOGUE;
type FactsShapeOf<R extends RuleId> = Catalogue[R]['facts']['shape'];
type UnionToIntersection<U> = (U extends unknown ? (u: U) => void : never) extends (i: infer I) => void ? I : never;
type AllFactsShape = UnionToIntersection<FactsShapeOf<RuleId>>;

/**
 * Everything a borehole's rules remember between readings: the shared timeline, and each rule's
 * own facts (its slice, declared in its definition) side by side. Persisted as JSON after every
 * change, so "for 10 minutes" and "the median of 14 days" survive a restart; kept small (the
 * benchmark measures it: well under 2 KB). Read back through this schema (`state.ts`).
 */
export const ruleStateSchema = z.object({
  ...sharedStateShape,
  ...(Object.assign({}, ...Object.values(CATALOGUE).map((definition) => definition.facts.shape)) as AllFactsShape),
});
export type RuleState = z.infer<typeof ruleStateSchema>;

export function initialRuleState(): RuleState {
  const facts = Object.assign({}, ...Object.values(CATALOGUE).map((definition) => definition.initialFacts())) as Omit<RuleState, keyof typeof sharedStateShape>;
  return {
    version: RULE_STATE_VERSION,
    lastTsMs: null,
    lastHeardAtMs: null,
    running: null,
    lastPumpTsMs: null,
    flowLpm: null,
    lastFlowTsMs: null,
    depthM: null,
    lastLevelTsMs: null,
    ...facts,
    joint: initialJointTimeline(),
    conditions: {},
  };
}

/**
 * What the rules tell the alert lifecycle.
 * - `raised`: open an alert (or raise the severity of the one open for this rule);
 * - `cleared`: the condition cleared at `atMs` and stayed clear for `clear_minutes`.
 * `live` is false for a condition found in late data that no longer holds at the newest reading:
 * it is recorded (an historical incident) but nobody is notified.
 */
export type RuleEvent =
  | { type: 'raised'; rule: RuleId; severity: Severity; atMs: number; detail: string; live: boolean; fault?: string }
  | { type: 'cleared'; rule: RuleId; atMs: number };
