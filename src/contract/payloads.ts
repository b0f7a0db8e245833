/**
 * Payload schemas of CONTRACT.md section 1. These are the single source of truth for what a
 * device may send; the firmware simulator builds its messages from the same types.
 */
import { z } from 'zod';
import type { ReadingKind, TopicKind } from './topics.js';

/** A batch (store-and-forward) holds at most this many readings. */
export const MAX_BATCH_READINGS = 1000;
/** A payload is at most 256 KiB. */
export const MAX_PAYLOAD_BYTES = 256 * 1024;
/** A `ts` further ahead of the receive time than this is rejected. */
export const MAX_FUTURE_SKEW_MS = 10 * 60 * 1000;
/**
 * A `ts` before this is a clock that was never set (epoch 0 after a power loss), not a
 * measurement: rejected as out of range rather than stored in 1970.
 */
export const MIN_TS_MS = Date.UTC(2000, 0, 1);

/**
 * The pump fault codes of CONTRACT.md section 1: the devices' vocabulary, so it lives with the
 * wire format (the simulator sends them from here). The SMS texts and the WPdx report name codes
 * from this list; any other non-empty `fault` is an unknown fault and still a fault.
 */
export const KNOWN_FAULT_CODES = [
  'dry_run',
  'overload',
  'overheat',
  'undervoltage',
  'overvoltage',
  'phase_loss',
  'sensor_fault',
] as const;
export type KnownFaultCode = (typeof KNOWN_FAULT_CODES)[number];

const nonNegative = z.number().nonnegative();

/** RFC 3339 with an offset (`Z` or `+hh:mm`), or Unix epoch milliseconds. */
export const timestampSchema = z.union([
  z.iso.datetime({ offset: true }),
  z.number().int().nonnegative(),
]);
export type WireTimestamp = z.infer<typeof timestampSchema>;

const readingBase = {
  ts: timestampSchema.optional(),
  seq: z.number().int().nonnegative().optional(),
};

export const flowReadingSchema = z.object({
  ...readingBase,
  rate_lpm: nonNegative,
  total_m3: nonNegative.optional(),
});

export const pumpReadingSchema = z.object({
  ...readingBase,
  running: z.boolean(),
  current_a: nonNegative.optional(),
  voltage_v: nonNegative.optional(),
  fault: z.string().nullable().optional(),
});

export const levelReadingSchema = z.object({
  ...readingBase,
  depth_m: nonNegative,
});

export const statusSchema = z.object({
  ts: timestampSchema.optional(),
  online: z.boolean(),
  fw: z.string().optional(),
  rssi_dbm: z.number().optional(),
  battery_v: z.number().optional(),
});

export type FlowReading = z.infer<typeof flowReadingSchema>;
export type PumpReading = z.infer<typeof pumpReadingSchema>;
export type LevelReading = z.infer<typeof levelReadingSchema>;
export type DeviceStatus = z.infer<typeof statusSchema>;

export interface WirePayloadByKind {
  flow: FlowReading;
  pump: PumpReading;
  level: LevelReading;
  status: DeviceStatus;
}

export const payloadSchemas = {
  flow: flowReadingSchema,
  pump: pumpReadingSchema,
  level: levelReadingSchema,
  status: statusSchema,
} as const satisfies Record<TopicKind, z.ZodType>;

export type WireReading = WirePayloadByKind[ReadingKind];

/** `fault` as stored: `""` when none (null, absent or empty all mean "no fault"). */
export function faultCode(reading: PumpReading): string {
  return reading.fault ?? '';
}

/** Status topics carry the device's Last Will, so they must be retained; readings must not. */
export function isRetainedKind(kind: TopicKind): boolean {
  return kind === 'status';
}
