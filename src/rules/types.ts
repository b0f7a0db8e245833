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
 * Everything a borehole's rules remember between readings. Persisted as JSON after every
 * change, so "for 10 minutes" and "the median of 14 days" survive a restart; kept small (the
 * benchmark measures it: well under 2 KB).
 */
export interface RuleState {
  /** Newest reading time judged: readings older than this arrived late and are not judged. */
  lastTsMs: number | null;
  /** Wall-clock time of the last message from the borehole (offline is judged on this). */
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
