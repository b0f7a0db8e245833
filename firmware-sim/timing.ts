/**
 * Field timing: when a reading is measured, what the device's clock says it was, and when the
 * message reaches the broker, as it happens over GPRS rather than in a lab (issue 13). Pure and
 * seeded: every figure is a hash of the seed, the borehole, the topic and the instant, so a run
 * replays exactly. The firmware uses it to stamp readings, the runner to order publications.
 *
 * - Each topic is measured on its own: pump, flow and level of one cycle are 0 to 20 s apart,
 *   in a different order every cycle.
 * - Each message travels alone, 0.2 to 5 s on the air, so topics arrive out of timestamp order;
 *   one topic keeps its order (one MQTT connection delivers in order).
 * - After an outage, one topic's batches go first, the next topic's 0.7 to 60 s later, and so on.
 * - Device clocks: most are synchronised (GPS or the network, within a second); some drift
 *   (set minutes off, −5 to +5 min, and gaining or losing up to 50 ppm); some have no clock and
 *   send no `ts` at all (the service then stamps the receive time).
 * - After an outage a device comes back when its modem next tries, 0 to 5 minutes late.
 *
 * Every span scales with the reporting interval below one minute (a 2 s interval is a field
 * compressed 30 times), so that measurements of one topic never overtake each other.
 */
import type { ReadingKind } from '../src/contract/topics.js';
import { MINUTE_MS, SECOND_MS } from './clock.js';
import { unitHash } from './model.js';

export interface FieldTimingOptions {
  /** Share of the devices that may have one (see `eligible` of `deviceClocks`) without a clock. Default 0.1. */
  clocklessFraction?: number;
  /** Share of the devices whose clock is set minutes off and drifts. Default 0.3. */
  driftingFraction?: number;
  /** Largest offset of a drifting clock, either way. Default 5 min. */
  maxClockOffsetMs?: number;
  /** Largest drift of a drifting clock, parts per million. Default 50 (4.3 s a day). */
  maxDriftPpm?: number;
  /** Measurements of one cycle spread over [0, this). Default 20 s. */
  measureSpreadMs?: number;
  /** Time on the air of one message. Default 0.2 to 5 s. */
  latencyMs?: readonly [number, number];
  /** Between one topic's store-and-forward batches and the next topic's. Default 0.7 to 60 s. */
  batchGapMs?: readonly [number, number];
  /** A device reconnects this long after its outage ends, at most. Default 5 min. */
  maxReconnectDelayMs?: number;
}

export type ResolvedTiming = Required<FieldTimingOptions> & { seed: number; intervalMs: number };

/** What a device's clock is. `none`: the device sends no `ts`. */
export type DeviceClock =
  | { kind: 'synced'; offsetMs: number }
  | { kind: 'drifting'; offsetMs: number; driftPpm: number }
  | { kind: 'none' };

export const DEFAULT_FIELD_TIMING: Required<FieldTimingOptions> = {
  clocklessFraction: 0.1,
  driftingFraction: 0.3,
  maxClockOffsetMs: 5 * MINUTE_MS,
  maxDriftPpm: 50,
  measureSpreadMs: 20 * SECOND_MS,
  latencyMs: [200, 5 * SECOND_MS],
  batchGapMs: [700, 60 * SECOND_MS],
  maxReconnectDelayMs: 5 * MINUTE_MS,
};

/** The options with their defaults, every span scaled to the reporting interval. */
export function resolveTiming(options: FieldTimingOptions, seed: number, intervalMs: number): ResolvedTiming {
  const merged = { ...DEFAULT_FIELD_TIMING, ...options };
  for (const key of ['clocklessFraction', 'driftingFraction'] as const) {
    if (!(merged[key] >= 0 && merged[key] <= 1)) throw new Error(`field timing: ${key} must be between 0 and 1`);
  }
  if (merged.clocklessFraction + merged.driftingFraction > 1) throw new Error('field timing: clocklessFraction + driftingFraction must not exceed 1');
  const scale = Math.min(1, intervalMs / MINUTE_MS);
  const span = ([low, high]: readonly [number, number]): [number, number] => [low * scale, high * scale];
  return {
    ...merged,
    // Strictly under a third of the interval: a topic's next measurement always comes later.
    measureSpreadMs: Math.min(merged.measureSpreadMs * scale, intervalMs / 3),
    latencyMs: span(merged.latencyMs),
    batchGapMs: span(merged.batchGapMs),
    maxReconnectDelayMs: merged.maxReconnectDelayMs * scale,
    seed,
    intervalMs,
  };
}

const between = (unit: number, [low, high]: readonly [number, number]): number => low + unit * (high - low);

/**
 * The clock of each device. The fractions are applied by rank, not by a coin per device, so a
 * fleet of ten has exactly one clockless device at 10%. Only `eligible` devices are given a
 * clockless or drifting clock: a borehole whose scripted faults a scenario times keeps a
 * synchronised one (its clock errors are scripted with `clock_skew`).
 */
export function deviceClocks(ids: readonly string[], timing: ResolvedTiming, eligible: (id: string) => boolean = () => true): Map<string, DeviceClock> {
  const clocks = new Map<string, DeviceClock>();
  const ranked = ids.filter(eligible).sort((a, b) => unitHash(timing.seed, a, 'clock-rank') - unitHash(timing.seed, b, 'clock-rank') || a.localeCompare(b));
  const clockless = Math.round(ranked.length * timing.clocklessFraction);
  const drifting = Math.round(ranked.length * (timing.clocklessFraction + timing.driftingFraction)) - clockless;
  const rankOf = new Map(ranked.map((id, index) => [id, index]));
  for (const id of ids) {
    const rank = rankOf.get(id) ?? Infinity;
    if (rank < clockless) {
      clocks.set(id, { kind: 'none' });
    } else if (rank < clockless + drifting) {
      const offsetMs = Math.round(between(unitHash(timing.seed, id, 'clock-offset'), [-timing.maxClockOffsetMs, timing.maxClockOffsetMs]));
      const driftPpm = between(unitHash(timing.seed, id, 'clock-drift'), [-timing.maxDriftPpm, timing.maxDriftPpm]);
      clocks.set(id, { kind: 'drifting', offsetMs, driftPpm });
    } else {
      // GPS or network time: within a second either way.
      clocks.set(id, { kind: 'synced', offsetMs: Math.round(between(unitHash(timing.seed, id, 'clock-offset'), [-SECOND_MS, SECOND_MS])) });
    }
  }
  return clocks;
}

/** What the device's clock reads at true instant `trueMs` (the run starting at `sinceMs`); null: no clock. */
export function deviceTime(clock: DeviceClock, trueMs: number, sinceMs: number): number | null {
  switch (clock.kind) {
    case 'none':
      return null;
    case 'synced':
      return trueMs + clock.offsetMs;
    case 'drifting':
      return Math.round(trueMs + clock.offsetMs + ((trueMs - sinceMs) * clock.driftPpm) / 1e6);
  }
}

/** When, after the cycle's instant `cycleAtMs`, the device measured `kind`: in [0, measureSpreadMs), to the millisecond. */
export function measureOffsetMs(timing: ResolvedTiming, boreholeId: string, kind: ReadingKind, cycleAtMs: number): number {
  return Math.floor(unitHash(timing.seed, boreholeId, kind, 'measure', cycleAtMs) * timing.measureSpreadMs);
}

/** Time on the air of one message; `nonce` tells the messages of one instant apart. */
export function latencyMs(timing: ResolvedTiming, boreholeId: string, kind: string, sentAtMs: number, nonce = 0): number {
  return Math.round(between(unitHash(timing.seed, boreholeId, kind, 'latency', sentAtMs, nonce), timing.latencyMs));
}

/** How long after its outage ended a device is back on the network. */
export function reconnectDelayMs(timing: ResolvedTiming, boreholeId: string, outageEndsAtMs: number): number {
  return Math.round(unitHash(timing.seed, boreholeId, 'reconnect', outageEndsAtMs) * timing.maxReconnectDelayMs);
}

/** A message and the (simulated) instant it reaches the broker. */
export interface Delivery<M> {
  boreholeId: string;
  topic: string;
  message: M;
  arrivesAtMs: number;
}

/**
 * When each message of a store-and-forward flush at `sentAtMs` arrives: the topics in an order of
 * their own (seeded), each topic's batches one after the other, the next topic 0.7 to 60 s after
 * the previous one began. `messages` is the flush in the firmware's order (per topic, oldest first).
 */
export function planFlush<M>(timing: ResolvedTiming, boreholeId: string, messages: readonly { topic: string; message: M }[], sentAtMs: number): Delivery<M>[] {
  const topics = [...new Set(messages.map((entry) => entry.topic))].sort(
    (a, b) => unitHash(timing.seed, boreholeId, a, 'flush-order', sentAtMs) - unitHash(timing.seed, boreholeId, b, 'flush-order', sentAtMs),
  );
  const deliveries: Delivery<M>[] = [];
  let topicStartMs = sentAtMs;
  topics.forEach((topic, topicIndex) => {
    if (topicIndex > 0) topicStartMs += Math.round(between(unitHash(timing.seed, boreholeId, topic, 'batch-gap', sentAtMs), timing.batchGapMs));
    let atMs = topicStartMs;
    messages
      .filter((entry) => entry.topic === topic)
      .forEach((entry, index) => {
        atMs += latencyMs(timing, boreholeId, topic, sentAtMs, index);
        deliveries.push({ boreholeId, topic, message: entry.message, arrivesAtMs: atMs });
      });
  });
  return deliveries;
}

/**
 * Messages on their way to the broker, released in order of arrival. One topic of one device is
 * first in, first out (a later message never overtakes an earlier one on the same connection), so
 * a message's arrival is pushed back behind the previous one of its topic when it would pass it.
 */
export class DeliveryQueue<M> {
  private items: (Delivery<M> & { order: number })[] = [];
  private readonly lastByTopic = new Map<string, number>();
  private order = 0;

  get size(): number {
    return this.items.length;
  }

  push(delivery: Delivery<M>): void {
    const key = `${delivery.boreholeId}\u0000${delivery.topic}`;
    const arrivesAtMs = Math.max(delivery.arrivesAtMs, this.lastByTopic.get(key) ?? -Infinity);
    this.lastByTopic.set(key, arrivesAtMs);
    const item = { ...delivery, arrivesAtMs, order: this.order++ };
    // Usually appended at the end; the rare early one goes into place (stable on ties).
    let index = this.items.length;
    while (index > 0 && (this.items[index - 1] as Delivery<M>).arrivesAtMs > arrivesAtMs) index -= 1;
    this.items.splice(index, 0, item);
  }

  /** The next arrival, or Infinity when nothing is on its way. */
  nextAtMs(): number {
    return this.items[0]?.arrivesAtMs ?? Infinity;
  }

  /** Everything that has arrived by `atMs` (all of it when omitted, or for `boreholeId` only), in arrival order. */
  take(atMs = Infinity, boreholeId?: string): Delivery<M>[] {
    const taken: Delivery<M>[] = [];
    const kept: (Delivery<M> & { order: number })[] = [];
    for (const item of this.items) {
      if (item.arrivesAtMs <= atMs && (boreholeId === undefined || item.boreholeId === boreholeId)) {
        const { order: _order, ...delivery } = item;
        taken.push(delivery);
      } else {
        kept.push(item);
      }
    }
    this.items = kept;
    return taken;
  }
}
