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
import { CATALOGUE, DEFINITIONS } from './catalogue/index.js';
import { MINUTE_MS, staleAfterMs, type Holding, type Instant, type Judgement, type RuleDefinition, type Timeline } from './catalogue/definition.js';
import { RULE_IDS, severityRank, type Condition, type JointEntry, type RuleEvent, type RuleId, type RuleState } from './types.js';

export interface RuleContext {
  params: RuleParams;
  intakeDepthM: number;
}

/**
 * How long a pump or flow reading waits (service clock, from its arrival) for the other topic to
 * reach its instant before `no_flow` judges it anyway. A store-and-forward device sends its
 * topics' batches seconds to a minute apart, a live one seconds apart: ten minutes covers both.
 */
export const CROSS_TOPIC_HORIZON_MS = 10 * MINUTE_MS;
/** A joint queue longer than this (a flow meter that never reports) is judged from its oldest. */
const MAX_JOINT_QUEUE = 2000;

type Topic = 'pump' | 'flow' | 'level';

/** The rules judged on each timeline, in catalogue order (docs/rules.md, "Across topics"). */
const rulesOn = (timeline: Timeline): readonly RuleId[] => RULE_IDS.filter((rule) => CATALOGUE[rule].timeline === timeline);
const RULES_ON: Record<Timeline, readonly RuleId[]> = {
  pump: rulesOn('pump'),
  flow: rulesOn('flow'),
  level: rulesOn('level'),
  joint: rulesOn('joint'),
  silence: rulesOn('silence'),
};

const definitionOf = (rule: RuleId): RuleDefinition => CATALOGUE[rule];

/** An instant of a timeline, the same for every rule judged at it. */
function instantAt(state: RuleState, tMs: number, context: RuleContext): Instant<RuleParams> {
  const staleMs = staleAfterMs(context.params);
  return {
    tMs,
    params: context.params,
    intakeDepthM: context.intakeDepthM,
    topics: state,
    fresh: (factTs) => factTs !== null && tMs - factTs <= staleMs,
  };
}

/** Merges a rule's returned facts into the state; the same object back means nothing changed. */
function withFacts(state: RuleState, before: object, after: object): RuleState {
  return after === before ? state : { ...state, ...after };
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
  const definition = definitionOf(rule);
  const duration = definition.durationMs(params);
  const clearMs = definition.clearMs(params);
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

/**
 * Folds one reading into the facts: each rule's own (seeing the topics as they stood before the
 * reading), then the topic's timeline.
 */
function absorb(state: RuleState, reading: Reading, params: RuleParams): RuleState {
  let next = state;
  for (const definition of DEFINITIONS) {
    if (!definition.absorb) continue;
    next = withFacts(next, next, definition.absorb(next, reading, state, params));
  }
  const t = reading.tsMs;
  switch (reading.kind) {
    case 'pump':
      return { ...next, running: reading.values.running, lastPumpTsMs: t };
    case 'flow':
      return { ...next, flowLpm: reading.values.rate_lpm, lastFlowTsMs: t };
    case 'level':
      return { ...next, depthM: reading.values.depth_m, lastLevelTsMs: t };
    case 'status':
      return next;
  }
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
    next = judge(next, reading.tsMs, context, RULES_ON[reading.kind], events);
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
  next = judgeSilence(next, nowMs, context, events);
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
    for (const rule of RULES_ON.joint) {
      const definition = definitionOf(rule);
      if (definition.absorbJoint) next = withFacts(next, next, definition.absorbJoint(next, next.joint, context.params));
    }
    next = judge(next, entry.tsMs, context, RULES_ON.joint, events);
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
  if (rules.length === 0) return state;
  const instant = instantAt(state, tMs, context);
  const conditions = { ...state.conditions };
  for (const rule of rules) {
    const updated = track(rule, conditions[rule], definitionOf(rule).judge(state, instant), tMs, context.params, events);
    if (updated) conditions[rule] = updated;
    else delete conditions[rule];
  }
  return { ...state, conditions };
}

/** The silence timeline: the service clock since the borehole was last heard (`offline`). */
function judgeSilence(state: RuleState, nowMs: number, context: RuleContext, events: RuleEvent[]): RuleState {
  if (state.lastHeardAtMs === null) return state;
  const instant = instantAt(state, nowMs, context);
  const conditions = { ...state.conditions };
  for (const rule of RULES_ON.silence) {
    const definition = definitionOf(rule);
    const holding = definition.judge(state, instant);
    const atMs = holding && holding !== 'unknown' ? (definition.heldSinceMs?.(state, instant) ?? nowMs) : nowMs;
    const updated = track(rule, conditions[rule], holding, atMs, context.params, events);
    if (updated) conditions[rule] = updated;
    else delete conditions[rule];
  }
  return { ...state, conditions };
}

/** A tick on one topic's timeline: what only time changes for its rules, then their judgement. */
function tickTopic(state: RuleState, topic: Topic, tMs: number, elapsedMs: number, context: RuleContext, events: RuleEvent[]): RuleState {
  let next = state;
  for (const rule of RULES_ON[topic]) {
    const definition = definitionOf(rule);
    if (definition.tick) next = withFacts(next, next, definition.tick(next, { tMs, elapsedMs, params: context.params, topics: next }));
  }
  return judge(next, tMs, context, RULES_ON[topic], events);
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
  let next = judgeSilence(state, nowMs, context, events);
  if (next.lastHeardAtMs === null) return { state: next, events };
  const elapsedMs = Math.max(0, nowMs - next.lastHeardAtMs);
  next = advanceJoint(next, nowMs, context, events, elapsedMs >= CROSS_TOPIC_HORIZON_MS);
  if (next.lastFlowTsMs !== null) next = tickTopic(next, 'flow', next.lastFlowTsMs + elapsedMs, elapsedMs, context, events);
  if (next.lastPumpTsMs !== null) next = tickTopic(next, 'pump', next.lastPumpTsMs + elapsedMs, elapsedMs, context, events);
  if (next.lastLevelTsMs !== null) next = tickTopic(next, 'level', next.lastLevelTsMs + elapsedMs, elapsedMs, context, events);
  if (next.joint.atMs !== null && next.joint.queue.length === 0) next = judge(next, next.joint.atMs + elapsedMs, context, RULES_ON.joint, events);
  return { state: next, events };
}

/** A technician recorded a maintenance visit: each rule that counts from the last one starts again. */
export function recordMaintenance(state: RuleState): RuleState {
  let next = state;
  for (const definition of DEFINITIONS) {
    if (definition.maintained) next = withFacts(next, next, definition.maintained(next));
  }
  return next;
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
