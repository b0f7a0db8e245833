/**
 * The uptime report of a period (CONTRACT.md sections 6 and 7): gathers each borehole's critical
 * alerts from the state store and its minutes of data and totals from the time-series store, and
 * hands them to the pure computation in `uptime.ts`.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { z } from 'zod';
import type { Borehole } from '../config/registry.js';
import type { Incident } from '../incidents/incident.js';
import type { IncidentsPort } from '../incidents/port.js';
import type { CriticalAlertRecord } from '../storage/sqlite-store.js';
import type { PeriodTotals, TelemetryStore } from '../storage/telemetry.js';
import type { Period } from './periods.js';
import { toCsv, type CsvSeparator } from './csv.js';
import { incidentFigures, incidentsOpenedIn } from './service-report.js';
import { lookaround, reportedEnd, round, uptimeFigures, uptimeFiguresSchema, uptimeRatios, type UptimeFigures } from './uptime.js';

export const uptimeRowSchema = z.object({
  borehole: z.string(),
  name: z.string(),
  village: z.string(),
  commune: z.string(),
  region: z.string(),
  ...uptimeFiguresSchema.shape,
  // Section 9's incident columns (issue 15). Null only from a service run without incidents, and in
  // reports archived before them.
  incidents: z.number().int().nullable().describe('incidents opened in the period, historical ones included'),
  verified_repairs: z.number().int().nullable().describe('of those, closed as verified and not reopened since'),
  failed_repairs: z.number().int().nullable().describe('failed repairs of those: reopened within reopen_hours, or a claim not verified within verify_hours'),
  median_time_to_repair_minutes: z.number().nullable().describe("median time from an incident's opening to the repair claim, of those claimed; null when none was"),
});
export type UptimeRow = z.infer<typeof uptimeRowSchema>;

/** The uptime report of a period, as the API sends it and the schedule archives it. */
export const uptimeReportSchema = z.object({
  from: z.string().describe('start of the period (local midnight of `from`), RFC 3339 UTC'),
  to: z.string().describe('end of the period, excluded'),
  tz: z.string(),
  generated_at: z.string(),
  complete: z.boolean().describe('false while the period runs: figures stop at generated_at'),
  boreholes: z.array(uptimeRowSchema),
});
export type UptimeReport = z.infer<typeof uptimeReportSchema>;

export interface ReportSources {
  criticalAlertsBetween(fromMs: number, toMs: number): CriticalAlertRecord[];
  telemetry: Pick<TelemetryStore, 'totals' | 'activeMinutes'>;
  /** The incident columns and the results report; absent (tests of uptime alone): those columns are null. */
  incidents?: Pick<IncidentsPort, 'between'> | undefined;
  now(): number;
}

/** Boreholes asked of the store at once: each is a month of minutes, and the store serves the live service too. */
const CONCURRENCY = 4;

/**
 * The longest stretch of minutes asked of the store in one call. The embedded store (SQLite)
 * answers synchronously, on the event loop that also takes MQTT messages and HTTP requests: a
 * year of 1,000 boreholes asked at once held it for many seconds (issue 13). Asked a month of one
 * borehole at a time, with a turn of the event loop between calls, a report holds it for one
 * slice at most. It also keeps every call within the store's 400-day limit whatever the
 * `offline_minutes` look-around adds to a 400-day period.
 */
export const ACTIVE_SLICE_MS = 31 * 86_400_000;

/** Minutes with data in [fromMs, toMs), asked slice by slice, yielding to the event loop between slices. */
export async function activeMinutesSliced(telemetry: ReportSources['telemetry'], boreholeId: string, fromMs: number, toMs: number): Promise<number[]> {
  const minutes: number[] = [];
  for (let start = fromMs; start < toMs; start += ACTIVE_SLICE_MS) {
    // Slices are disjoint and ascending, so their minutes concatenate in order.
    for (const minute of await telemetry.activeMinutes(boreholeId, start, Math.min(start + ACTIVE_SLICE_MS, toMs))) minutes.push(minute);
    await yieldToEventLoop();
  }
  return minutes;
}

export async function mapLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** What a borehole's uptime row needs of the registry: its names, and the one rule that shapes the figures. */
export type UptimeBorehole = Pick<Borehole, 'id' | 'name' | 'village' | 'commune' | 'region'> & { rules: Pick<Borehole['rules'], 'offline_minutes'> };

/**
 * What the report reads from the state database and the clock rather than the time-series store:
 * gathered on the main thread (report-worker.ts sends them to the worker as they are).
 */
export interface ReportInputs {
  nowMs: number;
  /** Critical alerts unresolved at some point of [from, reported end). */
  criticalAlerts: readonly CriticalAlertRecord[];
  /** Incidents open at some point of [from, reported end); null from a service run without incidents. */
  incidents: readonly Incident[] | null;
}

/** The state-database half of a period's report; `endOf` is where its data stop (reportedEnd, or the last day counted). */
export function gatherInputs(sources: Omit<ReportSources, 'telemetry'>, fromMs: number, endOf: (nowMs: number) => number): ReportInputs {
  const nowMs = sources.now();
  const endMs = endOf(nowMs);
  return { nowMs, criticalAlerts: sources.criticalAlertsBetween(fromMs, endMs), incidents: sources.incidents ? sources.incidents.between(fromMs, endMs) : null };
}

export async function buildUptimeReport(sources: ReportSources, period: Period, boreholes: readonly UptimeBorehole[]): Promise<UptimeReport> {
  return computeUptimeReport(sources.telemetry, period, boreholes, gatherInputs(sources, period.fromMs, (nowMs) => reportedEnd({ ...period, nowMs })));
}

/** The report from its gathered inputs and the time-series store: what the report worker runs. */
export async function computeUptimeReport(telemetry: ReportSources['telemetry'], period: Period, boreholes: readonly UptimeBorehole[], inputs: ReportInputs): Promise<UptimeReport> {
  const { nowMs } = inputs;
  const endMs = reportedEnd({ ...period, nowMs });
  const alertsByBorehole = new Map<string, CriticalAlertRecord[]>();
  for (const alert of inputs.criticalAlerts) {
    const list = alertsByBorehole.get(alert.boreholeId) ?? [];
    list.push(alert);
    alertsByBorehole.set(alert.boreholeId, list);
  }
  const incidentsByBorehole = inputs.incidents ? groupByBorehole(incidentsOpenedIn(inputs.incidents, { fromMs: period.fromMs, toMs: endMs }, new Set(boreholes.map((b) => b.id)))) : null;
  const rows = await mapLimited(boreholes, CONCURRENCY, async (borehole): Promise<UptimeRow> => {
    const offlineMinutes = borehole.rules.offline_minutes;
    const [windowStart, windowEnd] = lookaround({ ...period, nowMs, offlineMinutes });
    const activeMinutes = windowEnd > windowStart ? await activeMinutesSliced(telemetry, borehole.id, windowStart, windowEnd) : [];
    // One borehole's totals at a time (not sliced: a meter difference or an integral across a
    // slice boundary would be lost), then a turn of the event loop.
    const totals = endMs > period.fromMs ? await telemetry.totals([borehole.id], period.fromMs, endMs) : new Map<string, PeriodTotals>();
    await yieldToEventLoop();
    const total = totals.get(borehole.id);
    const figures = uptimeFigures({
      ...period,
      nowMs,
      offlineMinutes,
      criticalAlerts: alertsByBorehole.get(borehole.id) ?? [],
      activeMinutes,
      volumeM3: total?.volumeM3 ?? 0,
      pumpingHours: total?.pumpingHours ?? 0,
    });
    return {
      borehole: borehole.id,
      name: borehole.name,
      village: borehole.village,
      commune: borehole.commune,
      region: borehole.region,
      ...figures,
      ...incidentColumns(incidentsByBorehole === null ? null : (incidentsByBorehole.get(borehole.id) ?? []), nowMs),
    };
  });
  return {
    from: new Date(period.fromMs).toISOString(),
    to: new Date(period.toMs).toISOString(),
    tz: period.tz,
    generated_at: new Date(nowMs).toISOString(),
    complete: nowMs >= period.toMs,
    boreholes: rows,
  };
}

function groupByBorehole(incidents: readonly Incident[]): Map<string, Incident[]> {
  const byBorehole = new Map<string, Incident[]>();
  for (const incident of incidents) {
    const list = byBorehole.get(incident.boreholeId);
    if (list) list.push(incident);
    else byBorehole.set(incident.boreholeId, [incident]);
  }
  return byBorehole;
}

type IncidentColumns = Pick<UptimeRow, 'incidents' | 'verified_repairs' | 'failed_repairs' | 'median_time_to_repair_minutes'>;

/** A borehole's incident columns: its incidents of the period as the service report counts them (service-report.ts). */
export function incidentColumns(incidents: readonly Incident[] | null, nowMs: number): IncidentColumns {
  if (incidents === null) return { incidents: null, verified_repairs: null, failed_repairs: null, median_time_to_repair_minutes: null };
  const figures = incidentFigures(incidents, nowMs);
  return {
    incidents: figures.incidents,
    verified_repairs: figures.verified_repairs,
    failed_repairs: figures.failed_repairs,
    median_time_to_repair_minutes: figures.time_to_repair?.median ?? null,
  };
}

export const UPTIME_CSV_COLUMNS = [
  'borehole',
  'name',
  'village',
  'commune',
  'region',
  'from',
  'to',
  'hours_total',
  'hours_down',
  'hours_no_data',
  'uptime_pct',
  'coverage_pct',
  'failures',
  'repairs',
  'mttr_hours',
  'volume_m3',
  'pumping_hours',
  // Last, so that a spreadsheet or a program reading the columns by position before issue 15 still does.
  'incidents',
  'verified_repairs',
  'failed_repairs',
  'median_time_to_repair_minutes',
] as const;

export function uptimeCsvRows(report: UptimeReport): Record<(typeof UPTIME_CSV_COLUMNS)[number], string | number | null>[] {
  // An archived report from before the incident columns has none: empty cells, not "undefined".
  return report.boreholes.map((row) => ({ ...incidentColumns(null, 0), ...row, from: report.from, to: report.to }));
}

/** The report as a CSV table: one line a borehole, with the period on each. */
export const uptimeCsv = (report: UptimeReport, separator: CsvSeparator = 'comma'): string => toCsv(UPTIME_CSV_COLUMNS, uptimeCsvRows(report), separator);

/** Figures of a group of boreholes (a region): sums, and uptime and coverage from the summed hours. */
export function summarizeRows(rows: readonly UptimeFigures[]): UptimeFigures {
  const sum = (pick: (row: UptimeFigures) => number): number => rows.reduce((total, row) => total + pick(row), 0);
  const total = sum((row) => row.hours_total);
  const down = sum((row) => row.hours_down);
  const noData = sum((row) => row.hours_no_data);
  const repairs = sum((row) => row.repairs);
  return {
    hours_total: round(total, 3),
    hours_down: round(down, 3),
    hours_no_data: round(noData, 3),
    ...uptimeRatios(total, down, noData),
    failures: sum((row) => row.failures),
    repairs,
    mttr_hours: repairs > 0 ? round(sum((row) => (row.mttr_hours ?? 0) * row.repairs) / repairs, 3) : null,
    volume_m3: round(sum((row) => row.volume_m3), 3),
    pumping_hours: round(sum((row) => row.pumping_hours), 3),
  };
}
