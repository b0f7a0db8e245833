import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { Drain, writeHealthCheck, type LineWriter } from '../../../src/ingest/drain.js';
import { Journal } from '../../../src/ingest/journal.js';
import { StoreWriteError } from '../../../src/storage/influx.js';

const line = (i: number): string => `flow,borehole=khabou rate_lpm=${i} ${1_770_000_000_000 + i}`;

/** A store that keeps what it accepted, like InfluxDB: the same line twice is one point. */
class RecordingStore implements LineWriter {
  readonly points = new Set<string>();
  calls = 0;
  constructor(private readonly behaviour: (body: string, call: number) => StoreWriteError | null) {}
  writeLines(bytes: Buffer): Promise<void> {
    this.calls += 1;
    const body = bytes.toString('utf8');
    const error = this.behaviour(body, this.calls);
    if (error) return Promise.reject(error);
    for (const l of body.split('\n')) if (l !== '') this.points.add(l);
    return Promise.resolve();
  }
}

async function setUp(store: RecordingStore, refused: string[] = []) {
  const journal = new Journal({ dir: mkdtempSync(join(tmpdir(), 'drain-')), fsyncIntervalMs: 10, now: Date.now });
  await journal.open();
  const drain = new Drain({
    journal,
    writer: store,
    batchPoints: 4,
    concurrency: 2,
    lingerMs: 0,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    now: Date.now,
    log: pino({ level: 'silent' }),
    events: { written: () => undefined, failed: () => undefined, refused: (l) => refused.push(l) },
  });
  drain.start();
  return { journal, drain };
}

describe('drain', () => {
  it('stores every journaled line and empties the journal', async () => {
    const store = new RecordingStore(() => null);
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 50; i += 1) {
      journal.append([line(i)], Date.now());
      journal.commit();
      drain.notify();
    }
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(store.points.size).toBe(50);
    await drain.stop(0);
    journal.close();
  });

  it('keeps retrying through a store outage and loses nothing', async () => {
    const store = new RecordingStore((_body, call) => (call <= 5 ? new StoreWriteError('connection refused', true) : null));
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 10; i += 1) journal.append([line(i)], Date.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.points.size).toBe(10);
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(store.calls).toBeGreaterThan(5);
    await drain.stop(0);
    journal.close();
  });

  it('isolates a line the store refuses as data and stores the rest of its batch', async () => {
    const bad = 'flow,borehole=khabou rate_lpm="text" 1770000000003';
    const store = new RecordingStore((body) => (body.includes('"text"') ? new StoreWriteError('field type conflict', false, 400) : null));
    const refused: string[] = [];
    const { journal, drain } = await setUp(store, refused);
    journal.append([line(0), line(1), line(2), bad, line(4)], Date.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(refused).toEqual([bad]);
    expect([...store.points].sort()).toEqual([line(0), line(1), line(2), line(4)].sort());
    await drain.stop(0);
    journal.close();
  });

  it('on stop, sends what is pending before leaving', async () => {
    const store = new RecordingStore(() => null);
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 7; i += 1) journal.append([line(i)], Date.now());
    journal.commit();
    await drain.stop(5000);
    expect(store.points.size).toBe(7);
    journal.close();
  });
});

/** A clock the test can move forward; real time still runs under it, so backoff timers fire. */
function testClock() {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    advance: (ms: number) => {
      offsetMs += ms;
    },
  };
}

/** Every line the drain logs, parsed. */
function logLines() {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = [];
  const log: Logger = pino({ level: 'debug' }, { write: (chunk: string) => lines.push(JSON.parse(chunk) as (typeof lines)[number]) });
  return { log, lines };
}

async function setUpWith(store: RecordingStore, options: { now: () => number; log?: Logger; refused?: string[]; batchPoints?: number }) {
  const journal = new Journal({ dir: mkdtempSync(join(tmpdir(), 'drain-')), fsyncIntervalMs: 10, now: options.now });
  await journal.open();
  const refused = options.refused ?? [];
  const drain = new Drain({
    journal,
    writer: store,
    batchPoints: options.batchPoints ?? 4,
    concurrency: 1,
    lingerMs: 0,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    now: options.now,
    log: options.log ?? pino({ level: 'silent' }),
    events: { written: () => undefined, failed: () => undefined, refused: (l) => refused.push(l) },
  });
  drain.start();
  return { journal, drain };
}

const unauthorized = (): StoreWriteError => new StoreWriteError('influxdb write answered 401', true, 401, undefined, '401 unauthorized (check INFLUX_TOKEN)');

describe('drain, while the store refuses writes', () => {
  it('waits through a 401 until the token is fixed: nothing dead-lettered, every reading stored once', async () => {
    let tokenFixed = false;
    const store = new RecordingStore(() => (tokenFixed ? null : unauthorized()));
    const refused: string[] = [];
    const clock = testClock();
    const { journal, drain } = await setUpWith(store, { now: clock.now, refused });
    for (let i = 0; i < 10; i += 1) journal.append([line(i)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.calls).toBeGreaterThan(5);
    expect(journal.stats().pendingPoints).toBe(10);
    tokenFixed = true;
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(store.points.size).toBe(10);
    expect(refused).toEqual([]);
    await drain.stop(0);
    journal.close();
  });

  it('splits a batch the store finds too large (413) and refuses only a single line still too large', async () => {
    const huge = `flow,borehole=khabou rate_lpm=1,note="${'x'.repeat(200)}" 1770000000099`;
    const store = new RecordingStore((body) => (body.split('\n').filter((l) => l !== '').length > 2 || body.includes(huge) ? new StoreWriteError('influxdb write answered 413', false, 413) : null));
    const refused: string[] = [];
    const clock = testClock();
    const { journal, drain } = await setUpWith(store, { now: clock.now, refused, batchPoints: 8 });
    journal.append([line(0), line(1), line(2), line(3), line(4), huge, line(6), line(7)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(refused).toEqual([huge]);
    expect(store.points.size).toBe(7);
    await drain.stop(0);
    journal.close();
  });

  it('honours Retry-After: no retry before it, then writes', async () => {
    const store = new RecordingStore((_body, call) => (call === 1 ? new StoreWriteError('influxdb write answered 503', true, 503, 60_000, '503: service unavailable') : null));
    const clock = testClock();
    const { journal, drain } = await setUpWith(store, { now: clock.now });
    journal.append([line(0)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.calls).toBe(1);
    // With a 1 ms minimum backoff the next try would come within milliseconds; the header forbids it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    drain.notify();
    expect(store.calls).toBe(1);
    clock.advance(59_000);
    drain.notify();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.calls).toBe(1);
    clock.advance(1_000);
    drain.notify();
    await expect.poll(() => store.points.size).toBe(1);
    expect(store.calls).toBe(2);
    await drain.stop(0);
    journal.close();
  });

  it('caps a Retry-After at 5 minutes', async () => {
    const store = new RecordingStore((_body, call) => (call === 1 ? new StoreWriteError('influxdb write answered 429', true, 429, 86_400_000, '429: slow down') : null));
    const clock = testClock();
    const { journal, drain } = await setUpWith(store, { now: clock.now });
    journal.append([line(0)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.calls).toBe(1);
    clock.advance(300_000);
    drain.notify();
    await expect.poll(() => store.points.size).toBe(1);
    await drain.stop(0);
    journal.close();
  });

  it('logs one error when writes start failing, one warning when the reason changes, one info when they resume', async () => {
    let answer: StoreWriteError | null = new StoreWriteError('influxdb write answered 503', true, 503, undefined, '503: service unavailable');
    const store = new RecordingStore(() => answer);
    const clock = testClock();
    const { log, lines } = logLines();
    const { journal, drain } = await setUpWith(store, { now: clock.now, log });
    journal.append([line(0), line(1)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.calls).toBeGreaterThanOrEqual(12);
    answer = unauthorized();
    const callsAt401 = store.calls;
    await expect.poll(() => store.calls).toBeGreaterThanOrEqual(callsAt401 + 12);
    clock.advance(74_000);
    answer = null;
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    const failedCalls = store.calls - 1;

    const errors = lines.filter((l) => l.level >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ status: 503, reason: '503: service unavailable', pendingPoints: 2 });
    const warnings = lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ status: 401, previousStatus: 503, reason: '401 unauthorized (check INFLUX_TOKEN)' });
    const infos = lines.filter((l) => l.level === 30);
    expect(infos).toHaveLength(1);
    expect(infos[0]).toMatchObject({ msg: 'store writes resumed', retries: failedCalls });
    expect(infos[0]?.failingS).toBeGreaterThanOrEqual(74);
    await drain.stop(0);
    journal.close();
  });

  it('reports its health: failures since the last good write, since when, and why', async () => {
    let failing = true;
    const store = new RecordingStore(() => (failing ? unauthorized() : null));
    const clock = testClock();
    const { journal, drain } = await setUpWith(store, { now: clock.now });
    expect(drain.health()).toEqual({ consecutiveFailures: 0, failingSinceMs: null, lastStatus: undefined, lastReason: null });
    const startedAt = clock.now();
    journal.append([line(0)], clock.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => drain.health().consecutiveFailures).toBeGreaterThanOrEqual(3);
    const health = drain.health();
    expect(health).toMatchObject({ lastStatus: 401, lastReason: '401 unauthorized (check INFLUX_TOKEN)' });
    expect(health.failingSinceMs).toBeGreaterThanOrEqual(startedAt);
    expect(health.failingSinceMs).toBeLessThan(startedAt + 1000);
    failing = false;
    await expect.poll(() => drain.health().failingSinceMs).toBeNull();
    expect(drain.health().consecutiveFailures).toBe(0);
    await drain.stop(0);
    journal.close();
  });
});

describe('writeHealthCheck (the store entry of /readyz)', () => {
  const failing = (sinceMs: number, lastStatus: number | undefined, lastReason: string) => ({ consecutiveFailures: 12, failingSinceMs: sinceMs, lastStatus, lastReason });

  it('is ready while writes work, and through a failing spell shorter than the threshold', () => {
    expect(writeHealthCheck({ consecutiveFailures: 0, failingSinceMs: null, lastStatus: undefined, lastReason: null }, 1_000_000, 60_000, 'influxdb')).toEqual({ ok: true });
    expect(writeHealthCheck(failing(1_000_000, 401, '401 unauthorized (check INFLUX_TOKEN)'), 1_059_999, 60_000, 'influxdb')).toEqual({ ok: true });
  });

  it('is not ready once every write has failed for the threshold, naming the store and the reason', () => {
    expect(writeHealthCheck(failing(1_000_000, 401, '401 unauthorized (check INFLUX_TOKEN)'), 1_074_000, 60_000, 'influxdb')).toEqual({
      ok: false,
      detail: 'influxdb writes refused for 74 s: 401 unauthorized (check INFLUX_TOKEN)',
    });
    expect(writeHealthCheck(failing(1_000_000, undefined, 'unreachable: fetch failed (ECONNREFUSED)'), 1_060_000, 60_000, 'influxdb')).toEqual({
      ok: false,
      detail: 'influxdb writes failing for 60 s: unreachable: fetch failed (ECONNREFUSED)',
    });
  });
});
