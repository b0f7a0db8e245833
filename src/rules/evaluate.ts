/**
 * Rule evaluation: pure functions of (state, readings or tick, time) returning the new state and
 * events. No clock, no database, no logger: the engine (`engine.ts`) does that.
 *
 * Time. Rules judge readings by their `ts` (event time), so a store-and-forward batch is judged as
 * it happened. `offline` alone is judged on the wall clock (when the service last heard from the
 * borehole). A tick re-checks what only time can change; for event-time rules it advances the
 * borehole's clock by the wall-clock time since its last message, so a device that is still
 * backfilling history is never judged ahead of the data it has yet to send.
 *
 * Across topics (docs/rules.md). A device publishes pump, flow and level as separate messages,
 * seconds apart and in any order. Each rule is judged on the timeline of the topic it reads:
 * `pump_fault`, `short_cycling` and `maintenance_due` on the pump's, `low_water` on the level's,
 * `low_output` on the flow's, each in its own ts order. `no_flow`, the one rule that joins two
 * topics, is judged on a joint timeline that advances only to the newest instant both the pump
 * and the flow have reached, so the same readings give the same alerts at the same event times
 * whatever the order and delay in which the two topics arrive, up to `CROSS_TOPIC_HORIZON_MS`
 * after a reading arrived; past that, it is judged with what is known.
 */
import type { RuleParams } from '../config/rule-params.js';
import type { Reading } from '../domain/reading.js';
import { describeFault } from './messages.js';
import {
  RULE_IDS,
  severityRank,
  type Condition,
  type JointEntry,
  type RuleEvent,
  type RuleId,
  type RuleState,
  type Severity,
} from './types.js';

export interface RuleContext {
  params: RuleParams;
  intakeDepthM: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const MEDIAN_DAYS = 14;
/** Fault codes are short words; a longer one is cut so that the state stays small. */
const MAX_FAULT_LENGTH = 64;
/** A tick closes a day this long after midnight, when no reading of the next day did it before. */
const DAY_CLOSE_GRACE_MS = 15 * MINUTE_MS;
/** Fewer completed days than this and low_output does not judge: there is no baseline yet. */
const MIN_BASELINE_DAYS = 7;
/**
 * How long a pump or flow reading waits (service clock, from its arrival) for the other topic to
 * reach its instant before `no_flow` judges it anyway. A store-and-forward device sends its
 * topics' batches seconds to a minute apart, a live one seconds apart: ten minutes covers both.
 */
export const CROSS_TOPIC_HORIZON_MS = 10 * MINUTE_MS;
/** A joint queue longer than this (a flow meter that never reports) is judged from its oldest. */
const MAX_JOINT_QUEUE = 2000;

type Topic = 'pump' | 'flow' | 'level';

/** The topic whose timeline each event-time rule is judged on; `no_flow` has its own, joint one. */
const RULES_OF_TOPIC: Record<Topic, readonly RuleId[]> = {
  pump: ['pump_fault', 'short_cycling', 'maintenance_due'],
  flow: ['low_output'],
  level: ['low_water'],
};
const JOINT_RULES: readonly RuleId[] = ['no_flow'];

const dayKey = (tsMs: number): string => new Date(tsMs).toISOString().slice(0, 10);

interface Holding {
  severity: Severity;
  detail: string;
  fault?: string;
}

/**
 * What a condition is at an instant: holding, not holding (null), or unknown because the facts
 * it needs are stale. Unknown changes nothing: silence neither opens nor clears an alert (the
 * offline rule speaks for silence).
 */
type Judgement = Holding | null | 'unknown';

/** How long each rule's condition must hold before an alert opens. */
function durationMs(rule: RuleId, params: RuleParams): number {
  return rule === 'no_flow' ? params.no_flow_minutes * MINUTE_MS : 0;
}

/** A fact older than this (a device that went quiet) is unknown, not "still true". */
const staleAfterMs = (params: RuleParams): number => params.offline_minutes * MINUTE_MS;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** What each event-time rule's condition is at `tMs`, from the facts in `state`. */
function conditionsAt(state: RuleState, tMs: number, context: RuleContext): Record<RuleId, Judgement> {
  const { params, intakeDepthM } = context;
  const fresh = (factTs: number | null): boolean => factTs !== null && tMs - factTs <= staleAfterMs(params);
  const out = {} as Record<RuleId, Judgement>;

  out.pump_fault = !fresh(state.lastPumpTsMs)
    ? 'unknown'
    : state.fault !== ''
      ? { severity: 'critical', detail: describeFault(state.fault), fault: state.fault }
      : null;

  // no_flow reads the joint timeline: the pump and flow as they stood together at `tMs`.
  const joint = state.joint;
  if (!fresh(joint.pumpTsMs)) out.no_flow = 'unknown';
  else if (joint.running !== true) out.no_flow = null;
  else if (!fresh(joint.flowTsMs) || joint.flowLpm === null) out.no_flow = 'unknown';
  else out.no_flow = joint.flowLpm < params.no_flow_lpm ? { severity: 'critical', detail: `débit ${joint.flowLpm} l/min, pompe en marche` } : null;

  if (fresh(state.lastLevelTsMs) && state.depthM !== null) {
    const detail = `niveau ${state.depthM} m, crépine à ${intakeDepthM} m`;
    out.low_water =
      state.depthM >= intakeDepthM
        ? { severity: 'critical', detail }
        : state.depthM >= intakeDepthM - params.low_water_margin_m
          ? { severity: 'warning', detail }
          : null;
  } else {
    out.low_water = 'unknown';
  }

  const startsInHour = state.starts.filter((s) => s > tMs - HOUR_MS).length;
  out.short_cycling =
    startsInHour > params.max_starts_per_hour ? { severity: 'warning', detail: `${startsInHour} démarrages en une heure` } : null;

  out.low_output = state.lowOutput.holds ? { severity: 'warning', detail: state.lowOutput.detail } : null;

  const runningHours = state.runningMsSinceService / HOUR_MS;
  out.maintenance_due =
    runningHours > params.service_hours
      ? { severity: 'info', detail: `${Math.round(runningHours)} h de pompage depuis le dernier entretien` }
      : null;
  return out;
}

const faultOf = (holding: Holding): { fault?: string } => (holding.fault === undefined ? {} : { fault: holding.fault });

/**
 * Moves one rule's condition along with what holds at `tMs`. Events carry the event time at
 * which things happened: an alert opens when the duration was reached, resolves when the
 * condition cleared (confirmed by staying clear for `clear_minutes`).
 */
function track(
  rule: RuleId,
  condition: Condition | undefined,
  holding: Judgement,
  tMs: number,
  params: RuleParams,
  events: RuleEvent[],
): Condition | undefined {
  if (holding === 'unknown') return condition;
  const duration = durationMs(rule, params);
  const clearMs = params.clear_minutes * MINUTE_MS;
  if (holding) {
    if (!condition) {
      if (duration === 0) {
        events.push({ type: 'raised', rule, severity: holding.severity, atMs: tMs, detail: holding.detail, live: true, ...faultOf(holding) });
        return { phase: 'firing', sinceMs: tMs, severity: holding.severity, detail: holding.detail };
      }
      return { phase: 'pending', sinceMs: tMs, severity: holding.severity, detail: holding.detail };
    }
    if (condition.phase === 'pending') {
      if (tMs - condition.sinceMs < duration) return { ...condition, severity: holding.severity, detail: holding.detail };
      const atMs = condition.sinceMs + duration;
      events.push({ type: 'raised', rule, severity: holding.severity, atMs, detail: holding.detail, live: true, ...faultOf(holding) });
      return { phase: 'firing', sinceMs: atMs, severity: holding.severity, detail: holding.detail };
    }
    if (condition.phase === 'clearing' && tMs - (condition.clearSinceMs ?? tMs) >= clearMs) {
      // It was clear long enough between two readings: that alert ended, this is a new one.
      events.push({ type: 'cleared', rule, atMs: condition.clearSinceMs ?? tMs });
      return track(rule, undefined, holding, tMs, params, events);
    }
    // Firing or clearing: the condition holds (again), so the one open alert stays open.
    const severity = severityRank(holding.severity) > severityRank(condition.severity) ? holding.severity : condition.severity;
    if (severity !== condition.severity) {
      events.push({ type: 'raised', rule, severity, atMs: tMs, detail: holding.detail, live: true, ...faultOf(holding) });
    }
    return { phase: 'firing', sinceMs: condition.sinceMs, severity, detail: holding.detail };
  }
  if (!condition) return undefined;
  if (condition.phase === 'pending') {
    // The condition held from `sinceMs` until this reading showed it gone: if that was long
    // enough, the alert opened in between and the condition has been clearing since now.
    if (tMs - condition.sinceMs < duration) return undefined;
    const atMs = condition.sinceMs + duration;
    events.push({ type: 'raised', rule, severity: condition.severity, atMs, detail: condition.detail, live: true });
    return track(rule, { ...condition, phase: 'firing', sinceMs: atMs }, holding, tMs, params, events);
  }
  const clearSinceMs = condition.phase === 'clearing' ? (condition.clearSinceMs ?? tMs) : tMs;
  if (tMs - clearSinceMs >= clearMs) {
    events.push({ type: 'cleared', rule, atMs: clearSinceMs });
    return undefined;
  }
  return { ...condition, phase: 'clearing', clearSinceMs };
}

/** Folds one reading into the facts. */
function absorb(state: RuleState, reading: Reading, params: RuleParams): RuleState {
  const t = reading.tsMs;
  switch (reading.kind) {
    case 'pump': {
      const running = reading.values.running;
      let { runningMsSinceService } = state;
      if (state.running === true && state.lastPumpTsMs !== null) {
        // Running time between two readings, but never across a gap the device was silent for.
        runningMsSinceService += Math.min(t - state.lastPumpTsMs, staleAfterMs(params));
      }
      const started = running && state.running !== true;
      // One more start than the limit is all it takes to judge "more than the limit": a relay
      // chattering every few seconds must not grow the state.
      const starts = (started ? [...state.starts, t] : state.starts)
        .filter((s) => s > t - HOUR_MS)
        .slice(-(params.max_starts_per_hour + 1));
      const fault = (reading.values.fault ?? '').slice(0, MAX_FAULT_LENGTH);
      return { ...state, running, lastPumpTsMs: t, fault, starts, runningMsSinceService };
    }
    case 'flow':
      return accumulateVolume({ ...state, flowLpm: reading.values.rate_lpm, lastFlowTsMs: t }, state, reading.values.total_m3, t, params);
    case 'level':
      return { ...state, depthM: reading.values.depth_m, lastLevelTsMs: t };
    case 'status':
      return state;
  }
}

/**
 * Adds a flow reading to the day's pumped volume: from the meter total where the device sends one
 * (a total that goes down is a meter reset: counting restarts from the new value), else from the
 * flow rate held since the previous reading.
 */
function accumulateVolume(
  next: RuleState,
  previous: RuleState,
  totalM3: number | undefined,
  tMs: number,
  params: RuleParams,
): RuleState {
  const key = dayKey(tMs);
  let state = next;
  if (state.day && key < state.day.key) {
    // Measured before a midnight that a tick already passed: its water belongs to the day before,
    // which is kept as counted; the day being accumulated starts from this meter reading.
    const closed = state.days.at(-1);
    const added = totalM3 !== undefined && state.day.lastTotalM3 !== null && totalM3 >= state.day.lastTotalM3 ? totalM3 - state.day.lastTotalM3 : 0;
    const days = closed?.day === key ? [...state.days.slice(0, -1), { day: key, m3: closed.m3 + added }] : state.days;
    return { ...state, days, day: { ...state.day, lastTotalM3: totalM3 ?? state.day.lastTotalM3 } };
  }
  if (state.day && state.day.key !== key) {
    // A day that ends in silence was not seen whole: kept, but not judged.
    const seenToTheEnd = previous.lastFlowTsMs !== null && tMs - previous.lastFlowTsMs <= staleAfterMs(params);
    state = closeDay(state, params, seenToTheEnd);
  }
  const day = state.day ?? { key, m3: 0, lastTotalM3: null };
  let added = 0;
  if (totalM3 !== undefined && day.lastTotalM3 !== null) {
    added = totalM3 >= day.lastTotalM3 ? totalM3 - day.lastTotalM3 : 0;
  } else if (totalM3 === undefined && previous.lastFlowTsMs !== null && previous.flowLpm !== null) {
    const spanMs = Math.min(tMs - previous.lastFlowTsMs, staleAfterMs(params), tMs - Date.parse(`${key}T00:00:00Z`));
    added = (previous.flowLpm * Math.max(0, spanMs)) / MINUTE_MS / 1000;
  }
  return { ...state, day: { key, m3: day.m3 + added, lastTotalM3: totalM3 ?? day.lastTotalM3 } };
}

/** A day is over: keep its volume and judge it against the median of the 14 days before it. */
function closeDay(state: RuleState, params: RuleParams, judgeIt: boolean): RuleState {
  if (!state.day) return state;
  const previousDays = state.days.at(-1)?.day === state.day.key ? state.days.slice(0, -1) : state.days;
  const carried = state.days.at(-1)?.day === state.day.key ? (state.days.at(-1)?.m3 ?? 0) : 0;
  const finished = { day: state.day.key, m3: state.day.m3 + carried };
  const baseline = previousDays.slice(-MEDIAN_DAYS);
  // A day not seen whole tells nothing: whatever stood (an open low_output) stands.
  let lowOutput = judgeIt ? { holds: false, detail: '' } : state.lowOutput;
  if (judgeIt && baseline.length >= MIN_BASELINE_DAYS) {
    const typical = median(baseline.map((d) => d.m3));
    if (typical > 0 && finished.m3 < params.low_output_ratio * typical) {
      lowOutput = {
        holds: true,
        detail: `${finished.m3.toFixed(1)} m3 le ${finished.day}, médiane ${typical.toFixed(1)} m3`,
      };
    }
  }
  const days = [...previousDays, finished].slice(-(MEDIAN_DAYS + 1));
  return { ...state, days, lowOutput, day: { key: state.day.key, m3: 0, lastTotalM3: state.day.lastTotalM3 } };
}

/**
 * Judges readings (of one borehole, any kinds, any order) received at `nowMs` (the service clock).
 * A reading older than its own topic's newest arrived late (another batch of that topic went
 * first) and only counts as "heard from"; a reading older than another topic's newest is judged
 * in its place. Raised events whose condition no longer holds at the end are not live.
 */
export function evaluateReadings(
  state: RuleState,
  readings: readonly Reading[],
  nowMs: number,
  context: RuleContext,
): { state: RuleState; events: RuleEvent[]; late: number } {
  const events: RuleEvent[] = [];
  const sorted = [...readings]
    .map((reading) => ({ reading, key: JSON.stringify(reading.values) }))
    .sort((a, b) => a.reading.tsMs - b.reading.tsMs || kindOrder(a.reading) - kindOrder(b.reading) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ reading }) => reading);
  // A Last Will (`online: false`, published by the broker for a device that vanished) is not
  // the device talking: it must not reset the silence the offline rule measures.
  const heard = readings.some((r) => r.kind !== 'status' || r.values.online);
  let next: RuleState = heard ? { ...state, lastHeardAtMs: Math.max(state.lastHeardAtMs ?? nowMs, nowMs) } : state;
  let late = 0;
  for (const reading of sorted) {
    // A status says the device is heard (counted above), nothing about the pump; and the status a
    // reconnecting device publishes first must not make the history it then sends look late.
    if (reading.kind === 'status') continue;
    const topicTsMs = topicTimeOf(next, reading.kind);
    if (topicTsMs !== null && reading.tsMs < topicTsMs) {
      late += 1;
      continue;
    }
    next = absorb(next, reading, context.params);
    next = { ...next, lastTsMs: Math.max(next.lastTsMs ?? reading.tsMs, reading.tsMs) };
    next = judge(next, reading.tsMs, context, RULES_OF_TOPIC[reading.kind], events);
    if (reading.kind === 'pump' || reading.kind === 'flow') {
      const entry: JointEntry = {
        tsMs: reading.tsMs,
        kind: reading.kind,
        value: reading.kind === 'pump' ? (reading.values.running ? 1 : 0) : reading.values.rate_lpm,
        arrivedAtMs: nowMs,
      };
      if (next.joint.atMs !== null && entry.tsMs < next.joint.atMs) late += 1;
      else next = { ...next, joint: { ...next.joint, queue: insertSorted(next.joint.queue, entry) } };
    }
  }
  next = advanceJoint(next, nowMs, context, events, false);
  next = judgeOffline(next, nowMs, context.params, events);
  const firing = new Set(RULE_IDS.filter((rule) => next.conditions[rule]?.phase === 'firing'));
  // Only a condition that still holds at the newest reading notifies; the rest is history.
  const marked = events.map((event, index) => {
    if (event.type !== 'raised') return event;
    const clearedLater = events.slice(index + 1).some((e) => e.type === 'cleared' && e.rule === event.rule);
    return { ...event, live: firing.has(event.rule) && !clearedLater };
  });
  return { state: next, events: marked, late };
}

function topicTimeOf(state: RuleState, topic: Topic): number | null {
  return topic === 'pump' ? state.lastPumpTsMs : topic === 'flow' ? state.lastFlowTsMs : state.lastLevelTsMs;
}

const jointOrder = (a: JointEntry, b: JointEntry): number =>
  a.tsMs - b.tsMs || (a.kind === b.kind ? a.value - b.value : a.kind === 'pump' ? -1 : 1);

function insertSorted(queue: readonly JointEntry[], entry: JointEntry): JointEntry[] {
  const out = [...queue];
  let index = out.length;
  while (index > 0 && jointOrder(out[index - 1] as JointEntry, entry) > 0) index -= 1;
  out.splice(index, 0, entry);
  return out;
}

/**
 * Judges `no_flow` on the joint timeline up to the newest instant both topics have reached, and
 * beyond it for readings that have waited longer than the horizon (or all of them once the
 * borehole has been silent that long: nothing more is coming to wait for).
 */
function advanceJoint(state: RuleState, nowMs: number, context: RuleContext, events: RuleEvent[], releaseAll: boolean): RuleState {
  const { queue } = state.joint;
  if (queue.length === 0) return state;
  let untilMs = state.lastPumpTsMs !== null && state.lastFlowTsMs !== null ? Math.min(state.lastPumpTsMs, state.lastFlowTsMs) : -Infinity;
  if (releaseAll) untilMs = Infinity;
  for (const entry of queue) {
    if (entry.arrivedAtMs <= nowMs - CROSS_TOPIC_HORIZON_MS) untilMs = Math.max(untilMs, entry.tsMs);
  }
  if (queue.length > MAX_JOINT_QUEUE) untilMs = Math.max(untilMs, (queue[queue.length - MAX_JOINT_QUEUE - 1] as JointEntry).tsMs);
  let next = state;
  let taken = 0;
  for (const entry of queue) {
    if (entry.tsMs > untilMs) break;
    taken += 1;
    const joint = next.joint;
    if (joint.atMs !== null && entry.tsMs - joint.atMs > staleAfterMs(context.params)) {
      // After a silence longer than offline_minutes, a duration starts again: nobody knows
      // whether the condition held through it.
      next = { ...next, conditions: withoutPending(next.conditions) };
    }
    const facts =
      entry.kind === 'pump'
        ? { running: entry.value === 1, pumpTsMs: entry.tsMs }
        : { flowLpm: entry.value, flowTsMs: entry.tsMs };
    next = { ...next, joint: { ...next.joint, ...facts, atMs: entry.tsMs } };
    next = judge(next, entry.tsMs, context, JOINT_RULES, events);
  }
  return taken === 0 ? state : { ...next, joint: { ...next.joint, queue: queue.slice(taken) } };
}

function withoutPending(conditions: RuleState['conditions']): RuleState['conditions'] {
  return Object.fromEntries(Object.entries(conditions).filter(([, condition]) => condition.phase !== 'pending'));
}

/**
 * Pump before flow at the same instant: "running" must be known when the flow is judged. Two
 * readings of one kind at one instant are ordered by content, so arrival order never matters.
 */
function kindOrder(reading: Reading): number {
  return reading.kind === 'pump' ? 0 : reading.kind === 'status' ? 3 : 1;
}

function judge(state: RuleState, tMs: number, context: RuleContext, rules: readonly RuleId[], events: RuleEvent[]): RuleState {
  const holding = conditionsAt(state, tMs, context);
  const conditions = { ...state.conditions };
  for (const rule of rules) {
    const updated = track(rule, conditions[rule], holding[rule] ?? null, tMs, context.params, events);
    if (updated) conditions[rule] = updated;
    else delete conditions[rule];
  }
  return { ...state, conditions };
}

function judgeOffline(state: RuleState, nowMs: number, params: RuleParams, events: RuleEvent[]): RuleState {
  if (state.lastHeardAtMs === null) return state;
  const limitMs = params.offline_minutes * MINUTE_MS;
  const silentMs = nowMs - state.lastHeardAtMs;
  const holding: Judgement = silentMs >= limitMs ? { severity: 'warning', detail: `aucun message depuis ${Math.floor(silentMs / MINUTE_MS)} min` } : null;
  const conditions = { ...state.conditions };
  // The alert opens at the moment the silence reached the limit, not at the tick that saw it.
  const atMs = holding ? state.lastHeardAtMs + limitMs : nowMs;
  const updated = track('offline', conditions.offline, holding, atMs, params, events);
  if (updated) conditions.offline = updated;
  else delete conditions.offline;
  return { ...state, conditions };
}

/**
 * Re-checks what only time can change: silence (offline), a duration or a clear period that ends
 * without new data, a day that ends. Each timeline is advanced by the wall-clock time since the
 * borehole's last message; facts go stale after `offline_minutes`. The joint timeline of
 * `no_flow` is advanced only once both topics have caught up, so a tick never judges ahead of a
 * reading that is still on its way.
 */
export function evaluateTick(state: RuleState, nowMs: number, context: RuleContext): { state: RuleState; events: RuleEvent[] } {
  const events: RuleEvent[] = [];
  let next = judgeOffline(state, nowMs, context.params, events);
  if (next.lastHeardAtMs === null) return { state: next, events };
  const elapsedMs = Math.max(0, nowMs - next.lastHeardAtMs);
  next = advanceJoint(next, nowMs, context, events, elapsedMs >= CROSS_TOPIC_HORIZON_MS);

  if (next.lastFlowTsMs !== null) {
    const flowNowMs = next.lastFlowTsMs + elapsedMs;
    // A day also ends without a reading after midnight, provided the device was still talking.
    // The grace lets the last readings before midnight arrive before the day is judged.
    const closeAtMs = flowNowMs - DAY_CLOSE_GRACE_MS;
    if (next.day && dayKey(closeAtMs) > next.day.key && elapsedMs <= staleAfterMs(context.params)) {
      const closed = closeDay(next, context.params, true);
      next = { ...closed, day: { key: dayKey(closeAtMs), m3: 0, lastTotalM3: closed.day?.lastTotalM3 ?? null } };
    }
    next = judge(next, flowNowMs, context, RULES_OF_TOPIC.flow, events);
  }
  if (next.lastPumpTsMs !== null) next = judge(next, next.lastPumpTsMs + elapsedMs, context, RULES_OF_TOPIC.pump, events);
  if (next.lastLevelTsMs !== null) next = judge(next, next.lastLevelTsMs + elapsedMs, context, RULES_OF_TOPIC.level, events);
  if (next.joint.atMs !== null && next.joint.queue.length === 0) next = judge(next, next.joint.atMs + elapsedMs, context, JOINT_RULES, events);
  return { state: next, events };
}

/** A technician recorded a maintenance visit: running hours start again from zero. */
export function recordMaintenance(state: RuleState): RuleState {
  return { ...state, runningMsSinceService: 0 };
}

/**
 * A person closed the alert of `rule`: the rule starts afresh, so a condition that persists
 * opens a new alert rather than being silently absorbed by the closed one.
 */
export function forgetCondition(state: RuleState, rule: RuleId): RuleState {
  const conditions = { ...state.conditions };
  delete conditions[rule];
  return { ...state, conditions };
}
