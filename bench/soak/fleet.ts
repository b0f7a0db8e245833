/**
 * The soak's devices: every borehole of the registry runs the simulator's physical model
 * (firmware-sim/model.ts) and reads its sensors every `intervalMs`, so that the fleet as a whole
 * sends `rate` readings a second. Like the firmware, a device holds its readings while it cannot
 * send them (its link is down in the plan, the broker is restarting, or too many messages are
 * unacknowledged) and then sends what it holds as one JSON array per topic (at most 1,000
 * readings); otherwise it sends single readings. Everything is QoS 1.
 *
 * It keeps the fate of every reading: the (borehole, topic, ts) it generated, and which of them the
 * broker acknowledged. The soak compares that with what InfluxDB holds at the end.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { BoreholeEntry } from '../../src/config/registry.js';
import { MAX_BATCH_READINGS } from '../../src/contract/payloads.js';
import { topicFor, type ReadingKind } from '../../src/contract/topics.js';
import { boreholeParams, initialState, step, type ModelReadings, type ModelState } from '../../firmware-sim/model.js';
import type { TimedEvent } from '../../firmware-sim/scenarios.js';
import type { Backlog, OfflineWindow, PlannedFault } from './plan.js';

export const KINDS = ['flow', 'pump', 'level'] as const satisfies readonly ReadingKind[];

/** One (borehole, topic): every ts generated, and those the broker acknowledged. */
export interface Series {
  borehole: string;
  kind: ReadingKind;
  generated: number[];
  acked: number[];
}

interface Held {
  series: Series;
  ts: number;
  body: Record<string, unknown>;
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
}

interface Connection {
  client: MqttClient;
  inFlight: number;
}

export interface FleetOptions {
  url: string;
  topicRoot: string;
  registry: readonly Pick<BoreholeEntry, 'id' | 'pump'>[];
  /** Readings per second from the whole fleet. */
  rate: number;
  seed: number;
  connections: number;
  /** Unacknowledged messages per connection before devices hold their readings. */
  windowPerConnection: number;
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
}

const TICK_MS = 20;
const BACKLOG_INTERVAL_MS = 60_000;

export class Fleet {
  readonly intervalMs: number;
  readonly series: Series[] = [];
  private readonly devices: Device[];
  private readonly connections: Connection[];
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
    this.connections = clients.map((client) => ({ client, inFlight: 0 }));
    // Three readings per step, so each device steps every 3 × devices / rate seconds; the phases
    // spread the fleet evenly over that interval.
    const count = options.registry.length;
    this.intervalMs = Math.round((3 * count * 1000) / options.rate);
    const faultById = new Map(options.faults.map((fault) => [fault.borehole, fault]));
    const offlineById = new Map<string, OfflineWindow[]>();
    for (const window of options.offline) offlineById.set(window.borehole, [...(offlineById.get(window.borehole) ?? []), window]);
    const backlogById = new Map(options.backlogs.map((backlog) => [backlog.borehole, backlog]));
    for (const backlog of options.backlogs) offlineById.set(backlog.borehole, [...(offlineById.get(backlog.borehole) ?? []), { borehole: backlog.borehole, fromMs: -Infinity, untilMs: backlog.untilMs }]);
    this.devices = options.registry.map((borehole, index): Device => {
      const params = boreholeParams(borehole, options.seed + index);
      const series = Object.fromEntries(
        KINDS.map((kind) => {
          const one: Series = { borehole: borehole.id, kind, generated: [], acked: [] };
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
        offline: (offlineById.get(borehole.id) ?? []).map((window) => ({ ...window, fromMs: options.startAtMs + window.fromMs, untilMs: options.startAtMs + window.untilMs })),
        fault: faultById.get(borehole.id),
        frozenTotalM3: undefined,
      };
    });
    for (const device of this.devices) {
      const backlog = backlogById.get(device.id);
      if (!backlog) continue;
      for (let atMs = device.nextAtMs - backlog.hours * 3_600_000; atMs < device.nextAtMs - BACKLOG_INTERVAL_MS / 2; atMs += BACKLOG_INTERVAL_MS) this.readDevice(device, atMs);
    }
  }

  static async start(options: FleetOptions, log: (line: string) => void): Promise<Fleet> {
    const unique = `${process.pid}-${Date.now().toString(36)}`;
    const clients = await Promise.all(
      Array.from({ length: options.connections }, (_, index) =>
        mqtt.connectAsync(options.url, { clientId: `soak-${unique}-${index}`, clean: true, protocolVersion: 4, reconnectPeriod: 1000, connectTimeout: 5000 }),
      ),
    );
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
    };
  }

  /** Stops reading sensors, sends everything held and waits for the acknowledgements. */
  async finish(timeoutMs: number): Promise<boolean> {
    this.generating = false;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { held, inFlight } = this.stats();
      if (held === 0 && inFlight === 0) break;
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    clearInterval(this.timer);
    const { held, inFlight } = this.stats();
    await Promise.all(this.connections.map((connection) => connection.client.endAsync(true)));
    return held === 0 && inFlight === 0;
  }

  private tick(): void {
    const nowMs = Date.now();
    if (this.generating) this.readSensors(nowMs);
    this.send(nowMs);
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
    const ts = device.epochTs ? atMs : new Date(atMs).toISOString();
    for (const kind of KINDS) {
      const series = device.series[kind];
      series.generated.push(atMs);
      device.held[kind].push({ series, ts: atMs, body: { ts, ...readings[kind] } });
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
    return !device.offline.some((window) => nowMs >= window.fromMs && nowMs < window.untilMs);
  }

  private send(nowMs: number): void {
    for (const device of this.ready) {
      const { connection } = device;
      if (connection.inFlight >= this.options.windowPerConnection || !this.linkUp(device, nowMs)) continue;
      for (const kind of KINDS) {
        const held = device.held[kind];
        while (held.length > 0 && connection.inFlight < this.options.windowPerConnection) this.publish(device, kind, held.splice(0, MAX_BATCH_READINGS));
      }
      if (KINDS.every((kind) => device.held[kind].length === 0)) this.ready.delete(device);
    }
  }

  private publish(device: Device, kind: ReadingKind, readings: Held[]): void {
    const { connection } = device;
    const single = readings.length === 1;
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
        this.ready.add(device);
        return;
      }
      for (const reading of readings) reading.series.acked.push(reading.ts);
    });
  }
}
