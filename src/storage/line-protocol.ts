/**
 * InfluxDB line protocol, the write format of InfluxDB 1.x, 2.x and 3.x alike. Floats are written
 * bare, integers with the `i` suffix (bigint here, so the type says which is which), strings
 * quoted. Timestamps are epoch milliseconds: every write names `precision=ms`.
 */

export type FieldValue = number | bigint | string;

export interface Point {
  measurement: string;
  tags: Readonly<Record<string, string>>;
  fields: Readonly<Record<string, FieldValue>>;
  tsMs: number;
}

// Line protocol cannot carry control characters (a newline ends the line) in keys or values.
const CONTROL = /[\u0000-\u001f\u007f]/g;

const NEEDS_KEY_ESCAPE = /[,= \u0000-\u001f\u007f]/;

function escapeKey(value: string): string {
  // Most keys and tag values need nothing: test once rather than rewrite twice (hot path).
  if (!NEEDS_KEY_ESCAPE.test(value)) return value;
  return value.replace(CONTROL, ' ').replace(/[,= ]/g, (c) => `\\${c}`);
}

function escapeMeasurement(value: string): string {
  return value.replace(CONTROL, ' ').replace(/[, ]/g, (c) => `\\${c}`);
}

function formatField(value: FieldValue): string {
  if (typeof value === 'bigint') return `${value}i`;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError('line protocol cannot carry a non-finite float');
    return String(value);
  }
  return `"${value.replace(CONTROL, ' ').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * `measurement,tag=value,...`: the same for every point of one series, so that a caller writing
 * many points of few series can compute it once.
 */
export function seriesKey(measurement: string, tags: Readonly<Record<string, string>>): string {
  let key = escapeMeasurement(measurement);
  // Sorted tags are what InfluxDB prefers and make identical points byte-identical.
  for (const tag of Object.keys(tags).sort()) {
    const value = tags[tag];
    if (value === undefined || value === '') continue;
    key += `,${escapeKey(tag)}=${escapeKey(value)}`;
  }
  return key;
}

/** ` field=value,... timestamp`: what follows the series key. */
export function fieldsAndTime(fields: Readonly<Record<string, FieldValue>>, tsMs: number): string {
  let out = '';
  let first = true;
  for (const [key, value] of Object.entries(fields)) {
    out += `${first ? ' ' : ','}${escapeKey(key)}=${formatField(value)}`;
    first = false;
  }
  if (first) throw new RangeError('a point needs at least one field');
  return `${out} ${Math.trunc(tsMs)}`;
}

export function toLine(point: Point): string {
  return seriesKey(point.measurement, point.tags) + fieldsAndTime(point.fields, point.tsMs);
}
