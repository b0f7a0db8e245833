/**
 * What the telemetry unit on a borehole does, without the network: reads the sensors every
 * interval, stamps the readings (ts, seq), keeps them in a bounded store-and-forward buffer while
 * it cannot send, and turns them into the messages of CONTRACT.md section 1, single readings when
 * live or arrays of at most 1,000 when catching up. It also plays the device-side scenario events
 * (offline, clock_skew, duplicate_messages, malformed_messages). No I/O and no clock: the runner
 * passes the time and says whether the link is up.
 */
import {
  MAX_BATCH_READINGS,
  type DeviceStatus,
  type WirePayloadByKind,
  type WireTimestamp,
} from '../src/contract/payloads.js';
import { READING_KINDS, type ReadingKind, type TopicKind } from '../src/contract/topics.js';
import { formatDuration, HOUR_MS } from './clock.js';
import {
  boreholeParams,
  initialState,
  localHour,
  solarPower,
  step,
  unitHash,
  type BoreholeParams,
  type ModelBorehole,
  type ModelReadings,
  type ModelState,
} from './model.js';
import type { TimedEvent } from './scenarios.js';
import { deviceTime, measureOffsetMs, reconnectDelayMs, type DeviceClock, type ResolvedTiming } from './timing.js';

/** Both forms of CONTRACT.md section 1 occur in the field; each simulated device uses one. */
export type TsFormat = 'rfc3339' | 'epoch_ms';

/** What a garbled message looks like: each one the service must reject, for its own reason. */
export const MALFORMED_KINDS = [
  'bad_json',
  'not_json',
  'wrong_type',
  'negative_value',
  'missing_field',
  'unset_clock',
  'empty_batch',
  'batch_too_large',
] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

export interface OutgoingMessage {
  kind: TopicKind;
  payload: string;
  /** Readings it carries (0 for a malformed message). */
  readings: number;
  batch: boolean;
  /** Set on a message that is wrong on purpose (malformed_messages scenario). */
  malformed: MalformedKind | null;
  /** True instant the (newest) reading was measured: a live message cannot leave before it. */
  measuredAtMs?: number;
}

/** Field timing of one device (firmware-sim/timing.ts); without it every topic is read on the interval. */
export interface FirmwareTiming {
  timing: ResolvedTiming;
  clock: DeviceClock;
}

export interface FirmwareOptions {
  borehole: ModelBorehole;
  seed: number;
  startAtMs: number;
  intervalMs: number;
  /** Scenario events of any borehole: the firmware keeps those about its own. */
  events?: readonly TimedEvent[];
  tsFormat: TsFormat;
  /** Store-and-forward capacity per topic; the oldest readings go first when it is full. */
  maxHeldPerKind?: number;
  warmUpMs?: number;
  fieldTiming?: FirmwareTiming;
}

export interface LinkState {
  /** The transport is connected (and not cut by a scenario outage). */
  transportUp: boolean;
  /** Real time: send each reading as it comes. Otherwise (backfill) send full batches only. */
  live: boolean;
}

export interface TickResult {
  messages: OutgoingMessage[];
  /** Scenario events applied and what changed, for progress output. */
  notes: string[];
  /** A scenario outage keeps the device off the network. */
  outage: boolean;
  readings: ModelReadings;
}

/** A week of readings at the default one-minute interval. */
export const DEFAULT_MAX_HELD_PER_KIND = 7 * 24 * 60;

const FIRMWARE_VERSION: Record<TsFormat, string> = { rfc3339: 'bh-telemetry 2.3.1', epoch_ms: 'bh-telemetry 1.9.4' };

type HeldReadings = { [K in ReadingKind]: WirePayloadByKind[K][] };

/** The first reporting instant after `atMs`: readings fall on whole intervals (10:42:00Z). */
export function nextTickAfter(atMs: number, intervalMs: number): number {
  return Math.floor(atMs / intervalMs) * intervalMs + intervalMs;
}

export function describeEvent(event: TimedEvent): string {
  const span = 'for' in event && event.for !== undefined ? `for ${formatDuration(event.for)}` : 'until repaired';
  const text = ((): string => {
    switch (event.type) {
      case 'dry_run':
        return 'dry_run: the water table falls to the pump intake';
      case 'pump_failure':
        return `pump_failure: the pump runs but lifts no water, ${span}`;
      case 'pipe_leak':
        return `pipe_leak: ${Math.round(event.lost_fraction * 100)}% of the pumped water lost, ${span}`;
      case 'sensor_stuck':
        return `sensor_stuck: the ${event.sensor} sensor repeats one value, ${span}`;
      case 'short_cycling':
        return `short_cycling: the float switch chatters, the pump restarts every 7 minutes, ${span}`;
      case 'repair':
        return 'repair: a technician fixes the pump, fault cleared';
      case 'offline':
        return `offline: GPRS lost for ${formatDuration(event.for)}, readings held`;
      case 'clock_skew':
        return `clock_skew: the device clock is ${formatDuration(Math.abs(event.offset))} ${event.offset > 0 ? 'ahead' : 'behind'}${event.for === undefined ? '' : ` for ${formatDuration(event.for)}`}`;
      case 'duplicate_messages':
        return `duplicate_messages: every reading sent twice for ${formatDuration(event.for)}`;
      case 'malformed_messages':
        return `malformed_messages: one message in three garbled for ${formatDuration(event.for)}`;
      case 'sms':
        return `sms from ${event.from}: "${event.text}"`;
    }
  })();
  return event.note ? `${text} (${event.note})` : text;
}

export class Firmware {
  readonly id: string;
  readonly params: BoreholeParams;
  readonly tsFormat: TsFormat;
  readonly fw: string;
  /** Readings lost because the store-and-forward buffer was full. */
  dropped = 0;
  private state: ModelState;
  private readonly events: TimedEvent[];
  private nextEvent = 0;
  private readonly held: HeldReadings = { flow: [], pump: [], level: [] };
  private heldRaw: OutgoingMessage[] = [];
  private outageUntilMs: number | null = null;
  private skew: { offsetMs: number; untilMs: number | null } | null = null;
  private duplicateUntilMs: number | null = null;
  private malformedUntilMs: number | null = null;
  private malformedCount = 0;
  private readonly intervalMs: number;
  private readonly maxHeldPerKind: number;
  private readonly fieldTiming: FirmwareTiming | undefined;
  private readonly startAtMs: number;

  constructor(options: FirmwareOptions) {
    this.id = options.borehole.id;
    this.params = boreholeParams(options.borehole, options.seed);
    this.tsFormat = options.tsFormat;
    this.fw = FIRMWARE_VERSION[options.tsFormat];
    this.intervalMs = options.intervalMs;
    this.maxHeldPerKind = options.maxHeldPerKind ?? DEFAULT_MAX_HELD_PER_KIND;
    this.fieldTiming = options.fieldTiming;
    this.startAtMs = options.startAtMs;
    this.events = (options.events ?? []).filter((event) => event.borehole === this.id);
    this.state = initialState(this.params, options.startAtMs, options.warmUpMs);
  }

  get model(): ModelState {
    return this.state;
  }

  get lastTickAtMs(): number {
    return this.state.atMs;
  }

  /** A scenario outage keeps the device off the network. */
  get offline(): boolean {
    return this.outageUntilMs !== null;
  }

  get heldReadings(): number {
    return this.held.flow.length + this.held.pump.length + this.held.level.length + this.heldRaw.length;
  }

  /** The retained status a device publishes when it connects. */
  status(atMs: number): DeviceStatus {
    const base = -72 - 30 * unitHash(this.params.seed, this.id, 'rssi');
    const hour = Math.floor(atMs / HOUR_MS);
    const rssi = Math.round(base + 6 * (unitHash(this.params.seed, this.id, 'rssi', hour) - 0.5));
    // A 12 V battery charged by the panels: fuller in the afternoon, lowest before dawn.
    const charge = Math.min(1, solarPower(this.params, atMs) + (localHour(atMs) > 12 && localHour(atMs) < 20 ? 0.6 : 0));
    const batteryV = Math.round((12.2 + 1.1 * charge) * 100) / 100;
    return { online: true, fw: this.fw, rssi_dbm: rssi, battery_v: batteryV };
  }

  /** Reads the sensors at `atMs` (a whole interval after the last tick) and says what to send. */
  tick(atMs: number, link: LinkState): TickResult {
    const notes: string[] = [];
    const due: TimedEvent[] = [];
    while (this.nextEvent < this.events.length && (this.events[this.nextEvent]?.atMs ?? Infinity) <= atMs) {
      const event = this.events[this.nextEvent] as TimedEvent;
      this.nextEvent += 1;
      due.push(event);
      notes.push(describeEvent(event));
      this.applyDeviceEvent(event);
    }
    const wasFault = this.state.fault;
    const result = step(this.state, atMs - this.state.atMs, atMs, due);
    this.state = result.state;
    notes.push(...result.notes);
    if (wasFault !== null && this.state.fault === null) notes.push(`${wasFault} fault cleared, the pump may run again`);

    let outageEnded = false;
    if (this.outageUntilMs !== null && atMs >= this.outageUntilMs) {
      this.outageUntilMs = null;
      outageEnded = true;
      notes.push(`offline over: back on the network with ${this.heldReadings} readings held`);
    }
    if (this.skew && this.skew.untilMs !== null && atMs >= this.skew.untilMs) {
      this.skew = null;
      notes.push('clock_skew over: the device clock is set right');
    }
    if (this.duplicateUntilMs !== null && atMs >= this.duplicateUntilMs) this.duplicateUntilMs = null;
    if (this.malformedUntilMs !== null && atMs >= this.malformedUntilMs) this.malformedUntilMs = null;

    const outage = this.outageUntilMs !== null;
    const fresh = this.stamp(result.readings);
    const linkUp = link.transportUp && !outage;
    let messages: OutgoingMessage[];
    if (!linkUp) {
      this.hold(fresh);
      messages = [];
    } else if (link.live) {
      if (this.heldReadings > 0) {
        this.hold(fresh);
        messages = this.flush();
      } else {
        messages = fresh.map((item) => ('raw' in item ? item.raw : { ...single(item.kind, item.reading), measuredAtMs: item.measuredAtMs }));
      }
    } else {
      this.hold(fresh);
      messages = outageEnded ? this.flush() : this.flushFull();
    }
    return { messages, notes, outage, readings: result.readings };
  }

  /** Everything held, as batches of at most 1,000 readings per topic, oldest first. */
  flush(): OutgoingMessage[] {
    const messages: OutgoingMessage[] = [];
    for (const kind of READING_KINDS) {
      const readings: unknown[] = this.held[kind];
      for (let from = 0; from < readings.length; from += MAX_BATCH_READINGS) {
        messages.push(batch(kind, readings.slice(from, from + MAX_BATCH_READINGS)));
      }
    }
    this.held.flow = [];
    this.held.pump = [];
    this.held.level = [];
    messages.push(...this.heldRaw);
    this.heldRaw = [];
    return messages;
  }

  /** Full batches only: while backfilling, the rest waits to fill the next one. */
  private flushFull(): OutgoingMessage[] {
    const messages: OutgoingMessage[] = [...this.heldRaw];
    this.heldRaw = [];
    for (const kind of READING_KINDS) {
      const readings: unknown[] = this.held[kind];
      while (readings.length >= MAX_BATCH_READINGS) messages.push(batch(kind, readings.splice(0, MAX_BATCH_READINGS)));
    }
    return messages;
  }

  private applyDeviceEvent(event: TimedEvent): void {
    switch (event.type) {
      case 'offline': {
        // Under field timing the modem comes back on its own schedule, not the instant the network does.
        const endsAtMs = event.atMs + event.for;
        const lateMs = this.fieldTiming ? reconnectDelayMs(this.fieldTiming.timing, this.id, endsAtMs) : 0;
        this.outageUntilMs = endsAtMs + lateMs;
        return;
      }
      case 'clock_skew':
        this.skew = { offsetMs: event.offset, untilMs: event.for === undefined ? null : event.atMs + event.for };
        return;
      case 'duplicate_messages':
        this.duplicateUntilMs = event.atMs + event.for;
        return;
      case 'malformed_messages':
        this.malformedUntilMs = event.atMs + event.for;
        return;
      default:
        return;
    }
  }

  /** The three readings of one tick as the wire carries them, with the device's faults applied. */
  private stamp(readings: ModelReadings): Stamped[] {
    // seq follows from the instant, so it increases across restarts and a gap means a lost reading.
    const seqBase = Math.floor(readings.atMs / this.intervalMs) * READING_KINDS.length;
    const measuredAt = (kind: ReadingKind): number =>
      readings.atMs + (this.fieldTiming ? measureOffsetMs(this.fieldTiming.timing, this.id, kind, readings.atMs) : 0);
    const stampOf = (kind: ReadingKind): { ts?: WireTimestamp; seq: number } => {
      const seq = seqBase + READING_KINDS.indexOf(kind);
      const clockMs = this.fieldTiming ? deviceTime(this.fieldTiming.clock, measuredAt(kind), this.startAtMs) : measuredAt(kind);
      // A device without a clock sends no ts at all (CONTRACT.md section 1): the service uses its receive time.
      if (clockMs === null) return { seq };
      const tsMs = clockMs + (this.skew?.offsetMs ?? 0);
      return { ts: this.tsFormat === 'rfc3339' ? new Date(tsMs).toISOString() : tsMs, seq };
    };
    const measured: Stamped[] = [
      { kind: 'flow', measuredAtMs: measuredAt('flow'), reading: { ...stampOf('flow'), ...readings.flow } },
      { kind: 'pump', measuredAtMs: measuredAt('pump'), reading: { ...stampOf('pump'), ...readings.pump } },
      { kind: 'level', measuredAtMs: measuredAt('level'), reading: { ...stampOf('level'), ...readings.level } },
    ];
    // Sent as measured: in the order the device read its sensors this cycle.
    const stamped = this.fieldTiming ? [...measured].sort((a, b) => measuredAtOf(a) - measuredAtOf(b)) : measured;
    if (this.malformedUntilMs !== null) {
      const index = this.malformedCount % stamped.length;
      const kind = MALFORMED_KINDS[this.malformedCount % MALFORMED_KINDS.length] ?? 'bad_json';
      this.malformedCount += 1;
      const victim = stamped[index] as ReadingItem;
      stamped[index] = { raw: { ...malformed(victim.kind, victim.reading, kind), measuredAtMs: victim.measuredAtMs } };
    }
    if (this.duplicateUntilMs !== null) return stamped.flatMap((item) => [item, item]);
    return stamped;
  }

  private hold(items: readonly Stamped[]): void {
    for (const item of items) {
      if ('raw' in item) {
        this.heldRaw.push(item.raw);
        continue;
      }
      const queue: unknown[] = this.held[item.kind];
      if (queue.length >= this.maxHeldPerKind) {
        queue.shift();
        this.dropped += 1;
      }
      queue.push(item.reading);
    }
  }
}

type ReadingItem = { [K in ReadingKind]: { kind: K; reading: WirePayloadByKind[K]; measuredAtMs: number } }[ReadingKind];
type Stamped = ReadingItem | { raw: OutgoingMessage };

const measuredAtOf = (item: Stamped): number => ('raw' in item ? (item.raw.measuredAtMs ?? 0) : item.measuredAtMs);

function single(kind: ReadingKind, reading: unknown): OutgoingMessage {
  return { kind, payload: JSON.stringify(reading), readings: 1, batch: false, malformed: null };
}

function batch(kind: ReadingKind, readings: readonly unknown[]): OutgoingMessage {
  return { kind, payload: JSON.stringify(readings), readings: readings.length, batch: true, malformed: null };
}

const REQUIRED_FIELD: Record<ReadingKind, string> = { flow: 'rate_lpm', pump: 'running', level: 'depth_m' };
const NUMBER_FIELD: Record<ReadingKind, string> = { flow: 'rate_lpm', pump: 'current_a', level: 'depth_m' };

/** A message the service must reject, built from the reading it replaces. */
export function malformed(kind: ReadingKind, reading: WirePayloadByKind[ReadingKind], how: MalformedKind): OutgoingMessage {
  const fields = reading as Record<string, unknown>;
  const json = JSON.stringify(reading);
  const payload = ((): string => {
    switch (how) {
      case 'bad_json':
        return json.slice(0, Math.floor(json.length / 2));
      case 'not_json':
        return `${REQUIRED_FIELD[kind]}=${String(fields[REQUIRED_FIELD[kind]])}`;
      case 'wrong_type':
        return JSON.stringify({ ...fields, [REQUIRED_FIELD[kind]]: String(fields[REQUIRED_FIELD[kind]]) });
      case 'negative_value':
        return JSON.stringify({ ...fields, [NUMBER_FIELD[kind]]: -1 - Math.abs(Number(fields[NUMBER_FIELD[kind]] ?? 0)) });
      case 'missing_field': {
        const { [REQUIRED_FIELD[kind]]: _dropped, ...rest } = fields;
        return JSON.stringify(rest);
      }
      case 'unset_clock':
        // A clock that lost its time in a power cut counts from 1970.
        return JSON.stringify({ ...fields, ts: typeof fields.ts === 'number' ? 0 : new Date(0).toISOString() });
      case 'empty_batch':
        return '[]';
      case 'batch_too_large':
        return JSON.stringify(Array.from({ length: MAX_BATCH_READINGS + 1 }, () => fields));
    }
  })();
  return { kind, payload, readings: 0, batch: false, malformed: how };
}
