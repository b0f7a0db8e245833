/**
 * The embedded store against InfluxDB on the same irregular data: gaps of every length, meter
 * resets, unmetered boreholes, missing fields, duplicates, a borehole whose tags changed (two
 * series), buckets of every size on odd offsets. The contract suite pins hand-computed cases; this
 * one catches whatever it does not think of, so the two implementations cannot drift.
 */
import { pino } from 'pino';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { Reading } from '../../src/domain/reading.js';
import { EmbeddedTelemetry } from '../../src/storage/embedded-telemetry.js';
import { InfluxClient } from '../../src/storage/influx.js';
import { InfluxTelemetry } from '../../src/storage/influx-telemetry.js';
import { ReadingEncoder } from '../../src/storage/points.js';
import type { SeriesBucket, TelemetryStore } from '../../src/storage/telemetry.js';
import { tempDir, uniqueName } from '../support/fixtures.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! embedded/InfluxDB parity suite SKIPPED: no InfluxDB (see tests/support/global-setup.ts)');

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** 2026-02-01 00:00 UTC, plus an odd offset so that nothing is aligned by luck. */
const START = Date.UTC(2026, 1, 1) + 17 * MINUTE + 3000;
const SPAN = 3 * DAY;

/** mulberry32: the same data on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fixture(prefix: string): { readings: Reading[]; ids: string[] } {
  const next = random(7);
  const ids = [`${prefix}-metered`, `${prefix}-unmetered`, `${prefix}-sparse`];
  const readings: Reading[] = [];
  for (const [index, id] of ids.entries()) {
    let tsMs = START + Math.floor(next() * 5 * MINUTE);
    let total = 1000 + next() * 100;
    while (tsMs < START + SPAN) {
      const rate = next() < 0.3 ? 0 : Math.round(next() * 8000) / 100;
      if (index === 0) {
        // A reset now and then; a meter that does not move at times (stuck, or the pump is off).
        const step = next();
        total = step < 0.01 ? next() * 5 : step < 0.4 ? total : total + next() * 0.2;
        readings.push({ boreholeId: id, kind: 'flow', tsMs, values: { rate_lpm: rate, total_m3: Number(total.toFixed(4)) } });
      } else {
        readings.push({ boreholeId: id, kind: 'flow', tsMs, values: { rate_lpm: rate } });
      }
      const running = rate > 0;
      readings.push({ boreholeId: id, kind: 'pump', tsMs, values: { running, ...(next() < 0.8 ? { current_a: running ? 4 + next() : 0 } : {}), fault: null } });
      if (next() < 0.5) readings.push({ boreholeId: id, kind: 'level', tsMs: tsMs + 7000, values: { depth_m: Math.round(2000 + next() * 1500) / 100 } });
      if (next() < 0.05) readings.push({ boreholeId: id, kind: 'status', tsMs: tsMs + 11_000, values: { online: next() < 0.5, rssi_dbm: -80 } });
      // Mostly a minute; sometimes a second or two; sometimes silent for minutes to hours.
      const gap = next();
      tsMs += gap < 0.8 ? MINUTE : gap < 0.9 ? 1000 + Math.floor(next() * 2000) : gap < 0.98 ? Math.floor(next() * 90 * MINUTE) : Math.floor(next() * 9 * HOUR);
      tsMs += 1; // never two readings of one borehole and kind at the same instant
    }
  }
  return { readings, ids };
}

function encode(readings: readonly Reading[], regionOf: (reading: Reading) => string): Buffer {
  const encoders = new Map<string, ReadingEncoder>();
  const lines = readings.map((reading) => {
    const region = regionOf(reading);
    let encoder = encoders.get(region);
    if (!encoder) {
      encoder = new ReadingEncoder((id) => ({ borehole: id, region, commune: 'Kayes' }));
      encoders.set(region, encoder);
    }
    return encoder.line(reading);
  });
  return Buffer.from(`${lines.join('\n')}\n`);
}

function expectClose(actual: number | null | undefined, expected: number | null | undefined, what: string): void {
  if (expected === null || expected === undefined) {
    expect(actual ?? null, what).toBeNull();
    return;
  }
  expect(actual, what).not.toBeNull();
  expect(Math.abs((actual as number) - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));
}

function compareSeries(actual: SeriesBucket[], expected: SeriesBucket[], what: string): void {
  expect(actual.map((b) => b.timeMs), what).toEqual(expected.map((b) => b.timeMs));
  for (const [index, bucket] of expected.entries()) {
    const mine = actual[index] as SeriesBucket;
    for (const key of ['flowLpmMean', 'depthMMin', 'depthMMean', 'depthMMax', 'runningFraction', 'currentAMean', 'volumeM3'] as const) {
      expectClose(mine[key], bucket[key], `${what} ${new Date(bucket.timeMs).toISOString()} ${key}`);
    }
  }
}

describe.skipIf(serverSource === 'none')('embedded store and InfluxDB answer alike', () => {
  const unique = uniqueName('parity').toLowerCase().replace(/_/g, '-');
  const { readings, ids } = fixture(unique);
  let influx: TelemetryStore;
  let embedded: EmbeddedTelemetry;

  beforeAll(async () => {
    const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
    const client = new InfluxClient({ url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket }, pino({ level: 'silent' }));
    influx = new InfluxTelemetry(client);
    embedded = EmbeddedTelemetry.open({ path: `${tempDir('parity')}/telemetry.db` });
    // The metered borehole moved region half way through: two series for one borehole.
    const regionOf = (reading: Reading): string => (reading.boreholeId === ids[0] && reading.tsMs > START + SPAN / 2 ? 'Koulikoro' : 'Kayes');
    const body = encode(readings, regionOf);
    // And a tenth of it again: replays are stored once by both.
    const replay = encode(readings.filter((_, index) => index % 10 === 0), regionOf);
    for (const write of [(b: Buffer) => client.writeLines(b), (b: Buffer) => embedded.writeLines(b)]) {
      await write(body);
      await write(replay);
    }
    return () => embedded.close();
  });

  const queries = [
    { fromMs: START, toMs: START + SPAN, everyMs: HOUR },
    { fromMs: START - 5 * HOUR, toMs: START + SPAN + 3 * HOUR, everyMs: DAY },
    { fromMs: START + 13 * HOUR + 7 * MINUTE, toMs: START + 2 * DAY, everyMs: 15 * MINUTE },
    { fromMs: START + DAY + 12_345, toMs: START + DAY + 3 * HOUR, everyMs: MINUTE },
    { fromMs: START + 2 * DAY, toMs: START + 2 * DAY + 4000 * 7 * MINUTE, everyMs: 7 * MINUTE },
  ];

  it('the same aggregated series, bucket by bucket', async () => {
    for (const query of queries) {
      for (const boreholeId of ids) {
        const what = `${boreholeId} ${new Date(query.fromMs).toISOString()} every ${query.everyMs / MINUTE}m`;
        compareSeries(await embedded.series({ boreholeId, ...query }), await influx.series({ boreholeId, ...query }), what);
      }
    }
  });

  it('the same period totals', async () => {
    for (const { fromMs, toMs } of queries) {
      const mine = await embedded.totals([...ids, 'never-heard'], fromMs, toMs);
      const theirs = await influx.totals([...ids, 'never-heard'], fromMs, toMs);
      for (const id of [...ids, 'never-heard']) {
        expectClose(mine.get(id)?.volumeM3, theirs.get(id)?.volumeM3, `${id} volume`);
        expectClose(mine.get(id)?.pumpingHours, theirs.get(id)?.pumpingHours, `${id} pumping hours`);
      }
    }
  });

  it('the same active minutes', async () => {
    for (const id of ids) {
      expect(await embedded.activeMinutes(id, START - HOUR, START + SPAN)).toEqual(await influx.activeMinutes(id, START - HOUR, START + SPAN));
      expect(await embedded.activeMinutes(id, START + DAY + 12_345, START + DAY + 5 * HOUR)).toEqual(await influx.activeMinutes(id, START + DAY + 12_345, START + DAY + 5 * HOUR));
    }
  });
});
