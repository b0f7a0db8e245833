/**
 * The time-series schema of CONTRACT.md section 2. Technicians write their own Grafana queries
 * against these names, so they are a promise: measurement and field names never change here.
 */
import type { Borehole, Registry } from '../config/registry.js';
import { faultCode } from '../contract/payloads.js';
import type { Reading } from '../domain/reading.js';
import { fieldsAndTime, seriesKey, toLine, type FieldValue, type Point } from './line-protocol.js';

export interface PointTags {
  borehole: string;
  region: string;
  commune: string;
}

/** The tags every point of a borehole carries, from the registry. */
export function boreholeTags(registry: Registry, boreholeId: string): PointTags {
  const borehole = registry.boreholes.get(boreholeId);
  return { borehole: boreholeId, region: borehole?.region ?? '', commune: borehole?.commune ?? '' };
}

const int01 = (value: boolean): bigint => (value ? 1n : 0n);

function fieldsOf(reading: Reading): Record<string, FieldValue> {
  switch (reading.kind) {
    case 'flow': {
      const { rate_lpm, total_m3 } = reading.values;
      return total_m3 === undefined ? { rate_lpm } : { rate_lpm, total_m3 };
    }
    case 'pump': {
      const { running, current_a, voltage_v } = reading.values;
      const fields: Record<string, FieldValue> = { running: int01(running), fault: faultCode(reading.values) };
      if (current_a !== undefined) fields.current_a = current_a;
      if (voltage_v !== undefined) fields.voltage_v = voltage_v;
      return fields;
    }
    case 'level':
      return { depth_m: reading.values.depth_m };
    case 'status': {
      const { online, rssi_dbm, battery_v } = reading.values;
      const fields: Record<string, FieldValue> = { online: int01(online) };
      if (rssi_dbm !== undefined) fields.rssi_dbm = rssi_dbm;
      if (battery_v !== undefined) fields.battery_v = battery_v;
      return fields;
    }
  }
}

const MEASUREMENT = { flow: 'flow', pump: 'pump', level: 'level', status: 'device' } as const;

export function readingToPoint(reading: Reading, tags: PointTags): Point {
  return { measurement: MEASUREMENT[reading.kind], tags: { ...tags }, fields: fieldsOf(reading), tsMs: reading.tsMs };
}

/**
 * Encodes readings as line protocol, computing each series key (measurement and tags) once per
 * borehole and kind: at tens of thousands of readings a second, tag escaping is a real cost.
 */
export class ReadingEncoder {
  private readonly keys = new Map<string, string>();

  constructor(private readonly tagsOf: (boreholeId: string) => PointTags) {}

  line(reading: Reading): string {
    const cacheKey = `${reading.boreholeId}/${reading.kind}`;
    let key = this.keys.get(cacheKey);
    if (key === undefined) {
      key = seriesKey(MEASUREMENT[reading.kind], { ...this.tagsOf(reading.boreholeId) });
      this.keys.set(cacheKey, key);
    }
    return key + fieldsAndTime(fieldsOf(reading), reading.tsMs);
  }

  /** After a registry reload: a borehole's region or commune (its tags) may have changed. */
  forgetSeries(): void {
    this.keys.clear();
  }
}

/**
 * The `alert` measurement: one point per state change, for Grafana annotations. The rule and
 * severity are tags (extra to the borehole's) so annotations can be filtered by them.
 */
export function alertChangeLine(
  change: { atMs: number; alert: { boreholeId: string; rule: string; severity: string; state: string; message: string } },
  tags: PointTags,
): string {
  const { alert } = change;
  return toLine({
    measurement: 'alert',
    tags: { ...tags, rule: alert.rule, severity: alert.severity },
    fields: { state: alert.state, message: alert.message },
    tsMs: change.atMs,
  });
}

/**
 * The `registry` measurement: each borehole's name, place and pump as the registry has them, for
 * dashboards (a map needs coordinates, a level chart the intake depth). Time: when written.
 */
export function registryLine(borehole: Borehole, atMs: number): string {
  return toLine({
    measurement: 'registry',
    tags: { borehole: borehole.id, region: borehole.region, commune: borehole.commune },
    fields: {
      name: borehole.name,
      village: borehole.village,
      lat: borehole.location.lat,
      lon: borehole.location.lon,
      intake_depth_m: borehole.pump.intake_depth_m,
      rated_flow_lpm: borehole.pump.rated_flow_lpm,
    },
    tsMs: atMs,
  });
}

/**
 * The `uptime` measurement: one borehole's report figures for one period (tag `period`: day, week
 * or month), at the period's start. Null figures are left out rather than written as 0.
 */
export function uptimeLine(
  row: PointTags & { hours_total: number; hours_down: number; hours_no_data: number; coverage_pct: number | null; uptime_pct: number | null; failures: number; mttr_hours: number | null; volume_m3: number; pumping_hours: number },
  period: string,
  fromMs: number,
): string {
  const fields: Record<string, FieldValue> = {
    hours_total: row.hours_total,
    hours_down: row.hours_down,
    hours_no_data: row.hours_no_data,
    failures: BigInt(row.failures),
    volume_m3: row.volume_m3,
    pumping_hours: row.pumping_hours,
  };
  if (row.coverage_pct !== null) fields.coverage_pct = row.coverage_pct;
  if (row.uptime_pct !== null) fields.uptime_pct = row.uptime_pct;
  if (row.mttr_hours !== null) fields.mttr_hours = row.mttr_hours;
  return toLine({ measurement: 'uptime', tags: { borehole: row.borehole, region: row.region, commune: row.commune, period }, fields, tsMs: fromMs });
}
