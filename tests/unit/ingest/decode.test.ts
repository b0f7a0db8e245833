import { describe, expect, it } from 'vitest';
import { faultCode, MAX_BATCH_READINGS, MAX_PAYLOAD_BYTES, type PumpReading } from '../../../src/contract/payloads.js';
import { decodeMessage, type DecodeContext, type DecodeResult } from '../../../src/ingest/decode.js';

const context: DecodeContext = { topicRoot: 'boreholes', isKnownBorehole: (id) => id === 'khabou' };

/** Received 2026-02-05 10:45:00 UTC; readings below are a few minutes older unless a test says otherwise. */
const RECEIVED_AT_MS = Date.UTC(2026, 1, 5, 10, 45, 0);
const MEASURED_AT_MS = Date.UTC(2026, 1, 5, 10, 42, 0);
const MINUTE_MS = 60_000;

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');
const decode = (topic: string, payload: unknown): DecodeResult =>
  decodeMessage(topic, Buffer.isBuffer(payload) ? payload : json(payload), RECEIVED_AT_MS, context);

/** The single rejection reason of a message rejected as a whole. */
function rejectedAs(result: DecodeResult): string {
  expect(result.readings).toEqual([]);
  expect(result.rejections).toHaveLength(1);
  expect(result.rejections[0]?.index).toBeUndefined();
  return result.rejections[0]?.reason ?? '';
}

describe('decoding MQTT messages', () => {
  describe('timestamps', () => {
    it('reads an RFC 3339 ts and the same instant in epoch milliseconds as the same time', () => {
      const rfc = decode('boreholes/khabou/flow', { ts: '2026-02-05T10:42:00Z', rate_lpm: 12.5 });
      const epoch = decode('boreholes/khabou/flow', { ts: MEASURED_AT_MS, rate_lpm: 12.5 });
      expect(rfc.rejections).toEqual([]);
      expect(epoch.rejections).toEqual([]);
      expect(rfc.readings[0]?.tsMs).toBe(MEASURED_AT_MS);
      expect(epoch.readings[0]?.tsMs).toBe(MEASURED_AT_MS);
    });

    it('converts an RFC 3339 ts with an offset to UTC', () => {
      const result = decode('boreholes/khabou/flow', { ts: '2026-02-05T11:42:00+01:00', rate_lpm: 12.5 });
      expect(result.readings.map((r) => r.tsMs)).toEqual([MEASURED_AT_MS]);
    });

    it('keeps milliseconds of an RFC 3339 ts', () => {
      const result = decode('boreholes/khabou/level', { ts: '2026-02-05T10:42:00.250Z', depth_m: 31 });
      expect(result.readings.map((r) => r.tsMs)).toEqual([MEASURED_AT_MS + 250]);
    });

    it('uses the receive time for a device without a clock (no ts)', () => {
      const result = decode('boreholes/khabou/flow', { rate_lpm: 12.5 });
      expect(result.readings.map((r) => r.tsMs)).toEqual([RECEIVED_AT_MS]);
    });

    it('spreads a batch without ts back from the receive time, one reporting interval apart, the last at the receive time', () => {
      const result = decode('boreholes/khabou/flow', [{ rate_lpm: 1 }, { rate_lpm: 2 }, { rate_lpm: 3 }]);
      expect(result.rejections).toEqual([]);
      expect(result.readings.map((r) => [r.tsMs, (r.values as { rate_lpm: number }).rate_lpm])).toEqual([
        [RECEIVED_AT_MS - 2 * MINUTE_MS, 1],
        [RECEIVED_AT_MS - MINUTE_MS, 2],
        [RECEIVED_AT_MS, 3],
      ]);
    });

    it("spaces a clockless batch at the borehole's reporting interval when one is known", () => {
      const every5s: DecodeContext = { ...context, reportingIntervalMs: () => 5000 };
      const result = decodeMessage('boreholes/khabou/level', json([{ depth_m: 30 }, { depth_m: 31 }]), RECEIVED_AT_MS, every5s);
      expect(result.readings.map((r) => r.tsMs)).toEqual([RECEIVED_AT_MS - 5000, RECEIVED_AT_MS]);
    });

    it('keeps the ts of stamped readings in a mixed batch and places the clockless ones by their position', () => {
      const result = decode('boreholes/khabou/flow', [{ ts: MEASURED_AT_MS, rate_lpm: 1 }, { rate_lpm: 2 }, { rate_lpm: 3 }]);
      expect(result.readings.map((r) => r.tsMs)).toEqual([MEASURED_AT_MS, RECEIVED_AT_MS - MINUTE_MS, RECEIVED_AT_MS]);
    });

    it('keeps the place of a clockless reading when an earlier one in the batch is invalid', () => {
      const result = decode('boreholes/khabou/flow', [{ rate_lpm: -1 }, { rate_lpm: 2 }, { rate_lpm: 3 }]);
      expect(result.rejections.map((r) => r.index)).toEqual([0]);
      expect(result.readings.map((r) => r.tsMs)).toEqual([RECEIVED_AT_MS - MINUTE_MS, RECEIVED_AT_MS]);
    });

    it('rejects a ts more than 10 minutes in the future', () => {
      const result = decode('boreholes/khabou/flow', { ts: RECEIVED_AT_MS + 11 * MINUTE_MS, rate_lpm: 12.5 });
      expect(rejectedAs(result)).toBe('future_ts');
    });

    it('accepts a ts 9 minutes ahead: a device clock a little fast', () => {
      const ts = new Date(RECEIVED_AT_MS + 9 * MINUTE_MS).toISOString();
      const result = decode('boreholes/khabou/flow', { ts, rate_lpm: 12.5 });
      expect(result.rejections).toEqual([]);
      expect(result.readings.map((r) => r.tsMs)).toEqual([RECEIVED_AT_MS + 9 * MINUTE_MS]);
    });

    it('rejects epoch 0 (a clock never set) as out of range rather than storing 1970', () => {
      expect(rejectedAs(decode('boreholes/khabou/flow', { ts: 0, rate_lpm: 12.5 }))).toBe('ts_out_of_range');
      expect(rejectedAs(decode('boreholes/khabou/flow', { ts: '1970-01-01T00:00:00Z', rate_lpm: 12.5 }))).toBe(
        'ts_out_of_range',
      );
    });

    it('rejects a ts that is neither RFC 3339 with an offset nor epoch milliseconds', () => {
      for (const ts of ['2026-02-05 10:42', '2026-02-05T10:42:00', 1.5e12 + 0.5, -1]) {
        expect(rejectedAs(decode('boreholes/khabou/flow', { ts, rate_lpm: 12.5 }))).toBe('invalid_reading');
      }
    });
  });

  describe('readings', () => {
    it('decodes a flow reading into the borehole, kind, time and values', () => {
      const result = decode('boreholes/khabou/flow', { ts: MEASURED_AT_MS, seq: 41, rate_lpm: 12.5, total_m3: 1834.2 });
      expect(result).toEqual({
        readings: [
          { boreholeId: 'khabou', kind: 'flow', tsMs: MEASURED_AT_MS, values: { ts: MEASURED_AT_MS, seq: 41, rate_lpm: 12.5, total_m3: 1834.2 } },
        ],
        rejections: [],
      });
    });

    it('treats zero as a reading, not as missing', () => {
      const flow = decode('boreholes/khabou/flow', { ts: MEASURED_AT_MS, rate_lpm: 0, total_m3: 0 });
      expect(flow.rejections).toEqual([]);
      expect(flow.readings[0]?.values).toMatchObject({ rate_lpm: 0, total_m3: 0 });
      const level = decode('boreholes/khabou/level', { ts: MEASURED_AT_MS, depth_m: 0 });
      expect(level.readings[0]?.values).toMatchObject({ depth_m: 0 });
    });

    it('ignores unknown extra fields', () => {
      const result = decode('boreholes/khabou/flow', { ts: MEASURED_AT_MS, rate_lpm: 12.5, firmware_note: 'hello', temp_c: 31 });
      expect(result.rejections).toEqual([]);
      expect(result.readings[0]?.values).toEqual({ ts: MEASURED_AT_MS, rate_lpm: 12.5 });
    });

    it('decodes a level reading', () => {
      const result = decode('boreholes/khabou/level', { ts: MEASURED_AT_MS, depth_m: 42.7 });
      expect(result.readings).toEqual([{ boreholeId: 'khabou', kind: 'level', tsMs: MEASURED_AT_MS, values: { ts: MEASURED_AT_MS, depth_m: 42.7 } }]);
    });

    it.each([
      ['null', null, ''],
      ['absent', undefined, ''],
      ['a known code', 'dry_run', 'dry_run'],
      ['an unknown code, still a fault', 'bearing_noise', 'bearing_noise'],
    ])('decodes a pump reading whose fault is %s', (_case, fault, stored) => {
      const payload: Record<string, unknown> = { ts: MEASURED_AT_MS, running: true, current_a: 4.2, voltage_v: 231 };
      if (fault !== undefined) payload.fault = fault;
      const result = decode('boreholes/khabou/pump', payload);
      expect(result.rejections).toEqual([]);
      expect(result.readings).toHaveLength(1);
      const reading = result.readings[0];
      expect(reading?.kind).toBe('pump');
      const values = reading?.values as PumpReading;
      expect(values).toEqual(payload);
      expect(faultCode(values)).toBe(stored);
    });

    it('decodes a device status, including the Last Will {"online":false}', () => {
      const status = decode('boreholes/khabou/status', { ts: MEASURED_AT_MS, online: true, fw: '1.4.2', rssi_dbm: -71, battery_v: 12.6 });
      expect(status.readings).toEqual([
        {
          boreholeId: 'khabou',
          kind: 'status',
          tsMs: MEASURED_AT_MS,
          values: { ts: MEASURED_AT_MS, online: true, fw: '1.4.2', rssi_dbm: -71, battery_v: 12.6 },
        },
      ]);
      const will = decode('boreholes/khabou/status', Buffer.from('{"online":false}'));
      expect(will.readings).toEqual([{ boreholeId: 'khabou', kind: 'status', tsMs: RECEIVED_AT_MS, values: { online: false } }]);
    });
  });

  describe('batches', () => {
    it('keeps the valid readings of a batch and rejects only the invalid one, by index', () => {
      const result = decode('boreholes/khabou/flow', [
        { ts: MEASURED_AT_MS, rate_lpm: 10 },
        { ts: MEASURED_AT_MS + MINUTE_MS, rate_lpm: -3 },
        { ts: MEASURED_AT_MS + 2 * MINUTE_MS, rate_lpm: 11 },
      ]);
      expect(result.readings.map((r) => [r.tsMs, r.values])).toEqual([
        [MEASURED_AT_MS, { ts: MEASURED_AT_MS, rate_lpm: 10 }],
        [MEASURED_AT_MS + 2 * MINUTE_MS, { ts: MEASURED_AT_MS + 2 * MINUTE_MS, rate_lpm: 11 }],
      ]);
      expect(result.rejections.map((r) => [r.reason, r.index])).toEqual([['invalid_reading', 1]]);
      expect(result.rejections[0]?.detail).toContain('rate_lpm');
    });

    it('rejects only the reading of a batch that is in the future, by index', () => {
      const result = decode('boreholes/khabou/level', [
        { ts: MEASURED_AT_MS, depth_m: 30 },
        { ts: RECEIVED_AT_MS + 60 * MINUTE_MS, depth_m: 30 },
      ]);
      expect(result.readings.map((r) => r.tsMs)).toEqual([MEASURED_AT_MS]);
      expect(result.rejections.map((r) => [r.reason, r.index])).toEqual([['future_ts', 1]]);
    });

    it(`accepts a batch of ${MAX_BATCH_READINGS} readings and refuses one of ${MAX_BATCH_READINGS + 1}`, () => {
      const batch = (count: number) =>
        Array.from({ length: count }, (_, i) => ({ ts: MEASURED_AT_MS - i * 1000, rate_lpm: 12 }));
      const full = decode('boreholes/khabou/flow', batch(MAX_BATCH_READINGS));
      expect(full.rejections).toEqual([]);
      expect(full.readings).toHaveLength(MAX_BATCH_READINGS);
      expect(rejectedAs(decode('boreholes/khabou/flow', batch(MAX_BATCH_READINGS + 1)))).toBe('batch_too_large');
    });

    it('rejects an empty batch', () => {
      expect(rejectedAs(decode('boreholes/khabou/flow', []))).toBe('empty_batch');
    });

    it('refuses a status sent as an array', () => {
      expect(rejectedAs(decode('boreholes/khabou/status', [{ online: true }]))).toBe('invalid_reading');
    });
  });

  describe('rejections', () => {
    it.each([
      ['a topic one level too deep', 'boreholes/khabou/flow/extra'],
      ['another topic root', 'other/khabou/flow'],
      ['an id in capitals', 'boreholes/KHABOU/flow'],
      ['an unknown kind', 'boreholes/khabou/temperature'],
      ['a topic without a kind', 'boreholes/khabou'],
    ])('rejects %s as bad_topic', (_case, topic) => {
      const result = decode(topic, { ts: MEASURED_AT_MS, rate_lpm: 12.5 });
      expect(rejectedAs(result)).toBe('bad_topic');
    });

    it('rejects a borehole that is not in the registry', () => {
      const result = decode('boreholes/segala/flow', { ts: MEASURED_AT_MS, rate_lpm: 12.5 });
      expect(rejectedAs(result)).toBe('unknown_borehole');
      expect(result.rejections[0]?.detail).toContain('segala');
    });

    it('accepts a payload of exactly 256 KiB and rejects one byte more as oversize', () => {
      const padded = (bytes: number): Buffer => {
        const head = `{"ts":${MEASURED_AT_MS},"rate_lpm":12.5,"pad":"`;
        const tail = '"}';
        return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail, 'utf8');
      };
      const atLimit = padded(MAX_PAYLOAD_BYTES);
      expect(atLimit.length).toBe(256 * 1024);
      expect(decode('boreholes/khabou/flow', atLimit).readings).toHaveLength(1);
      expect(rejectedAs(decode('boreholes/khabou/flow', padded(MAX_PAYLOAD_BYTES + 1)))).toBe('oversize');
    });

    it.each([
      ['truncated JSON', '{"ts": 1770288120000, "rate_lpm": 12'],
      ['plain text', 'rate=12.5'],
      ['an empty payload', ''],
    ])('rejects %s as bad_json', (_case, text) => {
      expect(rejectedAs(decode('boreholes/khabou/flow', Buffer.from(text, 'utf8')))).toBe('bad_json');
    });

    it.each([
      ['a negative flow rate', 'boreholes/khabou/flow', { ts: MEASURED_AT_MS, rate_lpm: -1 }],
      ['a flow rate sent as a string', 'boreholes/khabou/flow', { ts: MEASURED_AT_MS, rate_lpm: '12.5' }],
      ['a flow reading without rate_lpm', 'boreholes/khabou/flow', { ts: MEASURED_AT_MS, total_m3: 1834.2 }],
      ['a pump reading without running', 'boreholes/khabou/pump', { ts: MEASURED_AT_MS, current_a: 4.2 }],
      ['running sent as 1', 'boreholes/khabou/pump', { ts: MEASURED_AT_MS, running: 1 }],
      ['a negative depth', 'boreholes/khabou/level', { ts: MEASURED_AT_MS, depth_m: -2 }],
      ['a status without online', 'boreholes/khabou/status', { ts: MEASURED_AT_MS, fw: '1.4.2' }],
      ['a JSON null', 'boreholes/khabou/flow', null],
      ['a negative seq', 'boreholes/khabou/flow', { ts: MEASURED_AT_MS, seq: -1, rate_lpm: 1 }],
    ])('rejects %s as invalid_reading, saying which field', (_case, topic, payload) => {
      const result = decode(topic, payload);
      expect(rejectedAs(result)).toBe('invalid_reading');
      expect(result.rejections[0]?.detail).not.toBe('');
    });

    it('names the offending field in the detail of an invalid reading', () => {
      const result = decode('boreholes/khabou/pump', { ts: MEASURED_AT_MS, running: 'yes' });
      expect(result.rejections[0]?.detail).toContain('running');
    });
  });
});
