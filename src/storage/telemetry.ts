/**
 * The telemetry store port: what the service reads back from the time-series store. InfluxDB
 * (`influx-telemetry.ts`) and the embedded store implement it, and one contract suite runs against
 * both (tests/support/telemetry-contract.ts, run by tests/integration/telemetry-influx.test.ts and tests/unit/storage/embedded-telemetry.test.ts), so they cannot drift.
 *
 * Every query is bounded: a series has at most MAX_BUCKETS buckets, so a year asked at one-minute
 * resolution is refused rather than answered with half a million points.
 */

export const MAX_BUCKETS = 5000;

/** One bucket of a borehole's aggregated readings; null where the bucket has no such reading. */
export interface SeriesBucket {
  /** Start of the bucket, epoch ms. */
  timeMs: number;
  flowLpmMean: number | null;
  depthMMin: number | null;
  depthMMean: number | null;
  depthMMax: number | null;
  /** Fraction of pump readings that said running (0..1). */
  runningFraction: number | null;
  currentAMean: number | null;
  /** Water pumped in the bucket: meter differences where sent, else the flow integral. */
  volumeM3: number | null;
}

export interface SeriesQuery {
  boreholeId: string;
  fromMs: number;
  toMs: number;
  everyMs: number;
}

export interface PeriodTotals {
  /** Water pumped in the period (m³). */
  volumeM3: number;
  /** Hours the pump ran in the period. */
  pumpingHours: number;
}

export class QueryRangeError extends Error {
  override name = 'QueryRangeError';
}

export function bucketCount(query: Pick<SeriesQuery, 'fromMs' | 'toMs' | 'everyMs'>): number {
  return Math.ceil((query.toMs - query.fromMs) / query.everyMs);
}

/** Refuses an empty, reversed or too fine range with a sentence that says why. */
export function checkRange(query: Pick<SeriesQuery, 'fromMs' | 'toMs' | 'everyMs'>): void {
  if (!(query.toMs > query.fromMs)) throw new QueryRangeError('`to` must be after `from`');
  if (!(query.everyMs >= 60_000)) throw new QueryRangeError('`every` must be at least one minute');
  const buckets = bucketCount(query);
  if (buckets > MAX_BUCKETS) {
    throw new QueryRangeError(`${buckets} buckets asked; at most ${MAX_BUCKETS}: choose a larger \`every\` or a shorter range`);
  }
}

/** Minutes of activity are asked for a report period: a year and a bit at most. */
export const MAX_ACTIVE_RANGE_MS = 400 * 86_400_000;

export function checkActiveRange(fromMs: number, toMs: number): void {
  if (!(toMs > fromMs)) throw new QueryRangeError('`to` must be after `from`');
  if (toMs - fromMs > MAX_ACTIVE_RANGE_MS) throw new QueryRangeError('the range is longer than 400 days');
}

export interface TelemetryStore {
  /** Aggregated readings of one borehole, one bucket per `everyMs` from `fromMs` (buckets without data are left out). */
  series(query: SeriesQuery): Promise<SeriesBucket[]>;
  /** Volume and pumping hours of each borehole over [fromMs, toMs). */
  totals(boreholeIds: readonly string[], fromMs: number, toMs: number): Promise<Map<string, PeriodTotals>>;
  /**
   * Times of a borehole's points of any measurement in [fromMs, toMs), rounded down to the
   * minute and deduplicated: enough to find the gaps in its data.
   */
  activeMinutes(boreholeId: string, fromMs: number, toMs: number): Promise<number[]>;
}
