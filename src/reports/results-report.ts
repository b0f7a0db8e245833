/**
 * The results-based report of CONTRACT.md section 9 (`GET /api/reports/results?quarter=2026-Q4`):
 * what a maintenance provider paid per functional day is paid on. Per borehole and quarter, the
 * calendar days in the report's time zone, each functional, down or without data; uptime and
 * volume as section 7 gives them over the quarter; verified repairs; whether the threshold was met.
 * `resultsReport` is pure; `buildResultsReport` gathers its inputs as the uptime report does
 * (report.ts: the store a month of minutes at a time, yielding to the event loop).
 *
 * Definitions the contract leaves open (docs/reports.md, "Results report"):
 * - A quarter under way is counted up to today included; today's down time is counted up to now,
 *   and a day is "with data" when the borehole sent anything in it so far. `to` is the end of the
 *   last day counted (the quarter's end once it is over). `uptime_pct` and `volume_m3` run to now.
 * - A day's down time is section 7's: the union of the times a critical alert was unresolved,
 *   clipped to the day. A day with no down time at all is functional even where
 *   `functional_max_down_hours` is 0.
 * - `verified_repairs`: incidents of the borehole verified within the days counted and not
 *   reopened since: a repair is paid in the quarter it was confirmed, whenever the fault began.
 * - Each borehole is judged against its own `results_threshold_pct`; the provider rows and the
 *   report's `threshold_pct` against the network-wide value, which the registry does not keep
 *   apart from the boreholes': it is taken as the value most of the boreholes given carry (the
 *   registry's top-level value, or 96, unless most boreholes override it), the higher on a tie.
 */
import { DateTime } from 'luxon';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { z } from 'zod';
import type { Borehole } from '../config/registry.js';
import type { Incident } from '../incidents/incident.js';
import type { IncidentsPort } from '../incidents/port.js';
import type { PeriodTotals } from '../storage/telemetry.js';
import { toCsv, type CsvSeparator } from './csv.js';
import { PeriodError } from './periods.js';
import { activeMinutesSliced, mapLimited, type ReportInputs, type ReportSources } from './report.js';
import { clip, downIntervals, lookaround, reportedEnd, round, totalMs, uptimeFigures, type CriticalAlert, type Interval } from './uptime.js';

const HOUR_MS = 3_600_000;

export interface Quarter {
  /** As asked and shown: `2026-Q4`. */
  label: string;
  /** Local midnight of the quarter's first day, and of the next quarter's. */
  fromMs: number;
  toMs: number;
  tz: string;
}

const QUARTER = /^(\d{4})-Q([1-4])$/;

/** `2026-Q4` → October to December 2026 in `tz`. Case-insensitive (`2026-q4`); anything else is refused with the form expected. */
export function parseQuarter(text: string, tz: string): Quarter {
  const match = QUARTER.exec(text.trim().toUpperCase());
  if (!match) throw new PeriodError(`\`quarter\` must be a year and a quarter as YYYY-Qn (2026-Q4 is October to December 2026), not "${text}"`);
  const year = Number(match[1]);
  const quarter = Number(match[2]);
  const start = DateTime.fromObject({ year, month: 3 * (quarter - 1) + 1, day: 1 }, { zone: tz });
  if (!start.isValid) throw new PeriodError(`unknown time zone "${tz}"`);
  return { label: `${year}-Q${quarter}`, fromMs: start.toMillis(), toMs: start.plus({ months: 3 }).toMillis(), tz };
}

/** The quarter that contains `ms`, in `tz`: the route's default (this quarter). */
export function quarterContaining(ms: number, tz: string): Quarter {
  const local = DateTime.fromMillis(ms, { zone: tz });
  return parseQuarter(`${local.year}-Q${Math.ceil(local.month / 3)}`, tz);
}

/** The local days counted: from the quarter's first to its last, or to today (included) if sooner. */
export function quarterDays(quarter: Quarter, nowMs: number): Interval[] {
  const days: Interval[] = [];
  let day = DateTime.fromMillis(quarter.fromMs, { zone: quarter.tz });
  while (day.toMillis() < quarter.toMs && day.toMillis() <= nowMs) {
    // Luxon's days, not 24 h steps: a zone with summer time has days of 23 and 25 hours.
    const next = day.plus({ days: 1 });
    days.push([day.toMillis(), next.toMillis()]);
    day = next;
  }
  return days;
}

export const resultsRowSchema = z.object({
  provider: z.string().nullable().describe('maintenance provider (registry `provider`); null: none named'),
  borehole: z.string(),
  days: z.number().int().describe('calendar days counted: the quarter up to today included'),
  functional_days: z.number().int().describe('days with data and less than functional_max_down_hours of down time'),
  down_days: z.number().int().describe('days with data whose down time reached functional_max_down_hours'),
  no_data_days: z.number().int().describe('days without any message'),
  functional_pct: z.number().nullable().describe('100 × functional_days / (days − no_data_days); null when every day lacked data'),
  uptime_pct: z.number().nullable().describe('section 7 over the quarter, up to now'),
  volume_m3: z.number().describe('water pumped in the quarter (section 7)'),
  verified_repairs: z.number().int().describe('incidents verified within the days counted, not reopened since'),
  threshold_met: z.boolean().nullable().describe("functional_pct ≥ the borehole's results_threshold_pct; null with functional_pct"),
});
export type ResultsRow = z.infer<typeof resultsRowSchema>;

export const resultsProviderSchema = z.object({
  provider: z.string().nullable(),
  boreholes: z.number().int(),
  functional_days: z.number().int(),
  functional_pct: z.number().nullable().describe('100 × the functional days / the days with data, summed over its boreholes'),
  threshold_met: z.boolean().nullable().describe('functional_pct ≥ threshold_pct (network-wide)'),
});
export type ResultsProvider = z.infer<typeof resultsProviderSchema>;

export const resultsReportSchema = z.object({
  quarter: z.string().describe('YYYY-Qn'),
  from: z.string().describe("local midnight of the quarter's first day, RFC 3339 UTC"),
  to: z.string().describe('end of the last day counted, excluded: the end of the quarter, or of today while it runs'),
  threshold_pct: z.number().describe('network-wide results_threshold_pct, which the provider rows are judged against'),
  rows: z.array(resultsRowSchema),
  providers: z.array(resultsProviderSchema),
});
export type ResultsReport = z.infer<typeof resultsReportSchema>;

/** What the pure computation needs of one borehole. */
/** What the results of a borehole need of the registry: its provider and three of its rules. */
export type ResultsBorehole = Pick<Borehole, 'id' | 'provider'> & { rules: Pick<Borehole['rules'], 'offline_minutes' | 'functional_max_down_hours' | 'results_threshold_pct'> };

export interface BoreholeQuarter {
  borehole: ResultsBorehole;
  criticalAlerts: readonly CriticalAlert[];
  /** Minutes with a message, sorted, over at least the quarter widened by `offline_minutes` (uptime.ts `lookaround`). */
  activeMinutes: readonly number[];
  volumeM3: number;
  pumpingHours: number;
}

/** The value most boreholes carry, the higher on a tie; the default when there are none. */
export function networkThreshold(boreholes: readonly { rules: Pick<Borehole['rules'], 'results_threshold_pct'> }[], fallback = 96): number {
  const counts = new Map<number, number>();
  for (const borehole of boreholes) counts.set(borehole.rules.results_threshold_pct, (counts.get(borehole.rules.results_threshold_pct) ?? 0) + 1);
  let best: [number, number] | null = null;
  for (const [value, count] of counts) if (best === null || count > best[1] || (count === best[1] && value > best[0])) best = [value, count];
  return best?.[0] ?? fallback;
}

const percentOf = (part: number, whole: number): number | null => (whole > 0 ? round((100 * part) / whole, 2) : null);

interface DayCounts {
  functional: number;
  down: number;
  noData: number;
}

/** Index of the first value at or after `target` in sorted `values`. */
function lowerBound(values: readonly number[], target: number, from: number): number {
  let low = from;
  let high = values.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((values[middle] as number) < target) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Each day functional, down or without data. Minutes are sorted: a binary search a day finds
 * whether the day has one, rather than walking a quarter's 130,000 minutes.
 */
export function countDays(days: readonly Interval[], activeMinutes: readonly number[], down: readonly Interval[], nowMs: number, maxDownHours: number): DayCounts {
  const counts: DayCounts = { functional: 0, down: 0, noData: 0 };
  let minute = 0;
  for (const [start, end] of days) {
    minute = lowerBound(activeMinutes, start, minute);
    const heard = minute < activeMinutes.length && (activeMinutes[minute] as number) < end;
    if (!heard) {
      counts.noData += 1;
      continue;
    }
    const downMs = totalMs(clip(down, start, Math.min(end, Math.max(start, nowMs))));
    if (downMs > 0 && downMs >= maxDownHours * HOUR_MS) counts.down += 1;
    else counts.functional += 1;
  }
  return counts;
}

const byProvider = (a: string | null, b: string | null): number => (a === null ? (b === null ? 0 : 1) : b === null ? -1 : a.localeCompare(b, 'fr'));

/** The repairs each borehole had verified in [quarter start, countedEnd) and not reopened since. */
export function verifiedRepairsByBorehole(incidents: readonly Incident[], fromMs: number, countedEnd: number): Map<string, number> {
  const verifiedBy = new Map<string, number>();
  for (const incident of incidents) {
    if (incident.state !== 'verified' || incident.verifiedAtMs === null) continue;
    if (incident.verifiedAtMs < fromMs || incident.verifiedAtMs >= countedEnd) continue;
    verifiedBy.set(incident.boreholeId, (verifiedBy.get(incident.boreholeId) ?? 0) + 1);
  }
  return verifiedBy;
}

/**
 * One borehole's row. Computed as soon as its minutes are read, so that a report of 10,000
 * boreholes holds one borehole's quarter of minutes at a time, not all of them.
 */
export function resultsRow(quarter: Quarter, nowMs: number, days: readonly Interval[], input: BoreholeQuarter, verifiedRepairs: number): ResultsRow {
  const { borehole } = input;
  const down = downIntervals(input.criticalAlerts, nowMs);
  const counts = countDays(days, input.activeMinutes, down, nowMs, borehole.rules.functional_max_down_hours);
  const functionalPct = percentOf(counts.functional, days.length - counts.noData);
  const figures = uptimeFigures({
    fromMs: quarter.fromMs,
    toMs: quarter.toMs,
    nowMs,
    offlineMinutes: borehole.rules.offline_minutes,
    criticalAlerts: input.criticalAlerts,
    activeMinutes: input.activeMinutes,
    volumeM3: input.volumeM3,
    pumpingHours: input.pumpingHours,
  });
  return {
    provider: borehole.provider,
    borehole: borehole.id,
    days: days.length,
    functional_days: counts.functional,
    down_days: counts.down,
    no_data_days: counts.noData,
    functional_pct: functionalPct,
    uptime_pct: figures.uptime_pct,
    volume_m3: figures.volume_m3,
    verified_repairs: verifiedRepairs,
    threshold_met: functionalPct === null ? null : functionalPct >= borehole.rules.results_threshold_pct,
  };
}

/** The report from its rows: sorted by provider (none last) and borehole, with each provider's totals. */
export function assembleResults(quarter: Quarter, days: readonly Interval[], rows: readonly ResultsRow[], boreholes: readonly { rules: Pick<Borehole['rules'], 'results_threshold_pct'> }[]): ResultsReport {
  const threshold = networkThreshold(boreholes);
  const sorted = [...rows].sort((a, b) => byProvider(a.provider, b.provider) || a.borehole.localeCompare(b.borehole));
  const providers = new Map<string | null, { boreholes: number; functional: number; withData: number }>();
  for (const row of sorted) {
    const sum = providers.get(row.provider) ?? { boreholes: 0, functional: 0, withData: 0 };
    sum.boreholes += 1;
    sum.functional += row.functional_days;
    sum.withData += row.days - row.no_data_days;
    providers.set(row.provider, sum);
  }
  return {
    quarter: quarter.label,
    from: new Date(quarter.fromMs).toISOString(),
    to: new Date(days.at(-1)?.[1] ?? quarter.fromMs).toISOString(),
    threshold_pct: threshold,
    rows: sorted,
    providers: [...providers.entries()].map(([provider, sum]): ResultsProvider => {
      const functionalPct = percentOf(sum.functional, sum.withData);
      return { provider, boreholes: sum.boreholes, functional_days: sum.functional, functional_pct: functionalPct, threshold_met: functionalPct === null ? null : functionalPct >= threshold };
    }),
  };
}

export function resultsReport(quarter: Quarter, nowMs: number, boreholes: readonly BoreholeQuarter[], incidents: readonly Incident[]): ResultsReport {
  const days = quarterDays(quarter, nowMs);
  const verifiedBy = verifiedRepairsByBorehole(incidents, quarter.fromMs, days.at(-1)?.[1] ?? quarter.fromMs);
  const rows = boreholes.map((input) => resultsRow(quarter, nowMs, days, input, verifiedBy.get(input.borehole.id) ?? 0));
  return assembleResults(quarter, days, rows, boreholes.map((input) => input.borehole));
}

/** What the results report reads: the uptime report's sources, with incidents. */
export type ResultsSources = ReportSources & { incidents: Pick<IncidentsPort, 'between'> };

/** Boreholes asked of the store at once, as the uptime report does. */
const CONCURRENCY = 4;

export async function buildResultsReport(sources: ResultsSources, quarter: Quarter, boreholes: readonly ResultsBorehole[]): Promise<ResultsReport> {
  return computeResultsReport(sources.telemetry, quarter, boreholes, gatherResultsInputs(sources, quarter));
}

/**
 * The results report's state-database half. Alerts up to the reported end; incidents up to the end
 * of the last day counted: an incident verified in the quarter was open at some point of it, so
 * `between` has it.
 */
export function gatherResultsInputs(sources: Omit<ResultsSources, 'telemetry'>, quarter: Quarter): ReportInputs & { incidents: readonly Incident[] } {
  const nowMs = sources.now();
  const endMs = reportedEnd({ ...quarter, nowMs });
  const countedEnd = quarterDays(quarter, nowMs).at(-1)?.[1] ?? quarter.fromMs;
  return {
    nowMs,
    criticalAlerts: sources.criticalAlertsBetween(quarter.fromMs, endMs),
    incidents: countedEnd > quarter.fromMs ? sources.incidents.between(quarter.fromMs, countedEnd) : [],
  };
}

/** The report from its gathered inputs and the time-series store: what the report worker runs. */
export async function computeResultsReport(
  telemetry: ReportSources['telemetry'],
  quarter: Quarter,
  boreholes: readonly ResultsBorehole[],
  inputs: ReportInputs & { incidents: readonly Incident[] },
): Promise<ResultsReport> {
  const { nowMs } = inputs;
  const endMs = reportedEnd({ ...quarter, nowMs });
  const days = quarterDays(quarter, nowMs);
  const countedEnd = days.at(-1)?.[1] ?? quarter.fromMs;
  const verifiedBy = verifiedRepairsByBorehole(inputs.incidents, quarter.fromMs, countedEnd);
  const alertsByBorehole = new Map<string, CriticalAlert[]>();
  for (const alert of inputs.criticalAlerts) {
    const list = alertsByBorehole.get(alert.boreholeId) ?? [];
    list.push(alert);
    alertsByBorehole.set(alert.boreholeId, list);
  }
  const rows = await mapLimited(boreholes, CONCURRENCY, async (borehole): Promise<ResultsRow> => {
    const [windowStart, windowEnd] = lookaround({ ...quarter, nowMs, offlineMinutes: borehole.rules.offline_minutes });
    const activeMinutes = windowEnd > windowStart ? await activeMinutesSliced(telemetry, borehole.id, windowStart, windowEnd) : [];
    const totals = endMs > quarter.fromMs ? await telemetry.totals([borehole.id], quarter.fromMs, endMs) : new Map<string, PeriodTotals>();
    await yieldToEventLoop();
    const total = totals.get(borehole.id);
    const input: BoreholeQuarter = { borehole, criticalAlerts: alertsByBorehole.get(borehole.id) ?? [], activeMinutes, volumeM3: total?.volumeM3 ?? 0, pumpingHours: total?.pumpingHours ?? 0 };
    return resultsRow(quarter, nowMs, days, input, verifiedBy.get(borehole.id) ?? 0);
  });
  return assembleResults(quarter, days, rows, boreholes);
}

export const RESULTS_CSV_COLUMNS = [
  'provider',
  'borehole',
  'days',
  'functional_days',
  'down_days',
  'no_data_days',
  'functional_pct',
  'uptime_pct',
  'volume_m3',
  'verified_repairs',
  'threshold_met',
] as const satisfies readonly (keyof ResultsRow)[];

/** One line a borehole, as `rows`; the provider totals are in the JSON (and on the page). */
export const resultsCsv = (report: ResultsReport, separator: CsvSeparator = 'comma'): string => toCsv(RESULTS_CSV_COLUMNS, report.rows, separator);
