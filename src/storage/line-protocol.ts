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

function escapeKey(value: string): string {
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

export function toLine(point: Point): string {
  let line = escapeMeasurement(point.measurement);
  // Sorted tags are what InfluxDB prefers and make identical points byte-identical.
  for (const key of Object.keys(point.tags).sort()) {
    const value = point.tags[key];
    if (value === undefined || value === '') continue;
    line += `,${escapeKey(key)}=${escapeKey(value)}`;
  }
  let first = true;
  for (const [key, value] of Object.entries(point.fields)) {
    line += `${first ? ' ' : ','}${escapeKey(key)}=${formatField(value)}`;
    first = false;
  }
  if (first) throw new RangeError(`point ${point.measurement} has no fields`);
  return `${line} ${Math.trunc(point.tsMs)}`;
}
