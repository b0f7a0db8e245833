/**
 * fast-check arbitraries for the wire (CONTRACT.md sections 1 and 6) and the settings every fuzz
 * suite runs with.
 *
 * Readings are derived from the zod schemas of src/contract (a field added there is generated here
 * without anyone touching this file; a field of a type this file does not know fails loudly), then
 * mutated into near-valid messages: a field dropped, retyped, negated, a number written as `1e999`
 * or `NaN`, extra fields, deep nesting, unicode, bytes that are not UTF-8, batches of 0, 1,000 and
 * 1,001 readings, payloads at and over 256 KiB, `ts` in the future or before 2000, borehole ids
 * and topics that are not ours.
 *
 * Every generated message carries what the contract says must become of it (the points stored,
 * the rejections and their reasons), worked out from how the message was built, never by asking
 * the decoder. Only the order in which a message's faults are judged (topic, borehole, size, JSON,
 * readings, timestamp) is taken from docs/ingest.md, for the rare message that has two.
 */
import fc from 'fast-check';
import { z } from 'zod';
import {
  KNOWN_FAULT_CODES,
  MAX_BATCH_READINGS,
  MAX_FUTURE_SKEW_MS,
  MAX_PAYLOAD_BYTES,
  MIN_TS_MS,
  payloadSchemas,
  timestampSchema,
} from '../../src/contract/payloads.js';
import { BOREHOLE_ID_PATTERN, READING_KINDS, TOPIC_KINDS, type ReadingKind, type TopicKind } from '../../src/contract/topics.js';
import { CLOCKLESS_INTERVAL_MS, type RejectReason } from '../../src/ingest/decode.js';

// ---------------------------------------------------------------------------------------------
// Running: the seed, the number of runs, and guards that turn a stray rejection into a failure

/** The fixed seed of CI runs (the day the suite was written); `FUZZ_SEED=random` for a new one. */
export const DEFAULT_FUZZ_SEED = 20261129;

function chosenSeed(): number {
  const raw = process.env.FUZZ_SEED?.trim();
  if (raw === undefined || raw === '') return DEFAULT_FUZZ_SEED;
  if (raw === 'random') return (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer or "random", not "${raw}"`);
  return seed;
}

/** One seed per test file, so that `FUZZ_SEED=<printed seed>` replays every property of it. */
const SEED = chosenSeed();

export interface FuzzParameters {
  seed: number;
  numRuns: number;
  path?: string;
}

/**
 * fast-check parameters for one property: the seed (fixed unless FUZZ_SEED says otherwise), the
 * runs (FUZZ_RUNS, else the property's default, sized for CI), and FUZZ_PATH to replay straight
 * to a counterexample that fast-check reported. Printed, so that any failure can be replayed.
 */
export function fuzzParameters(property: string, defaultRuns: number, command = 'npx vitest run --project fuzz'): FuzzParameters {
  const rawRuns = process.env.FUZZ_RUNS?.trim();
  const numRuns = rawRuns === undefined || rawRuns === '' ? defaultRuns : Number(rawRuns);
  if (!Number.isSafeInteger(numRuns) || numRuns < 1) throw new Error(`FUZZ_RUNS must be a positive integer, not "${rawRuns}"`);
  const path = process.env.FUZZ_PATH?.trim() || undefined;
  console.log(
    `[fuzz] ${property}: seed ${SEED}, ${numRuns} runs${path ? `, path ${path}` : ''} (replay: FUZZ_SEED=${SEED} FUZZ_RUNS=${numRuns} ${command})`,
  );
  return { seed: SEED, numRuns, ...(path ? { path } : {}) };
}

/**
 * Records unhandled rejections and uncaught exceptions while a suite runs, so that a property can
 * fail on one (Vitest would report it, but after the fact and without the counterexample).
 */
export function processFailureGuard(): { failures: unknown[]; dispose(): void; check(): void } {
  const failures: unknown[] = [];
  const record = (error: unknown): void => {
    failures.push(error);
  };
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  return {
    failures,
    dispose() {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
    },
    check() {
      if (failures.length > 0) {
        const first = failures[0];
        throw new Error(`${failures.length} unhandled rejection(s) or uncaught exception(s); the first: ${first instanceof Error ? (first.stack ?? first.message) : String(first)}`);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The wire schemas, as fields fast-check can generate

type FieldType = 'number' | 'boolean' | 'string' | 'timestamp';

export interface FieldModel {
  name: string;
  type: FieldType;
  required: boolean;
  nullable: boolean;
  min: number;
  max: number;
  int: boolean;
  /** The field's schema as the payload schema holds it (optional and nullable included). */
  schema: z.ZodType;
}

function fieldModel(name: string, schema: z.ZodType): FieldModel {
  let inner: z.ZodType = schema;
  let required = true;
  let nullable = false;
  for (;;) {
    if (inner instanceof z.ZodOptional) {
      required = false;
      inner = inner.unwrap() as z.ZodType;
    } else if (inner instanceof z.ZodNullable) {
      nullable = true;
      inner = inner.unwrap() as z.ZodType;
    } else break;
  }
  const base = { name, required, nullable, min: -Infinity, max: Infinity, int: false, schema };
  if (inner === timestampSchema) return { ...base, type: 'timestamp' };
  if (inner instanceof z.ZodNumber) {
    return { ...base, type: 'number', min: inner.minValue ?? -Infinity, max: inner.maxValue ?? Infinity, int: inner.isInt ?? false };
  }
  if (inner instanceof z.ZodBoolean) return { ...base, type: 'boolean' };
  if (inner instanceof z.ZodString) return { ...base, type: 'string' };
  throw new Error(`tests/fuzz/arbitraries.ts cannot generate field "${name}" (zod type ${inner.def.type}): teach fieldModel about it`);
}

/** Every field of every topic's payload, derived from src/contract/payloads.ts. */
export const FIELD_MODELS: Record<TopicKind, readonly FieldModel[]> = Object.fromEntries(
  TOPIC_KINDS.map((kind) => [kind, Object.entries(payloadSchemas[kind].shape as Record<string, z.ZodType>).map(([name, schema]) => fieldModel(name, schema))]),
) as unknown as Record<TopicKind, readonly FieldModel[]>;

const valueFields = (kind: TopicKind): readonly FieldModel[] => FIELD_MODELS[kind].filter((field) => field.type !== 'timestamp');

/** CONTRACT.md section 2: the measurement each topic is stored in. */
export const MEASUREMENT: Record<TopicKind, string> = { flow: 'flow', pump: 'pump', level: 'level', status: 'device' };

/**
 * CONTRACT.md section 2: the fields a reading is stored as. Booleans become integers 0/1, a pump's
 * `fault` is `""` when none, `seq` and `fw` are not stored. Line protocol cannot carry control
 * characters, so they arrive as spaces (src/storage/line-protocol.ts); a lone surrogate, which no
 * UTF-8 byte sequence spells, as U+FFFD.
 */
export function storedFields(kind: TopicKind, reading: Record<string, unknown>): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  const number = (name: string): void => {
    const value = reading[name];
    if (typeof value === 'number') out[name] = value === 0 ? 0 : value;
  };
  switch (kind) {
    case 'flow':
      number('rate_lpm');
      number('total_m3');
      break;
    case 'pump': {
      out.running = reading.running === true ? 1 : 0;
      const fault = typeof reading.fault === 'string' ? reading.fault : '';
      out.fault = Buffer.from(fault.replace(/[\u0000-\u001f\u007f]/g, ' '), 'utf8').toString('utf8');
      number('current_a');
      number('voltage_v');
      break;
    }
    case 'level':
      number('depth_m');
      break;
    case 'status':
      out.online = reading.online === true ? 1 : 0;
      number('rssi_dbm');
      number('battery_v');
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Valid values

const SPECIAL_FLOATS = [0, 1, 0.1, 5e-324, Number.EPSILON, 1e-7, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308, Number.MAX_VALUE];

function validNumber(field: FieldModel): fc.Arbitrary<number> {
  if (field.int) {
    const min = Math.max(field.min, Number.MIN_SAFE_INTEGER);
    const max = Math.min(field.max, Number.MAX_SAFE_INTEGER);
    return fc.oneof({ weight: 4, arbitrary: fc.integer({ min, max: Math.min(max, min + 100_000) }) }, fc.integer({ min, max }), fc.constantFrom(min, max));
  }
  const bounds = { ...(Number.isFinite(field.min) ? { min: field.min } : {}), ...(Number.isFinite(field.max) ? { max: field.max } : {}) };
  const realistic = { min: Number.isFinite(field.min) ? field.min : -200, max: Number.isFinite(field.max) ? field.max : 500 };
  const specials = SPECIAL_FLOATS.flatMap((value) => [value, -value]).filter((value) => value >= field.min && value <= field.max);
  return fc.oneof(
    { weight: 6, arbitrary: fc.double({ ...realistic, noNaN: true }) },
    { weight: 2, arbitrary: fc.double({ ...bounds, noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: fc.constantFrom(...specials) },
  );
}

const faultCode = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...KNOWN_FAULT_CODES) },
  { weight: 1, arbitrary: fc.constant('') },
  // An unknown fault is any other string: unicode, quotes, backslashes, control characters.
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constantFrom('"', '\\', 'a,b=c d', 'pompe\nnoyée', '\u{1F4A7} fuite', 'x'.repeat(300)) },
);

function validString(field: FieldModel): fc.Arbitrary<string> {
  if (field.name === 'fault') return faultCode;
  return fc.oneof(fc.string({ unit: 'grapheme', maxLength: 16 }), fc.string({ unit: 'binary', maxLength: 16 }));
}

function validValue(field: FieldModel): fc.Arbitrary<unknown> {
  let value: fc.Arbitrary<unknown>;
  switch (field.type) {
    case 'number':
      value = validNumber(field);
      break;
    case 'boolean':
      value = fc.boolean();
      break;
    case 'string':
      value = validString(field);
      break;
    case 'timestamp':
      throw new Error('timestamps are generated by tsSpec');
  }
  return field.nullable ? fc.oneof({ weight: 4, arbitrary: value }, { weight: 1, arbitrary: fc.constant(null) }) : value;
}

/** A JSON value `field`'s schema refuses (the field present, with the wrong type). */
function wrongValue(field: FieldModel): fc.Arbitrary<unknown> {
  return fc
    .oneof(
      fc.string({ maxLength: 8 }),
      fc.constantFrom('NaN', 'Infinity', '-0', '1e999', '', '12,5', '0x10', 'true', 'null', '2026-02-05'),
      fc.boolean(),
      fc.constant(null),
      fc.integer({ min: -5, max: 5 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.array(fc.integer(), { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
    )
    .filter((value) => !field.schema.safeParse(value).success);
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/**
 * A reading's `ts`: absent; epoch ms or RFC 3339 (fraction of 0 to 9 digits, `Z` or an offset) at
 * `deltaMs` from the receive time or from 2000-01-01; or a value the schema refuses.
 */
export type TsSpec =
  | { form: 'none' }
  | { form: 'epoch' | 'rfc3339'; anchor: 'receive' | 'min'; deltaMs: number; fracDigits: number; offsetMinutes: number }
  | { form: 'invalid'; value: unknown };

export interface TimeOptions {
  /** Allow readings without `ts` (their time is the receive time, which the test must control). */
  allowNoTs: boolean;
  /**
   * Margin kept around the 10-minute limit: 0 tries the exact edges (the test's clock is the
   * service's); a real service's clock moves while the test runs, so it needs a margin.
   */
  edgeMarginMs: number;
}

const DAY_MS = 86_400_000;
const YEAR_MS = 365 * DAY_MS;

function tsSpec(options: TimeOptions): fc.Arbitrary<TsSpec> {
  const m = options.edgeMarginMs;
  const delta = fc.oneof(
    // Store-and-forward: the last three months.
    { weight: 8, arbitrary: fc.record({ anchor: fc.constant('receive' as const), deltaMs: fc.integer({ min: -90 * DAY_MS, max: -m }) }) },
    // A device clock a little fast, up to the limit.
    // (With a margin, the last day before it instead.)
    {
      weight: 2,
      arbitrary: fc.record({
        anchor: fc.constant('receive' as const),
        deltaMs: m > 0 ? fc.integer({ min: -m - DAY_MS, max: -m }) : fc.oneof(fc.integer({ min: 0, max: MAX_FUTURE_SKEW_MS }), fc.constant(MAX_FUTURE_SKEW_MS)),
      }),
    },
    // In the future, past the limit.
    { weight: 2, arbitrary: fc.record({ anchor: fc.constant('receive' as const), deltaMs: fc.oneof(fc.constant(MAX_FUTURE_SKEW_MS + 1 + m), fc.integer({ min: MAX_FUTURE_SKEW_MS + 1 + m, max: 100 * YEAR_MS })) }) },
    // Around 2000-01-01 (a clock never set reads 1970), and the largest epoch ms JSON can carry exactly.
    {
      weight: 2,
      arbitrary: fc.record({
        anchor: fc.constant('min' as const),
        deltaMs: fc.oneof(fc.constantFrom(-1, 0, -MIN_TS_MS, Number.MAX_SAFE_INTEGER - MIN_TS_MS), fc.integer({ min: -MIN_TS_MS, max: 20 * YEAR_MS })),
      }),
    },
  );
  const timed = fc.record({
    form: fc.constantFrom('epoch' as const, 'rfc3339' as const),
    anchorDelta: delta,
    fracDigits: fc.constantFrom(0, 1, 2, 3, 3, 3, 6, 9),
    offsetMinutes: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }) }),
  }).map(({ form, anchorDelta, fracDigits, offsetMinutes }): TsSpec => ({ form, ...anchorDelta, fracDigits, offsetMinutes }));
  const invalid = fc
    .oneof(
      fc.constantFrom(
        '2026-02-05T10:42:00', // no offset
        '2026-02-05 10:42:00Z',
        '2026-02-05T10:42Z', // no seconds
        '2026-02-30T10:42:00Z',
        '2026-02-05T24:00:00Z',
        '2026-02-05T10:42:60Z',
        '2026-02-05T10:42:00+25:00',
        '2026-02-05t10:42:00z',
        '+022026-02-05T10:42:00Z',
        'NaN',
        'now',
        '',
        '1770288120000',
      ),
      fc.constantFrom(-1, 1.5, 2 ** 53, -0.5, 1e300, true, null),
      fc.string({ maxLength: 30 }),
      fc.date({ noInvalidDate: true }).map((date) => date.toISOString().replace('Z', '')),
    )
    .filter((value) => !timestampSchema.safeParse(value).success)
    .map((value): TsSpec => ({ form: 'invalid', value }));
  return fc.oneof(
    { weight: 10, arbitrary: timed },
    { weight: options.allowNoTs ? 2 : 0, arbitrary: fc.constant<TsSpec>({ form: 'none' }) },
    { weight: 1, arbitrary: invalid },
  );
}

const LAST_RFC3339_MS = Date.UTC(9999, 11, 30);

const pad = (value: number, width: number): string => String(value).padStart(width, '0');

/** `ts` as RFC 3339 at an offset from UTC, with exactly `fracDigits` digits of fraction. */
export function rfc3339(tsMs: number, fracDigits: number, offsetMinutes: number): string {
  const local = new Date(tsMs + offsetMinutes * 60_000);
  const ms = pad(local.getUTCMilliseconds(), 3);
  const fraction = fracDigits === 0 ? '' : `.${(ms + '000000').slice(0, fracDigits)}`;
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  // UTC is spelt `Z` or `+00:00`, both RFC 3339; which one follows the fraction's width.
  const zone = offsetMinutes === 0 && fracDigits % 2 === 0 ? 'Z' : `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
  return (
    `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}` +
    `T${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}${fraction}${zone}`
  );
}

/** The instant a timed spec stands for, cut to what its form can spell (whole seconds, tenths...). */
function instantOf(spec: Extract<TsSpec, { anchor: unknown }>, anchorMs: number): number {
  const base = spec.anchor === 'receive' ? anchorMs : MIN_TS_MS;
  const ms = Math.max(0, base + spec.deltaMs);
  if (spec.form === 'epoch') return ms;
  // RFC 3339 has four digits of year: the last day of 9999 at most, whatever the offset.
  if (ms > LAST_RFC3339_MS) return LAST_RFC3339_MS;
  const unit = 10 ** (3 - Math.min(3, spec.fracDigits));
  return ms - (ms % unit);
}

// ---------------------------------------------------------------------------------------------
// Readings and their mutations

/** Raw JSON text written where a number goes: some is not JSON, some is a number no double holds. */
const RAW_NUMBERS = [
  '1e999', '-1e999', '1e308', '-1e308', '1E2', '-0', '0.0', '1.0', '5e-324', '1e-400',
  '123456789012345678901234567890', '9007199254740993', '01', 'NaN', 'Infinity', '-Infinity', '+1', '.5', '1.', '0x1F', '1_000',
  'null', 'true', '"12.5"', '[]', '{}', '[[[[[[1]]]]]]',
];

/** What a mutation does to one reading; each is a near-valid reading (or not a reading at all). */
export type Mutation =
  | { op: 'drop'; field: string }
  | { op: 'retype'; field: string; value: unknown }
  | { op: 'negative'; field: string; value: number }
  | { op: 'raw'; field: string; text: string }
  | { op: 'notObject'; text: string };

function mutation(kind: TopicKind): fc.Arbitrary<Mutation> {
  const fields = valueFields(kind);
  const required = fields.filter((field) => field.required);
  const numeric = fields.filter((field) => field.type === 'number');
  const nonNegative = numeric.filter((field) => field.min >= 0);
  const options: fc.Arbitrary<Mutation>[] = [
    fc.constantFrom(...FIELD_MODELS[kind]).chain((field) => wrongValue(field).map((value): Mutation => ({ op: 'retype', field: field.name, value }))),
    fc.record({
      op: fc.constant('notObject' as const),
      text: fc.oneof(
        fc.constantFrom('null', '0', '-1', '"flow"', 'true', '[]', '[{}]', '""'),
        fc.integer({ min: 2, max: 60_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
        fc.integer({ min: 2, max: 20_000 }).map((depth) => `[${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}]`),
      ),
    }),
  ];
  if (required.length > 0) options.push(fc.constantFrom(...required).map((field): Mutation => ({ op: 'drop', field: field.name })));
  if (nonNegative.length > 0) {
    options.push(
      fc.record({
        op: fc.constant('negative' as const),
        field: fc.constantFrom(...nonNegative.map((field) => field.name)),
        value: fc.oneof(fc.constantFrom(-5e-324, -1, -1e308), fc.double({ max: -Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true })),
      }),
    );
  }
  if (numeric.length > 0) {
    options.push(
      fc.record({
        op: fc.constant('raw' as const),
        field: fc.constantFrom(...numeric.map((field) => field.name)),
        text: fc.oneof(fc.constantFrom(...RAW_NUMBERS), fc.stringMatching(/^-?\d{1,400}(\.\d{1,40})?([eE][+-]?\d{1,4})?$/)),
      }),
    );
  }
  return fc.oneof(...options);
}

/** One reading object as a device writes it, before it is put into bytes. */
export interface ReadingSpec {
  kind: TopicKind;
  values: Record<string, unknown>;
  ts: TsSpec;
  /** Unknown fields, which the service ignores. */
  extra: Record<string, unknown>;
  mutation: Mutation | null;
}

const extraKey = (kind: TopicKind): fc.Arbitrary<string> =>
  fc
    .oneof(fc.string({ unit: 'grapheme', maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'values', 'ts ', 'RATE_LPM'))
    .filter((key) => !FIELD_MODELS[kind].some((field) => field.name === key));

export function readingSpec(kind: TopicKind, time: TimeOptions, mutationWeight = 1): fc.Arbitrary<ReadingSpec> {
  const entries = valueFields(kind).map((field) => {
    const value = validValue(field);
    return [field.name, field.required ? value : fc.option(value, { nil: undefined, freq: 3 })] as const;
  });
  return fc.record({
    kind: fc.constant(kind),
    values: fc.record(Object.fromEntries(entries) as Record<string, fc.Arbitrary<unknown>>).map((values) =>
      Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)),
    ),
    ts: tsSpec(time),
    extra: fc.oneof(
      { weight: 6, arbitrary: fc.constant({}) },
      { weight: 1, arbitrary: fc.dictionary(extraKey(kind), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) },
    ),
    mutation: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: mutationWeight, arbitrary: mutation(kind) }),
  });
}

/** Placeholders for raw JSON text, swapped in after JSON.stringify. */
const RAW_MARK = '\u0000raw';

interface BuiltReading {
  /** The JSON text of the reading. */
  text: string;
  /** Absolute `ts` in ms, null when absent; undefined when the reading is invalid by its schema. */
  tsMs?: number | null;
  /** The schema refuses it: invalid_reading whatever its time. */
  invalid: boolean;
  /** A raw text made the whole payload unparsable. */
  breaksJson: boolean;
}

function jsonParses(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

function buildReading(spec: ReadingSpec, anchorMs: number): BuiltReading {
  const object: Record<string, unknown> = { ...spec.values, ...spec.extra };
  let tsMs: number | null = null;
  let invalid = false;
  let breaksJson = false;
  const raws: string[] = [];
  switch (spec.ts.form) {
    case 'none':
      break;
    case 'invalid':
      object.ts = spec.ts.value;
      invalid = true;
      break;
    default: {
      tsMs = instantOf(spec.ts, anchorMs);
      object.ts = spec.ts.form === 'epoch' ? tsMs : rfc3339(tsMs, spec.ts.fracDigits, spec.ts.offsetMinutes);
    }
  }
  const m = spec.mutation;
  if (m) {
    const field = FIELD_MODELS[spec.kind].find((f) => 'field' in m && f.name === m.field);
    switch (m.op) {
      case 'drop':
        delete object[m.field];
        invalid = true;
        break;
      case 'retype':
        object[m.field] = m.value;
        invalid = true;
        break;
      case 'negative':
        object[m.field] = m.value;
        invalid = true;
        break;
      case 'raw': {
        object[m.field] = `${RAW_MARK}${raws.length}`;
        raws.push(m.text);
        const parsed = jsonParses(m.text);
        if (!parsed.ok) breaksJson = true;
        else if (!field || !field.schema.safeParse(parsed.value).success) invalid = true;
        break;
      }
      case 'notObject':
        return { text: m.text, invalid: true, breaksJson: !jsonParses(m.text).ok };
    }
  }
  let text = JSON.stringify(object);
  raws.forEach((raw, index) => {
    text = text.replace(JSON.stringify(`${RAW_MARK}${index}`), raw);
  });
  return invalid ? { text, invalid, breaksJson } : { text, tsMs, invalid, breaksJson };
}

// ---------------------------------------------------------------------------------------------
// Messages

/** What the contract says must become of one message received at a given time. */
export interface Expected {
  stored: ExpectedPoint[];
  rejected: ExpectedRejection[];
  /** Valid statuses replayed from the retained store: neither stored again nor rejected. */
  replayed: number;
}

export interface ExpectedPoint {
  kind: TopicKind;
  boreholeId: string;
  tsMs: number;
  fields: Record<string, number | string>;
}

export interface ExpectedRejection {
  reason: RejectReason;
  index?: number;
}

type ItemVerdict = { invalid: true } | { invalid: false; tsMs: number | null; fields: Record<string, number | string> };

/** A message in bytes, with everything needed to judge it once its receive time is known. */
export interface BuiltMessage {
  label: string;
  topic: string;
  payload: Buffer;
  /** Replayed from the broker's retained store (a status the service has seen before). */
  retained: boolean;
  verdict: { reject: RejectReason } | { boreholeId: string; kind: TopicKind; batch: boolean; items: ItemVerdict[] };
}

/** Judges a built message received at `receivedAtMs`, by CONTRACT.md section 1. */
export function judge(message: BuiltMessage, receivedAtMs: number): Expected {
  const { verdict } = message;
  if ('reject' in verdict) return { stored: [], rejected: [{ reason: verdict.reject }], replayed: 0 };
  const expected: Expected = { stored: [], rejected: [], replayed: 0 };
  verdict.items.forEach((item, position) => {
    const index = verdict.batch ? { index: position } : {};
    if (item.invalid) {
      expected.rejected.push({ reason: 'invalid_reading', ...index });
      return;
    }
    // A reading without ts goes at the receive time, or in a batch one reporting interval back
    // per place from the end (docs/ingest.md, "A device without a clock").
    const clocklessAtMs = verdict.batch ? receivedAtMs - (verdict.items.length - 1 - position) * CLOCKLESS_INTERVAL_MS : receivedAtMs;
    const tsMs = item.tsMs ?? clocklessAtMs;
    if (tsMs > receivedAtMs + MAX_FUTURE_SKEW_MS) expected.rejected.push({ reason: 'future_ts', ...index });
    else if (tsMs < MIN_TS_MS) expected.rejected.push({ reason: 'ts_out_of_range', ...index });
    // A status replayed on subscribe is the last known state, not a new observation (docs/ingest.md).
    else if (message.retained && verdict.kind === 'status') expected.replayed += 1;
    else expected.stored.push({ kind: verdict.kind, boreholeId: verdict.boreholeId, tsMs, fields: item.fields });
  });
  return expected;
}

export interface WireOptions {
  topicRoot: string;
  /** Borehole ids in the registry. */
  knownIds: readonly string[];
  time: TimeOptions;
  /**
   * Only what a real broker delivers on `{root}/+/+`: three levels, no wildcard, valid UTF-8,
   * and no retained replays (the test cannot make the broker replay on demand).
   */
  brokerDelivered: boolean;
}

/** What a message is before it is put into bytes; `build` turns it into a BuiltMessage. */
export type MessageSpec =
  | { type: 'one'; id: string; reading: ReadingSpec; retained: boolean }
  | { type: 'batch'; id: string; kind: ReadingKind; readings: ReadingSpec[] }
  | { type: 'fullBatch'; id: string; template: ReadingSpec; count: number }
  | { type: 'emptyBatch'; id: string; kind: ReadingKind }
  | { type: 'statusArray'; id: string; readings: ReadingSpec[] }
  | { type: 'padded'; id: string; reading: ReadingSpec; overBytes: number }
  | { type: 'junk'; id: string; kind: TopicKind; bytes: Uint8Array }
  | { type: 'truncated'; id: string; reading: ReadingSpec; keep: number }
  | { type: 'notUtf8'; id: string; reading: ReadingSpec; bytes: Uint8Array; inString: boolean }
  | { type: 'badTopic'; topic: string; reading: ReadingSpec }
  | { type: 'unknownBorehole'; id: string; reading: ReadingSpec };

export function topicClass(root: string, knownIds: readonly string[], topic: string): 'ok' | 'bad_topic' | 'unknown_borehole' {
  const prefix = `${root}/`;
  if (!topic.startsWith(prefix)) return 'bad_topic';
  const levels = topic.slice(prefix.length).split('/');
  if (levels.length !== 2) return 'bad_topic';
  const [id = '', kind = ''] = levels;
  if (!BOREHOLE_ID_PATTERN.test(id) || !(TOPIC_KINDS as readonly string[]).includes(kind)) return 'bad_topic';
  return knownIds.includes(id) ? 'ok' : 'unknown_borehole';
}

/** Topics that are nearly ours: an extra level, a wildcard, an empty level, unicode, a huge id. */
function badTopic(options: WireOptions): fc.Arbitrary<string> {
  const root = options.topicRoot;
  const id = fc.constantFrom(...options.knownIds);
  const kind = fc.constantFrom(...TOPIC_KINDS);
  const segment = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 12 }),
    fc.string({ unit: 'binary-ascii', maxLength: 12 }),
    fc.constantFrom('', '+', '#', 'FLOW', 'Flow', 'flow ', 'débit', 'niveau', '日本', '\u{1F4A7}', 'a', '-khabou', 'khabou_1', 'x'.repeat(63)),
  );
  const topics = fc.oneof(
    fc.tuple(id, kind, segment).map(([i, k, s]) => `${root}/${i}/${k}/${s}`),
    fc.tuple(id, kind).map(([i, k]) => `${root}/region/${i}/${k}`),
    fc.tuple(id, kind).chain(([i, k]) => fc.constantFrom(`${root}/${k}`, `${root}/${i}`, root, `${root}/`, `/${root}/${i}/${k}`, `${root}/${i}//${k}`, `${root}//${k}`, `${root}/${i}/`)),
    fc.tuple(id, segment).map(([i, s]) => `${root}/${i}/${s}`),
    fc.tuple(segment, kind).map(([s, k]) => `${root}/${s}/${k}`),
    fc.tuple(id, kind).map(([i, k]) => `${root.toUpperCase()}/${i}/${k}`),
    fc.tuple(id, kind, fc.constantFrom('borehole', 'boreholes2', '', 'devices')).map(([i, k, r]) => `${r}/${i}/${k}`),
    fc.tuple(kind, fc.integer({ min: 64, max: 60_000 })).map(([k, length]) => `${root}/${'a'.repeat(length)}/${k}`),
    fc.tuple(id, fc.integer({ min: 1, max: 60_000 })).map(([i, length]) => `${root}/${i}/${'f'.repeat(length)}`),
    fc.tuple(id, kind, fc.constantFrom('\u0000', '\ud800', '\udfff', '\uFFFD')).map(([i, k, c]) => `${root}/${i}${c}/${k}`),
    fc.tuple(id, kind, fc.constantFrom('+', '#')).chain(([i, k, w]) => fc.constantFrom(`${root}/${i}/${w}`, `${root}/${w}/${k}`, `${root}/${w}`, `${root}/${i}/${k.toUpperCase()}`)),
  );
  return topics.filter((topic) => {
    if (topicClass(root, options.knownIds, topic) !== 'bad_topic') return false;
    if (!options.brokerDelivered) return true;
    const levels = topic.split('/');
    return levels.length === 3 && levels[0] === root && !/[+#]/.test(topic) && mqttTopicText(topic) && Buffer.byteLength(topic) < 60_000;
  });
}

/**
 * What a broker takes as a topic (MQTT 3.1.1 §1.5.3, as Mosquitto enforces it: it drops the
 * connection of a client that sends anything else): no surrogate, no control character, no
 * noncharacter.
 */
function mqttTopicText(topic: string): boolean {
  for (const char of topic) {
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f) || (code >= 0xd800 && code <= 0xdfff)) return false;
    if ((code >= 0xfdd0 && code <= 0xfdef) || (code & 0xfffe) === 0xfffe) return false;
  }
  return true;
}

const unknownId = (options: WireOptions): fc.Arbitrary<string> =>
  fc.stringMatching(BOREHOLE_ID_PATTERN).filter((id) => !options.knownIds.includes(id));

/** Bytes that cannot start a JSON text, so the payload is not JSON whatever follows. */
const notJsonStart = fc.constantFrom(0x00, 0xff, 0xfe, 0x23, 0x3c, 0x27, 0x7d, 0x5d, 0x78);

export function messageSpec(options: WireOptions): fc.Arbitrary<MessageSpec> {
  const { time } = options;
  const id = fc.constantFrom(...options.knownIds);
  const anyKind = fc.constantFrom(...TOPIC_KINDS);
  const readingKind = fc.constantFrom(...READING_KINDS);
  const anyReading = (weight = 1) => anyKind.chain((kind) => readingSpec(kind, time, weight));
  const validReading = (kind: TopicKind) => readingSpec(kind, time, 0);
  return fc.oneof(
    {
      weight: 30,
      arbitrary: fc.record({
        type: fc.constant('one' as const),
        id,
        reading: anyReading(),
        retained: options.brokerDelivered ? fc.constant(false) : fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      }),
    },
    {
      weight: 10,
      arbitrary: readingKind.chain((kind) =>
        fc.record({ type: fc.constant('batch' as const), id, kind: fc.constant(kind), readings: fc.array(readingSpec(kind, time, 2), { minLength: 1, maxLength: 25 }) }),
      ),
    },
    {
      weight: 1,
      arbitrary: readingKind.chain((kind) =>
        fc.record({
          type: fc.constant('fullBatch' as const),
          id,
          template: validReading(kind).filter((reading) => reading.ts.form === 'epoch' || reading.ts.form === 'rfc3339'),
          count: fc.constantFrom(MAX_BATCH_READINGS, MAX_BATCH_READINGS + 1, MAX_BATCH_READINGS - 1),
        }),
      ),
    },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('emptyBatch' as const), id, kind: readingKind }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('statusArray' as const), id, readings: fc.array(validReading('status'), { minLength: 0, maxLength: 3 }) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('padded' as const),
        id,
        reading: anyKind.chain(validReading),
        overBytes: fc.oneof(fc.constant(0), fc.constant(1), fc.integer({ min: 1, max: 300_000 })),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        type: fc.constant('junk' as const),
        id,
        kind: anyKind,
        bytes: fc.tuple(notJsonStart, fc.uint8Array({ maxLength: 300 })).map(([first, rest]) => Uint8Array.from([first, ...rest])),
      }),
    },
    { weight: 2, arbitrary: fc.record({ type: fc.constant('truncated' as const), id, reading: anyReading(0), keep: fc.nat() }) },
    {
      weight: 2,
      arbitrary: fc.record({
        type: fc.constant('notUtf8' as const),
        id,
        reading: anyKind.chain(validReading),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => Uint8Array.from([0xc3, ...bytes.map((b) => 0x80 | (b & 0x7f)), 0xff])),
        inString: fc.boolean(),
      }),
    },
    { weight: 5, arbitrary: fc.record({ type: fc.constant('badTopic' as const), topic: badTopic(options), reading: anyReading() }) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant('unknownBorehole' as const), id: unknownId(options), reading: anyReading() }) },
  );
}

function itemVerdict(reading: BuiltReading, kind: TopicKind, parsed: unknown): ItemVerdict {
  if (reading.invalid || reading.tsMs === undefined) return { invalid: true };
  return { invalid: false, tsMs: reading.tsMs, fields: storedFields(kind, parsed as Record<string, unknown>) };
}

/**
 * Puts a message into bytes. `anchorMs` is the time its relative `ts` are measured from: its
 * receive time in a test that owns the clock, the test's start against a real service.
 */
export function build(spec: MessageSpec, options: WireOptions, anchorMs: number): BuiltMessage {
  const root = options.topicRoot;
  const topicOf = (id: string, kind: TopicKind) => `${root}/${id}/${kind}`;
  const single = (label: string, topic: string, id: string, reading: ReadingSpec, retained = false): BuiltMessage => {
    const built = buildReading(reading, anchorMs);
    const payload = Buffer.from(built.text, 'utf8');
    const parsed = jsonParses(built.text);
    if (payload.length > MAX_PAYLOAD_BYTES) return { label, topic, payload, retained, verdict: { reject: 'oversize' } };
    if (!parsed.ok || built.breaksJson) return { label, topic, payload, retained, verdict: { reject: 'bad_json' } };
    if (Array.isArray(parsed.value)) {
      // A reading replaced by an array is a batch of whatever that array holds, none a reading.
      if (reading.kind === 'status') return { label, topic, payload, retained, verdict: { reject: 'invalid_reading' } };
      if (parsed.value.length === 0) return { label, topic, payload, retained, verdict: { reject: 'empty_batch' } };
      if (parsed.value.length > MAX_BATCH_READINGS) return { label, topic, payload, retained, verdict: { reject: 'batch_too_large' } };
      return { label, topic, payload, retained, verdict: { boreholeId: id, kind: reading.kind, batch: true, items: parsed.value.map(() => ({ invalid: true as const })) } };
    }
    return { label, topic, payload, retained, verdict: { boreholeId: id, kind: reading.kind, batch: false, items: [itemVerdict(built, reading.kind, parsed.value)] } };
  };
  const batchOf = (label: string, id: string, kind: TopicKind, readings: readonly BuiltReading[]): BuiltMessage => {
    const text = `[${readings.map((r) => r.text).join(',')}]`;
    const payload = Buffer.from(text, 'utf8');
    const topic = topicOf(id, kind);
    const parsed = jsonParses(text);
    if (payload.length > MAX_PAYLOAD_BYTES) return { label, topic, payload, retained: false, verdict: { reject: 'oversize' } };
    if (!parsed.ok) return { label, topic, payload, retained: false, verdict: { reject: 'bad_json' } };
    const values = parsed.value as unknown[];
    if (kind === 'status') return { label, topic, payload, retained: false, verdict: { reject: 'invalid_reading' } };
    if (values.length === 0) return { label, topic, payload, retained: false, verdict: { reject: 'empty_batch' } };
    if (values.length > MAX_BATCH_READINGS) return { label, topic, payload, retained: false, verdict: { reject: 'batch_too_large' } };
    return { label, topic, payload, retained: false, verdict: { boreholeId: id, kind, batch: true, items: readings.map((r, i) => itemVerdict(r, kind, values[i])) } };
  };
  const rejected = (label: string, topic: string, payload: Buffer, reason: RejectReason): BuiltMessage => ({ label, topic, payload, retained: false, verdict: { reject: reason } });

  switch (spec.type) {
    case 'one':
      return single(spec.reading.mutation ? `one ${spec.reading.kind}, ${spec.reading.mutation.op}` : `one ${spec.reading.kind}`, topicOf(spec.id, spec.reading.kind), spec.id, spec.reading, spec.retained);
    case 'batch':
      return batchOf(`batch of ${spec.readings.length} ${spec.kind}`, spec.id, spec.kind, spec.readings.map((r) => buildReading(r, anchorMs)));
    case 'fullBatch': {
      const step = 60_000;
      const margin = options.time.edgeMarginMs;
      // A minute apart, from the template back: with a margin, none within it of the 10-minute
      // limit (moved by two margins and a half minute, so that no two readings share a time).
      const outOfMargin = (deltaMs: number): number => {
        if (margin === 0 || Math.abs(deltaMs - MAX_FUTURE_SKEW_MS) > margin) return deltaMs;
        return deltaMs > MAX_FUTURE_SKEW_MS ? deltaMs + 2 * margin + step / 2 : deltaMs - 2 * margin - step / 2;
      };
      const readings = Array.from({ length: spec.count }, (_, i) => {
        const ts = spec.template.ts;
        const shifted: TsSpec = ts.form === 'epoch' || ts.form === 'rfc3339' ? { ...ts, deltaMs: ts.anchor === 'receive' ? outOfMargin(ts.deltaMs - i * step) : ts.deltaMs - i * step } : ts;
        return buildReading({ ...spec.template, ts: shifted }, anchorMs);
      });
      return batchOf(`batch of ${spec.count} ${spec.template.kind}`, spec.id, spec.template.kind, readings);
    }
    case 'emptyBatch':
      return batchOf(`empty ${spec.kind} batch`, spec.id, spec.kind, []);
    case 'statusArray':
      return batchOf(`status as an array of ${spec.readings.length}`, spec.id, 'status', spec.readings.map((r) => buildReading(r, anchorMs)));
    case 'padded': {
      const built = buildReading(spec.reading, anchorMs);
      const size = MAX_PAYLOAD_BYTES + spec.overBytes;
      const body = Buffer.from(built.text, 'utf8');
      const payload = Buffer.concat([body, Buffer.alloc(Math.max(0, size - body.length), 0x20)]);
      const topic = topicOf(spec.id, spec.reading.kind);
      if (payload.length > MAX_PAYLOAD_BYTES) return rejected(`payload of ${payload.length} bytes`, topic, payload, 'oversize');
      // JSON allows trailing whitespace: a payload of exactly 256 KiB is a valid one.
      return { ...single('payload of exactly 256 KiB', topic, spec.id, spec.reading), payload };
    }
    case 'junk':
      return rejected('junk bytes', topicOf(spec.id, spec.kind), Buffer.from(spec.bytes), 'bad_json');
    case 'truncated': {
      const whole = Buffer.from(buildReading(spec.reading, anchorMs).text, 'utf8');
      const topic = topicOf(spec.id, spec.reading.kind);
      const payload = whole.subarray(0, spec.keep % whole.length);
      // A strict prefix of an object or array never parses; a number or string cut short might.
      if (jsonParses(payload.toString('utf8')).ok) return single('truncated, still JSON', topic, spec.id, { ...spec.reading, mutation: { op: 'notObject', text: payload.toString('utf8') } });
      return rejected(`cut to ${payload.length} of ${whole.length} bytes`, topic, payload, 'bad_json');
    }
    case 'notUtf8': {
      const built = buildReading(spec.reading, anchorMs);
      const topic = topicOf(spec.id, spec.reading.kind);
      const text = built.text;
      const close = text.lastIndexOf('}');
      if (!spec.inString || close === -1) {
        return rejected('bytes that are not UTF-8', topic, Buffer.concat([Buffer.from(spec.bytes), Buffer.from(text)]), 'bad_json');
      }
      // Inside a string of an unknown field, bytes that are not UTF-8 are only an odd value.
      const head = Buffer.from(`${text.slice(0, close)}${close > 1 ? ',' : ''}"note":"`, 'utf8');
      const payload = Buffer.concat([head, Buffer.from(spec.bytes), Buffer.from(`"${text.slice(close)}`, 'utf8')]);
      const message = single('bytes that are not UTF-8 in a string', topic, spec.id, spec.reading);
      return { ...message, payload, label: message.label };
    }
    case 'badTopic':
      return rejected('bad topic', spec.topic, Buffer.from(buildReading(spec.reading, anchorMs).text, 'utf8'), 'bad_topic');
    case 'unknownBorehole':
      return rejected('unknown borehole', topicOf(spec.id, spec.reading.kind), Buffer.from(buildReading(spec.reading, anchorMs).text, 'utf8'), 'unknown_borehole');
  }
}

/** A stream: messages in the order they are published, some sent again (a lost PUBACK). */
export function messageStream(options: WireOptions, maxLength: number): fc.Arbitrary<MessageSpec[]> {
  return fc
    .tuple(fc.array(messageSpec(options), { minLength: 1, maxLength }), fc.array(fc.nat(), { maxLength: 4 }))
    .map(([specs, again]) => [...specs, ...again.map((index) => specs[index % specs.length] as MessageSpec)]);
}

// ---------------------------------------------------------------------------------------------
// HTTP pieces: what a hostile or careless client sends

/** A token that is none of ours, marked so that an answer echoing it is easy to find. */
export const junkToken = fc.stringMatching(/^[A-Za-z0-9._~+/-]{4,40}$/).map((tail) => `JUNKTOKEN${tail}`);

/** Header values as they come over the wire: visible ASCII and latin-1, sometimes long. */
export const headerText = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.string({ unit: fc.integer({ min: 0xa0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 10 }),
  fc.integer({ min: 1000, max: 16_000 }).map((length) => 'h'.repeat(length)),
);

/** Text for queries and bodies: unicode, control characters, percent signs, nothing at all. */
export const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', ' ', '%', '%00', '%ZZ', '..', '../..', '\u0000', '\ud800', 'null', 'undefined', '[]', '{}', '-1', '0', '1e309', 'NaN', '<script>alert(1)</script>', "' OR 1=1 --"),
);

/** Bodies: JSON of all shapes, forms, bytes that mean nothing, and more than the 1 MiB limit. */
export const junkBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value) ?? 'null'),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    '',
    '{',
    '{"__proto__":{"isAdmin":true}}',
    '{"constructor":{"prototype":{"isAdmin":true}}}',
    '{"note":null}',
    '{"note":1}',
    '{"note":"' + 'n'.repeat(501) + '"}',
    'note=a&note=b',
    'token=&next=//evil.example',
  ),
  fc.integer({ min: 2, max: 100_000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.constantFrom(1024 * 1024 + 1, 2 * 1024 * 1024).map((size) => Buffer.alloc(size, 0x61)),
);
