/**
 * Reads InfluxDB line protocol back, for the embedded time-series store: what
 * `line-protocol.ts` writes, and the rest of the syntax InfluxDB accepts (escapes, booleans,
 * unsigned integers, `#` comments, a missing timestamp), so that a line refused here is a line
 * InfluxDB would refuse too (HTTP 400), and the drain treats it the same way.
 *
 * Timestamps are epoch milliseconds: the service writes with `precision=ms`.
 */

export type FieldType = 'float' | 'integer' | 'unsigned' | 'boolean' | 'string';

export interface ParsedField {
  key: string;
  type: FieldType;
  /** float: number; integer and unsigned: bigint; boolean: 0n or 1n; string: string. */
  value: number | bigint | string;
}

export interface ParsedSeries {
  measurement: string;
  /** Sorted by key; tags with an empty value are left out, as InfluxDB does. */
  tags: readonly (readonly [string, string])[];
  /** Measurement and sorted tags in canonical line protocol: one series, one key. */
  key: string;
}

export interface ParsedPoint {
  series: ParsedSeries;
  fields: ParsedField[];
  tsMs: number;
}

/** A line InfluxDB would refuse (HTTP 400): sending it again cannot help. */
export class LineProtocolError extends Error {
  override name = 'LineProtocolError';
}

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+i$/;
const UNSIGNED = /^\d+u$/;
const TIMESTAMP = /^-?\d+$/;
const TRUE = new Set(['t', 'T', 'true', 'True', 'TRUE']);
const FALSE = new Set(['f', 'F', 'false', 'False', 'FALSE']);

/** Index of the first `stop` character at or after `from` that is not escaped with a backslash. */
function indexOfUnescaped(text: string, stops: string, from: number): number {
  for (let index = from; index < text.length; index += 1) {
    const c = text[index] as string;
    if (c === '\\') {
      index += 1;
      continue;
    }
    if (stops.includes(c)) return index;
  }
  return -1;
}

/** Removes the backslash before each of `escaped` (other backslashes stay, as in InfluxDB). */
function unescape(text: string, escaped: string): string {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let index = 0; index < text.length; index += 1) {
    const c = text[index] as string;
    const next = text[index + 1];
    if (c === '\\' && next !== undefined && escaped.includes(next)) {
      out += next;
      index += 1;
    } else {
      out += c;
    }
  }
  return out;
}

const escapeMeasurement = (value: string): string => value.replace(/[, ]/g, (c) => `\\${c}`);
const escapeKey = (value: string): string => value.replace(/[,= ]/g, (c) => `\\${c}`);

/**
 * Parses `measurement,tag=value,...` (the part before the first unescaped space). The service
 * writes the same one for every point of a series: callers cache the result by its text.
 */
export function parseSeries(text: string, line: string): ParsedSeries {
  const end = indexOfUnescaped(text, ',', 0);
  const measurement = unescape(end === -1 ? text : text.slice(0, end), ', ');
  if (measurement === '') throw new LineProtocolError(`unable to parse '${preview(line)}': missing measurement`);
  const tags = new Map<string, string>();
  let start = end;
  while (start !== -1) {
    const next = indexOfUnescaped(text, ',', start + 1);
    const pair = next === -1 ? text.slice(start + 1) : text.slice(start + 1, next);
    const equals = indexOfUnescaped(pair, '=', 0);
    if (equals <= 0) throw new LineProtocolError(`unable to parse '${preview(line)}': missing tag key or value`);
    const key = unescape(pair.slice(0, equals), ',= ');
    const value = unescape(pair.slice(equals + 1), ',= ');
    if (value === '') throw new LineProtocolError(`unable to parse '${preview(line)}': missing tag value`);
    if (tags.has(key)) throw new LineProtocolError(`unable to parse '${preview(line)}': duplicate tags`);
    tags.set(key, value);
    start = next;
  }
  const sorted = [...tags.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const key = escapeMeasurement(measurement) + sorted.map(([k, v]) => `,${escapeKey(k)}=${escapeKey(v)}`).join('');
  return { measurement, tags: sorted, key };
}

function parseFieldValue(raw: string, line: string): Pick<ParsedField, 'type' | 'value'> {
  if (raw.startsWith('"')) {
    // parseFields has matched the quotes, escapes included: only a tail after them is left.
    if (raw.length < 2 || !raw.endsWith('"')) {
      throw new LineProtocolError(`unable to parse '${preview(line)}': unbalanced quotes`);
    }
    return { type: 'string', value: unescape(raw.slice(1, -1), '"\\') };
  }
  if (INTEGER.test(raw)) {
    const value = BigInt(raw.slice(0, -1));
    if (value > INT64_MAX || value < INT64_MIN) throw new LineProtocolError(`unable to parse '${preview(line)}': integer out of range`);
    return { type: 'integer', value };
  }
  if (UNSIGNED.test(raw)) {
    const value = BigInt(raw.slice(0, -1));
    // SQLite integers are signed 64-bit: the top half of the unsigned range has nowhere to go.
    if (value > UINT64_MAX || value > INT64_MAX) throw new LineProtocolError(`unable to parse '${preview(line)}': unsigned integer out of range`);
    return { type: 'unsigned', value };
  }
  if (TRUE.has(raw)) return { type: 'boolean', value: 1n };
  if (FALSE.has(raw)) return { type: 'boolean', value: 0n };
  if (FLOAT.test(raw)) {
    const value = Number(raw);
    if (!Number.isFinite(value)) throw new LineProtocolError(`unable to parse '${preview(line)}': invalid number`);
    return { type: 'float', value };
  }
  throw new LineProtocolError(`unable to parse '${preview(line)}': invalid field value ${JSON.stringify(raw.slice(0, 40))}`);
}

/** Splits the field set at unescaped commas outside double quotes; returns the end index too. */
function parseFields(line: string, start: number): { fields: ParsedField[]; end: number } {
  const fields: ParsedField[] = [];
  const seen = new Set<string>();
  let index = start;
  let pairStart = start;
  let inString = false;
  const finish = (pairEnd: number): void => {
    const pair = line.slice(pairStart, pairEnd);
    const equals = indexOfUnescaped(pair, '=', 0);
    if (equals <= 0 || equals === pair.length - 1) throw new LineProtocolError(`unable to parse '${preview(line)}': missing field key or value`);
    const key = unescape(pair.slice(0, equals), ',= ');
    const { type, value } = parseFieldValue(pair.slice(equals + 1), line);
    // InfluxDB keeps the last of a repeated field in a line.
    if (seen.has(key)) fields.splice(fields.findIndex((f) => f.key === key), 1);
    seen.add(key);
    fields.push({ key, type, value });
  };
  for (; index < line.length; index += 1) {
    const c = line[index];
    if (c === '\\') {
      index += 1;
      continue;
    }
    if (c === '"') inString = !inString;
    else if (!inString && c === ',') {
      finish(index);
      pairStart = index + 1;
    } else if (!inString && c === ' ') {
      break;
    }
  }
  if (inString) throw new LineProtocolError(`unable to parse '${preview(line)}': unbalanced quotes`);
  finish(index);
  return { fields, end: index };
}

function preview(line: string): string {
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * Parses one line (without its newline). Returns null for a blank line or a `#` comment.
 * `seriesCache` maps the text before the first space to its parsed form, across calls.
 */
export function parseLine(line: string, defaultTsMs: number, seriesCache?: Map<string, ParsedSeries>): ParsedPoint | null {
  const trimmed = line.trim();
  if (trimmed === '' || trimmed.startsWith('#')) return null;
  const space = indexOfUnescaped(trimmed, ' ', 0);
  if (space === -1) throw new LineProtocolError(`unable to parse '${preview(line)}': missing fields`);
  const seriesText = trimmed.slice(0, space);
  let series = seriesCache?.get(seriesText);
  if (series === undefined) {
    series = parseSeries(seriesText, trimmed);
    if (seriesCache) {
      // Bounded: a writer that sends a new series on every line cannot grow it forever.
      if (seriesCache.size >= 100_000) seriesCache.clear();
      seriesCache.set(seriesText, series);
    }
  }
  let fieldsStart = space + 1;
  while (trimmed[fieldsStart] === ' ') fieldsStart += 1;
  const { fields, end } = parseFields(trimmed, fieldsStart);
  const rest = trimmed.slice(end).trim();
  let tsMs = defaultTsMs;
  if (rest !== '') {
    if (!TIMESTAMP.test(rest)) throw new LineProtocolError(`unable to parse '${preview(line)}': bad timestamp`);
    tsMs = Number(rest);
    if (!Number.isSafeInteger(tsMs)) throw new LineProtocolError(`unable to parse '${preview(line)}': timestamp out of range`);
  }
  return { series, fields, tsMs };
}
