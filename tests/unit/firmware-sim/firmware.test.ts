/**
 * The device firmware without a network: what it would publish, checked against the service's own
 * wire schemas and decoder, so the simulator and the service can never drift apart.
 */
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_READINGS, MAX_PAYLOAD_BYTES, payloadSchemas } from '../../../src/contract/payloads.js';
import type { ReadingKind } from '../../../src/contract/topics.js';
import { decodeMessage } from '../../../src/ingest/decode.js';
import { Firmware, MALFORMED_KINDS, nextTickAfter, type LinkState, type OutgoingMessage, type TsFormat } from '../../../firmware-sim/firmware.js';
import { DAY, events, exampleBorehole, HOUR } from '../../../firmware-sim/test-helpers.js';

const START = Date.UTC(2026, 1, 2, 0, 0, 30);
const MINUTE = 60_000;

interface Sent {
  atMs: number;
  message: OutgoingMessage;
}

interface WireItem {
  ts?: string | number;
  seq?: number;
  [field: string]: unknown;
}

function run(options: { id?: string; yaml?: string; durationMs: number; link?: (atMs: number) => LinkState; tsFormat?: TsFormat; seed?: number; maxHeldPerKind?: number }): { firmware: Firmware; sent: Sent[] } {
  const id = options.id ?? 'khabou';
  const firmware = new Firmware({
    borehole: exampleBorehole(id),
    seed: options.seed ?? 42,
    startAtMs: START,
    intervalMs: MINUTE,
    events: options.yaml ? events(options.yaml, START) : [],
    tsFormat: options.tsFormat ?? 'rfc3339',
    ...(options.maxHeldPerKind === undefined ? {} : { maxHeldPerKind: options.maxHeldPerKind }),
  });
  const sent: Sent[] = [];
  const link = options.link ?? (() => ({ live: true, transportUp: true }));
  for (let atMs = nextTickAfter(START, MINUTE); atMs <= START + options.durationMs; atMs += MINUTE) {
    for (const message of firmware.tick(atMs, link(atMs)).messages) sent.push({ atMs, message });
  }
  for (const message of firmware.flush()) sent.push({ atMs: START + options.durationMs, message });
  return { firmware, sent };
}

function items(message: OutgoingMessage): WireItem[] {
  const body = JSON.parse(message.payload) as unknown;
  return (Array.isArray(body) ? body : [body]) as WireItem[];
}

const tsMs = (item: WireItem): number => (typeof item.ts === 'number' ? item.ts : Date.parse(item.ts ?? ''));

/** Every event type but malformed_messages, on one borehole, in one week. */
const EVERYTHING = `events:
  - { at: 12h, borehole: khabou, type: duplicate_messages, for: 1h }
  - { at: 1d, borehole: khabou, type: sensor_stuck, sensor: flow, for: 6h }
  - { at: 1d12h, borehole: khabou, type: offline, for: 5h }
  - { at: 2d, borehole: khabou, type: pipe_leak }
  - { at: 2d10h, borehole: khabou, type: short_cycling, for: 3h }
  - { at: 3d, borehole: khabou, type: repair }
  - { at: 3d1h, borehole: khabou, type: pump_failure, for: 1d }
  - { at: 4d10h, borehole: khabou, type: dry_run }
  - { at: 5d, borehole: khabou, type: clock_skew, offset: -3m, for: 1h }
  - { at: 5d2h, borehole: khabou, type: repair }
  - { at: 6d, borehole: khabou, type: sensor_stuck, sensor: current, value: 0 }`;

describe('what the firmware publishes', () => {
  it.each([
    ['rfc3339', true],
    ['epoch_ms', false],
  ] as const)('passes the service wire schemas, every reading of a week of every fault (ts as %s, live: %s)', (tsFormat, live) => {
    const { sent } = run({ yaml: EVERYTHING, durationMs: 7 * DAY, tsFormat, link: () => ({ live, transportUp: true }) });
    const problems: string[] = [];
    let readings = 0;
    for (const { message } of sent) {
      if (Buffer.byteLength(message.payload) > MAX_PAYLOAD_BYTES) problems.push(`${message.kind}: ${message.payload.length} bytes`);
      if (message.batch && message.readings > MAX_BATCH_READINGS) problems.push(`${message.kind}: batch of ${message.readings}`);
      if (!live && !message.batch) problems.push(`${message.kind}: a single reading while backfilling`);
      for (const item of items(message)) {
        readings += 1;
        const checked = payloadSchemas[message.kind as ReadingKind].safeParse(item);
        if (!checked.success) problems.push(`${message.kind} ${JSON.stringify(item)}: ${checked.error.message}`);
        if (tsFormat === 'epoch_ms' ? typeof item.ts !== 'number' : typeof item.ts !== 'string') problems.push(`ts ${String(item.ts)} is not ${tsFormat}`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    // 3 readings a minute for a week, plus the duplicated hour.
    expect(readings).toBe(3 * 7 * 24 * 60 + 3 * 60);
  });

  it('sends live readings one per message and backfilled history as full batches of 1,000, oldest first', () => {
    const live = run({ durationMs: 2 * HOUR });
    expect(live.sent.every(({ message }) => !message.batch && message.readings === 1)).toBe(true);
    const backfill = run({ durationMs: 2 * DAY, link: () => ({ live: false, transportUp: true }) });
    const flows = backfill.sent.filter(({ message }) => message.kind === 'flow');
    expect(flows.map(({ message }) => message.readings)).toEqual([1000, 1000, 880]);
    const ts = flows.flatMap(({ message }) => items(message).map(tsMs));
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(new Set(ts).size).toBe(2 * 24 * 60);
  });

  it('stamps readings on whole minutes with a seq that increases by one per reading', () => {
    const { sent } = run({ durationMs: 3 * HOUR });
    const all = sent.flatMap(({ message }) => items(message));
    expect(all.every((item) => tsMs(item) % MINUTE === 0)).toBe(true);
    const seqs = all.map((item) => item.seq ?? -1);
    expect(seqs.slice(1).every((seq, index) => seq === (seqs[index] ?? 0) + 1)).toBe(true);
  });

  it('never stamps a reading later than the moment it is read, except under clock_skew', () => {
    const yaml = 'events: [{ at: 10h, borehole: khabou, type: clock_skew, offset: 2h, for: 3h }]';
    const { sent } = run({ yaml, durationMs: DAY });
    const skewFrom = START + 10 * HOUR;
    const ahead = sent.flatMap(({ atMs, message }) => items(message).filter((item) => tsMs(item) > atMs).map((item) => ({ atMs, ts: tsMs(item) })));
    expect(ahead.length).toBe(3 * 3 * 60);
    expect(ahead.every(({ atMs, ts }) => atMs >= skewFrom && atMs < skewFrom + 3 * HOUR && ts === atMs + 2 * HOUR)).toBe(true);
  });

  it('sends each reading twice under duplicate_messages, with the same ts and seq', () => {
    const { sent } = run({ yaml: 'events: [{ at: 2h, borehole: khabou, type: duplicate_messages, for: 30m }]', durationMs: 4 * HOUR });
    const payloads = sent.map(({ message }) => message.payload);
    const twice = payloads.filter((payload, index) => payloads.indexOf(payload) !== index);
    expect(twice).toHaveLength(3 * 30);
  });
});

describe('store and forward', () => {
  const yaml = 'events: [{ at: 10h, borehole: marena, type: offline, for: 6h }]';
  const outageFrom = START + 10 * HOUR;
  const outageTo = outageFrom + 6 * HOUR;

  it('holds every reading of an outage and sends them in batches, in ts order, with nothing missing', () => {
    const { sent, firmware } = run({ id: 'marena', yaml, durationMs: DAY });
    expect(sent.filter(({ atMs }) => atMs >= outageFrom && atMs < outageTo)).toEqual([]);
    const batches = sent.filter(({ message }) => message.batch);
    expect(batches.length).toBeGreaterThanOrEqual(3);
    expect(batches.every(({ atMs }) => atMs === nextTickAfter(outageTo - 1, MINUTE))).toBe(true);
    for (const kind of ['flow', 'pump', 'level'] as const) {
      const held = batches.filter(({ message }) => message.kind === kind).flatMap(({ message }) => items(message));
      const ts = held.map(tsMs);
      expect(ts).toEqual([...ts].sort((a, b) => a - b));
      expect(ts[0]).toBe(nextTickAfter(outageFrom - 1, MINUTE));
      expect(ts.length).toBe(6 * 60 + 1);
    }
    const seqs = sent.flatMap(({ message }) => items(message).map((item) => item.seq ?? -1)).sort((a, b) => a - b);
    expect(seqs.slice(1).every((seq, index) => seq === (seqs[index] ?? 0) + 1)).toBe(true);
    expect(firmware.dropped).toBe(0);
  });

  it('holds while the transport is down even without a scenario, and catches up when it is back', () => {
    const { sent } = run({ durationMs: 3 * HOUR, link: (atMs) => ({ live: true, transportUp: atMs < START + HOUR || atMs > START + 2 * HOUR }) });
    const ts = sent.flatMap(({ message }) => items(message).filter(() => message.kind === 'level').map(tsMs));
    expect(new Set(ts).size).toBe(3 * 60);
  });

  it('keeps at most its capacity and drops the oldest readings first', () => {
    const { sent, firmware } = run({ id: 'marena', yaml, durationMs: DAY, maxHeldPerKind: 100 });
    expect(firmware.dropped).toBe(3 * (6 * 60 + 1 - 100));
    const held = sent.filter(({ message }) => message.batch && message.kind === 'level').flatMap(({ message }) => items(message).map(tsMs));
    expect(held).toHaveLength(100);
    expect(held.at(-1)).toBe(nextTickAfter(outageTo - 1, MINUTE));
  });
});

describe('malformed_messages', () => {
  it('garbles messages in every way on the list, and the service rejects each whole', () => {
    const yaml = 'events: [{ at: 2h, borehole: kouniakary, type: malformed_messages, for: 30m }]';
    const { sent } = run({ id: 'kouniakary', yaml, durationMs: 4 * HOUR });
    const garbled = sent.filter(({ message }) => message.malformed !== null);
    expect(garbled).toHaveLength(30);
    expect(new Set(garbled.map(({ message }) => message.malformed))).toEqual(new Set(MALFORMED_KINDS));
    const context = { topicRoot: 'boreholes', isKnownBorehole: (id: string) => id === 'kouniakary' };
    for (const { atMs, message } of sent) {
      const decoded = decodeMessage(`boreholes/kouniakary/${message.kind}`, Buffer.from(message.payload), atMs, context);
      if (message.malformed) {
        expect(decoded.readings, message.malformed).toEqual([]);
        expect(decoded.rejections.length, message.malformed).toBeGreaterThan(0);
      } else {
        expect(decoded.rejections).toEqual([]);
      }
    }
  });
});

describe('determinism', () => {
  it('publishes the same messages for the same seed, and different ones for another seed', () => {
    const payloads = (seed: number): string[] => run({ yaml: EVERYTHING, durationMs: DAY, seed }).sent.map(({ message }) => message.payload);
    expect(payloads(42)).toEqual(payloads(42));
    expect(payloads(7)).not.toEqual(payloads(42));
  });
});
