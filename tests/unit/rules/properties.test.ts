/**
 * Properties of the rule evaluation over random reading sequences of one borehole: pump, flow,
 * level and status readings in bursts over a 2-day window, delivered in batches (some readings
 * arriving late), with ticks, people closing alerts and maintenance visits in between.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RuleParamsOverride } from '../../../src/config/rule-params.js';
import type { Reading } from '../../../src/domain/reading.js';
import {
  evaluateReadings,
  evaluateTick,
  forgetCondition,
  recordMaintenance,
  type RuleContext,
} from '../../../src/rules/evaluate.js';
import {
  initialRuleState,
  RULE_IDS,
  severityRank,
  type RuleEvent,
  type RuleId,
  type RuleState,
  type Severity,
} from '../../../src/rules/types.js';
import { BASE_MS, contextWith, describeEvent, MINUTE_MS, randomFrom, SECOND_MS } from './borehole.js';

const RUNS = { seed: 42, numRuns: 200 } as const;
const WINDOW_MINUTES = 2 * 24 * 60;
const KINDS = ['pump', 'flow', 'level', 'status'] as const;

type Sample =
  | { kind: 'pump'; running: boolean; fault: string | null }
  | { kind: 'flow'; rateLpm: number; totalM3: number | null }
  | { kind: 'level'; depthM: number }
  | { kind: 'status' };

const sampleArb: fc.Arbitrary<Sample> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('pump' as const),
      running: fc.boolean(),
      fault: fc.constantFrom(null, null, null, null, '', 'overload', 'dry_run', 'bearing_noise'),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('flow' as const),
      rateLpm: fc.constantFrom(0, 0.5, 0.99, 1, 5, 20),
      totalM3: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('level' as const), depthM: fc.constantFrom(10, 30, 36.9, 37, 38.5, 40, 42) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('status' as const) }) },
);

/** Readings close together (at most 90 minutes apart), so durations and clear periods complete. */
const burstArb = fc.record({
  startMinute: fc.integer({ min: 0, max: WINDOW_MINUTES }),
  items: fc.array(fc.record({ offsetMinute: fc.integer({ min: 0, max: 90 }), sample: sampleArb }), { minLength: 1, maxLength: 40 }),
});

/** A pump that starts every few minutes, now and then too often for an hour (short_cycling). */
const chatterArb = fc
  .record({
    startMinute: fc.integer({ min: 0, max: WINDOW_MINUTES }),
    starts: fc.integer({ min: 4, max: 10 }),
    everyMinutes: fc.integer({ min: 2, max: 9 }),
  })
  .map(({ startMinute, starts, everyMinutes }) => ({
    startMinute,
    items: Array.from({ length: starts }, (_, i): { offsetMinute: number; sample: Sample }[] => [
      { offsetMinute: i * everyMinutes, sample: { kind: 'pump', running: true, fault: null } },
      { offsetMinute: i * everyMinutes + 1, sample: { kind: 'pump', running: false, fault: null } },
    ]).flat(),
  }));

const anyBurstArb = fc.oneof({ weight: 5, arbitrary: burstArb }, { weight: 1, arbitrary: chatterArb });

/** How readings are delivered: batch sizes, delays, ticks, what people do between batches. */
const deliveryArb = fc.record({
  size: fc.integer({ min: 1, max: 60 }),
  /** Wall-clock minutes between the newest reading of the batch and its arrival. */
  delayMinutes: fc.constantFrom(0, 0, 0, 1, 5, 30, 90, 240),
  /** Ticks after the batch arrived, in minutes of wall clock. */
  tickMinutes: fc.array(fc.integer({ min: 0, max: 180 }), { maxLength: 4 }),
  /** This many of the batch's oldest readings are held back and arrive with the next batch. */
  heldBack: fc.integer({ min: 0, max: 3 }),
  forget: fc.option(fc.constantFrom(...RULE_IDS), { nil: null, freq: 8 }),
  maintenance: fc.constantFrom(false, false, false, false, false, false, false, true),
});

const paramsArb: fc.Arbitrary<RuleParamsOverride> = fc.record({
  no_flow_minutes: fc.constantFrom(10, 2, 0.5),
  clear_minutes: fc.constantFrom(5, 0.5),
  offline_minutes: fc.constantFrom(60, 30),
  service_hours: fc.constantFrom(2000, 3),
});

const planOf = (bursts: { minLength: number; maxLength: number }) =>
  fc.record({
    params: paramsArb,
    bursts: fc.array(anyBurstArb, bursts),
    deliveries: fc.array(deliveryArb, { minLength: 1, maxLength: 40 }),
    shuffleSeed: fc.integer(),
  });
const planArb = planOf({ minLength: 1, maxLength: 25 });
/** 10 to 40 bursts: a few hundred readings, up to 1,600. */
const longPlanArb = planOf({ minLength: 10, maxLength: 40 });
type Plan = typeof planArb extends fc.Arbitrary<infer T> ? T : never;

type Step =
  | { type: 'readings'; readings: Reading[]; nowMs: number }
  | { type: 'tick'; nowMs: number }
  | { type: 'forget'; rule: RuleId }
  | { type: 'maintenance' };

function toReading(tsMs: number, sample: Sample): Reading {
  const base = { boreholeId: 'khabou', tsMs };
  switch (sample.kind) {
    case 'pump':
      return { ...base, kind: 'pump', values: { running: sample.running, fault: sample.fault } };
    case 'flow':
      return {
        ...base,
        kind: 'flow',
        values: sample.totalM3 === null ? { rate_lpm: sample.rateLpm } : { rate_lpm: sample.rateLpm, total_m3: sample.totalM3 },
      };
    case 'level':
      return { ...base, kind: 'level', values: { depth_m: sample.depthM } };
    case 'status':
      return { ...base, kind: 'status', values: { online: true } };
  }
}

/**
 * The plan as steps. `sameInstants`: readings of different kinds may share an instant (a device
 * samples its sensors together); otherwise each kind is a few seconds apart. Two readings of one
 * kind at one instant would be a contradiction, so only the first is kept.
 */
function stepsOf(plan: Plan, sameInstants: boolean): Step[] {
  const seen = new Set<string>();
  const readings: Reading[] = [];
  for (const burst of plan.bursts) {
    for (const { offsetMinute, sample } of burst.items) {
      const kindOffsetMs = sameInstants ? 0 : KINDS.indexOf(sample.kind) * SECOND_MS;
      const tsMs = BASE_MS + (burst.startMinute + offsetMinute) * MINUTE_MS + kindOffsetMs;
      const key = `${sample.kind}@${tsMs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      readings.push(toReading(tsMs, sample));
    }
  }
  readings.sort((a, b) => a.tsMs - b.tsMs);

  const steps: Step[] = [];
  let wallMs = BASE_MS;
  let cursor = 0;
  let heldBack: Reading[] = [];
  plan.deliveries.forEach((delivery, index) => {
    const last = index === plan.deliveries.length - 1;
    const own = readings.slice(cursor, last ? readings.length : cursor + delivery.size);
    cursor += own.length;
    const batch = [...heldBack, ...own.slice(delivery.heldBack)];
    heldBack = own.slice(0, delivery.heldBack);
    if (last) batch.push(...heldBack);
    if (batch.length > 0) {
      wallMs = Math.max(wallMs, ...batch.map((reading) => reading.tsMs)) + delivery.delayMinutes * MINUTE_MS;
      steps.push({ type: 'readings', readings: batch, nowMs: wallMs });
    }
    for (const tickMinute of [...delivery.tickMinutes].sort((a, b) => a - b)) {
      steps.push({ type: 'tick', nowMs: wallMs + tickMinute * MINUTE_MS });
    }
    wallMs += Math.max(0, ...delivery.tickMinutes) * MINUTE_MS;
    if (delivery.forget) steps.push({ type: 'forget', rule: delivery.forget });
    if (delivery.maintenance) steps.push({ type: 'maintenance' });
  });
  return steps;
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

interface Outcome {
  state: RuleState;
  /** Per step: its events, and for readings how many were late. */
  results: { events: RuleEvent[]; late?: number }[];
  /** The newest instant the borehole's event clock reached (readings and ticks). */
  eventClockMs: number;
  lastWallMs: number;
}

function run(
  steps: readonly Step[],
  context: RuleContext,
  options: { from?: Outcome; shuffleSeed?: number; onStep?: (step: Step, events: readonly RuleEvent[], state: RuleState) => void } = {},
): Outcome {
  const random = options.shuffleSeed === undefined ? null : randomFrom(options.shuffleSeed);
  let state = options.from?.state ?? initialRuleState();
  let eventClockMs = options.from?.eventClockMs ?? BASE_MS;
  let lastWallMs = options.from?.lastWallMs ?? BASE_MS;
  const results: Outcome['results'] = [];
  for (const step of steps) {
    let events: RuleEvent[] = [];
    switch (step.type) {
      case 'readings': {
        const readings = random ? shuffled(step.readings, random) : step.readings;
        const result = evaluateReadings(state, readings, step.nowMs, context);
        ({ state, events } = result);
        results.push({ events, late: result.late });
        lastWallMs = step.nowMs;
        break;
      }
      case 'tick': {
        if (state.lastTsMs !== null && state.lastHeardAtMs !== null) {
          eventClockMs = Math.max(eventClockMs, state.lastTsMs + Math.max(0, step.nowMs - state.lastHeardAtMs));
        }
        ({ state, events } = evaluateTick(state, step.nowMs, context));
        results.push({ events });
        lastWallMs = step.nowMs;
        break;
      }
      case 'forget':
        state = forgetCondition(state, step.rule);
        results.push({ events });
        break;
      case 'maintenance':
        state = recordMaintenance(state);
        results.push({ events });
        break;
    }
    eventClockMs = Math.max(eventClockMs, state.lastTsMs ?? BASE_MS);
    options.onStep?.(step, events, state);
  }
  return { state, results, eventClockMs, lastWallMs };
}

/**
 * The alert lifecycle in miniature: a raised event on a rule with no open alert opens one; on a
 * rule with one open, it must raise the severity; a cleared event closes the open one; a person
 * closing an alert (forgetCondition) closes it too. Anything else is a second alert for one rule.
 */
class AlertModel {
  readonly open = new Map<RuleId, Severity>();

  apply(step: Step, events: readonly RuleEvent[]): void {
    if (step.type === 'forget') this.open.delete(step.rule);
    for (const event of events) {
      const current = this.open.get(event.rule);
      if (event.type === 'raised') {
        if (current !== undefined && severityRank(event.severity) <= severityRank(current)) {
          throw new Error(`a second alert for ${event.rule}: ${describeEvent(event)} while one is open (${current})`);
        }
        this.open.set(event.rule, event.severity);
      } else {
        if (current === undefined) throw new Error(`${describeEvent(event)} with no alert open`);
        this.open.delete(event.rule);
      }
    }
  }
}

/** Rules whose alert the state says is open (firing, or clearing but not yet resolved). */
const openInState = (state: RuleState): RuleId[] =>
  RULE_IDS.filter((rule) => {
    const phase = state.conditions[rule]?.phase;
    return phase === 'firing' || phase === 'clearing';
  });

/**
 * Everything fine for long enough: one minute apart, the pump running without fault, water at the
 * rated flow, the level far above the intake, sent live. Long enough for the pump starts of the
 * last hour to leave the window and for every clear period to pass, then a few ticks.
 */
function allClear(after: Outcome, durationMinutes: number): Step[] {
  const startMs = Math.max(after.eventClockMs, after.lastWallMs) + MINUTE_MS;
  const steps: Step[] = [];
  for (let minute = 0; minute <= durationMinutes; minute++) {
    const tsMs = startMs + minute * MINUTE_MS;
    steps.push({
      type: 'readings',
      nowMs: tsMs,
      readings: [
        toReading(tsMs, { kind: 'pump', running: true, fault: null }),
        toReading(tsMs, { kind: 'flow', rateLpm: 20, totalM3: null }),
        toReading(tsMs, { kind: 'level', depthM: 10 }),
      ],
    });
  }
  const lastMs = startMs + durationMinutes * MINUTE_MS;
  steps.push({ type: 'tick', nowMs: lastMs + 10 * SECOND_MS }, { type: 'tick', nowMs: lastMs + 6 * MINUTE_MS });
  return steps;
}

const readable = (outcome: Outcome): { state: RuleState; results: { events: string[]; late?: number }[] } => ({
  state: outcome.state,
  results: outcome.results.map(({ events, late }) => ({ events: events.map(describeEvent), ...(late === undefined ? {} : { late }) })),
});

describe('rule evaluation over random reading sequences', () => {
  it('never has two unresolved alerts for one rule, nor resolves one that is not open', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(planArb, (plan) => {
        const model = new AlertModel();
        run(stepsOf(plan, true), contextWith(plan.params), {
          onStep: (step, events, state) => {
            model.apply(step, events);
            // The state agrees: an alert is open exactly where a condition is firing or clearing.
            expect([...model.open.keys()].sort()).toEqual(openInState(state).sort());
            for (const event of events) seen.add(event.type === 'raised' ? `${event.rule} ${event.severity}` : `${event.rule} cleared`);
          },
        });
      }),
      RUNS,
    );
    // The sequences reach every rule that can fire within 2 days (low_output needs 7 days of baseline).
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'low_water critical',
        'low_water cleared',
        'low_water warning',
        'maintenance_due cleared',
        'maintenance_due info',
        'no_flow cleared',
        'no_flow critical',
        'offline cleared',
        'offline warning',
        'pump_fault cleared',
        'pump_fault critical',
        'short_cycling cleared',
        'short_cycling warning',
      ]),
    );
  });

  it('gives the same events and the same final state whatever the order of the readings inside each batch', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const context = contextWith(plan.params);
        const steps = stepsOf(plan, false);
        expect(readable(run(steps, context, { shuffleSeed: plan.shuffleSeed }))).toEqual(readable(run(steps, context)));
      }),
      RUNS,
    );
  });

  // The firmware simulator stamps its flow, pump and level readings with one ts: readings of one
  // instant are the rule, not the exception.
  it('gives the same outcome whatever the order inside a batch when sensors share an instant', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const context = contextWith(plan.params);
        const steps = stepsOf(plan, true);
        expect(readable(run(steps, context, { shuffleSeed: plan.shuffleSeed }))).toEqual(readable(run(steps, context)));
      }),
      RUNS,
    );
  });

  it('resolves every alert once its condition has been absent long enough', () => {
    fc.assert(
      fc.property(planArb, (plan) => {
        const context = contextWith(plan.params);
        const model = new AlertModel();
        const onStep = (step: Step, events: readonly RuleEvent[]): void => model.apply(step, events);
        const history = run(stepsOf(plan, true), context, { onStep });
        // maintenance_due stands until a technician records a visit: record one. The all-clear
        // messages below end the silence that offline stands for.
        const serviced = run([{ type: 'maintenance' }], context, { from: history, onStep });
        const after = run(allClear(serviced, 75), context, { from: serviced, onStep });

        expect(after.state.conditions).toEqual({});
        expect([...model.open.keys()]).toEqual([]);
      }),
      RUNS,
    );
  });

  it('keeps the state of a borehole under 2 KB after long random sequences', () => {
    fc.assert(
      fc.property(longPlanArb, (plan) => {
        const context = contextWith(plan.params);
        const history = run(stepsOf(plan, true), context);
        expect(JSON.stringify(history.state).length).toBeLessThan(2048);
        const after = run(allClear(history, 75), context, { from: history });
        expect(JSON.stringify(after.state).length).toBeLessThan(2048);
      }),
      RUNS,
    );
  });
});
