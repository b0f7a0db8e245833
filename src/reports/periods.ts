/**
 * Report periods in the report's time zone: local calendar days, ISO weeks (Monday to Monday) and
 * months. Luxon does the zone arithmetic; months of 28 to 31 days and any zone's offset changes
 * are its business, not ours.
 */
import { DateTime } from 'luxon';

export const PERIOD_KINDS = ['day', 'week', 'month'] as const;
export type PeriodKind = (typeof PERIOD_KINDS)[number];

export interface Period {
  fromMs: number;
  toMs: number;
  tz: string;
}

export class PeriodError extends Error {
  override name = 'PeriodError';
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The longest period a report may ask for: a year and a month of slack. It bounds the period
 * asked, not what the report reads to judge the period's edges (`offline_minutes` either side),
 * which report.ts asks of the store in slices.
 */
export const MAX_REPORT_DAYS = 400;
const DAY_MS = 86_400_000;

function localMidnight(date: string, tz: string, name: string): DateTime {
  const parsed = DATE.test(date) ? DateTime.fromISO(date, { zone: tz }) : null;
  if (!parsed?.isValid) throw new PeriodError(`\`${name}\` must be a date as YYYY-MM-DD, not "${date}"`);
  return parsed.startOf('day');
}

/** Local midnight starting a date (YYYY-MM-DD) in the zone. */
export function dayStart(date: string, tz: string, name = 'date'): number {
  checkZone(tz);
  return localMidnight(date, tz, name).toMillis();
}

function checkZone(tz: string): void {
  if (!DateTime.local().setZone(tz).isValid) throw new PeriodError(`unknown time zone "${tz}"`);
}

/** [from, to) from two local dates, `to` excluded: from=2026-02-01&to=2026-03-01 is February. */
export function periodFromDates(from: string, to: string, tz: string): Period {
  checkZone(tz);
  const fromMs = localMidnight(from, tz, 'from').toMillis();
  const toMs = localMidnight(to, tz, 'to').toMillis();
  if (!(toMs > fromMs)) throw new PeriodError('`to` must be after `from` (the period is [from, to), `to` excluded)');
  // Local days: a period crossing a change of offset is an hour longer or shorter than its days.
  const days = Math.round((toMs - fromMs) / DAY_MS);
  if (days > MAX_REPORT_DAYS) throw new PeriodError(`a report covers at most ${MAX_REPORT_DAYS} days; ${from} to ${to} is ${days} days`);
  return { fromMs, toMs, tz };
}

/** The local date (YYYY-MM-DD) at which an instant falls. */
export function localDate(ms: number, tz: string): string {
  return DateTime.fromMillis(ms, { zone: tz }).toISODate() ?? '';
}

/** The period of the given kind that contains `ms`. */
export function periodContaining(kind: PeriodKind, ms: number, tz: string): Period {
  checkZone(tz);
  const start = DateTime.fromMillis(ms, { zone: tz }).startOf(kind === 'week' ? 'week' : kind);
  return { fromMs: start.toMillis(), toMs: start.plus({ [`${kind}s`]: 1 }).toMillis(), tz };
}

/**
 * Periods that ended after `afterMs` and by `nowMs`, oldest first: what a schedule owes after a
 * time without running. Bounded, so that a watermark from years ago does not start a flood.
 */
export function completedPeriods(kind: PeriodKind, afterMs: number, nowMs: number, tz: string, max = 400): Period[] {
  const periods: Period[] = [];
  let period = periodContaining(kind, nowMs, tz);
  // Walk back from the running period; the first complete one is the one before it.
  while (periods.length < max) {
    period = periodContaining(kind, period.fromMs - 1, tz);
    if (period.toMs <= afterMs) break;
    periods.push(period);
  }
  return periods.reverse();
}

/** The period a report is asked for; without dates, last month (what the ministry reads on the 1st). */
export function reportPeriod(asked: { from?: string | undefined; to?: string | undefined; tz?: string | undefined }, nowMs: number, defaultTz: string): Period {
  const tz = asked.tz ?? defaultTz;
  if (asked.from === undefined && asked.to === undefined) {
    const thisMonth = periodContaining('month', nowMs, tz);
    return periodContaining('month', thisMonth.fromMs - 1, tz);
  }
  if (asked.from === undefined || asked.to === undefined) throw new PeriodError('give both `from` and `to`, or neither (last month)');
  return periodFromDates(asked.from, asked.to, tz);
}
