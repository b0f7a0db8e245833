/**
 * Rule evaluation: pure functions of (state, readings or tick, time) returning the new state and
 * events. No clock, no database, no logger: the engine (`engine.ts`) does that.
 *
 * Time. Rules judge readings by their `ts` (event time), so a store-and-forward batch is judged as
 * it happened. `offline` alone is judged on the wall clock (when the service last heard from the
 * borehole). A tick re-checks what only time can change; for event-time rules it advances the
 * borehole's clock by the wall-clock time since its last message, so a device that is still
 * backfilling history is never judged ahead of the data it has yet to send.
 */
import type { RuleParams } from '../config/rule-params.js';
import type { Reading } from '../domain/reading.js';
import { describeFault } from './messages.js';
import {
  RULE_IDS,
  severityRank,
  type Condition,
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

  if (!fresh(state.lastPumpTsMs)) out.no_flow = 'unknown';
  else if (state.running !== true) out.no_flow = null;
  else if (!fresh(state.lastFlowTsMs) || state.flowLpm === null) out.no_flow = 'unknown';
  else out.no_flow = state.flowLpm < params.no_flow_lpm ? { severity: 'critical', detail: `débit ${state.flowLpm} l/min, pompe en marche` } : null;

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

const EVENT_TIME_RULES = RULE_IDS.filter((rule) => rule !== 'offline');

/**
 * Judges readings (of one borehole, any kinds, any order) received at `nowMs`. Readings older
 * than the newest one already judged arrived late (another batch went first) and only count as
 * "heard from". Raised events whose condition no longer holds at the newest reading are not live.
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
    if (next.lastTsMs !== null && reading.tsMs < next.lastTsMs) {
      late += 1;
      continue;
    }
    if (next.lastTsMs !== null && reading.tsMs - next.lastTsMs > staleAfterMs(context.params)) {
      // After a silence longer than offline_minutes, a duration starts again: nobody knows
      // whether the condition held through it.
      next = { ...next, conditions: withoutPending(next.conditions) };
    }
    next = absorb(next, reading, context.params);
    next = { ...next, lastTsMs: reading.tsMs };
    next = judge(next, reading.tsMs, context, events);
  }
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

function judge(state: RuleState, tMs: number, context: RuleContext, events: RuleEvent[]): RuleState {
  const holding = conditionsAt(state, tMs, context);
  const conditions = { ...state.conditions };
  for (const rule of EVENT_TIME_RULES) {
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
 * without new data, a day that ends. Event-time rules see the borehole's clock advanced by the
 * wall-clock time since its last message; facts go stale after `offline_minutes`.
 */
export function evaluateTick(state: RuleState, nowMs: number, context: RuleContext): { state: RuleState; events: RuleEvent[] } {
  const events: RuleEvent[] = [];
  let next = judgeOffline(state, nowMs, context.params, events);
  if (next.lastTsMs !== null && next.lastHeardAtMs !== null) {
    const eventNowMs = next.lastTsMs + Math.max(0, nowMs - next.lastHeardAtMs);
    // A day also ends without a reading after midnight, provided the device was still talking.
    // The grace lets the last readings before midnight arrive before the day is judged.
    const closeAtMs = eventNowMs - DAY_CLOSE_GRACE_MS;
    if (next.day && dayKey(closeAtMs) > next.day.key && eventNowMs - next.lastTsMs <= staleAfterMs(context.params)) {
      const closed = closeDay(next, context.params, true);
      next = { ...closed, day: { key: dayKey(closeAtMs), m3: 0, lastTotalM3: closed.day?.lastTotalM3 ?? null } };
    }
    next = judge(next, eventNowMs, context, events);
  }
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
