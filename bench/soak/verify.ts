/**
 * What the soak checks at the end: the points InfluxDB holds against the readings the fleet
 * generated and the broker acknowledged, series by series and timestamp by timestamp (by value
 * for devices without a clock); and whether a sampled quantity stayed flat.
 */
import { VALUE_FIELDS, type Series } from './fleet.js';

const FIELD_OF = { flow: 'rate_lpm', pump: 'running', level: 'depth_m' } as const;

interface InfluxSeries {
  tags?: Record<string, string>;
  values?: [number, unknown][];
}
interface InfluxResult {
  series?: InfluxSeries[];
  error?: string;
  partial?: boolean;
}

export async function influxQuery(url: string, db: string, query: string): Promise<InfluxResult> {
  const params = new URLSearchParams({ db, q: query, epoch: 'ms' });
  const response = await fetch(`${url}/query?${params.toString()}`, { signal: AbortSignal.timeout(120_000) });
  if (!response.ok) throw new Error(`InfluxDB answered ${response.status} to ${query}: ${await response.text()}`);
  const body = (await response.json()) as { results?: InfluxResult[]; error?: string };
  const result = body.results?.[0];
  if (body.error || !result) throw new Error(`InfluxDB: ${body.error ?? 'no result'} for ${query}`);
  if (result.error) throw new Error(`InfluxDB: ${result.error} for ${query}`);
  if (result.partial) throw new Error(`InfluxDB truncated the answer to ${query} (max-row-limit): ask for fewer boreholes at once`);
  return result;
}

/** Points stored in the three reading measurements, all boreholes together. */
export async function storedTotal(url: string, db: string): Promise<number> {
  let total = 0;
  for (const [measurement, field] of Object.entries(FIELD_OF)) {
    const result = await influxQuery(url, db, `SELECT count("${field}") FROM "${measurement}"`);
    const value = result.series?.[0]?.values?.[0]?.[1];
    total += typeof value === 'number' ? value : 0;
  }
  return total;
}

export interface SeriesVerdict {
  series: number;
  generated: number;
  acked: number;
  /** Generated, never acknowledged: may or may not be stored. */
  unacked: number;
  unackedStored: number;
  stored: number;
  /** Acknowledged and not in InfluxDB. */
  lost: number;
  /** In InfluxDB at a time no reading of that series was published with: a duplicate or an invention. */
  unexpected: number;
  /** Series of devices without a clock, and their readings. */
  clocklessSeries: number;
  clocklessGenerated: number;
  /**
   * Clockless readings stored more often than they were generated: a message received twice (a
   * PUBACK lost in a restart) is stored twice, at two receive times, since nothing in it tells
   * the copies apart (docs/ingest.md, "Devices without a clock"). Counted apart from `unexpected`.
   */
  clocklessCopies: number;
  /** Of `lost`, readings without `ts`; and of those, the ones acknowledged within 50 ms of another reading of the series. */
  clocklessLost: number;
  clocklessLostSameInstant: number;
  /** Up to 10 examples of each problem, for the report. */
  lostExamples: string[];
  unexpectedExamples: string[];
  clocklessCopyExamples: string[];
}

/**
 * Reads back every point of every series, a few boreholes at a time (InfluxDB 1.x may cap the rows
 * of one answer), and compares the sets of timestamps. InfluxDB keeps one point per series and
 * time, so a reading stored twice could only show as a time that was never published; the counts
 * are therefore checked against the distinct (borehole, topic, ts) published.
 */
export async function verifySeries(url: string, db: string, all: readonly Series[], progress: (line: string) => void): Promise<SeriesVerdict> {
  const verdict: SeriesVerdict = {
    series: all.length,
    generated: 0,
    acked: 0,
    unacked: 0,
    unackedStored: 0,
    stored: 0,
    lost: 0,
    unexpected: 0,
    clocklessSeries: 0,
    clocklessGenerated: 0,
    clocklessCopies: 0,
    clocklessLost: 0,
    clocklessLostSameInstant: 0,
    lostExamples: [],
    unexpectedExamples: [],
    clocklessCopyExamples: [],
  };
  const byBorehole = new Map<string, Series[]>();
  for (const one of all) byBorehole.set(one.borehole, [...(byBorehole.get(one.borehole) ?? []), one]);
  const boreholes = [...byBorehole.keys()];
  const mostPerSeries = Math.max(1, ...all.map((one) => one.generated.length));
  const perQuery = Math.max(1, Math.floor(8_000 / mostPerSeries));
  let done = 0;
  let lastReport = Date.now();
  for (let start = 0; start < boreholes.length; start += perQuery) {
    const chunk = boreholes.slice(start, start + perQuery);
    const where = chunk.map((id) => `"borehole" = '${id}'`).join(' OR ');
    for (const measurement of Object.keys(FIELD_OF) as (keyof typeof FIELD_OF)[]) {
      const fields = VALUE_FIELDS[measurement];
      const result = await influxQuery(url, db, `SELECT ${fields.map((field) => `"${field}"`).join(', ')} FROM "${measurement}" WHERE ${where} GROUP BY "borehole"`);
      const storedById = new Map<string, [number, ...unknown[]][]>();
      for (const series of result.series ?? []) {
        const id = series.tags?.borehole;
        if (id === undefined) continue;
        storedById.set(id, series.values ?? []);
      }
      for (const id of chunk) {
        const one = (byBorehole.get(id) ?? []).find((candidate) => candidate.kind === measurement);
        if (!one) continue;
        const rows = storedById.get(id) ?? [];
        if (one.clockless) compareByValue(one, rows.map(([, ...values]) => JSON.stringify(values.map((value) => value ?? null))), verdict);
        else compare(one, rows.map(([time]) => time), verdict);
      }
    }
    done += chunk.length;
    if (Date.now() - lastReport > 10_000) {
      progress(`verify: ${done} of ${boreholes.length} boreholes read back`);
      lastReport = Date.now();
    }
  }
  return verdict;
}

function compare(one: Series, storedTimes: readonly number[], verdict: SeriesVerdict): void {
  const stored = new Set(storedTimes);
  const generated = new Set(one.generated);
  const acked = new Set(one.acked);
  verdict.generated += generated.size;
  verdict.acked += acked.size;
  verdict.stored += stored.size;
  for (const ts of generated) {
    if (acked.has(ts)) {
      if (!stored.has(ts)) {
        verdict.lost += 1;
        if (verdict.lostExamples.length < 10) verdict.lostExamples.push(`${one.borehole}/${one.kind} ts ${new Date(ts).toISOString()}`);
      }
    } else {
      verdict.unacked += 1;
      if (stored.has(ts)) verdict.unackedStored += 1;
    }
  }
  for (const ts of stored) {
    if (generated.has(ts)) continue;
    verdict.unexpected += 1;
    if (verdict.unexpectedExamples.length < 10) verdict.unexpectedExamples.push(`${one.borehole}/${one.kind} ts ${new Date(ts).toISOString()}`);
  }
}

/**
 * A device without a clock: the service stamps its readings (receive time, spaced back in a batch),
 * so they cannot be matched by time. Matched instead by count and value within the series: for
 * each distinct set of values, what was acknowledged must be stored at least as often (else lost),
 * what is stored more often than it was generated is a copy, and stored values that the device
 * never sent are an invention (counted with `unexpected`).
 */
function compareByValue(one: Series, storedKeys: readonly string[], verdict: SeriesVerdict): void {
  const tally = new Map<string, { generated: number; acked: number; stored: number }>();
  const entry = (key: string) => {
    let found = tally.get(key);
    if (!found) tally.set(key, (found = { generated: 0, acked: 0, stored: 0 }));
    return found;
  };
  for (const index of one.generated) entry(one.values[index] as string).generated += 1;
  for (const index of one.acked) entry(one.values[index] as string).acked += 1;
  for (const key of storedKeys) entry(key).stored += 1;
  verdict.clocklessSeries += 1;
  verdict.clocklessGenerated += one.generated.length;
  verdict.generated += one.generated.length;
  verdict.acked += one.acked.length;
  verdict.stored += storedKeys.length;
  verdict.unacked += one.generated.length - one.acked.length;
  for (const [key, count] of tally) {
    const where = `${one.borehole}/${one.kind} (no ts) values ${key}`;
    if (count.generated === 0) {
      verdict.unexpected += count.stored;
      if (verdict.unexpectedExamples.length < 10) verdict.unexpectedExamples.push(`${where} stored ${count.stored}×, never sent`);
      continue;
    }
    if (count.stored < count.acked) {
      verdict.lost += count.acked - count.stored;
      verdict.clocklessLost += count.acked - count.stored;
      if (ackedNearCounts(one, key).every((near) => near > 0)) verdict.clocklessLostSameInstant += count.acked - count.stored;
      if (verdict.lostExamples.length < 10) verdict.lostExamples.push(`${where}: acknowledged ${count.acked}×, stored ${count.stored}× (${ackedNear(one, key)})`);
    }
    verdict.unackedStored += Math.max(0, Math.min(count.stored, count.generated) - count.acked);
    if (count.stored > count.generated) {
      verdict.clocklessCopies += count.stored - count.generated;
      if (verdict.clocklessCopyExamples.length < 10) verdict.clocklessCopyExamples.push(`${where}: sent ${count.generated}×, stored ${count.stored}×`);
    }
  }
}

/**
 * When the readings of a value were acknowledged, and how many other readings of the series were
 * acknowledged within 50 ms of them: the service stamps a clockless reading with its receive time,
 * so two messages of one series received in the same millisecond become one point.
 */
function ackedNear(one: Series, key: string): string {
  const near = ackedNearCounts(one, key);
  return ackedTimes(one, key)
    .map((atMs, index) => `acknowledged at ${new Date(atMs).toISOString()}, ${near[index] ?? 0} other readings of the series within 50 ms`)
    .join('; ');
}

const ackedTimes = (one: Series, key: string): number[] => one.acked.flatMap((index, position) => (one.values[index] === key ? [one.ackedAtMs[position] as number] : []));

function ackedNearCounts(one: Series, key: string): number[] {
  return ackedTimes(one, key).map((atMs) => one.ackedAtMs.filter((other) => Math.abs(other - atMs) <= 50).length - 1);
}

/** Least-squares slope of y over x. */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / n;
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (const point of points) {
    numerator += (point.x - meanX) * (point.y - meanY);
    denominator += (point.x - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, value) => sum + value, 0) / values.length;
}

/** Offline alerts split by what caused them: only a device's own scripted silence may open one. */
export interface OfflineCauses {
  linkOutage: number;
  backlog: number;
  /** Opened `offline_minutes` after the device's last message: the run was over and the devices stopped. */
  endOfRun: number;
  /** On a borehole whose device was never silent: the service's own downtime (or a bug). */
  unexplained: number;
  unexplainedExamples: string[];
}

/**
 * Classifies `offline` alerts by the plan: a borehole with a scripted link outage or a backlog
 * (offline for hours before the run) may go offline; any other offline alert can only come from
 * the service's own restarts, which the rules must not count as a borehole's silence.
 */
export function offlineByCause(
  alerts: readonly { borehole: string; rule: string; opened_at: string }[],
  plan: { offline: readonly { borehole: string }[]; backlogs: readonly { borehole: string }[] },
  end?: { offlineMs: number; lastAckAtMs(borehole: string): number | undefined },
): OfflineCauses {
  const outage = new Set(plan.offline.map((window) => window.borehole));
  const backlog = new Set(plan.backlogs.map((one) => one.borehole));
  const causes: OfflineCauses = { linkOutage: 0, backlog: 0, endOfRun: 0, unexplained: 0, unexplainedExamples: [] };
  for (const alert of alerts) {
    if (alert.rule !== 'offline') continue;
    // The service opens it at last-heard + offline_minutes; a few seconds of slack for the PUBACK's way back.
    const lastAckAtMs = end?.lastAckAtMs(alert.borehole);
    if (end && lastAckAtMs !== undefined && Date.parse(alert.opened_at) >= lastAckAtMs + end.offlineMs - 5_000) causes.endOfRun += 1;
    else if (outage.has(alert.borehole)) causes.linkOutage += 1;
    else if (backlog.has(alert.borehole)) causes.backlog += 1;
    else {
      causes.unexplained += 1;
      if (causes.unexplainedExamples.length < 5) causes.unexplainedExamples.push(`${alert.borehole} opened ${alert.opened_at}`);
    }
  }
  return causes;
}
