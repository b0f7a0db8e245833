/**
 * A store-and-forward batch from a device without a clock (no `ts`), from the MQTT payload to the
 * embedded time-series store: three readings in, three points out, in the order sent. Stamped all
 * with the receive time they were one point (same series and time), the last overwriting the rest.
 */
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetterLog } from '../../../src/ingest/dead-letters.js';
import { decodeMessage } from '../../../src/ingest/decode.js';
import { Ingest } from '../../../src/ingest/ingest.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { EmbeddedTelemetry } from '../../../src/storage/embedded-telemetry.js';
import { ReadingEncoder } from '../../../src/storage/points.js';
import { tempDir, testRegistry } from '../../support/fixtures.js';

const dir = tempDir('clockless-batch');
const store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db') });

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const RECEIVED_AT_MS = Date.UTC(2026, 1, 5, 10, 45, 0);
const MINUTE_MS = 60_000;

it('stores the three readings of a clockless batch as three points, in the order sent, the last at the receive time', async () => {
  const payload = Buffer.from(JSON.stringify([{ rate_lpm: 11 }, { rate_lpm: 22 }, { rate_lpm: 33 }]));
  const { readings, rejections } = decodeMessage('boreholes/clockless/flow', payload, RECEIVED_AT_MS, {
    topicRoot: 'boreholes',
    isKnownBorehole: (id) => id === 'clockless',
  });
  expect(rejections).toEqual([]);
  const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));
  await store.writeLines(Buffer.from(`${readings.map((reading) => encoder.line(reading)).join('\n')}\n`));

  const buckets = await store.series({ boreholeId: 'clockless', fromMs: RECEIVED_AT_MS - 10 * MINUTE_MS, toMs: RECEIVED_AT_MS + MINUTE_MS, everyMs: MINUTE_MS });
  expect(buckets.map((bucket) => [bucket.timeMs, bucket.flowLpmMean])).toEqual([
    [RECEIVED_AT_MS - 2 * MINUTE_MS, 11],
    [RECEIVED_AT_MS - MINUTE_MS, 22],
    [RECEIVED_AT_MS, 33],
  ]);
});

describe('readings without ts of one series, received in the same millisecond', () => {
  /** Ingest on a clock that does not move, writing what it commits to the embedded store. */
  async function ingestAll(messages: { topic: string; body: unknown }[]): Promise<void> {
    const lines: string[] = [];
    const ingest = new Ingest({
      topicRoot: 'boreholes',
      registry: testRegistry(['same-ms']),
      journal: { append: (batch) => void lines.push(...batch), commit: () => undefined, failedCommits: 0 },
      deadLetters: new DeadLetterLog(tempDir('same-ms-dead-letters'), 100),
      metrics: createMetrics({ journalStats: () => ({ pendingPoints: 0, pendingBytes: 0, segments: 0, oldestAtMs: null }), now: () => RECEIVED_AT_MS }),
      now: () => RECEIVED_AT_MS,
      log: pino({ level: 'silent' }),
    });
    for (const { topic, body } of messages) ingest.handle({ topic, payload: Buffer.from(JSON.stringify(body)), retained: false });
    ingest.commit();
    await store.writeLines(Buffer.from(`${lines.join('\n')}\n`));
  }

  /** The flow points of the series as the store holds them, in time order: [time, rate]. */
  const flowPoints = (): [number, number][] => {
    const db = new Database(join(dir, 'telemetry.db'), { readonly: true });
    try {
      return db
        .prepare<[], { ts_ms: number; value: number }>(
          `SELECT s.ts_ms, s.value FROM samples s JOIN streams t ON t.id = s.stream
            WHERE t.measurement = 'flow' AND t.field = 'rate_lpm' AND t.borehole = 'same-ms' ORDER BY s.ts_ms`,
        )
        .all()
        .map((row) => [row.ts_ms, row.value]);
    } finally {
      db.close();
    }
  };

  it('stores each of them: two messages in one millisecond are two points, not one (issue 13 soak)', async () => {
    await ingestAll([
      { topic: 'boreholes/same-ms/flow', body: { rate_lpm: 41 } },
      { topic: 'boreholes/same-ms/flow', body: { rate_lpm: 42 } },
      // A batch right behind them: its last reading would land on the same millisecond too.
      { topic: 'boreholes/same-ms/flow', body: [{ rate_lpm: 43 }, { rate_lpm: 44 }] },
      // A reading with its own ts keeps it.
      { topic: 'boreholes/same-ms/flow', body: { ts: RECEIVED_AT_MS - 30 * MINUTE_MS, rate_lpm: 45 } },
    ]);
    expect(flowPoints()).toEqual([
      [RECEIVED_AT_MS - 30 * MINUTE_MS, 45],
      // The batch's first reading, one reporting interval back from its last.
      [RECEIVED_AT_MS + 2 - MINUTE_MS, 43],
      [RECEIVED_AT_MS, 41],
      [RECEIVED_AT_MS + 1, 42],
      [RECEIVED_AT_MS + 2, 44],
    ]);
  });
});
