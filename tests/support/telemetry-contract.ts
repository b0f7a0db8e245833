/**
 * The contract every telemetry store implements (src/storage/telemetry.ts), as one suite that runs
 * against each implementation with hand-computed expectations.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../src/domain/reading.js';
import { ReadingEncoder } from '../../src/storage/points.js';
import { QueryRangeError, type TelemetryStore } from '../../src/storage/telemetry.js';

export interface TelemetryUnderTest {
  store: TelemetryStore;
  /** Writes line protocol the way the drain does. */
  write(body: Buffer): Promise<void>;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
/** 2026-03-01 06:00 UTC. */
const T0 = Date.UTC(2026, 2, 1, 6, 0);

function lines(readings: readonly Reading[]): Buffer {
  const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));
  return Buffer.from(`${readings.map((r) => encoder.line(r)).join('\n')}\n`);
}

/**
 * Two boreholes over two hours:
 * - `metered`: flow 60 l/min every minute with a meter counting 0.06 m³ a minute (reset to 0 at
 *   06:30 and counting on), pump running in the first hour only, level 30 m then 40 m;
 * - `unmetered`: flow 30 l/min every minute without a meter, nothing else; silent 07:00–07:20.
 */
function fixture(metered: string, unmetered: string): Reading[] {
  const readings: Reading[] = [];
  for (let m = 0; m < 120; m += 1) {
    const tsMs = T0 + m * MINUTE;
    const total = m < 30 ? 100 + 0.06 * m : 0.06 * (m - 30);
    readings.push({ boreholeId: metered, kind: 'flow', tsMs, values: { rate_lpm: 60, total_m3: Number(total.toFixed(4)) } });
    readings.push({ boreholeId: metered, kind: 'pump', tsMs, values: { running: m < 60, current_a: m < 60 ? 4 : 0, fault: null } });
    readings.push({ boreholeId: metered, kind: 'level', tsMs, values: { depth_m: m < 60 ? 30 : 40 } });
    if (m < 60 || m >= 80) readings.push({ boreholeId: unmetered, kind: 'flow', tsMs, values: { rate_lpm: 30 } });
  }
  return readings;
}

export function telemetryContract(name: string, setUp: () => Promise<TelemetryUnderTest>, ids: { metered: string; unmetered: string }): void {
  describe(`telemetry store contract: ${name}`, () => {
    let store: TelemetryStore;

    beforeAll(async () => {
      const underTest = await setUp();
      store = underTest.store;
      await underTest.write(lines(fixture(ids.metered, ids.unmetered)));
    });

    it('aggregates a borehole per hour: mean flow, min/mean/max depth, running fraction, current', async () => {
      const buckets = await store.series({ boreholeId: ids.metered, fromMs: T0, toMs: T0 + 2 * HOUR, everyMs: HOUR });
      expect(buckets.map((b) => b.timeMs)).toEqual([T0, T0 + HOUR]);
      expect(buckets[0]).toMatchObject({ flowLpmMean: 60, depthMMin: 30, depthMMean: 30, depthMMax: 30, runningFraction: 1, currentAMean: 4 });
      expect(buckets[1]).toMatchObject({ flowLpmMean: 60, depthMMin: 40, depthMMax: 40, runningFraction: 0, currentAMean: 0 });
    });

    it('counts the water from the meter, across a meter reset', async () => {
      const buckets = await store.series({ boreholeId: ids.metered, fromMs: T0, toMs: T0 + 2 * HOUR, everyMs: HOUR });
      // First hour: 29 steps of 0.06 before the reset, the reset itself counts nothing, 29 after.
      expect(buckets[0]?.volumeM3).toBeCloseTo(58 * 0.06, 6);
      // Second hour: 60 steps of 0.06 (the first one from 06:59 to 07:00 falls in it).
      expect(buckets[1]?.volumeM3).toBeCloseTo(60 * 0.06, 6);
    });

    it('integrates the flow where there is no meter', async () => {
      const buckets = await store.series({ boreholeId: ids.unmetered, fromMs: T0, toMs: T0 + 2 * HOUR, everyMs: HOUR });
      // The rate is integrated between consecutive readings (trapezoids, as InfluxDB's integral()
      // does), each area split at the bucket boundary: 06:00–07:00 is 60 minutes at 30 l/min (the
      // last minute interpolated towards 07:20), 07:00–07:59 the other 59, the silence included.
      expect(buckets[0]?.volumeM3).toBeCloseTo((60 * 30) / 1000, 6);
      expect(buckets[1]?.volumeM3).toBeCloseTo((59 * 30) / 1000, 6);
      expect(buckets[0]?.depthMMean).toBeNull();
    });

    it('aligns buckets on `from`, and leaves out buckets without data', async () => {
      const buckets = await store.series({ boreholeId: ids.unmetered, fromMs: T0 + 30 * MINUTE, toMs: T0 + 2 * HOUR, everyMs: 15 * MINUTE });
      expect(buckets.map((b) => (b.timeMs - T0) / MINUTE)).toEqual([30, 45, 75, 90, 105]);
    });

    it('refuses a query that would return too many buckets, or a reversed range', async () => {
      await expect(store.series({ boreholeId: ids.metered, fromMs: T0, toMs: T0 + 365 * 24 * HOUR, everyMs: MINUTE })).rejects.toBeInstanceOf(QueryRangeError);
      await expect(store.series({ boreholeId: ids.metered, fromMs: T0, toMs: T0 - HOUR, everyMs: HOUR })).rejects.toBeInstanceOf(QueryRangeError);
    });

    it('totals volume and pumping hours per borehole over a period', async () => {
      const totals = await store.totals([ids.metered, ids.unmetered, 'never-heard'], T0, T0 + 2 * HOUR);
      expect(totals.get(ids.metered)?.volumeM3).toBeCloseTo(118 * 0.06, 6);
      // Running 1 from 06:00 to 06:59, then 0 at 07:00: an hour of running, interpolated.
      expect(totals.get(ids.metered)?.pumpingHours).toBeCloseTo(59.5 / 60, 3);
      expect(totals.get(ids.unmetered)?.volumeM3).toBeCloseTo((119 * 30) / 1000, 6);
      expect(totals.get('never-heard')).toEqual({ volumeM3: 0, pumpingHours: 0 });
    });

    it('lists the minutes a borehole was heard, so that gaps can be found', async () => {
      const minutes = await store.activeMinutes(ids.unmetered, T0, T0 + 2 * HOUR);
      expect(minutes).toHaveLength(100);
      expect(minutes.filter((m) => m >= T0 + HOUR && m < T0 + HOUR + 20 * MINUTE)).toEqual([]);
      expect(minutes[0]).toBe(T0);
    });
  });
}
