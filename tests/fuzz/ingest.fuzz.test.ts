/**
 * Fuzzing the ingest path (issue 9): streams of valid, near-valid and junk MQTT messages through
 * the same parts the service wires with INFLUX_URL unset (src/service.ts): decode, the journal in
 * a temporary directory, the drain, the embedded SQLite time-series store, the dead-letter log and
 * the metrics. Only the broker is left out: the messages are handed to ingest as the broker
 * adapters hand them, in event-loop turns of one or more messages, each turn committed at once.
 *
 * For every stream: nothing throws, no promise is left rejected, every valid reading is in the
 * store exactly once with the values sent (CONTRACT.md section 2), every rejection is counted in
 * `ingest_rejected_total{reason}`, logged once and kept in the dead-letter log (the newest
 * DEAD_LETTER_LIMIT, also after a restart), and accepted + rejected adds up to what was sent.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TOPIC_KINDS } from '../../src/contract/topics.js';
import { DeadLetterLog, payloadPreview, topicPreview, type DeadLetter } from '../../src/ingest/dead-letters.js';
import { Drain } from '../../src/ingest/drain.js';
import { Ingest } from '../../src/ingest/ingest.js';
import { Journal } from '../../src/ingest/journal.js';
import type { Reading } from '../../src/domain/reading.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { EmbeddedTelemetry } from '../../src/storage/embedded-telemetry.js';
import { tempDir, testRegistry } from '../support/fixtures.js';
import {
  MEASUREMENT,
  build,
  fuzzParameters,
  judge,
  messageSpec,
  messageStream,
  processFailureGuard,
  type BuiltMessage,
  type Expected,
  type ExpectedRejection,
  type WireOptions,
} from './arbitraries.js';

const ROOT = 'boreholes';
const KNOWN_IDS = ['khabou', 'segala', 'diamou-2', 'b0'] as const;
const registry = testRegistry(KNOWN_IDS);
/** The clock the streams are received by: 2026-02-05 10:45 UTC, then one second per message. */
const START_MS = Date.UTC(2026, 1, 5, 10, 45, 0);
const STEP_MS = 1000;

const wire: WireOptions = { topicRoot: ROOT, knownIds: KNOWN_IDS, time: { allowNoTs: true, edgeMarginMs: 0 }, brokerDelivered: false };

/** Sized so that the whole fuzz project stays well under five minutes on two busy cores. */
const RUNS = { stream: 150, labels: 40 };

// One metrics registry per property rather than per run (prom-client's default collectors are not
// made to be created hundreds of times): each run reads what it added.
let current: Journal | null = null;
type Metrics = ReturnType<typeof createMetrics>;

const suiteMetrics = (): Metrics =>
  createMetrics({
    journalStats: () => current?.stats() ?? { pendingPoints: 0, pendingBytes: 0, segments: 0, oldestAtMs: null },
    now: () => START_MS,
  });

async function counters(metrics: Metrics): Promise<{ messages: number; readings: number; rejected: Record<string, number>; kinds: string[] }> {
  const sum = (values: { value: number }[]) => values.reduce((total, v) => total + v.value, 0);
  const messages = (await metrics.messages.get()).values;
  const rejected: Record<string, number> = {};
  for (const { labels, value } of (await metrics.rejected.get()).values) rejected[String(labels.reason)] = value;
  return { messages: sum(messages), readings: sum((await metrics.readings.get()).values), rejected, kinds: messages.map((v) => String(v.labels.kind)) };
}

interface Settings {
  deadLetterLimit: number;
  batchPoints: number;
  /** How many messages each event-loop turn holds (cycled). */
  turns: number[];
  /** Whether the drain may run between turns, or only once everything is in. */
  interleave: boolean;
}

const settingsArb: fc.Arbitrary<Settings> = fc.record({
  deadLetterLimit: fc.constantFrom(10, 1000),
  batchPoints: fc.constantFrom(1, 7, 5000),
  turns: fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 4 }),
  interleave: fc.boolean(),
});

interface Received {
  message: BuiltMessage;
  receivedAtMs: number;
  expected: Expected;
}

/** The parts src/service.ts wires with INFLUX_URL unset, minus the broker and the rules. */
async function openPipeline(dir: string, settings: Settings, metrics: Metrics) {
  const clock = { nowMs: START_MS };
  const now = () => clock.nowMs;
  const journal = new Journal({ dir: join(dir, 'journal'), fsyncIntervalMs: 1000, now });
  await journal.open();
  current = journal;
  const deadLetters = new DeadLetterLog(join(dir, 'dead-letters'), settings.deadLetterLimit);
  await deadLetters.open();
  const store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db'), now });
  const logLines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) });
  const accepted: Reading[] = [];
  const ingest = new Ingest({ topicRoot: ROOT, registry, journal, deadLetters, metrics, now, log, onAccepted: (readings) => accepted.push(...readings) });
  const storeRefusals: string[] = [];
  const drain = new Drain({
    journal,
    writer: store,
    batchPoints: settings.batchPoints,
    concurrency: 2,
    lingerMs: 0,
    minBackoffMs: 5,
    maxBackoffMs: 50,
    // Backoff runs on the wall clock; the journal's linger on the receive clock.
    now: Date.now,
    log,
    events: {
      written: () => undefined,
      failed: () => undefined,
      refused: (line, reason) => {
        storeRefusals.push(`${reason}: ${line}`);
        ingest.refusedByStore(line, reason);
      },
    },
  });
  drain.start();
  return {
    clock,
    journal,
    deadLetters,
    ingest,
    drain,
    logLines,
    accepted,
    storeRefusals,
    async close() {
      await drain.stop(0);
      journal.close();
      store.close();
      current = null;
    },
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pointKey = (measurement: string, boreholeId: string, tsMs: number) => `${measurement} ${boreholeId} ${tsMs}`;

/** What the embedded store holds, point by point: measurement, borehole and time → fields. */
function storedPoints(path: string): Map<string, Record<string, number | string>> {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db
      .prepare<[], { measurement: string; borehole: string; ts: number; field: string; value: number | string; series: number }>(
        'SELECT t.measurement, t.borehole, s.ts_ms AS ts, t.field, s.value, s.series FROM samples s JOIN streams t ON t.id = s.stream',
      )
      .all();
    const points = new Map<string, Record<string, number | string>>();
    const seriesOf = new Map<string, number>();
    for (const row of rows) {
      const key = pointKey(row.measurement, row.borehole, row.ts);
      // One borehole's points of one measurement are one series: a second one would be a copy.
      const series = seriesOf.get(key) ?? row.series;
      if (series !== row.series) throw new Error(`point ${key} is stored in two series (${series} and ${row.series})`);
      seriesOf.set(key, series);
      points.set(key, { ...points.get(key), [row.field]: row.value });
    }
    return points;
  } finally {
    db.close();
  }
}

/** The points the stream must leave, later copies of a point merging into earlier ones (InfluxDB's rule). */
function expectedPoints(received: readonly Received[]): Map<string, Record<string, number | string>> {
  const points = new Map<string, Record<string, number | string>>();
  for (const { expected } of received) {
    for (const point of expected.stored) {
      const key = pointKey(MEASUREMENT[point.kind], point.boreholeId, point.tsMs);
      points.set(key, { ...points.get(key), ...point.fields });
    }
  }
  return points;
}

const sortedEntries = (map: Map<string, Record<string, number | string>>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function expectedDeadLetters(received: readonly Received[]): DeadLetter[] {
  return received.flatMap(({ message, receivedAtMs, expected }) =>
    expected.rejected.map((rejection: ExpectedRejection) => ({
      received_at: new Date(receivedAtMs).toISOString(),
      topic: topicPreview(message.topic),
      reason: rejection.reason,
      detail: expect.any(String) as string,
      ...(rejection.index === undefined ? {} : { index: rejection.index }),
      payload: payloadPreview(message.payload),
      payload_bytes: message.payload.length,
    })),
  );
}

const describeStream = (received: readonly Received[]) =>
  received.map(({ message, expected }) => `${message.label} on ${message.topic.slice(0, 60)}: ${expected.stored.length} stored, rejected ${expected.rejected.map((r) => r.reason).join(',') || 'none'}`).join('\n');

describe('fuzzing the ingest path: decode → journal → drain → embedded store', () => {
  const guard = processFailureGuard();
  const dirs: string[] = [];

  afterAll(() => {
    guard.dispose();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('stores every valid reading exactly once and counts, logs and keeps every rejection', async () => {
    const metrics = suiteMetrics();
    await fc.assert(
      fc.asyncProperty(messageStream(wire, 30), settingsArb, async (specs, settings) => {
        const dir = tempDir('fuzz-ingest');
        dirs.push(dir);
        const before = await counters(metrics);
        const pipeline = await openPipeline(dir, settings, metrics);
        const received: Received[] = [];
        try {
          let turn = 0;
          for (let i = 0; i < specs.length; ) {
            const size = settings.turns[turn % settings.turns.length] ?? 1;
            turn += 1;
            for (const spec of specs.slice(i, i + size)) {
              const receivedAtMs = START_MS + received.length * STEP_MS;
              pipeline.clock.nowMs = receivedAtMs;
              // A message sent again is the same bytes, judged at its new receive time.
              const message = build(spec, wire, START_MS + specs.indexOf(spec) * STEP_MS);
              pipeline.ingest.handle({ topic: message.topic, payload: message.payload, retained: message.retained });
              received.push({ message, receivedAtMs, expected: judge(message, receivedAtMs) });
            }
            i += size;
            pipeline.ingest.commit();
            pipeline.drain.notify();
            if (settings.interleave) await new Promise((resolve) => setImmediate(resolve));
          }
          await until(() => pipeline.journal.stats().pendingPoints === 0, 'the drain to empty the journal');
          await pipeline.close();
        } catch (error) {
          await pipeline.close().catch(() => undefined);
          throw error;
        }
        guard.check();
        const context = `stream:\n${describeStream(received)}`;

        // Every valid reading once, with the values sent; nothing else.
        expect(pipeline.storeRefusals, context).toEqual([]);
        expect(sortedEntries(storedPoints(join(dir, 'telemetry.db'))), context).toEqual(sortedEntries(expectedPoints(received)));
        // The rules were told of exactly the readings that were stored.
        const storedReadings = received.flatMap((r) => r.expected.stored);
        expect(pipeline.accepted.map((r) => `${r.kind} ${r.boreholeId} ${r.tsMs}`), context).toEqual(storedReadings.map((p) => `${p.kind} ${p.boreholeId} ${p.tsMs}`));

        // Counted: messages, readings, rejections by reason; and they add up.
        const rejections = received.flatMap((r) => r.expected.rejected);
        const after = await counters(metrics);
        const rejectedDelta = Object.fromEntries(
          Object.entries(after.rejected)
            .map(([reason, count]) => [reason, count - (before.rejected[reason] ?? 0)] as const)
            .filter(([, delta]) => delta !== 0),
        );
        const expectedByReason: Record<string, number> = {};
        for (const { reason } of rejections) expectedByReason[reason] = (expectedByReason[reason] ?? 0) + 1;
        expect(rejectedDelta, context).toEqual(expectedByReason);
        expect(after.messages - before.messages, context).toBe(received.length);
        const replayed = received.reduce((total, r) => total + r.expected.replayed, 0);
        expect(after.readings - before.readings, context).toBe(storedReadings.length);
        // Each unit a message holds (the message, or each reading of a batch) is stored, rejected or a replay.
        const units = received.reduce((total, r) => total + ('items' in r.message.verdict && r.message.verdict.batch ? r.message.verdict.items.length : 1), 0);
        expect(storedReadings.length + rejections.length + replayed, context).toBe(units);

        // Logged once each, with the reason.
        const logged = pipeline.logLines.map((line) => JSON.parse(line) as { msg: string; reason?: string }).filter((line) => line.msg === 'message rejected');
        expect(logged.map((line) => line.reason), context).toEqual(rejections.map((r) => r.reason));

        // Kept as dead letters, the newest DEAD_LETTER_LIMIT of them, newest first, also after a restart.
        const letters = expectedDeadLetters(received).reverse().slice(0, settings.deadLetterLimit);
        expect(pipeline.deadLetters.newest(settings.deadLetterLimit + 10), context).toEqual(letters);
        expect(pipeline.deadLetters.size).toBe(letters.length);
        const reopened = new DeadLetterLog(join(dir, 'dead-letters'), settings.deadLetterLimit);
        await reopened.open();
        expect(reopened.newest(settings.deadLetterLimit + 10), context).toEqual(letters);
        rmSync(dir, { recursive: true, force: true });
      }),
      fuzzParameters('ingest streams', RUNS.stream),
    );
  });

  it('keeps ingest_messages_total to one series per topic kind, whatever topics devices invent', async () => {
    // Each label value is a series Prometheus keeps for ever: a topic must not be able to add one.
    const allowed = new Set<string>([...TOPIC_KINDS, 'unknown']);
    await fc.assert(
      fc.asyncProperty(fc.array(messageSpec(wire), { minLength: 1, maxLength: 10 }), async (specs) => {
        // Fresh counters each run, so that a shrunk counterexample shows only its own labels.
        const metrics = suiteMetrics();
        const dir = tempDir('fuzz-labels');
        dirs.push(dir);
        const pipeline = await openPipeline(dir, { deadLetterLimit: 10, batchPoints: 5000, turns: [1], interleave: false }, metrics);
        try {
          for (const spec of specs) {
            const message = build(spec, wire, START_MS);
            pipeline.ingest.handle({ topic: message.topic, payload: message.payload, retained: message.retained });
            pipeline.ingest.commit();
          }
        } finally {
          await pipeline.close();
          rmSync(dir, { recursive: true, force: true });
        }
        const invented = (await counters(metrics)).kinds.filter((kind) => !allowed.has(kind));
        expect(invented.map((kind) => kind.slice(0, 80)), 'label values of ingest_messages_total{kind} taken from the topic').toEqual([]);
      }),
      fuzzParameters('metric labels', RUNS.labels),
    );
  });
});
