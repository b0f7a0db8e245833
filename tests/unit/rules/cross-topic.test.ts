/**
 * The rules judge a borehole's topics together in event time, whatever order and delay the topics
 * arrive in (docs/rules.md, "Across topics"). A device measures its pump, flow and level seconds
 * apart and publishes each as its own message over GPRS; after an outage it sends one batch per
 * topic, seconds to a minute apart. The property: the same readings, delivered in any per-topic
 * interleaving with any delay within the horizon, give the same alerts at the same event times as
 * the same readings judged in time order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../src/domain/reading.js';
import { CROSS_TOPIC_HORIZON_MS, evaluateReadings, evaluateTick } from '../../../src/rules/evaluate.js';
import { initialRuleState, type RuleEvent, type RuleState } from '../../../src/rules/types.js';
import { at, contextWith, describeEvents, flow, level, minutes, pump, randomFrom, SECOND_MS } from './borehole.js';

const between = (random: () => number, low: number, high: number): number => low + random() * (high - low);

/**
 * Three hours of a borehole, one cycle a minute: the pump starts and stops, the well runs dry now
 * and then (pump running, no flow), faults come and go, the water level sinks to the intake. Each
 * topic is measured at its own offset within the cycle, as field devices do.
 */
function fieldDay(random: () => number): Reading[] {
  const readings: Reading[] = [];
  let running = true;
  let dry = false;
  let fault: string | null = null;
  let depthM = 30;
  for (let minute = 0; minute < 180; minute++) {
    if (random() < 0.05) running = !running;
    if (random() < 0.04) dry = !dry;
    if (random() < 0.03) fault = fault === null ? 'dry_run' : null;
    depthM = Math.min(45, Math.max(25, depthM + between(random, -0.8, 0.8)));
    const cycleMs = minutes(minute);
    readings.push(pump(cycleMs + Math.round(between(random, 0, 20 * SECOND_MS)), running, fault));
    readings.push(flow(cycleMs + Math.round(between(random, 0, 20 * SECOND_MS)), running && !dry ? 40 : 0));
    readings.push(level(cycleMs + Math.round(between(random, 0, 20 * SECOND_MS)), Math.round(depthM * 10) / 10));
  }
  return readings;
}

interface Delivery {
  arrivedAtMs: number;
  readings: Reading[];
}

/** Live: one message a reading, GPRS latency 0.2–5 s plus a per-topic lag of up to `maxLagMs`; each topic stays in order. */
function liveDeliveries(readings: readonly Reading[], random: () => number, maxLagMs: number): Delivery[] {
  const lastArrival = new Map<string, number>();
  const lag = new Map<string, number>();
  const deliveries = readings.map((reading) => {
    if (!lag.has(reading.kind) || random() < 0.1) lag.set(reading.kind, between(random, 0, maxLagMs));
    const arrivedAtMs = Math.max(lastArrival.get(reading.kind) ?? 0, reading.tsMs + between(random, 200, 5 * SECOND_MS) + (lag.get(reading.kind) ?? 0));
    lastArrival.set(reading.kind, arrivedAtMs);
    return { arrivedAtMs, readings: [reading] };
  });
  return deliveries.sort((a, b) => a.arrivedAtMs - b.arrivedAtMs);
}

/** Store-and-forward: one batch a topic, in a random order, seconds to a minute apart. */
function batchDeliveries(readings: readonly Reading[], random: () => number): Delivery[] {
  const sentAtMs = Math.max(...readings.map((r) => r.tsMs)) + minutes(30);
  const kinds = ['pump', 'flow', 'level'].sort(() => random() - 0.5);
  let arrivedAtMs = sentAtMs;
  return kinds.map((kind) => {
    arrivedAtMs += between(random, 700, 60 * SECOND_MS);
    return { arrivedAtMs, readings: readings.filter((r) => r.kind === kind) };
  });
}

/** Feeds the deliveries, then lets the horizon pass so that nothing waits any longer. */
function judgeAll(deliveries: readonly Delivery[]): { events: RuleEvent[]; state: RuleState; late: number } {
  const context = contextWith();
  let state = initialRuleState();
  const events: RuleEvent[] = [];
  let late = 0;
  for (const delivery of deliveries) {
    const result = evaluateReadings(state, delivery.readings, delivery.arrivedAtMs, context);
    state = result.state;
    events.push(...result.events);
    late += result.late;
  }
  const lastArrivalMs = Math.max(...deliveries.map((d) => d.arrivedAtMs));
  const final = evaluateTick(state, lastArrivalMs + CROSS_TOPIC_HORIZON_MS, context);
  events.push(...final.events);
  return { events, state: final.state, late };
}

/** The alerts as people would see them: what opened and cleared, when; offline left out (it is wall-clock). */
function alertsOf(events: readonly RuleEvent[]): string[] {
  return describeEvents(events.filter((e) => e.rule !== 'offline'))
    .map((line) => line.replace(' (not live)', ''))
    .sort();
}

describe('cross-topic judgement in event time', () => {
  it('gives the same alerts at the same event times whatever the per-topic order and delay within the horizon (live)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const random = randomFrom(seed);
        const readings = fieldDay(random);
        const inOrder = judgeAll([...readings].sort((a, b) => a.tsMs - b.tsMs).map((reading) => ({ arrivedAtMs: reading.tsMs, readings: [reading] })));
        const shuffled = judgeAll(liveDeliveries(readings, random, 5 * 60 * SECOND_MS));
        expect(shuffled.late).toBe(0);
        expect(alertsOf(shuffled.events)).toEqual(alertsOf(inOrder.events));
        expect(shuffled.state.conditions).toEqual(inOrder.state.conditions);
      }),
      { seed: 20261207, numRuns: 150 },
    );
  });

  it('gives the same alerts whichever topic batch of a store-and-forward upload arrives first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const random = randomFrom(seed);
        const readings = fieldDay(random);
        const inOrder = judgeAll([{ arrivedAtMs: Math.max(...readings.map((r) => r.tsMs)) + minutes(30), readings }]);
        const byTopic = judgeAll(batchDeliveries(readings, random));
        expect(byTopic.late).toBe(0);
        expect(alertsOf(byTopic.events)).toEqual(alertsOf(inOrder.events));
      }),
      { seed: 20261207, numRuns: 150 },
    );
  });

  // Fails on the single timeline of before: the pump batch went first, so every flow reading of
  // the batch that followed 0.7 s later was "late" and the historical no_flow was lost.
  it('keeps a historical no_flow when the flow batch arrives 0.7 s after the pump batch', () => {
    const readings: Reading[] = [];
    for (let minute = 0; minute < 60; minute++) {
      readings.push(pump(minutes(minute) + 100, true), flow(minutes(minute), minute >= 10 && minute < 30 ? 0 : 40));
    }
    const sentAtMs = at(minutes(90));
    const result = judgeAll([
      { arrivedAtMs: sentAtMs, readings: readings.filter((r) => r.kind === 'pump') },
      { arrivedAtMs: sentAtMs + 700, readings: readings.filter((r) => r.kind === 'flow') },
    ]);
    expect(describeEvents(result.events)).toEqual(['raised no_flow critical 06:20:00 (not live)', 'cleared no_flow 06:30:00']);
    expect(result.late).toBe(0);
  });

  it('judges a pump reading that waited past the horizon with what is known, and counts what comes later as late', () => {
    const context = contextWith();
    let state = evaluateReadings(initialRuleState(), [pump(0, true), flow(0, 40)], at(0), context).state;
    // The flow meter falls silent; the pump keeps reporting.
    state = evaluateReadings(state, [pump(minutes(1), true)], at(minutes(1)), context).state;
    expect(state.joint.queue).toHaveLength(1);
    state = evaluateTick(state, at(minutes(1)) + CROSS_TOPIC_HORIZON_MS, context).state;
    expect(state.joint.queue).toHaveLength(0);
    expect(state.joint.atMs).toBe(at(minutes(1)));
    // A flow reading from before that instant, 10 minutes late, is no longer judged by no_flow.
    expect(evaluateReadings(state, [flow(30 * SECOND_MS, 0)], at(minutes(12)), context).late).toBe(1);
  });
});
