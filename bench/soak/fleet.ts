/**
 * The soak's devices: every borehole of the registry runs the simulator's physical model
 * (firmware-sim/model.ts) and reads its sensors every `intervalMs`, so that the fleet as a whole
 * sends `rate` readings a second. Like the firmware, a device holds its readings while it cannot
 * send them (its link is down in the plan, the broker is restarting, or too many messages are
 * unacknowledged) and then sends what it holds as one JSON array per topic (at most 1,000
 * readings); otherwise it sends single readings. Everything is QoS 1.
 *
 * With field timing (issue 13, `fieldTiming: true`) the devices behave as firmware-sim/timing.ts
 * says the field does, and as the simulator's firmware applies it: each topic measured and
 * stamped on its own, seconds apart; each message on the air 0.2–5 s, so topics arrive out of
 * timestamp order; a store-and-forward flush topic by topic, seconds to a minute apart; device
 * clocks synchronised, drifting by minutes, or absent (no `ts`); after a link outage the modem
 * comes back up to 5 minutes late. Every device then has its own MQTT connection, as in the field,
 * retrying every 1–10 s (its own period, as in firmware-sim/runner.ts); mqtt.js keeps each QoS 1
 * message that got no PUBACK and sends it again on the device's reconnect. With the embedded
 * broker that is the only buffer across a service restart.
 *
 * It keeps the fate of every reading: the (borehole, topic, ts) it generated, and which of them the
 * broker acknowledged (PUBACK). The soak compares that with what InfluxDB holds at the end. A
 * reading without `ts` is stamped by the service, so for those the fleet keeps the values instead
 * (`valueKey`), and the verifier matches them by count and value per series.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { BoreholeEntry } from '../../src/config/registry.js';
import { MAX_BATCH_READINGS } from '../../src/contract/payloads.js';
import { topicFor, type ReadingKind } from '../../src/contract/topics.js';
import { boreholeParams, initialState, step, unitHash, type ModelReadings, type ModelState } from '../../firmware-sim/model.js';
import type { TimedEvent } from '../../firmware-sim/scenarios.js';
import {
  deviceClocks,
  deviceTime,
  DeliveryQueue,
  latencyMs,
  measureOffsetMs,
  planFlush,
  reconnectDelayMs,
  resolveTiming,
  type DeviceClock,
  type ResolvedTiming,
} from '../../firmware-sim/timing.js';
import type { Backlog, OfflineWindow, PlannedFault } from './plan.js';

export const KINDS = ['flow', 'pump', 'level'] as const satisfies readonly ReadingKind[];

/**
 * One (borehole, topic): every reading generated, and those the broker acknowledged. A reading is
 * its `ts` (ms), or, on a device without a clock, its index into `values`.
 */
export interface Series {
  borehole: string;
  kind: ReadingKind;
  /** The device sends no `ts`: the service stamps the readings, so they are matched by value. */
  clockless: boolean;
  generated: number[];
  acked: number[];
  /** Clockless series only: each reading's values, as `valueKey` makes them. */
  values: string[];
  /** Clockless series only: when each of `acked` was acknowledged (to tell a loss from a same-instant arrival). */
  ackedAtMs: number[];
}

/** The fields the service stores for a reading, in a fixed order; the verifier reads the same back. */
export const VALUE_FIELDS = { flow: ['rate_lpm', 'total_m3'], pump: ['running', 'current_a', 'voltage_v'], level: ['depth_m'] } as const satisfies Record<(typeof KINDS)[number], readonly string[]>;

/** A reading's stored values as one string (booleans as InfluxDB holds them, 1 and 0). */
export function valueKey(kind: (typeof KINDS)[number], values: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(VALUE_FIELDS[kind].map((field) => {
    const value = values[field];
    return typeof value === 'boolean' ? Number(value) : (value ?? null);
  }));
}

interface Held {
  series: Series;
  /** The `ts`, or the index into `series.values`. */
  id: number;
  body: Record<string, unknown>;
  /** When the device measured it (field timing): it cannot go on the air before. */
  measuredAtMs: number;
}

/** A message on its way to the broker (field timing). */
interface OnTheAir {
  device: Device;
  kind: ReadingKind;
  readings: Held[];
  single: boolean;
}

interface Device {
  id: string;
  index: number;
  state: ModelState;
  nextAtMs: number;
  epochTs: boolean;
  connection: Connection;
  held: Record<ReadingKind, Held[]>;
  series: Record<ReadingKind, Series>;
  offline: OfflineWindow[];
  fault: PlannedFault | undefined;
  frozenTotalM3: number | undefined;
  clock: DeviceClock;
  /** It could not send what it read (link down, window full): the next send is a store-and-forward flush. */
  backlog: boolean;
  /** Last PUBACK, and the longest time between two outside its scripted silences. */
  lastAckAtMs: number | undefined;
  longestAckGapMs: number;
}

interface Connection {
  client: MqttClient;
  inFlight: number;
  window: number;
}

export interface FleetOptions {
  url: string;
  topicRoot: string;
  registry: readonly Pick<BoreholeEntry, 'id' | 'pump'>[];
  /** Readings per second from the whole fleet. */
  rate: number;
  seed: number;
  /** Shared connections in the lab's timing; with field timing every device has its own. */
  connections: number;
  /** Unacknowledged messages per shared connection before devices hold their readings. */
  windowPerConnection: number;
  /** firmware-sim/timing.ts's field timing, or the lab's (every topic stamped on the interval, sent at once). */
  fieldTiming: boolean;
  startAtMs: number;
  faults: readonly PlannedFault[];
  offline: readonly OfflineWindow[];
  backlogs: readonly Backlog[];
}

export interface FleetStats {
  generated: number;
  acked: number;
  held: number;
  inFlight: number;
  singleMessages: number;
  batchMessages: number;
  batchReadings: number;
  largestBatch: number;
  /** Publishes that failed on the client (the readings were held and sent again). */
  publishErrors: number;
  connected: number;
  connections: number;
  /** Messages on the air (field timing). */
  onTheAir: number;
  clocks: { synced: number; drifting: number; clockless: number };
}

const TICK_MS = 20;
const BACKLOG_INTERVAL_MS = 60_000;
/** Unacknowledged messages a device keeps on its own connection before it holds its readings. */
const WINDOW_PER_DEVICE = 20;
/** Connections opened at once at the start. */
const CONNECT_CONCURRENCY = 200;

export class Fleet {
  readonly intervalMs: number;
  readonly series: Series[] = [];
  private readonly devices: Device[];
  private readonly byId: Map<string, Device>;
  private readonly connections: Connection[];
  private readonly timing: ResolvedTiming | null;
  private readonly onTheAir = new DeliveryQueue<OnTheAir>();
  private onTheAirCount = 0;
  private readonly ready = new Set<Device>();
  private cursor = 0;
  private generating = true;
  private timer: NodeJS.Timeout | undefined;
  private singleMessages = 0;
  private batchMessages = 0;
  private batchReadings = 0;
  private largestBatch = 0;
  private publishErrors = 0;

  private constructor(
    private readonly options: FleetOptions,
    clients: MqttClient[],
  ) {
    const perDevice = clients.length === options.registry.length && options.fieldTiming;
    this.connections = clients.map((client) => ({ client, inFlight: 0, window: perDevice ? WINDOW_PER_DEVICE : options.windowPerConnection }));
    const count = options.registry.length;
    this.intervalMs = intervalFor(count, options.rate);
    this.timing = options.fieldTiming ? resolveTiming({}, options.seed, this.intervalMs) : null;
    // A borehole with a planned fault keeps a synchronised clock, so that its alert is due when
    // the plan says (as firmware-sim/runner.ts does for scripted boreholes).
    const faulty = new Set(options.faults.map((fault) => fault.borehole));
    const ids = options.registry.map((borehole) => borehole.id);
    const clocks = this.timing ? deviceClocks(ids, this.timing, (id) => !faulty.has(id)) : new Map<string, DeviceClock>();
    const faultById = new Map(options.faults.map((fault) => [fault.borehole, fault]));
    const offlineById = new Map<string, OfflineWindow[]>();
    for (const window of options.offline) offlineById.set(window.borehole, [...(offlineById.get(window.borehole) ?? []), window]);
    const backlogById = new Map(options.backlogs.map((backlog) => [backlog.borehole, backlog]));
    for (const backlog of options.backlogs) offlineById.set(backlog.borehole, [...(offlineById.get(backlog.borehole) ?? []), { borehole: backlog.borehole, fromMs: -Infinity, untilMs: backlog.untilMs }]);
    this.devices = options.registry.map((borehole, index): Device => {
      const params = boreholeParams(borehole, options.seed + index);
      const clock: DeviceClock = clocks.get(borehole.id) ?? { kind: 'synced', offsetMs: 0 };
      const series = Object.fromEntries(
        KINDS.map((kind) => {
          const one: Series = { borehole: borehole.id, kind, clockless: clock.kind === 'none', generated: [], acked: [], values: [], ackedAtMs: [] };
          this.series.push(one);
          return [kind, one];
        }),
      ) as Record<ReadingKind, Series>;
      const firstAtMs = options.startAtMs + Math.floor((index * this.intervalMs) / count);
      const backlog = backlogById.get(borehole.id);
      const historyFromMs = backlog ? firstAtMs - backlog.hours * 3_600_000 : firstAtMs;
      return {
        id: borehole.id,
        index,
        // No warm-up day: 5,000 of them would take a minute before the first reading.
        state: initialState(params, historyFromMs - this.intervalMs, 0),
        nextAtMs: firstAtMs,
        epochTs: index % 2 === 1,
        connection: this.connections[index % this.connections.length] as Connection,
        held: { flow: [], pump: [], level: [] },
        series,
        // Under field timing the modem comes back on its own schedule after an outage, not the
        // instant the network does (firmware-sim/firmware.ts does the same).
        offline: (offlineById.get(borehole.id) ?? []).map((window) => ({
          ...window,
          fromMs: options.startAtMs + window.fromMs,
          untilMs: options.startAtMs + window.untilMs + (this.timing ? reconnectDelayMs(this.timing, borehole.id, window.untilMs) : 0),
        })),
        fault: faultById.get(borehole.id),
        frozenTotalM3: undefined,
        clock,
        backlog: backlogById.has(borehole.id),
        lastAckAtMs: undefined,
        longestAckGapMs: 0,
      };
    });
    this.byId = new Map(this.devices.map((device) => [device.id, device]));
    for (const device of this.devices) {
      const backlog = backlogById.get(device.id);
      if (!backlog) continue;
      for (let atMs = device.nextAtMs - backlog.hours * 3_600_000; atMs < device.nextAtMs - BACKLOG_INTERVAL_MS / 2; atMs += BACKLOG_INTERVAL_MS) this.readDevice(device, atMs);
    }
  }

  static async start(options: FleetOptions, log: (line: string) => void): Promise<Fleet> {
    const unique = `${process.pid}-${Date.now().toString(36)}`;
    // Field timing: a connection per device, retrying on its own period (1 to 10 s), so that after
    // a restart the devices come back spread out, not in one second.
    const names = options.fieldTiming
      ? options.registry.map((borehole) => ({ clientId: `soak-${unique}-${borehole.id}`, reconnectPeriod: Math.round(1000 + 9000 * unitHash(options.seed, borehole.id, 'reconnect-period')) }))
      : Array.from({ length: options.connections }, (_, index) => ({ clientId: `soak-${unique}-${index}`, reconnectPeriod: 1000 }));
    const clients: MqttClient[] = [];
    for (let from = 0; from < names.length; from += CONNECT_CONCURRENCY) {
      clients.push(
        ...(await Promise.all(
          names.slice(from, from + CONNECT_CONCURRENCY).map(({ clientId, reconnectPeriod }) =>
            mqtt.connectAsync(options.url, { clientId, clean: true, protocolVersion: 4, reconnectPeriod, connectTimeout: 5000 }),
          ),
        )),
      );
    }
    let lastError = '';
    for (const client of clients) {
      // Without a listener an 'error' event (a refused reconnect while the broker restarts) would throw.
      client.on('error', (error) => {
        if (error.message !== lastError) log(`fleet: mqtt error: ${error.message}`);
        lastError = error.message;
      });
    }
    const fleet = new Fleet({ ...options, faults: options.faults.map((fault) => ({ ...fault, atMs: options.startAtMs + fault.atMs })) }, clients);
    fleet.timer = setInterval(() => fleet.tick(), TICK_MS);
    return fleet;
  }

  stats(): FleetStats {
    let generated = 0;
    let acked = 0;
    for (const one of this.series) {
      generated += one.generated.length;
      acked += one.acked.length;
    }
    let held = 0;
    for (const device of this.ready) for (const kind of KINDS) held += device.held[kind].length;
    const clocks = { synced: 0, drifting: 0, clockless: 0 };
    for (const device of this.devices) clocks[device.clock.kind === 'none' ? 'clockless' : device.clock.kind] += 1;
    return {
      generated,
      acked,
      held,
      inFlight: this.connections.reduce((sum, connection) => sum + connection.inFlight, 0),
      singleMessages: this.singleMessages,
      batchMessages: this.batchMessages,
      batchReadings: this.batchReadings,
      largestBatch: this.largestBatch,
      publishErrors: this.publishErrors,
      connected: this.connections.filter((connection) => connection.client.connected).length,
      connections: this.connections.length,
      onTheAir: this.onTheAirCount,
      clocks,
    };
  }

  /** When the device's last PUBACK came: after it, a device is silent for good (the run is over). */
  lastAckAtMs(borehole: string): number | undefined {
    return this.byId.get(borehole)?.lastAckAtMs;
  }

  /**
   * Devices that went longer than `limitMs` between two PUBACKs although the plan never silenced
   * them (no link outage, no backlog): with the embedded broker, the time the service did not hear
   * them because of its own restarts.
   */
  silences(limitMs: number): { over: number; longestMs: number } {
    let over = 0;
    let longestMs = 0;
    for (const device of this.devices) {
      if (device.offline.length > 0) continue;
      longestMs = Math.max(longestMs, device.longestAckGapMs);
      if (device.longestAckGapMs > limitMs) over += 1;
    }
    return { over, longestMs };
  }

  /** Stops reading sensors, sends everything held and waits for the acknowledgements. */
  async finish(timeoutMs: number): Promise<boolean> {
    this.generating = false;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { held, inFlight, onTheAir } = this.stats();
      if (held === 0 && inFlight === 0 && onTheAir === 0) break;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clearInterval(this.timer);
    const { held, inFlight, onTheAir } = this.stats();
    await Promise.all(this.connections.map((connection) => connection.client.endAsync(true)));
    return held === 0 && inFlight === 0 && onTheAir === 0;
  }

  private tick(): void {
    const nowMs = Date.now();
    if (this.generating) this.readSensors(nowMs);
    this.send(nowMs);
    this.release(nowMs);
  }

  /** Devices are in phase order and share one interval, so the next due device is at the cursor. */
  private readSensors(nowMs: number): void {
    for (;;) {
      const device = this.devices[this.cursor] as Device;
      if (device.nextAtMs > nowMs) return;
      this.readDevice(device, device.nextAtMs);
      device.nextAtMs += this.intervalMs;
      this.cursor = (this.cursor + 1) % this.devices.length;
    }
  }

  private readDevice(device: Device, atMs: number): void {
    const fault = device.fault;
    const events: TimedEvent[] =
      fault?.kind === 'dry_run' && fault.atMs > device.state.atMs && fault.atMs <= atMs ? [{ type: 'dry_run', borehole: device.id, at: 0, atMs: fault.atMs }] : [];
    const result = step(device.state, atMs - device.state.atMs, atMs, events);
    device.state = result.state;
    const readings = this.injectFault(device, result.readings, atMs);
    const { timing } = this;
    for (const kind of KINDS) {
      const series = device.series[kind];
      const measuredAtMs = atMs + (timing ? measureOffsetMs(timing, device.id, kind, atMs) : 0);
      // What the device's clock said when it measured; no clock, no `ts` (CONTRACT.md section 1).
      const stampMs = timing ? deviceTime(device.clock, measuredAtMs, this.options.startAtMs) : measuredAtMs;
      let id: number;
      let body: Record<string, unknown>;
      if (stampMs === null) {
        id = series.values.length;
        series.values.push(valueKey(kind, readings[kind]));
        body = { ...readings[kind] };
      } else {
        id = stampMs;
        body = { ts: device.epochTs ? stampMs : new Date(stampMs).toISOString(), ...readings[kind] };
      }
      series.generated.push(id);
      device.held[kind].push({ series, id, body, measuredAtMs });
    }
    this.ready.add(device);
  }

  /** The faults the model has no event for are drawn over its readings from their start on. */
  private injectFault(device: Device, readings: ModelReadings, atMs: number): ModelReadings {
    const fault = device.fault;
    if (!fault || fault.kind === 'dry_run' || atMs < fault.atMs) return readings;
    device.frozenTotalM3 ??= readings.flow.total_m3;
    const flow = { rate_lpm: 0, total_m3: device.frozenTotalM3 };
    if (fault.kind === 'overload') {
      // The controller tripped: motor off, fault code latched.
      return { ...readings, flow, pump: { running: false, current_a: 0, voltage_v: readings.pump.voltage_v, fault: 'overload' } };
    }
    // A broken coupling: the motor turns unloaded at about a third of its rated current.
    const current = Math.round(device.state.params.ratedCurrentA * 35) / 100;
    return { ...readings, flow, pump: { running: true, current_a: current, voltage_v: 240, fault: null } };
  }

  private linkUp(device: Device, nowMs: number): boolean {
    if (!device.connection.client.connected) return false;
    // Once publishing ends every device is back (a late modem's reconnect may fall after the end).
    if (!this.generating) return true;
    return !device.offline.some((window) => nowMs >= window.fromMs && nowMs < window.untilMs);
  }

  private send(nowMs: number): void {
    for (const device of this.ready) {
      const { connection } = device;
      if (connection.inFlight >= connection.window || !this.linkUp(device, nowMs)) {
        device.backlog = true;
        continue;
      }
      if (this.timing) {
        this.transmit(device, this.timing, nowMs);
        this.ready.delete(device);
        continue;
      }
      for (const kind of KINDS) {
        const held = device.held[kind];
        while (held.length > 0 && connection.inFlight < connection.window) {
          const readings = held.splice(0, MAX_BATCH_READINGS);
          this.publish(device, kind, readings, readings.length === 1);
        }
      }
      if (KINDS.every((kind) => device.held[kind].length === 0)) {
        this.ready.delete(device);
        device.backlog = false;
      }
    }
  }

  /**
   * Field timing: what a device sends goes on the air (firmware-sim/runner.ts `transmit`). A device
   * that kept up sends each reading alone from when it measured it; one that held readings sends
   * them as a store-and-forward flush, batches of at most 1,000 per topic, topic after topic.
   */
  private transmit(device: Device, timing: ResolvedTiming, nowMs: number): void {
    const onTheAir = (message: OnTheAir, arrivesAtMs: number) => {
      this.onTheAir.push({ boreholeId: device.id, topic: message.kind, message, arrivesAtMs });
      this.onTheAirCount += 1;
      device.connection.inFlight += 1;
    };
    if (!device.backlog) {
      let index = 0;
      for (const kind of KINDS) {
        for (const reading of device.held[kind].splice(0)) {
          const sentAtMs = Math.max(nowMs, reading.measuredAtMs);
          onTheAir({ device, kind, readings: [reading], single: true }, sentAtMs + latencyMs(timing, device.id, kind, sentAtMs, index));
          index += 1;
        }
      }
      return;
    }
    device.backlog = false;
    const batches: { topic: string; message: OnTheAir }[] = [];
    for (const kind of KINDS) {
      const held = device.held[kind].splice(0);
      for (let from = 0; from < held.length; from += MAX_BATCH_READINGS) batches.push({ topic: kind, message: { device, kind, readings: held.slice(from, from + MAX_BATCH_READINGS), single: false } });
    }
    for (const delivery of planFlush(timing, device.id, batches, nowMs)) onTheAir(delivery.message, delivery.arrivesAtMs);
  }

  /** Publishes what has reached the broker by `nowMs` (field timing), in order of arrival. */
  private release(nowMs: number): void {
    if (this.onTheAir.size === 0 || this.onTheAir.nextAtMs() > nowMs) return;
    for (const { message } of this.onTheAir.take(nowMs)) {
      this.onTheAirCount -= 1;
      message.device.connection.inFlight -= 1;
      this.publish(message.device, message.kind, message.readings, message.single);
    }
  }

  private publish(device: Device, kind: ReadingKind, readings: Held[], single: boolean): void {
    const { connection } = device;
    const payload = JSON.stringify(single ? (readings[0] as Held).body : readings.map((reading) => reading.body));
    if (single) this.singleMessages += 1;
    else {
      this.batchMessages += 1;
      this.batchReadings += readings.length;
      this.largestBatch = Math.max(this.largestBatch, readings.length);
    }
    connection.inFlight += 1;
    connection.client.publish(topicFor(this.options.topicRoot, device.id, kind), payload, { qos: 1 }, (error) => {
      connection.inFlight -= 1;
      if (error) {
        // The device keeps what it could not send, in order, and sends it again.
        this.publishErrors += 1;
        device.held[kind].unshift(...readings);
        device.backlog = true;
        this.ready.add(device);
        return;
      }
      const nowMs = Date.now();
      for (const reading of readings) {
        reading.series.acked.push(reading.id);
        if (reading.series.clockless) reading.series.ackedAtMs.push(nowMs);
      }
      if (device.lastAckAtMs !== undefined) device.longestAckGapMs = Math.max(device.longestAckGapMs, nowMs - device.lastAckAtMs);
      device.lastAckAtMs = nowMs;
    });
  }
}

/** Three readings per step, so each device steps every 3 × devices / rate seconds. */
export function intervalFor(boreholes: number, rate: number): number {
  return Math.round((3 * boreholes * 1000) / rate);
}
