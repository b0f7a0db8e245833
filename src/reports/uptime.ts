/**
 * The uptime report of CONTRACT.md section 7, as a pure function of one borehole's critical alerts,
 * the minutes in which it sent anything, and its pumped totals. Gathering those (alerts from the
 * state store, minutes and totals from the time-series store) is `reporter.ts`'s job.
 *
 * Definitions the contract leaves open, chosen for the ministry's reading (docs/reports.md):
 * - A period that has not ended yet is reported up to `nowMs`: `hours_total` is the elapsed part.
 * - A borehole is down from the moment an alert of it became critical (when it opened, or when a
 *   low_water warning reached the intake) until that alert was resolved.
 * - A data gap is the time between two messages more than `offline_minutes` apart, measured from
 *   the minute of the last message to the minute of the next; messages just outside the period
 *   are looked at too, so that a gap straddling its start or end is judged by its whole length.
 *   Messages are known to the minute, so an `offline_minutes` below 1 counts as 1 here.
 * - `failures` are the alerts that became critical inside the period; `mttr_hours` is the mean
 *   time from their opening to their resolution, for those resolved by `nowMs`.
 */

import { z } from 'zod';

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

export interface CriticalAlert {
  code: number;
  openedAtMs: number;
  /** When it became critical: its opening, or a later escalation. */
  criticalAtMs: number;
  resolvedAtMs: number | null;
}

export interface UptimeInput {
  fromMs: number;
  toMs: number;
  nowMs: number;
  offlineMinutes: number;
  /** Every critical alert of the borehole that may overlap the period (others are ignored). */
  criticalAlerts: readonly CriticalAlert[];
  /**
   * Minutes (epoch ms, rounded down) in which the borehole sent any message, over at least
   * `lookaround(input)`: the period widened by `offline_minutes` on each side.
   */
  activeMinutes: readonly number[];
  volumeM3: number;
  pumpingHours: number;
}

const hours = (what: string) => z.number().describe(what);

/** One borehole's (or a group's) figures for a period, as the API sends them. */
export const uptimeFiguresSchema = z.object({
  hours_total: hours('hours in the period (up to now while it runs)'),
  hours_down: hours('union of the times a critical alert was not resolved'),
  hours_no_data: hours('silences longer than offline_minutes, outside down times'),
  uptime_pct: z.number().nullable().describe('100 × (total − down − no_data) / (total − no_data); null without data'),
  coverage_pct: z.number().nullable().describe('100 × (total − no_data) / total'),
  failures: z.number().int().describe('alerts that became critical in the period'),
  /** Of the failures, those resolved by now: the ones `mttr_hours` averages. */
  repairs: z.number().int().describe('of those, the ones resolved'),
  mttr_hours: z.number().nullable().describe('mean time from opening to resolution of the repaired failures'),
  volume_m3: z.number().describe('water pumped: meter differences where sent (a meter reset counts nothing), else the flow integral'),
  pumping_hours: z.number(),
});
export type UptimeFigures = z.infer<typeof uptimeFiguresSchema>;

export type Interval = readonly [startMs: number, endMs: number];

/** The end of what can be reported: the period's end, or now if it has not come yet. */
export function reportedEnd(period: { fromMs: number; toMs: number; nowMs: number }): number {
  return Math.max(period.fromMs, Math.min(period.toMs, period.nowMs));
}

/** The window whose messages decide the period's gaps: `offline_minutes` beyond each end, never past now. */
export function lookaround(input: Pick<UptimeInput, 'fromMs' | 'toMs' | 'nowMs' | 'offlineMinutes'>): Interval {
  const offlineMs = input.offlineMinutes * MINUTE_MS;
  return [input.fromMs - offlineMs, Math.max(input.fromMs, Math.min(input.toMs + offlineMs, input.nowMs))];
}

/** Sorted, non-overlapping intervals covering the same time as `intervals`. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter(([start, end]) => end > start).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

export function clip(intervals: readonly Interval[], fromMs: number, toMs: number): Interval[] {
  return intervals.map(([start, end]): Interval => [Math.max(start, fromMs), Math.min(end, toMs)]).filter(([start, end]) => end > start);
}

/** `intervals` minus `removed`; both sorted and non-overlapping. */
export function subtract(intervals: readonly Interval[], removed: readonly Interval[]): Interval[] {
  const result: Interval[] = [];
  for (const [start, end] of intervals) {
    let cursor = start;
    for (const [rStart, rEnd] of removed) {
      if (rEnd <= cursor || rStart >= end) continue;
      if (rStart > cursor) result.push([cursor, rStart]);
      cursor = Math.max(cursor, rEnd);
      if (cursor >= end) break;
    }
    if (cursor < end) result.push([cursor, end]);
  }
  return result;
}

export const totalMs = (intervals: readonly Interval[]): number => intervals.reduce((sum, [start, end]) => sum + end - start, 0);

/** Silences longer than `offlineMinutes` seen in `activeMinutes`, unclipped. */
export function dataGaps(input: Pick<UptimeInput, 'fromMs' | 'toMs' | 'nowMs' | 'offlineMinutes' | 'activeMinutes'>): Interval[] {
  // Messages are known to the minute, so a silence shorter than one cannot be told from steady data.
  const offlineMs = Math.max(input.offlineMinutes * MINUTE_MS, MINUTE_MS);
  const [windowStart, windowEnd] = lookaround(input);
  // Nothing in the look-back: the silence began before it, so it is already longer than allowed.
  // The far end stands in for the next message: a silence running past it is a gap of its own length.
  // One pass without copies: a quarter of minute-by-minute messages is 130,000 of them a borehole,
  // and the results report reads 10,000 boreholes (bench/service-report.ts).
  const gaps: Interval[] = [];
  let previous = windowStart - 1;
  for (const minute of input.activeMinutes) {
    if (minute < windowStart || minute >= windowEnd) continue;
    if (minute - previous > offlineMs) gaps.push([previous, minute]);
    previous = minute;
  }
  if (windowEnd - previous > offlineMs) gaps.push([previous, windowEnd]);
  return gaps;
}

export const round = (value: number, digits: number): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

/** Section 7's two ratios, from the total, down and no-data times in any one unit. */
export function uptimeRatios(total: number, down: number, noData: number): Pick<UptimeFigures, 'uptime_pct' | 'coverage_pct'> {
  const observed = total - noData;
  return {
    uptime_pct: observed > 0 ? round((100 * (observed - down)) / observed, 2) : null,
    coverage_pct: total > 0 ? round((100 * observed) / total, 2) : null,
  };
}

/**
 * When the borehole was down (section 7): from each alert's becoming critical to its resolution,
 * or to now while unresolved; merged, unclipped. The results report (results-report.ts) slices it
 * by day.
 */
export function downIntervals(criticalAlerts: readonly CriticalAlert[], nowMs: number): Interval[] {
  return mergeIntervals(criticalAlerts.map((alert): Interval => [alert.criticalAtMs, alert.resolvedAtMs ?? nowMs]));
}

export function uptimeFigures(input: UptimeInput): UptimeFigures {
  const endMs = reportedEnd(input);
  const totalPeriodMs = endMs - input.fromMs;
  const down = clip(downIntervals(input.criticalAlerts, input.nowMs), input.fromMs, endMs);
  const noData = subtract(clip(dataGaps(input), input.fromMs, endMs), down);
  const downMs = totalMs(down);
  const noDataMs = totalMs(noData);
  const failures = input.criticalAlerts.filter((alert) => alert.criticalAtMs >= input.fromMs && alert.criticalAtMs < endMs);
  const repaired = failures.filter((alert) => alert.resolvedAtMs !== null && alert.resolvedAtMs <= input.nowMs);
  return {
    hours_total: round(totalPeriodMs / HOUR_MS, 3),
    hours_down: round(downMs / HOUR_MS, 3),
    hours_no_data: round(noDataMs / HOUR_MS, 3),
    ...uptimeRatios(totalPeriodMs, downMs, noDataMs),
    failures: failures.length,
    repairs: repaired.length,
    mttr_hours:
      repaired.length > 0
        ? round(repaired.reduce((sum, alert) => sum + ((alert.resolvedAtMs ?? 0) - alert.openedAtMs), 0) / repaired.length / HOUR_MS, 3)
        : null,
    volume_m3: round(input.volumeM3, 3),
    pumping_hours: round(input.pumpingHours, 3),
  };
}
