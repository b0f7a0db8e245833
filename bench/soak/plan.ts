/**
 * The soak's plan, fixed in advance by the seed: when each dependency is restarted and how, which
 * boreholes get which fault and when (so the alerts to expect are known before the run), and
 * which boreholes lose their link for a while (so they send store-and-forward batches). Pure.
 */
import { nextRandom } from '../../firmware-sim/model.js';

export const RESTART_KINDS = ['broker-term', 'influx-term', 'influx-kill', 'service-kill', 'service-term'] as const;
export type RestartKind = (typeof RESTART_KINDS)[number];

export interface PlannedRestart {
  kind: RestartKind;
  /** From the start of publishing. */
  atMs: number;
  /** How long the process stays down before it is started again. */
  downMs: number;
}

/**
 * `overload`: the controller trips on a pump fault code (rule `pump_fault`).
 * `no_flow`: the motor runs and lifts nothing, a broken coupling (rule `no_flow`, after 10 minutes).
 * `dry_run`: the model's own dry run: the level falls to the intake, the probe trips (rules
 * `pump_fault` and `low_water`).
 */
export const FAULT_KINDS = ['overload', 'no_flow', 'dry_run'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const EXPECTED_RULES: Record<FaultKind, readonly string[]> = {
  overload: ['pump_fault'],
  no_flow: ['no_flow'],
  dry_run: ['pump_fault', 'low_water'],
};

/**
 * Publishing time a fault needs before the end for its alert to be due: no_flow waits 10 minutes
 * of event time; a dry run trips at most 5 minutes after it starts (3 to fall, 2 on air).
 */
const FAULT_LEAD_MS: Record<FaultKind, number> = { overload: 60_000, no_flow: 13 * 60_000, dry_run: 8 * 60_000 };

export interface PlannedFault {
  kind: FaultKind;
  borehole: string;
  atMs: number;
}

export interface OfflineWindow {
  borehole: string;
  fromMs: number;
  untilMs: number;
}

/** A device that was offline for hours before the run and comes back at `untilMs` with its history. */
export interface Backlog {
  borehole: string;
  hours: number;
  untilMs: number;
}

export interface SoakPlan {
  restarts: PlannedRestart[];
  backlogs: Backlog[];
  faults: PlannedFault[];
  /** Fault kinds left out because the run is too short for their alert to be due. */
  skippedFaults: FaultKind[];
  offline: OfflineWindow[];
}

export interface PlanOptions {
  seed: number;
  durationMs: number;
  boreholeIds: readonly string[];
  restartsPerKind: number;
  /** The kinds of restart in the plan (all by default; there is no Mosquitto to restart with the embedded broker). */
  restartKinds?: readonly RestartKind[];
  faultsPerKind: number;
  /** Restarts start this long after publishing starts and finish this long before it ends. */
  marginMs?: number;
  maxDownMs?: number;
}

class Random {
  constructor(private state: number) {}
  next(): number {
    const drawn = nextRandom(this.state);
    this.state = drawn.state;
    return drawn.value;
  }
  between(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  int(min: number, maxExclusive: number): number {
    return Math.floor(this.between(min, maxExclusive));
  }
  shuffle<T>(items: T[]): T[] {
    for (let index = items.length - 1; index > 0; index -= 1) {
      const other = this.int(0, index + 1);
      [items[index], items[other]] = [items[other] as T, items[index] as T];
    }
    return items;
  }
}

export function makePlan(options: PlanOptions): SoakPlan {
  const random = new Random(options.seed ^ 0x50a4);
  const { durationMs } = options;
  const marginMs = options.marginMs ?? Math.min(60_000, durationMs / 6);
  const maxDownMs = options.maxDownMs ?? 60_000;

  // One restart per slot so that they never overlap; the slot's position is random, and so is the
  // order of the kinds, so a service kill may follow an InfluxDB kill or precede it.
  const kinds = random.shuffle((options.restartKinds ?? RESTART_KINDS).flatMap((kind) => Array.from({ length: options.restartsPerKind }, () => kind)));
  const windowMs = durationMs - 2 * marginMs;
  const slotMs = kinds.length > 0 ? windowMs / kinds.length : 0;
  const restarts = kinds.map((kind, index): PlannedRestart => {
    const downMs = Math.round(random.between(3_000, Math.max(3_000, Math.min(maxDownMs, slotMs * 0.55))));
    const latestStart = Math.max(0, slotMs - downMs - 15_000);
    return { kind, atMs: Math.round(marginMs + index * slotMs + random.between(0, latestStart)), downMs };
  });

  // Faults on distinct boreholes that are never offline, so the readings that show them are live.
  const pool = random.shuffle([...options.boreholeIds]);
  const faults: PlannedFault[] = [];
  const skippedFaults: FaultKind[] = [];
  for (const kind of FAULT_KINDS) {
    const latest = durationMs - FAULT_LEAD_MS[kind];
    if (latest < 20_000) {
      skippedFaults.push(kind);
      continue;
    }
    for (let index = 0; index < options.faultsPerKind; index += 1) {
      const borehole = pool.pop();
      if (borehole === undefined) break;
      faults.push({ kind, borehole, atMs: Math.round(random.between(20_000, latest)) });
    }
  }
  faults.sort((a, b) => a.atMs - b.atMs);

  // One device in 500 comes back from hours of silence: a week-end without GPRS. Its history (a
  // reading a minute) goes out as batches of up to 1,000 readings per topic.
  const backlogs: Backlog[] = [];
  for (let index = 0; index < Math.ceil(options.boreholeIds.length / 500); index += 1) {
    const borehole = pool.pop();
    if (borehole === undefined) break;
    backlogs.push({ borehole, hours: Math.round(random.between(2, 24)), untilMs: Math.round(random.between(0, durationMs * 0.8)) });
  }

  // Links that drop for one to ten minutes (a few for up to 25), about one borehole in fifty at
  // any moment: their readings come back as JSON arrays.
  const offline: OfflineWindow[] = [];
  const windows = Math.round((pool.length * durationMs) / (300 * 60_000));
  for (let index = 0; index < windows && pool.length > 0; index += 1) {
    const borehole = pool[random.int(0, pool.length)] as string;
    const long = random.next() < 0.05;
    const lengthMs = Math.min(durationMs / 2, random.between(long ? 15 * 60_000 : 60_000, long ? 25 * 60_000 : 10 * 60_000));
    const fromMs = Math.round(random.between(0, Math.max(0, durationMs - lengthMs)));
    offline.push({ borehole, fromMs, untilMs: Math.round(fromMs + lengthMs) });
  }
  return { restarts, backlogs, faults, skippedFaults, offline };
}
