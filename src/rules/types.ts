/** The rules of CONTRACT.md section 4 and the per-borehole state they keep. Plain data. */

export const RULE_IDS = ['pump_fault', 'no_flow', 'low_water', 'offline', 'short_cycling', 'low_output', 'maintenance_due'] as const;
export type RuleId = (typeof RULE_IDS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const severityRank = (severity: Severity): number => SEVERITIES.indexOf(severity);

/**
 * Where one rule stands for one borehole. Absent means idle: the condition does not hold.
 * - pending: the condition holds, its duration is not reached yet (no alert);
 * - firing: an alert is open;
 * - clearing: the alert is open, the condition stopped holding at `clearSinceMs`.
 */
export interface Condition {
  phase: 'pending' | 'firing' | 'clearing';
  sinceMs: number;
  severity: Severity;
  clearSinceMs?: number;
  /** What the rule measured when it last held (shown in the alert's message). */
  detail: string;
}

export interface DailyVolume {
  /** UTC calendar day, YYYY-MM-DD (Mali is UTC+0 all year). */
  day: string;
  m3: number;
}

/**
 * A pump or flow reading waiting for the other topic before `no_flow` judges it (docs/rules.md,
 * "Across topics"). Kept small: the value is 1/0 for the pump's `running`, litres per minute for
 * the flow; `arrivedAtMs` is the service clock when it arrived, for the horizon.
 */
export interface JointEntry {
  tsMs: number;
  kind: 'pump' | 'flow';
  value: number;
  arrivedAtMs: number;
}

/**
 * The pump and flow timeline that `no_flow`, the one rule that joins two topics, is judged on.
 * It advances only to the newest instant both topics have reached, so a flow reading stamped
 * before a pump reading but arriving after it is still judged in its place.
 */
export interface JointTimeline {
  /** Newest instant judged on this timeline. */
  atMs: number | null;
  running: boolean | null;
  pumpTsMs: number | null;
  flowLpm: number | null;
  flowTsMs: number | null;
  /** Readings newer than `atMs`, oldest first, waiting for the other topic to reach them. */
  queue: JointEntry[];
}

export function initialJointTimeline(): JointTimeline {
  return { atMs: null, running: null, pumpTsMs: null, flowLpm: null, flowTsMs: null, queue: [] };
}

/**
 * Everything a borehole's rules remember between readings. Persisted as JSON after every
 * change, so "for 10 minutes" and "the median of 14 days" survive a restart; kept small (the
 * benchmark measures it: well under 2 KB).
 *
 * Each topic has its own timeline (`lastPumpTsMs`, `lastFlowTsMs`, `lastLevelTsMs`): a reading
 * older than its own topic's newest arrived late and is not judged, whatever the other topics did.
 */
export interface RuleState {
  /** Newest reading time judged, any topic (for display and tests; rules use the per-topic times). */
  lastTsMs: number | null;
  /** Service-clock time of the last message from the borehole (offline is judged on this). */
  lastHeardAtMs: number | null;
  running: boolean | null;
  lastPumpTsMs: number | null;
  fault: string;
  flowLpm: number | null;
  lastFlowTsMs: number | null;
  depthM: number | null;
  lastLevelTsMs: number | null;
  /** Pump start times within the last hour. */
  starts: number[];
  runningMsSinceService: number;
  /** The day being accumulated. */
  day: { key: string; m3: number; lastTotalM3: number | null } | null;
  /** Completed days, oldest first, at most 15. */
  days: DailyVolume[];
  /** Whether the last completed day was judged low; stands until the next day completes. */
  lowOutput: { holds: boolean; detail: string };
  joint: JointTimeline;
  conditions: Partial<Record<RuleId, Condition>>;
}

export function initialRuleState(): RuleState {
  return {
    lastTsMs: null,
    lastHeardAtMs: null,
    running: null,
    lastPumpTsMs: null,
    fault: '',
    flowLpm: null,
    lastFlowTsMs: null,
    depthM: null,
    lastLevelTsMs: null,
    starts: [],
    runningMsSinceService: 0,
    day: null,
    days: [],
    lowOutput: { holds: false, detail: '' },
    joint: initialJointTimeline(),
    conditions: {},
  };
}

/**
 * A state saved by an earlier version lacks what was added since: it starts from the initial
 * facts for those. The joint timeline of such a state starts where its single timeline stood.
 */
export function upgradeRuleState(saved: Partial<RuleState>): RuleState {
  const state = { ...initialRuleState(), ...saved };
  if (!saved.joint) {
    state.joint = {
      ...initialJointTimeline(),
      atMs: saved.lastTsMs ?? null,
      running: saved.running ?? null,
      pumpTsMs: saved.lastPumpTsMs ?? null,
      flowLpm: saved.flowLpm ?? null,
      flowTsMs: saved.lastFlowTsMs ?? null,
    };
  }
  return state;
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
