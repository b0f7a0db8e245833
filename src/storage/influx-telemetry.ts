/**
 * The telemetry store port on InfluxDB, in InfluxQL (answered by 1.x, and by 2.x through the
 * bucket's DBRP mapping). Buckets are aligned on the query's `from` (an offset in GROUP BY time),
 * so a daily series in Bamako starts at midnight whatever the epoch says.
 */
import type { InfluxClient, InfluxSeries } from './influx.js';
import { checkActiveRange, checkRange, type PeriodTotals, type SeriesBucket, type SeriesQuery, type TelemetryStore } from './telemetry.js';

const BOREHOLE_ID = /^[a-z0-9][a-z0-9-]{1,62}$/;

function quoteId(id: string): string {
  // Ids are validated by the registry; refuse anything else rather than escape it.
  if (!BOREHOLE_ID.test(id)) throw new Error(`not a borehole id: ${id}`);
  return `'${id}'`;
}

const range = (fromMs: number, toMs: number): string => `time >= ${Math.floor(fromMs)}ms AND time < ${Math.floor(toMs)}ms`;

function numberAt(row: unknown[] | undefined, index: number): number | null {
  const value = row?.[index];
  return typeof value === 'number' ? value : null;
}

/** Rows of the first series of a statement's result, keyed by their time. */
function byTime(series: InfluxSeries[] | undefined): Map<number, unknown[]> {
  const rows = new Map<number, unknown[]>();
  for (const s of series ?? []) for (const row of s.values) if (typeof row[0] === 'number') rows.set(row[0], row);
  return rows;
}

export class InfluxTelemetry implements TelemetryStore {
  constructor(private readonly client: Pick<InfluxClient, 'query' | 'connect'>) {}

  async series(query: SeriesQuery): Promise<SeriesBucket[]> {
    checkRange(query);
    const where = `"borehole" = ${quoteId(query.boreholeId)} AND ${range(query.fromMs, query.toMs)}`;
    const offsetMs = ((query.fromMs % query.everyMs) + query.everyMs) % query.everyMs;
    const group = `GROUP BY time(${query.everyMs}ms, ${offsetMs}ms) fill(none)`;
    await this.client.connect();
    const [flow, level, pump, meter, integral] = await this.client.query(
      [
        `SELECT mean("rate_lpm") FROM "flow" WHERE ${where} ${group}`,
        `SELECT min("depth_m"), mean("depth_m"), max("depth_m") FROM "level" WHERE ${where} ${group}`,
        `SELECT mean("running"), mean("current_a") FROM "pump" WHERE ${where} ${group}`,
        `SELECT sum("d") FROM (SELECT non_negative_difference("total_m3") AS "d" FROM "flow" WHERE ${where}) WHERE ${range(query.fromMs, query.toMs)} ${group}`,
        `SELECT integral("rate_lpm", 1m) FROM "flow" WHERE ${where} ${group}`,
      ].join('; '),
    );
    const flows = byTime(flow);
    const levels = byTime(level);
    const pumps = byTime(pump);
    const meters = byTime(meter);
    const integrals = byTime(integral);
    const times = [...new Set([...flows.keys(), ...levels.keys(), ...pumps.keys()])].sort((a, b) => a - b);
    return times.map((timeMs) => {
      const meterM3 = numberAt(meters.get(timeMs), 1);
      const integralLitres = numberAt(integrals.get(timeMs), 1);
      return {
        timeMs,
        flowLpmMean: numberAt(flows.get(timeMs), 1),
        depthMMin: numberAt(levels.get(timeMs), 1),
        depthMMean: numberAt(levels.get(timeMs), 2),
        depthMMax: numberAt(levels.get(timeMs), 3),
        runningFraction: numberAt(pumps.get(timeMs), 1),
        currentAMean: numberAt(pumps.get(timeMs), 2),
        // The meter where the device sends one, the flow rate integrated otherwise (l → m³).
        volumeM3: meterM3 ?? (integralLitres === null ? null : integralLitres / 1000),
      };
    });
  }

  async totals(boreholeIds: readonly string[], fromMs: number, toMs: number): Promise<Map<string, PeriodTotals>> {
    const totals = new Map<string, PeriodTotals>(boreholeIds.map((id) => [id, { volumeM3: 0, pumpingHours: 0 }]));
    if (boreholeIds.length === 0) return totals;
    const ids = `"borehole" =~ /^(${boreholeIds.map((id) => quoteId(id).slice(1, -1)).join('|')})$/`;
    const where = `${ids} AND ${range(fromMs, toMs)}`;
    await this.client.connect();
    const [meter, integral, running] = await this.client.query(
      [
        `SELECT sum("d") FROM (SELECT non_negative_difference("total_m3") AS "d" FROM "flow" WHERE ${where} GROUP BY "borehole") GROUP BY "borehole"`,
        `SELECT integral("rate_lpm", 1m) FROM "flow" WHERE ${where} GROUP BY "borehole"`,
        `SELECT integral("running", 1h) FROM "pump" WHERE ${where} GROUP BY "borehole"`,
      ].join('; '),
    );
    const perBorehole = (series: InfluxSeries[] | undefined): Map<string, number> =>
      new Map((series ?? []).map((s) => [s.tags?.borehole ?? '', numberAt(s.values[0], 1) ?? 0]));
    const meters = perBorehole(meter);
    const integrals = perBorehole(integral);
    const hours = perBorehole(running);
    for (const id of boreholeIds) {
      totals.set(id, { volumeM3: meters.get(id) ?? (integrals.get(id) ?? 0) / 1000, pumpingHours: hours.get(id) ?? 0 });
    }
    return totals;
  }

  async activeMinutes(boreholeId: string, fromMs: number, toMs: number): Promise<number[]> {
    checkActiveRange(fromMs, toMs);
    await this.client.connect();
    const [series] = await this.client.query(
      `SELECT count("rate_lpm") FROM "flow" WHERE "borehole" = ${quoteId(boreholeId)} AND ${range(fromMs, toMs)} GROUP BY time(1m) fill(none); ` +
        `SELECT count("running") FROM "pump" WHERE "borehole" = ${quoteId(boreholeId)} AND ${range(fromMs, toMs)} GROUP BY time(1m) fill(none); ` +
        `SELECT count("depth_m") FROM "level" WHERE "borehole" = ${quoteId(boreholeId)} AND ${range(fromMs, toMs)} GROUP BY time(1m) fill(none); ` +
        `SELECT count("online") FROM "device" WHERE "borehole" = ${quoteId(boreholeId)} AND ${range(fromMs, toMs)} GROUP BY time(1m) fill(none)`,
    ).then((results) => [results.flat()]);
    const minutes = new Set<number>();
    for (const s of series ?? []) for (const row of s.values) if (typeof row[0] === 'number') minutes.add(row[0]);
    return [...minutes].sort((a, b) => a - b);
  }
}
