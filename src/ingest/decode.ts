/**
 * Turns one MQTT message into readings, or into rejections with a reason. Pure: the receive time
 * and the known boreholes are passed in. A batch keeps its valid readings when some are invalid,
 * so one bad reading never costs the others.
 */
import type { z } from 'zod';
import {
  MAX_BATCH_READINGS,
  MAX_FUTURE_SKEW_MS,
  MAX_PAYLOAD_BYTES,
  MIN_TS_MS,
  payloadSchemas,
  type WireTimestamp,
} from '../contract/payloads.js';
import { parseTopic, type TopicKind } from '../contract/topics.js';
import { describeIssues } from '../config/errors.js';
import type { Reading } from '../domain/reading.js';

export const REJECT_REASONS = [
  'bad_topic',
  'unknown_borehole',
  'oversize',
  'bad_json',
  'batch_too_large',
  'empty_batch',
  'invalid_reading',
  'future_ts',
  'ts_out_of_range',
  'store_rejected',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface Rejection {
  reason: RejectReason;
  detail: string;
  /** Position in a batch, when only that reading was rejected. */
  index?: number;
}

export interface DecodeContext {
  topicRoot: string;
  isKnownBorehole(id: string): boolean;
  /** How often the device measures; spaces the readings of a batch without `ts`. Default CLOCKLESS_INTERVAL_MS. */
  reportingIntervalMs?(id: string): number;
}

/**
 * The reporting interval assumed for a device without a clock: the firmware's default of one
 * reading a minute (CONTRACT.md section 1). A store-and-forward batch without `ts` is spread
 * back from its receive time at this pace, so that its readings stay distinct points.
 */
export const CLOCKLESS_INTERVAL_MS = 60_000;

export interface DecodeResult {
  readings: Reading[];
  rejections: Rejection[];
}

const reject = (reason: RejectReason, detail: string, index?: number): DecodeResult => ({
  readings: [],
  rejections: [index === undefined ? { reason, detail } : { reason, detail, index }],
});

/** Readable in a dead letter even for a timestamp that no Date can hold. */
function describeTs(tsMs: number): string {
  const date = new Date(tsMs);
  return Number.isNaN(date.getTime()) ? String(tsMs) : date.toISOString();
}

/** `clocklessAtMs`: where a reading without `ts` goes (the receive time, or its place in a batch). */
function resolveTs(ts: WireTimestamp | undefined, clocklessAtMs: number): number {
  if (ts === undefined) return clocklessAtMs;
  return typeof ts === 'number' ? ts : Date.parse(ts);
}

export function decodeMessage(
  topic: string,
  payload: Buffer,
  receivedAtMs: number,
  context: DecodeContext,
): DecodeResult {
  const parsed = parseTopic(context.topicRoot, topic);
  if (!parsed) return reject('bad_topic', `topic is not ${context.topicRoot}/{id}/{flow|pump|level|status}`);
  if (!context.isKnownBorehole(parsed.boreholeId)) {
    return reject('unknown_borehole', `borehole "${parsed.boreholeId}" is not in the registry`);
  }
  if (payload.length > MAX_PAYLOAD_BYTES) {
    return reject('oversize', `payload of ${payload.length} bytes is over the ${MAX_PAYLOAD_BYTES}-byte limit`);
  }
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    return reject('bad_json', `payload is not JSON: ${(error as Error).message}`);
  }
  const { boreholeId, kind } = parsed;
  if (!Array.isArray(body)) return decodeOne(boreholeId, kind, body, receivedAtMs, undefined);
  if (kind === 'status') return reject('invalid_reading', 'a status payload is one object, not an array');
  if (body.length > MAX_BATCH_READINGS) {
    return reject('batch_too_large', `batch of ${body.length} readings is over the ${MAX_BATCH_READINGS}-reading limit`);
  }
  if (body.length === 0) return reject('empty_batch', 'batch holds no readings');
  const result: DecodeResult = { readings: [], rejections: [] };
  // A batch is in measurement order and its last reading was measured just before it was sent: a
  // reading without `ts` is placed back from the receive time by its distance from the end, one
  // reporting interval per place. Stamping them all with the receive time would make them one
  // point (same series and time), and keep only the last (issue 13). In a batch mixing both, the
  // stamped readings keep their `ts` and the others are placed the same way.
  const intervalMs = context.reportingIntervalMs?.(boreholeId) ?? CLOCKLESS_INTERVAL_MS;
  body.forEach((item: unknown, index) => {
    const one = decodeOne(boreholeId, kind, item, receivedAtMs, index, receivedAtMs - (body.length - 1 - index) * intervalMs);
    result.readings.push(...one.readings);
    result.rejections.push(...one.rejections);
  });
  return result;
}

function decodeOne(
  boreholeId: string,
  kind: TopicKind,
  item: unknown,
  receivedAtMs: number,
  index: number | undefined,
  clocklessAtMs = receivedAtMs,
): DecodeResult {
  const schema: z.ZodType = payloadSchemas[kind];
  const checked = schema.safeParse(item);
  if (!checked.success) {
    return reject('invalid_reading', describeIssues(checked.error.issues).join('; '), index);
  }
  const values = checked.data as { ts?: WireTimestamp };
  const tsMs = resolveTs(values.ts, clocklessAtMs);
  if (tsMs > receivedAtMs + MAX_FUTURE_SKEW_MS) {
    return reject('future_ts', `ts ${describeTs(tsMs)} is more than 10 minutes ahead of the receive time`, index);
  }
  if (tsMs < MIN_TS_MS) {
    return reject('ts_out_of_range', `ts ${describeTs(tsMs)} is before 2000: the device clock is not set`, index);
  }
  return { readings: [{ boreholeId, kind, tsMs, values } as Reading], rejections: [] };
}
