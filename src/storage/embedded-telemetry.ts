/**
 * The embedded time-series store: what runs when `INFLUX_URL` is unset (CONTRACT.md section 8).
 * SQLite (better-sqlite3, WAL) in `DATA_DIR/telemetry.db`. It takes the drain's writes as line
 * protocol, like InfluxDB, and answers the telemetry port with InfluxDB's semantics, checked by the
 * same contract suite (tests/support/telemetry-contract.ts) that runs against InfluxDB.
 *
 * Layout: one row per field value, `samples(stream, ts_ms, series) → value`, where a stream is
 * (measurement, field, borehole tag) and a series is the measurement and its full tag set, as in
 * InfluxDB. The primary key makes a point with the same series and timestamp replace the fields
 * it carries and keep the others (InfluxDB's merge), so replays and duplicates are stored once;
 * and it keeps each borehole's values of one field in time order, so a month of one borehole is a
 * single range scan whatever else the database holds.
 *
 * The InfluxQL functions the port relies on are reproduced here, InfluxDB 1.x's code as model:
 * `mean`/`min`/`max`; `non_negative_difference` over the whole range, then summed per bucket (each
 * difference at the later point's time); and `integral` as InfluxDB's streaming reducer does it:
 * trapezoids between consecutive points, the one that crosses a bucket boundary split there by
 * linear interpolation, the area after a gap going to the bucket of the point that ends it.
 * Buckets start at `from` (InfluxDB: the offset in `GROUP BY time`); buckets without data are left
 * out (`fill(none)`).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StoreWriteError } from './influx.js';
import { LineProtocolError, parseLine, type FieldType, type ParsedPoint, type ParsedSeries } from './line-protocol-parser.js';
import { bucketCount, checkActiveRange, checkRange, type PeriodTotals, type SeriesBucket, type SeriesQuery, type TelemetryStore } from './telemetry.js';

export interface EmbeddedTelemetryOptions {
  /** The database file; its directory is created if missing. */
  path: string;
  /** For lines without a timestamp (InfluxDB stamps those with the server's time). */
  now?: () => number;
}

interface BucketParams {
  n: bigint;
  from: bigint;
  every: bigint;
  to: bigint;
  stream: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS field_types (
    measurement TEXT NOT NULL,
    field TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (measurement, field)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    field TEXT NOT NULL,
    borehole TEXT NOT NULL,
    UNIQUE (measurement, field, borehole)
  );
  CREATE TABLE IF NOT EXISTS samples (
    stream INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    series INTEGER NOT NULL,
    value NOT NULL,
    PRIMARY KEY (stream, ts_ms, series)
  ) WITHOUT ROWID;
`;

/** One field's points in time order, as two parallel arrays (cheaper to read out of SQLite). */
export interface Samples {
  ts: readonly number[];
  values: readonly unknown[];
}

/** Where a point's time falls: buckets of `everyMs` starting at `fromMs`. */
interface Buckets {
  fromMs: number;
  everyMs: number;
}

const bucketStart = (tsMs: number, { fromMs, everyMs }: Buckets): number => fromMs + Math.floor((tsMs - fromMs) / everyMs) * everyMs;

/**
 * `integral(field, unit)`: InfluxDB's FloatIntegralReducer (query/functions.go). With buckets, the
 * area is split at each boundary the points cross; without, one sum over the range. A bucket whose
 * only point is its last and sits on its start has no area and is not emitted; points sharing a
 * timestamp count once (the last one).
 */
export function integral({ ts, values }: Samples, unitMs: number, buckets: Buckets | null, rangeStartMs: number): Map<number, number> {
  const out = new Map<number, number>();
  let prevT: number | null = null;
  let prevV = 0;
  let windowStart = 0;
  let windowEnd = 0;
  let sum = 0;
  const windowOf = (t: number): void => {
    if (buckets === null) {
      windowStart = rangeStartMs;
      windowEnd = Infinity;
    } else {
      windowStart = bucketStart(t, buckets);
      windowEnd = windowStart + buckets.everyMs;
    }
  };
  for (let index = 0; index < ts.length; index += 1) {
    const t = ts[index] as number;
    const v = values[index];
    if (typeof v !== 'number') continue;
    if (prevT === null) {
      prevT = t;
      prevV = v;
      windowOf(t);
      continue;
    }
    if (t === prevT) {
      prevV = v;
      continue;
    }
    if (t >= windowEnd) {
      if (prevT !== windowEnd) {
        const value = prevV + ((v - prevV) / (t - prevT)) * (windowEnd - prevT);
        sum += 0.5 * (value + prevV) * ((windowEnd - prevT) / unitMs);
        prevV = value;
        prevT = windowEnd;
      }
      out.set(windowStart, sum);
      windowOf(t);
      sum = 0;
    }
    sum += 0.5 * (v + prevV) * ((t - prevT) / unitMs);
    prevT = t;
    prevV = v;
  }
  if (prevT !== null && prevT !== windowStart) out.set(windowStart, sum);
  return out;
}

/**
 * `sum(non_negative_difference(field))`: differences between consecutive points (the first of
 * points sharing a timestamp), a negative one (a meter reset) dropped, each summed into the bucket
 * of its later point. Buckets without any difference are absent.
 */
export function meterVolume({ ts, values }: Samples, buckets: Buckets | null): Map<number, number> {
  const out = new Map<number, number>();
  let prevT: number | null = null;
  let prevV = 0;
  for (let index = 0; index < ts.length; index += 1) {
    const t = ts[index] as number;
    const v = values[index];
    if (typeof v !== 'number' || prevT === t) continue;
    if (prevT !== null) {
      const difference = v - prevV;
      if (difference >= 0) {
        const key = buckets === null ? 0 : bucketStart(t, buckets);
        out.set(key, (out.get(key) ?? 0) + difference);
      }
    }
    prevT = t;
    prevV = v;
  }
  return out;
}

interface Aggregate {
  bucket: number;
  mean: number | null;
  min: number | null;
  max: number | null;
}

/** One bucket of `@every` from `@from` per row of `b`: at most MAX_BUCKETS (checkRange). */
const BUCKETS = 'WITH RECURSIVE b(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM b WHERE k + 1 < @n)';
const IN_BUCKET = 'stream = @stream AND ts_ms >= @from + k * @every AND ts_ms < min(@from + (k + 1) * @every, @to)';

export class EmbeddedTelemetry implements TelemetryStore {
  private readonly seriesIds = new Map<string, number>();
  private readonly fieldTypes = new Map<string, FieldType>();
  private readonly streamIds = new Map<string, number>();
  private readonly seriesCache = new Map<string, ParsedSeries>();
  private readonly statements;

  private constructor(
    private readonly db: Database.Database,
    private readonly now: () => number,
    /** A reader beside the writer (openReadOnly): streams the writer has created since are looked up on a miss. */
    private readonly readOnly = false,
  ) {
    this.statements = {
      insertSeries: db.prepare<[string, string, string]>('INSERT INTO series (key, measurement, tags) VALUES (?, ?, ?)'),
      insertFieldType: db.prepare<[string, string, string]>('INSERT INTO field_types (measurement, field, type) VALUES (?, ?, ?)'),
      insertStream: db.prepare<[string, string, string]>('INSERT INTO streams (measurement, field, borehole) VALUES (?, ?, ?)'),
      upsert: db.prepare<[number, number, number, number | bigint | string]>(
        'INSERT INTO samples (stream, ts_ms, series, value) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value',
      ),
      // Two single-column reads cost half of one two-column read (no array per row).
      times: db.prepare<[number, number, number], number>('SELECT ts_ms FROM samples WHERE stream = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, series').pluck(),
      values: db.prepare<[number, number, number], unknown>('SELECT value FROM samples WHERE stream = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, series').pluck(),
      // One index range scan per bucket: three times faster than GROUP BY over a computed bucket,
      // which sorts. Integer arithmetic: `from`, `every` and `to` are bound as integers (BigInt).
      mean: db.prepare<[BucketParams], Aggregate>(`${BUCKETS} SELECT k AS bucket, (SELECT avg(value) FROM samples WHERE ${IN_BUCKET}) AS mean FROM b`),
      minMeanMax: db.prepare<[BucketParams], Aggregate>(
        `${BUCKETS} SELECT k AS bucket,
           (SELECT avg(value) FROM samples WHERE ${IN_BUCKET}) AS mean,
           (SELECT min(value) FROM samples WHERE ${IN_BUCKET}) AS min,
           (SELECT max(value) FROM samples WHERE ${IN_BUCKET}) AS max
         FROM b`,
      ),
      ping: db.prepare('SELECT 1'),
      streamId: db.prepare<[string, string, string], number>('SELECT id FROM streams WHERE measurement = ? AND field = ? AND borehole = ?').pluck(),
    };
  }

  /** Opens (and creates, the first time) the store. */
  static open({ path, now = Date.now }: EmbeddedTelemetryOptions): EmbeddedTelemetry {
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    // FULL: a write the drain sees succeed is on the disk, since the drain then deletes its copy
    // from the journal. One fsync per batch of up to INFLUX_BATCH_POINTS points.
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    const store = new EmbeddedTelemetry(db, now);
    store.load();
    return store;
  }

  /**
   * A second, read-only connection to a store another connection writes (the report worker's,
   * report-worker.ts): WAL lets it read while the drain writes. Writes through it fail.
   */
  static openReadOnly({ path }: Pick<EmbeddedTelemetryOptions, 'path'>): EmbeddedTelemetry {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const store = new EmbeddedTelemetry(db, Date.now, true);
    store.load();
    return store;
  }

  private load(): void {
    for (const { id, key } of this.db.prepare<[], { id: number; key: string }>('SELECT id, key FROM series').all()) this.seriesIds.set(key, id);
    for (const row of this.db.prepare<[], { measurement: string; field: string; type: FieldType }>('SELECT measurement, field, type FROM field_types').all()) {
      this.fieldTypes.set(`${row.measurement}\u0000${row.field}`, row.type);
    }
    for (const row of this.db.prepare<[], { id: number; measurement: string; field: string; borehole: string }>('SELECT id, measurement, field, borehole FROM streams').all()) {
      this.streamIds.set(streamKey(row.measurement, row.field, row.borehole), row.id);
    }
  }

  /** Readiness: the database answers. */
  ping(): Promise<string> {
    return Promise.resolve().then(() => {
      this.statements.ping.get();
      return 'embedded';
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Writes line protocol, the drain's LineWriter. All or nothing: a line InfluxDB would refuse (bad
   * syntax, a field whose type differs from the one already stored) refuses the whole body with a
   * non-retryable StoreWriteError, and the drain splits it until that line is isolated. A failure
   * of the database itself (disk full, I/O error) is retryable.
   */
  async writeLines(body: Buffer): Promise<void> {
    const nowMs = this.now();
    const points: ParsedPoint[] = [];
    try {
      for (const line of body.toString('utf8').split('\n')) {
        const point = parseLine(line, nowMs, this.seriesCache);
        if (point) points.push(point);
      }
      this.checkTypes(points);
    } catch (error) {
      if (error instanceof LineProtocolError) throw new StoreWriteError(`embedded store refused the write: ${error.message}`, false, 400);
      throw error;
    }
    try {
      this.db.transaction(() => {
        for (const point of points) this.insert(point);
      })();
    } catch (error) {
      // Caches may now name rows that the rollback removed: start them again from the database.
      this.seriesIds.clear();
      this.fieldTypes.clear();
      this.streamIds.clear();
      try {
        this.load();
      } catch {
        // the next write tries again
      }
      throw new StoreWriteError(`embedded store write failed: ${(error as Error).message}`, true);
    }
  }

  /** InfluxDB refuses a field whose type differs from the one the measurement already has. */
  private checkTypes(points: readonly ParsedPoint[]): void {
    const inBody = new Map<string, FieldType>();
    for (const { series, fields } of points) {
      for (const { key, type } of fields) {
        const id = `${series.measurement}\u0000${key}`;
        const known = this.fieldTypes.get(id) ?? inBody.get(id);
        if (known !== undefined && known !== type) {
          throw new LineProtocolError(`field type conflict: input field "${key}" on measurement "${series.measurement}" is type ${type}, already exists as type ${known}`);
        }
        inBody.set(id, type);
      }
    }
  }

  private insert({ series, fields, tsMs }: ParsedPoint): void {
    let seriesId = this.seriesIds.get(series.key);
    if (seriesId === undefined) {
      const tags = JSON.stringify(Object.fromEntries(series.tags));
      seriesId = Number(this.statements.insertSeries.run(series.key, series.measurement, tags).lastInsertRowid);
      this.seriesIds.set(series.key, seriesId);
    }
    const borehole = series.tags.find(([key]) => key === 'borehole')?.[1] ?? '';
    for (const { key, type, value } of fields) {
      const typeKey = `${series.measurement}\u0000${key}`;
      if (!this.fieldTypes.has(typeKey)) {
        this.statements.insertFieldType.run(series.measurement, key, type);
        this.fieldTypes.set(typeKey, type);
      }
      const sKey = streamKey(series.measurement, key, borehole);
      let streamId = this.streamIds.get(sKey);
      if (streamId === undefined) {
        streamId = Number(this.statements.insertStream.run(series.measurement, key, borehole).lastInsertRowid);
        this.streamIds.set(sKey, streamId);
      }
      this.statements.upsert.run(streamId, tsMs, seriesId, value);
    }
  }

  // --- Queries ----------------------------------------------------------------------------------

  private stream(measurement: string, field: string, boreholeId: string): number | undefined {
    const key = streamKey(measurement, field, boreholeId);
    const known = this.streamIds.get(key);
    if (known !== undefined || !this.readOnly) return known;
    // A stream's id never changes once committed: cached when found, asked again while absent.
    const id = this.statements.streamId.get(measurement, field, boreholeId);
    if (id !== undefined) this.streamIds.set(key, id);
    return id;
  }

  /** Values of one field of one borehole in [fromMs, toMs), in time order. */
  private samples(measurement: string, field: string, boreholeId: string, fromMs: number, toMs: number): Samples {
    const stream = this.stream(measurement, field, boreholeId);
    if (stream === undefined) return { ts: [], values: [] };
    // One read transaction: both columns from the same snapshot.
    return this.db.transaction(() => ({
      ts: this.statements.times.all(stream, fromMs, toMs),
      values: this.statements.values.all(stream, fromMs, toMs),
    }))();
  }

  /** Buckets (keyed by their start) of one field of one borehole; those without data left out. */
  private aggregate(measurement: string, field: string, query: SeriesQuery, withMinMax = false): Map<number, Aggregate> {
    const stream = this.stream(measurement, field, query.boreholeId);
    const out = new Map<number, Aggregate>();
    if (stream === undefined) return out;
    const fromMs = Math.floor(query.fromMs);
    const toMs = Math.floor(query.toMs);
    const params: BucketParams = { n: BigInt(bucketCount({ fromMs, toMs, everyMs: query.everyMs })), from: BigInt(fromMs), every: BigInt(query.everyMs), to: BigInt(toMs), stream };
    const statement = withMinMax ? this.statements.minMeanMax : this.statements.mean;
    for (const row of statement.all(params)) {
      if (typeof row.mean !== 'number') continue;
      out.set(fromMs + Number(row.bucket) * query.everyMs, row);
    }
    return out;
  }

  async series(query: SeriesQuery): Promise<SeriesBucket[]> {
    checkRange(query);
    const { boreholeId } = query;
    const fromMs = Math.floor(query.fromMs);
    const toMs = Math.floor(query.toMs);
    const buckets: Buckets = { fromMs, everyMs: query.everyMs };
    const flows = this.aggregate('flow', 'rate_lpm', query);
    const levels = this.aggregate('level', 'depth_m', query, true);
    const running = this.aggregate('pump', 'running', query);
    const currents = this.aggregate('pump', 'current_a', query);
    const meters = meterVolume(this.samples('flow', 'total_m3', boreholeId, fromMs, toMs), buckets);
    const integrals = integral(this.samples('flow', 'rate_lpm', boreholeId, fromMs, toMs), MINUTE_MS, buckets, fromMs);
    const times = [...new Set([...flows.keys(), ...levels.keys(), ...running.keys(), ...currents.keys()])].sort((a, b) => a - b);
    return times.map((timeMs) => {
      const level = levels.get(timeMs);
      const integralLitres = integrals.get(timeMs);
      return {
        timeMs,
        flowLpmMean: flows.get(timeMs)?.mean ?? null,
        depthMMin: level?.min ?? null,
        depthMMean: level?.mean ?? null,
        depthMMax: level?.max ?? null,
        runningFraction: running.get(timeMs)?.mean ?? null,
        currentAMean: currents.get(timeMs)?.mean ?? null,
        // The meter where the device sends one, the flow rate integrated otherwise (l → m³).
        volumeM3: meters.get(timeMs) ?? (integralLitres === undefined ? null : integralLitres / 1000),
      };
    });
  }

  async totals(boreholeIds: readonly string[], from: number, to: number): Promise<Map<string, PeriodTotals>> {
    const fromMs = Math.floor(from);
    const toMs = Math.floor(to);
    const totals = new Map<string, PeriodTotals>();
    for (const id of boreholeIds) {
      const meter = meterVolume(this.samples('flow', 'total_m3', id, fromMs, toMs), null).get(0);
      const litres = integral(this.samples('flow', 'rate_lpm', id, fromMs, toMs), MINUTE_MS, null, fromMs).get(fromMs);
      const hours = integral(this.samples('pump', 'running', id, fromMs, toMs), HOUR_MS, null, fromMs).get(fromMs);
      totals.set(id, { volumeM3: meter ?? (litres ?? 0) / 1000, pumpingHours: hours ?? 0 });
    }
    return totals;
  }

  async activeMinutes(boreholeId: string, fromMs: number, toMs: number): Promise<number[]> {
    checkActiveRange(fromMs, toMs);
    const minutes = new Set<number>();
    for (const [measurement, field] of [['flow', 'rate_lpm'], ['pump', 'running'], ['level', 'depth_m'], ['device', 'online']] as const) {
      const stream = this.stream(measurement, field, boreholeId);
      if (stream === undefined) continue;
      // Epoch minutes, as GROUP BY time(1m) without an offset: floor, even before 1970.
      for (const tsMs of this.statements.times.all(stream, Math.floor(fromMs), Math.floor(toMs))) minutes.add(tsMs - (((tsMs % MINUTE_MS) + MINUTE_MS) % MINUTE_MS));
    }
    return [...minutes].sort((a, b) => a - b);
  }
}

function streamKey(measurement: string, field: string, borehole: string): string {
  return `${measurement}\u0000${field}\u0000${borehole}`;
}
