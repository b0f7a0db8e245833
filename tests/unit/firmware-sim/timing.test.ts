/**
 * Field timing (firmware-sim/timing.ts): the pure model, then the runner playing it on a fake wall
 * clock, where what a subscriber would see is what the in-memory transport records.
 */
import { describe, expect, it } from 'vitest';
import { payloadSchemas } from '../../../src/contract/payloads.js';
import { parseTopic, READING_KINDS, type ReadingKind } from '../../../src/contract/topics.js';
import { startSimulation, type SimulationOptions } from '../../../firmware-sim/runner.js';
import { parseScenario } from '../../../firmware-sim/scenarios.js';
import { exampleRegistry, FakeClock, HOUR, MemoryTransport } from '../../../firmware-sim/test-helpers.js';
import {
  DeliveryQueue,
  deviceClocks,
  deviceTime,
  latencyMs,
  measureOffsetMs,
  planFlush,
  reconnectDelayMs,
  resolveTiming,
  type FieldTimingOptions,
} from '../../../firmware-sim/timing.js';

const NOW = Date.UTC(2026, 1, 5, 10, 42, 17);
const MINUTE = 60_000;
const timing = resolveTiming({}, 42, MINUTE);

describe('the field timing model', () => {
  it('measures each topic 0 to 20 s after the cycle, in a different order from cycle to cycle', () => {
    const orders = new Set<string>();
    for (let cycle = 0; cycle < 200; cycle += 1) {
      const atMs = NOW + cycle * MINUTE;
      const offsets = READING_KINDS.map((kind) => measureOffsetMs(timing, 'khabou', kind, atMs));
      expect(offsets.every((offset) => offset >= 0 && offset < 20_000)).toBe(true);
      orders.add([...READING_KINDS].sort((a, b) => measureOffsetMs(timing, 'khabou', a, atMs) - measureOffsetMs(timing, 'khabou', b, atMs)).join());
    }
    expect(orders.size).toBe(6);
  });

  it('keeps every span within its range and scales it to a short reporting interval', () => {
    for (let index = 0; index < 500; index += 1) {
      const latency = latencyMs(timing, 'segala', 'pump', NOW + index);
      expect(latency).toBeGreaterThanOrEqual(200);
      expect(latency).toBeLessThanOrEqual(5000);
      const late = reconnectDelayMs(timing, 'segala', NOW + index * MINUTE);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThanOrEqual(5 * MINUTE);
    }
    // A 2 s interval is the field 30 times faster: measurements stay under a third of it.
    const fast = resolveTiming({}, 42, 2000);
    expect(fast.measureSpreadMs).toBeLessThan(2000 / 3 + 1);
    expect(fast.batchGapMs[1]).toBe(2000);
    expect(fast.maxReconnectDelayMs).toBe(10_000);
  });

  it('gives exactly the asked share of devices no clock and a drifting clock, only among the eligible ones', () => {
    const ids = Array.from({ length: 20 }, (_, index) => `bh-${index}`);
    const clocks = deviceClocks(ids, timing);
    const kinds = [...clocks.values()].map((clock) => clock.kind);
    expect(kinds.filter((kind) => kind === 'none')).toHaveLength(2);
    expect(kinds.filter((kind) => kind === 'drifting')).toHaveLength(6);
    for (const clock of clocks.values()) {
      if (clock.kind === 'drifting') {
        expect(Math.abs(clock.offsetMs)).toBeLessThanOrEqual(5 * MINUTE);
        expect(Math.abs(clock.driftPpm)).toBeLessThanOrEqual(50);
      }
      if (clock.kind === 'synced') expect(Math.abs(clock.offsetMs)).toBeLessThanOrEqual(1000);
    }
    const sparing = deviceClocks(ids, timing, (id) => id !== 'bh-3' && id !== 'bh-4');
    expect(sparing.get('bh-3')?.kind).toBe('synced');
    expect(sparing.get('bh-4')?.kind).toBe('synced');
    // The same seed, the same clocks.
    expect(deviceClocks(ids, timing)).toEqual(clocks);
  });

  it('reads a drifting clock minutes off and drifting further, and no time at all without a clock', () => {
    const clock = { kind: 'drifting', offsetMs: -4 * MINUTE, driftPpm: 50 } as const;
    expect(deviceTime(clock, NOW, NOW)).toBe(NOW - 4 * MINUTE);
    // 50 ppm over 10 days: 43.2 s gained.
    expect(deviceTime(clock, NOW + 10 * 24 * HOUR, NOW)).toBe(NOW + 10 * 24 * HOUR - 4 * MINUTE + 43_200);
    expect(deviceTime({ kind: 'none' }, NOW, NOW)).toBeNull();
  });

  it('sends a flush topic by topic, 0.7 to 60 s apart, each topic in its own order', () => {
    const messages = READING_KINDS.flatMap((kind) => [0, 1, 2].map((part) => ({ topic: kind, message: `${kind}-${part}` })));
    const deliveries = planFlush(timing, 'marena', messages, NOW);
    expect(deliveries).toHaveLength(9);
    const firstAt = READING_KINDS.map((kind) => Math.min(...deliveries.filter((d) => d.topic === kind).map((d) => d.arrivesAtMs))).sort((a, b) => a - b);
    const gaps = firstAt.slice(1).map((at, index) => at - (firstAt[index] ?? 0));
    // The next topic starts 0.7 to 60 s after the previous one began, plus its own time on the air.
    expect(gaps.every((gap) => gap >= 700 && gap <= 65_000)).toBe(true);
    for (const kind of READING_KINDS) {
      const ofKind = deliveries.filter((d) => d.topic === kind);
      expect(ofKind.map((d) => d.message)).toEqual([`${kind}-0`, `${kind}-1`, `${kind}-2`]);
      expect(ofKind.map((d) => d.arrivesAtMs)).toEqual([...ofKind.map((d) => d.arrivesAtMs)].sort((a, b) => a - b));
    }
  });

  it('delivers in arrival order across topics, but never lets a message overtake an earlier one of its topic', () => {
    const queue = new DeliveryQueue<string>();
    queue.push({ boreholeId: 'k', topic: 'flow', message: 'flow-1', arrivesAtMs: 5000 });
    queue.push({ boreholeId: 'k', topic: 'pump', message: 'pump-1', arrivesAtMs: 1000 });
    // Would arrive before flow-1: held behind it, as one connection delivers in order.
    queue.push({ boreholeId: 'k', topic: 'flow', message: 'flow-2', arrivesAtMs: 3000 });
    queue.push({ boreholeId: 's', topic: 'flow', message: 'other-flow', arrivesAtMs: 2000 });
    expect(queue.nextAtMs()).toBe(1000);
    expect(queue.take(2500).map((d) => d.message)).toEqual(['pump-1', 'other-flow']);
    expect(queue.take().map((d) => [d.message, d.arrivesAtMs])).toEqual([
      ['flow-1', 5000],
      ['flow-2', 5000],
    ]);
    expect(queue.nextAtMs()).toBe(Infinity);
  });

  it('refuses shares that do not add up', () => {
    expect(() => resolveTiming({ clocklessFraction: 0.8, driftingFraction: 0.5 }, 1, MINUTE)).toThrow('must not exceed 1');
    expect(() => resolveTiming({ clocklessFraction: -0.1 }, 1, MINUTE)).toThrow('between 0 and 1');
  });
});

interface Seen {
  boreholeId: string;
  kind: ReadingKind;
  tsMs: number | null;
  seq: number;
  publishedAtMs: number;
  batch: boolean;
}

async function run(yaml: string, overrides: Partial<SimulationOptions> & { fieldTiming?: FieldTimingOptions | false } = {}): Promise<{ seen: Seen[]; progress: string[]; transports: Map<string, MemoryTransport> }> {
  const clock = new FakeClock(NOW);
  const transports = new Map<string, MemoryTransport>();
  const progress: string[] = [];
  const handle = await startSimulation({
    registry: exampleRegistry(),
    scenario: parseScenario(yaml, 'test.yaml'),
    topicRoot: 'boreholes',
    clock,
    seed: 42,
    startAtMs: NOW,
    untilMs: NOW + 2 * HOUR,
    onProgress: (line) => progress.push(line),
    transport: ({ boreholeId }) => {
      const transport = new MemoryTransport(clock);
      transports.set(boreholeId, transport);
      return transport;
    },
    ...overrides,
  });
  const stats = await handle.done;
  expect(stats.failedMessages).toBe(0);
  const seen: Seen[] = [];
  for (const transport of transports.values()) {
    for (const { topic, payload, atMs } of transport.published) {
      const parsed = parseTopic('boreholes', topic);
      if (!parsed || parsed.kind === 'status') continue;
      const body = JSON.parse(payload) as unknown;
      for (const item of (Array.isArray(body) ? body : [body]) as { ts?: string | number; seq: number }[]) {
        payloadSchemas[parsed.kind].parse(item);
        const tsMs = item.ts === undefined ? null : typeof item.ts === 'number' ? item.ts : Date.parse(item.ts);
        seen.push({ boreholeId: parsed.boreholeId, kind: parsed.kind, tsMs, seq: item.seq, publishedAtMs: atMs, batch: Array.isArray(body) });
      }
    }
  }
  return { seen, progress, transports };
}

describe('the runner under field timing', () => {
  it('is on by default: each topic stamped when measured, seconds apart, published later and out of ts order across topics', async () => {
    const { seen } = await run('events: []');
    const withClock = seen.filter((item) => item.tsMs !== null);
    expect(withClock.length).toBeGreaterThan(0);
    let crossTopicDisorder = 0;
    // Of the five boreholes, 10% rounds to one without a clock: its readings carry no ts to compare.
    expect(new Set(withClock.map((item) => item.boreholeId)).size).toBe(4);
    for (const id of new Set(withClock.map((item) => item.boreholeId))) {
      const mine = withClock.filter((item) => item.boreholeId === id);
      // Within a topic, publication order is ts order.
      for (const kind of READING_KINDS) {
        const ts = mine.filter((item) => item.kind === kind).map((item) => item.tsMs ?? 0);
        expect(ts, `${id} ${kind}`).toEqual([...ts].sort((a, b) => a - b));
      }
      // Across topics it is not: a reading published after another one of another topic, stamped before it.
      mine.forEach((item, index) => {
        if (index > 0 && (mine[index - 1]?.kind ?? item.kind) !== item.kind && (item.tsMs ?? 0) < (mine[index - 1]?.tsMs ?? 0)) crossTopicDisorder += 1;
      });
      // The three topics of one cycle are stamped apart, never all on the same instant.
      const cycles = new Map<number, number[]>();
      for (const item of mine) cycles.set(Math.floor(item.seq / 3), [...(cycles.get(Math.floor(item.seq / 3)) ?? []), item.tsMs ?? 0]);
      const spreads = [...cycles.values()].filter((ts) => ts.length === 3).map((ts) => Math.max(...ts) - Math.min(...ts));
      expect(spreads.every((spread) => spread < 20_000)).toBe(true);
      expect(spreads.filter((spread) => spread > 0).length).toBeGreaterThan(spreads.length * 0.9);
    }
    expect(crossTopicDisorder).toBeGreaterThan(10);
  });

  it('publishes a live reading 0.2 to 5 s after it was measured (a synchronised clock is within a second)', async () => {
    // segala carries an event, so its clock is synchronised.
    const { seen } = await run('events: [{ at: 3h, borehole: segala, type: repair }]');
    const segala = seen.filter((item) => item.boreholeId === 'segala');
    expect(segala.length).toBe(2 * 60 * 3);
    const delays = segala.map((item) => item.publishedAtMs - (item.tsMs ?? 0));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200 - 1000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(5000 + 1000 + 5000);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it('has devices without a clock, which send no ts, and devices whose clock is minutes off', async () => {
    const { seen } = await run('events: []', { fieldTiming: { clocklessFraction: 0.2, driftingFraction: 0.4 } });
    const clockless = [...new Set(seen.filter((item) => item.tsMs === null).map((item) => item.boreholeId))];
    expect(clockless).toHaveLength(1);
    // A clockless device never sends a ts; the others always do.
    expect(seen.filter((item) => item.boreholeId === clockless[0]).every((item) => item.tsMs === null)).toBe(true);
    expect(seen.filter((item) => item.boreholeId !== clockless[0]).every((item) => item.tsMs !== null)).toBe(true);
    // Two drifting clocks: their stamps are more than a minute away from when they were sent.
    const offBy = new Map<string, number>();
    for (const item of seen) if (item.tsMs !== null) offBy.set(item.boreholeId, Math.max(offBy.get(item.boreholeId) ?? 0, Math.abs(item.publishedAtMs - item.tsMs)));
    expect([...offBy.values()].filter((off) => off > 30_000)).toHaveLength(2);
  });

  it('after an outage, sends each topic\'s batch seconds to a minute after the previous topic\'s, and devices come back at their own times', async () => {
    const yaml = 'events: [{ at: 30m, borehole: marena, type: offline, for: 30m }, { at: 30m, borehole: diamou, type: offline, for: 30m }]';
    const { seen, progress } = await run(yaml);
    for (const id of ['marena', 'diamou']) {
      const batches = seen.filter((item) => item.boreholeId === id && item.batch);
      expect(batches.length).toBeGreaterThanOrEqual(3 * 30);
      const firstAt = READING_KINDS.map((kind) => Math.min(...batches.filter((item) => item.kind === kind).map((item) => item.publishedAtMs))).sort((a, b) => a - b);
      const gaps = firstAt.slice(1).map((at, index) => at - (firstAt[index] ?? 0));
      expect(gaps.every((gap) => gap >= 700 && gap <= 65_000), `${id} gaps ${gaps.join(', ')}`).toBe(true);
    }
    // Reconnected at the first tick at or after the outage's end plus its own delay (0 to 5 minutes).
    const backAt = ['marena', 'diamou'].map((id) => progress.find((line) => line.includes(`${id}: reconnected`))?.slice(1, 18));
    expect(backAt.every((at) => at !== undefined)).toBe(true);
    const minutes = backAt.map((at) => (Date.parse(`${at?.replace(' ', 'T').replace('Z', '')}:00Z`) - (NOW + HOUR)) / MINUTE);
    expect(minutes.every((late) => late >= -1 && late <= 6)).toBe(true);
  });

  it('replays exactly with the same seed, and differently with another', async () => {
    const first = await run('events: []', { untilMs: NOW + HOUR });
    const again = await run('events: []', { untilMs: NOW + HOUR });
    const other = await run('events: []', { untilMs: NOW + HOUR, seed: 43 });
    expect(again.seen).toEqual(first.seen);
    expect(other.seen.map((item) => item.tsMs)).not.toEqual(first.seen.map((item) => item.tsMs));
  });

  it('is off with fieldTiming: false: every topic on the whole minute, sent at once', async () => {
    const { seen } = await run('events: []', { fieldTiming: false, untilMs: NOW + HOUR });
    expect(seen.every((item) => item.tsMs !== null && item.tsMs % MINUTE === 0 && item.publishedAtMs === item.tsMs)).toBe(true);
  });
});
