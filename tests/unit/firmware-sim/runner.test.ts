/**
 * The runner on a fake wall clock and an in-memory transport: catching up, real time, outages and
 * stopping, with hours of simulated time passing in milliseconds.
 */
import { describe, expect, it } from 'vitest';
import { payloadSchemas } from '../../../src/contract/payloads.js';
import { parseTopic, type ReadingKind } from '../../../src/contract/topics.js';
import { startSimulation, type SimulationOptions } from '../../../firmware-sim/runner.js';
import { parseScenario } from '../../../firmware-sim/scenarios.js';
import { exampleRegistry, FakeClock, HOUR, MemoryTransport } from '../../../firmware-sim/test-helpers.js';

const NOW = Date.UTC(2026, 1, 5, 10, 42, 17);

interface Setup {
  clock: FakeClock;
  transports: Map<string, MemoryTransport>;
  options: SimulationOptions;
}

function setup(yaml = 'events: []', overrides: Partial<SimulationOptions> = {}): Setup {
  const clock = new FakeClock(NOW);
  const transports = new Map<string, MemoryTransport>();
  const options: SimulationOptions = {
    registry: exampleRegistry(),
    scenario: parseScenario(yaml, 'test.yaml'),
    topicRoot: 'boreholes',
    clock,
    seed: 42,
    // The lab's timing (every topic on the interval, sent at once): these tests count and time
    // readings exactly. Field timing has its own tests (timing.test.ts).
    fieldTiming: false,
    transport: ({ boreholeId }) => {
      const transport = new MemoryTransport(clock);
      transports.set(boreholeId, transport);
      return transport;
    },
    ...overrides,
  };
  return { clock, transports, options };
}

interface Item {
  boreholeId: string;
  kind: ReadingKind;
  tsMs: number;
  publishedAtMs: number;
  batch: boolean;
}

function readings(transports: Map<string, MemoryTransport>): Item[] {
  const out: Item[] = [];
  for (const transport of transports.values()) {
    for (const { topic, payload, atMs } of transport.published) {
      const parsed = parseTopic('boreholes', topic);
      if (!parsed || parsed.kind === 'status') continue;
      const body = JSON.parse(payload) as unknown;
      for (const item of (Array.isArray(body) ? body : [body]) as { ts: string | number }[]) {
        payloadSchemas[parsed.kind].parse(item);
        out.push({
          boreholeId: parsed.boreholeId,
          kind: parsed.kind,
          tsMs: typeof item.ts === 'number' ? item.ts : Date.parse(item.ts),
          publishedAtMs: atMs,
          batch: Array.isArray(body),
        });
      }
    }
  }
  return out;
}

describe('the runner', () => {
  /** The wall time at which the runner announced it had caught up with now. */
  function caughtUpAt(clock: FakeClock): { onProgress: (line: string) => void; at: () => number | null } {
    let at: number | null = null;
    return {
      onProgress: (line) => {
        if (line.startsWith('caught up')) at = clock.now();
      },
      at: () => at,
    };
  }

  it('backfills at max speed in batches, then reports single readings in real time, never ahead of the wall clock', async () => {
    const { clock, transports, options } = setup();
    const watch = caughtUpAt(clock);
    const handle = await startSimulation({ ...options, startAtMs: NOW - 6 * HOUR, speed: 'max', untilMs: NOW + 2 * HOUR, onProgress: watch.onProgress });
    const stats = await handle.done;
    // As fast as the transport acknowledges: no wall time passes on the fake clock.
    expect(watch.at()).toBe(NOW);
    expect(stats.phase).toBe('stopped');
    const all = readings(transports);
    expect(all.filter((item) => item.tsMs > item.publishedAtMs)).toEqual([]);
    expect(all.filter((item) => item.tsMs <= NOW).every((item) => item.batch)).toBe(true);
    expect(all.filter((item) => item.tsMs > NOW).every((item) => !item.batch)).toBe(true);
    // Every minute of the 8 hours, 3 readings, 5 boreholes.
    expect(all).toHaveLength(8 * 60 * 3 * 5);
    expect(stats.readings).toBe(all.length);
  });

  it('at a finite speed keeps simulated time behind the wall clock and reaches it after (now - start) / speed', async () => {
    const { clock, transports, options } = setup();
    const watch = caughtUpAt(clock);
    const handle = await startSimulation({ ...options, startAtMs: NOW - 5 * HOUR, speed: 300, untilMs: NOW + HOUR, onProgress: watch.onProgress });
    await handle.done;
    // 5 hours at 300× take a minute of wall time (noticed at the next tick, a minute later at most).
    expect((watch.at() ?? 0) - NOW).toBeGreaterThanOrEqual(60_000);
    expect((watch.at() ?? 0) - NOW).toBeLessThanOrEqual(2 * 60_000);
    const all = readings(transports);
    expect(all.filter((item) => item.tsMs > item.publishedAtMs)).toEqual([]);
    expect(all.every((item) => !item.batch)).toBe(true);
    expect(all).toHaveLength(6 * 60 * 3 * 5);
  });

  it('sends timestamps ahead of the wall clock only for the borehole under clock_skew, and only during it', async () => {
    const yaml = 'events: [{ at: 5h, borehole: khabou, type: clock_skew, offset: 2h, for: 2h }]';
    const { transports, options } = setup(yaml);
    const startAtMs = NOW - 6 * HOUR;
    const handle = await startSimulation({ ...options, startAtMs, untilMs: NOW + 2 * HOUR });
    await handle.done;
    const ahead = readings(transports).filter((item) => item.tsMs > item.publishedAtMs);
    expect(ahead.length).toBeGreaterThan(0);
    expect(ahead.every((item) => item.boreholeId === 'khabou' && item.tsMs - 2 * HOUR >= startAtMs + 5 * HOUR && item.tsMs - 2 * HOUR < startAtMs + 7 * HOUR)).toBe(true);
  });

  it('cuts the link for an outage in real time (so the broker sends the will), then reconnects and sends the held readings', async () => {
    const yaml = 'events: [{ at: 1h, borehole: marena, type: offline, for: 30m }]';
    const progress: string[] = [];
    const { transports, options } = setup(yaml, { onProgress: (line) => progress.push(line) });
    const handle = await startSimulation({ ...options, startAtMs: NOW, speed: 'max', untilMs: NOW + 2 * HOUR });
    await handle.done;
    const marena = transports.get('marena');
    expect(marena?.log).toEqual(['connect', 'cut', 'connect', 'close']);
    const statuses = marena?.published.filter((message) => message.topic.endsWith('/status')) ?? [];
    expect(statuses).toHaveLength(2);
    expect(statuses.every((message) => message.retain && (JSON.parse(message.payload) as { online: boolean }).online)).toBe(true);
    const held = readings(new Map([['marena', marena as MemoryTransport]])).filter((item) => item.batch);
    expect(held).toHaveLength(3 * 31);
    expect(progress.some((line) => line.includes('marena: reconnected, sending 93 held readings in 3 messages'))).toBe(true);
    expect(transports.get('khabou')?.log).toEqual(['connect', 'close']);
  });

  it('stops on request: sends what it holds and leaves cleanly, without cutting any link', async () => {
    const { transports, options } = setup();
    const handle = await startSimulation({ ...options, startAtMs: NOW - 3 * HOUR, speed: 'max' });
    await handle.caughtUp;
    const stats = await handle.stop();
    expect(stats.phase).toBe('stopped');
    expect(stats.heldReadings).toBe(0);
    expect([...transports.values()].every((transport) => transport.log.join() === 'connect,close')).toBe(true);
    expect(readings(transports).length).toBeGreaterThanOrEqual(3 * 60 * 3 * 5);
  });

  it('reports scenario events and faults as progress lines with the simulated time', async () => {
    const progress: string[] = [];
    const yaml = 'events: [{ at: 1h, borehole: khabou, type: dry_run }, { at: 2h, borehole: khabou, type: repair }]';
    const { options } = setup(yaml, { onProgress: (line) => progress.push(line) });
    const handle = await startSimulation({ ...options, startAtMs: NOW - 3 * HOUR, untilMs: NOW });
    await handle.done;
    expect(progress.some((line) => /^\[2026-02-05 0[78]:\d\dZ\] khabou: dry_run fault/.test(line))).toBe(true);
    expect(progress.some((line) => line.includes('khabou: dry_run fault cleared'))).toBe(true);
  });

  it('refuses a scenario event on a borehole the registry does not know, naming the event and field', async () => {
    const { options } = setup('events: [{ at: 1h, borehole: kayes-nord, type: dry_run }]');
    await expect(startSimulation(options)).rejects.toThrow('events[0] (dry_run on kayes-nord).borehole: "kayes-nord" is not in the registry');
  });
});
