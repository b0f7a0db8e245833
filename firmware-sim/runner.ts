/**
 * Runs a fleet of simulated devices against a broker. The run can start in the past: it then
 * goes `speed` times faster than the wall clock (or as fast as the broker takes it, `max`) until
 * it reaches now, and carries on in real time. Simulated time never passes the wall clock, so no
 * device ever reports a moment that has not happened yet (clock_skew aside, on purpose).
 *
 * At `max` speed the history goes out the way a device coming back online sends it: arrays of up
 * to 1,000 readings per topic, which is what keeps a week of five boreholes under a minute. At a
 * finite speed, and in real time, each reading is its own message.
 */
import { ConfigError } from '../src/config/errors.js';
import type { Registry } from '../src/config/registry.js';
import type { DeviceStatus } from '../src/contract/payloads.js';
import { DEFAULT_TOPIC_ROOT, topicFor } from '../src/contract/topics.js';
import { formatDuration, formatInstant, MINUTE_MS, simulatedNow, systemClock, wallDelayUntil, type Clock, type Speed } from './clock.js';
import { deviceClientId, MqttDeviceTransport } from './device.js';
import { Firmware, nextTickAfter, type MalformedKind, type OutgoingMessage, type TsFormat } from './firmware.js';
import { parseSender, People, resolveSender, type PeopleOptions, type SmsStepEvent } from './people.js';
import { isSmsEvent, normalLife, scenarioBoreholes, scheduleEvents, type Scenario, type TimedEvent, type TimedSmsEvent } from './scenarios.js';
import { deviceClocks, DeliveryQueue, latencyMs, planFlush, resolveTiming, type DeviceClock, type FieldTimingOptions, type ResolvedTiming } from './timing.js';
import { unitHash } from './model.js';

/** The network port of a device, as small as the runner needs it. */
export interface DeviceTransport {
  readonly connected: boolean;
  onConnect(listener: () => void): void;
  connect(): Promise<void>;
  /** Resolves when the broker acknowledges the message. */
  publish(topic: string, payload: string, retain: boolean): Promise<void>;
  /** Loses the network without a goodbye: the broker publishes the will. */
  cut(): Promise<void>;
  /** Leaves cleanly: no will. */
  close(): Promise<void>;
}

export interface TransportRequest {
  boreholeId: string;
  clientId: string;
  statusTopic: string;
  /** How long the device waits between attempts to reach a broker that went away. */
  reconnectPeriodMs: number;
}

export type TransportFactory = (request: TransportRequest) => DeviceTransport;

export interface PublishedMessage {
  boreholeId: string;
  topic: string;
  payload: string;
  retain: boolean;
  readings: number;
  batch: boolean;
  malformed: MalformedKind | null;
  /** Wall-clock time of the publication. */
  publishedAtMs: number;
}

export interface SimulationOptions {
  registry: Registry;
  /** Default: normal life at every borehole of the registry. */
  scenario?: Scenario;
  /** Required unless `transport` is given. */
  brokerUrl?: string;
  topicRoot?: string;
  /** Default: now. */
  startAtMs?: number;
  /** Default: `max`. */
  speed?: Speed;
  seed?: number;
  /** Reporting interval. Default: the scenario's, else one minute. */
  intervalMs?: number;
  /** Simulated instant at which the run ends by itself. Default: it runs until `stop()`. */
  untilMs?: number;
  clock?: Clock;
  clientIdPrefix?: string;
  /** Broker password per borehole id, the username being the id (firmware-sim/credentials.ts). */
  credentials?: ReadonlyMap<string, string>;
  transport?: TransportFactory;
  onProgress?: (line: string) => void;
  /** Each message once the broker has acknowledged it. */
  onPublish?: (message: PublishedMessage) => void;
  /** Wall time between progress lines while catching up (real time: every 10 simulated minutes at most). */
  progressEveryMs?: number;
  /**
   * GPRS timing (firmware-sim/timing.ts, docs/simulator.md "Field timing"): on by default; `false`
   * for the lab's timing, every topic stamped on the interval and sent at once, in topic order.
   */
  fieldTiming?: FieldTimingOptions | false;
  /**
   * The service the scenario's people (its `sms` steps) write to, and with which tokens
   * (firmware-sim/people.ts). Without it those steps are reported and not sent.
   */
  people?: PeopleOptions;
  /** Each `sms` step as it is sent and answered (or given up). */
  onSms?: (event: SmsStepEvent) => void;
}

export type SimulationPhase = 'connecting' | 'catching up' | 'real time' | 'stopping' | 'stopped';

export interface SimulationStats {
  phase: SimulationPhase;
  simulatedAtMs: number;
  /** Messages and readings the broker acknowledged. */
  messages: number;
  readings: number;
  failedMessages: number;
  heldReadings: number;
  droppedReadings: number;
  elapsedMs: number;
  boreholes: Record<string, { running: boolean; fault: string | null; online: boolean }>;
  /** The scenario's `sms` steps: answered 2xx, answered otherwise, not sent (given up, no service, or due while catching up). */
  sms: { accepted: number; refused: number; notSent: number };
}

export interface SimulationHandle {
  readonly boreholes: readonly string[];
  readonly startAtMs: number;
  /** Resolves once the simulation has reached the wall clock (or its end, if that comes first). */
  readonly caughtUp: Promise<void>;
  /** Resolves when the run is over (its end reached, or stopped) and every device has left cleanly. */
  readonly done: Promise<SimulationStats>;
  stats(): SimulationStats;
  /** Stops, sends what is held, waits for acknowledgements, and disconnects cleanly (no will). */
  stop(): Promise<SimulationStats>;
}

const DEFAULT_INTERVAL_MS = MINUTE_MS;
/** Unacknowledged messages and bytes: enough to keep the broker busy, bounded for memory. */
const MAX_IN_FLIGHT = 2000;
const MAX_IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/** mqtt.js's retry period without field timing; with it, each device retries every 1 to 10 s. */
const RECONNECT_PERIOD_MS = 1000;
/** While backfilling, let timers and signals in every this many ticks. */
const TICKS_PER_YIELD = 60;
const DRAIN_TIMEOUT_MS = 10_000;

interface Device {
  id: string;
  firmware: Firmware;
  transport: DeviceTransport;
  /** A scenario outage cut the connection. */
  cut: boolean;
  inFlight: number;
  clock: DeviceClock | null;
}

interface OnTheAir {
  device: Device;
  message: OutgoingMessage;
}

const count = (value: number): string => value.toLocaleString('en-US');

class Simulation implements SimulationHandle {
  readonly boreholes: readonly string[];
  readonly startAtMs: number;
  readonly caughtUp: Promise<void>;
  readonly done: Promise<SimulationStats>;
  private resolveCaughtUp!: () => void;
  private resolveDone!: (stats: SimulationStats) => void;
  private rejectDone!: (error: unknown) => void;
  private readonly aborted: Promise<void>;
  private running: Promise<void> | null = null;
  private readonly devices: Device[];
  private readonly clock: Clock;
  private readonly speed: Speed;
  private readonly intervalMs: number;
  private readonly untilMs: number;
  private readonly topicRoot: string;
  private readonly progress: (line: string) => void;
  private readonly abort = new AbortController();
  private phase: SimulationPhase = 'connecting';
  private simulatedAtMs: number;
  private wallStartMs = 0;
  private messages = 0;
  private readings = 0;
  private failedMessages = 0;
  private inFlight = 0;
  private inFlightBytes = 0;
  private waiters: { ready: () => boolean; resolve: () => void }[] = [];
  private lastProgressAtMs = 0;
  private readonly timing: ResolvedTiming | null;
  /** Messages sent by the devices and not yet at the broker (field timing only). */
  private readonly onTheAir = new DeliveryQueue<OnTheAir>();
  /** The scenario's `sms` steps, in time order, and the next one due. */
  private readonly smsSteps: TimedSmsEvent[];
  private nextSms = 0;
  private readonly people: People | null;
  private readonly smsCounts = { accepted: 0, refused: 0, notSent: 0 };
  /** Simulated time has reached the clock: from here on the run is live. */
  private caughtUpWithClock = false;

  constructor(private readonly options: SimulationOptions) {
    const scenario = options.scenario ?? normalLife();
    this.clock = options.clock ?? systemClock;
    this.speed = options.speed ?? 'max';
    this.topicRoot = options.topicRoot ?? DEFAULT_TOPIC_ROOT;
    this.intervalMs = options.intervalMs ?? scenario.interval ?? DEFAULT_INTERVAL_MS;
    this.startAtMs = options.startAtMs ?? this.clock.now();
    this.untilMs = options.untilMs ?? Infinity;
    this.simulatedAtMs = this.startAtMs;
    this.progress = options.onProgress ?? (() => undefined);
    this.boreholes = scenarioBoreholes(scenario, options.registry);
    const scheduled = scheduleEvents(scenario.events, this.startAtMs);
    // What people say goes to the service, not through a device.
    const events: TimedEvent[] = scheduled.filter((event) => !isSmsEvent(event));
    this.smsSteps = scheduled.filter(isSmsEvent);
    this.checkSenders(scenario);
    this.people = options.people
      ? new People(options.registry, options.people, {
          progress: (line) => this.progress(`[${formatInstant(this.simulatedAtMs)}] ${line}`),
          onSms: (event) => this.countSms(event),
        })
      : null;
    const makeTransport = options.transport ?? this.mqttTransport();
    const seed = options.seed ?? 1;
    this.timing = options.fieldTiming === false ? null : resolveTiming(options.fieldTiming ?? {}, seed, this.intervalMs);
    // A borehole with scripted events keeps a synchronised clock: the scenario times its faults
    // (and scripts its clock errors with clock_skew); the others may drift or have no clock.
    const scripted = new Set(scenario.events.map((event) => event.borehole));
    const clocks = this.timing ? deviceClocks(this.boreholes, this.timing, (id) => !scripted.has(id)) : new Map<string, DeviceClock>();
    this.devices = this.boreholes.map((id, index) => {
      const borehole = options.registry.boreholes.get(id);
      if (!borehole) throw new Error(`borehole ${id} vanished from the registry`);
      // Both timestamp forms of the contract are in use in the field: alternate them.
      const tsFormat: TsFormat = index % 2 === 0 ? 'rfc3339' : 'epoch_ms';
      const statusTopic = topicFor(this.topicRoot, id, 'status');
      const clientId = deviceClientId(id, this.topicRoot, options.clientIdPrefix);
      const clock = clocks.get(id) ?? null;
      const fieldTiming = this.timing && clock ? { timing: this.timing, clock } : undefined;
      // After a broker outage the devices come back on their own schedules, not all in one second.
      const reconnectPeriodMs = this.timing ? Math.round(1000 + 9000 * unitHash(seed, id, 'reconnect-period')) : RECONNECT_PERIOD_MS;
      return {
        id,
        firmware: new Firmware({ borehole, seed, startAtMs: this.startAtMs, intervalMs: this.intervalMs, events, tsFormat, ...(fieldTiming ? { fieldTiming } : {}) }),
        transport: makeTransport({ boreholeId: id, clientId, statusTopic, reconnectPeriodMs }),
        cut: false,
        inFlight: 0,
        clock,
      };
    });
    this.caughtUp = new Promise<void>((resolve) => {
      this.resolveCaughtUp = resolve;
    });
    this.done = new Promise<SimulationStats>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A caller that only awaits startSimulation() must not see an unhandled rejection here.
    this.done.catch(() => undefined);
    this.aborted = new Promise<void>((resolve) => this.abort.signal.addEventListener('abort', () => resolve(), { once: true }));
  }

  async start(): Promise<void> {
    try {
      await this.connectAll();
    } catch (error) {
      await Promise.all(this.devices.map((device) => device.transport.close()));
      this.phase = 'stopped';
      this.rejectDone(error);
      throw error;
    }
    this.running = this.run().then(
      () => this.resolveDone(this.stats()),
      (error: unknown) => this.rejectDone(error),
    );
  }

  stats(): SimulationStats {
    const boreholes: SimulationStats['boreholes'] = {};
    for (const device of this.devices) {
      const model = device.firmware.model;
      boreholes[device.id] = { running: model.running, fault: model.fault, online: device.transport.connected && !device.cut };
    }
    return {
      phase: this.phase,
      simulatedAtMs: this.simulatedAtMs,
      messages: this.messages,
      readings: this.readings,
      failedMessages: this.failedMessages,
      heldReadings: this.devices.reduce((sum, device) => sum + device.firmware.heldReadings, 0),
      droppedReadings: this.devices.reduce((sum, device) => sum + device.firmware.dropped, 0),
      elapsedMs: this.wallStartMs === 0 ? 0 : this.clock.now() - this.wallStartMs,
      boreholes,
      sms: { ...this.smsCounts },
    };
  }

  async stop(): Promise<SimulationStats> {
    if (this.phase !== 'stopped') this.phase = 'stopping';
    this.people?.stop();
    this.abort.abort();
    if (this.running) await this.running;
    return this.stats();
  }

  private mqttTransport(): TransportFactory {
    const url = this.options.brokerUrl;
    if (url === undefined) throw new Error('startSimulation needs a brokerUrl (or a transport)');
    const { credentials } = this.options;
    return ({ boreholeId, clientId, statusTopic, reconnectPeriodMs }) => {
      const password = credentials?.get(boreholeId);
      return new MqttDeviceTransport({ url, clientId, willTopic: statusTopic, reconnectPeriodMs, ...(password === undefined ? {} : { username: boreholeId, password }) });
    };
  }

  private async connectAll(): Promise<void> {
    for (const device of this.devices) {
      // Every connection, the first and each after an outage, announces the device.
      device.transport.onConnect(() => this.publishStatus(device));
    }
    const waiting = setTimeout(() => this.progress(`waiting for the MQTT broker ${this.options.brokerUrl ?? ''}…`), 3000);
    try {
      await Promise.all(this.devices.map((device) => device.transport.connect()));
    } finally {
      clearTimeout(waiting);
    }
    this.wallStartMs = this.clock.now();
    this.lastProgressAtMs = this.wallStartMs;
    const speed = this.speed === 'max' ? 'max speed' : `${this.speed}× real time`;
    const catchUp = this.startAtMs < this.wallStartMs - this.intervalMs ? `, catching up from ${formatInstant(this.startAtMs)} at ${speed}` : '';
    this.progress(`${this.devices.length} devices connected (${this.boreholes.join(', ')}), reporting every ${formatDuration(this.intervalMs)}${catchUp}`);
  }

  private publishStatus(device: Device): void {
    const status: DeviceStatus = device.firmware.status(this.clock.now());
    this.send(device, { kind: 'status', payload: JSON.stringify(status), readings: 0, batch: false, malformed: null }, true);
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    this.phase = 'catching up';
    let live = this.speed !== 'max';
    let reachedNow = false;
    let nextTickAtMs = nextTickAfter(this.startAtMs, this.intervalMs);
    let ticksSinceYield = 0;
    while (!signal.aborted && nextTickAtMs <= this.untilMs) {
      const wallNowMs = this.clock.now();
      const simNowMs = this.speed === 'max' ? wallNowMs : simulatedNow(this.startAtMs, this.wallStartMs, this.speed, wallNowMs);
      // What has reached the broker by now, or by the next tick when that comes first.
      this.release(Math.min(simNowMs, nextTickAtMs));
      if (nextTickAtMs <= simNowMs) {
        await this.tickAll(nextTickAtMs, live);
        this.simulatedAtMs = nextTickAtMs;
        // After the tick: a repair and the technician's REPARE at the same instant go in that order.
        this.playSms(nextTickAtMs);
        nextTickAtMs += this.intervalMs;
        ticksSinceYield += 1;
        if (ticksSinceYield >= TICKS_PER_YIELD) {
          ticksSinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        this.maybeReportProgress(reachedNow);
        continue;
      }
      if (!reachedNow && simNowMs >= wallNowMs) {
        reachedNow = true;
        this.caughtUpWithClock = true;
        if (!live) {
          this.flushAll();
          live = true;
        }
        // Catching up is the simulator's shortcut, not an outage: what is on the air arrives now, in order.
        this.release();
        // For honest counts in the line below; a stop does not wait for a broker that went away.
        await Promise.race([this.drained(), this.aborted]);
        this.phase = 'real time';
        const stats = this.stats();
        this.progress(
          `caught up with real time in ${(stats.elapsedMs / 1000).toFixed(1)} s: ${count(stats.readings)} readings in ${count(stats.messages)} messages; reporting every ${formatDuration(this.intervalMs)} from now on`,
        );
        this.resolveCaughtUp();
      }
      const wakeAtMs = Math.min(nextTickAtMs, this.onTheAir.nextAtMs());
      const delayMs =
        this.speed === 'max' || reachedNow
          ? wakeAtMs - wallNowMs
          : wallDelayUntil(wakeAtMs, this.startAtMs, this.wallStartMs, this.speed, wallNowMs);
      await this.clock.sleep(Math.max(1, delayMs), signal);
    }
    if (!live) this.flushAll();
    // The run's end lets what is on the air arrive in its own time (at once when that is past).
    while (!signal.aborted && this.onTheAir.size > 0) {
      const wallNowMs = this.clock.now();
      const simNowMs = this.speed === 'max' ? wallNowMs : simulatedNow(this.startAtMs, this.wallStartMs, this.speed, wallNowMs);
      this.release(simNowMs);
      const nextAtMs = this.onTheAir.nextAtMs();
      if (nextAtMs === Infinity) break;
      const delayMs = this.speed === 'max' || simNowMs >= wallNowMs ? nextAtMs - wallNowMs : wallDelayUntil(nextAtMs, this.startAtMs, this.wallStartMs, this.speed, wallNowMs);
      await this.clock.sleep(Math.max(1, delayMs), signal);
    }
    this.release();
    this.resolveCaughtUp();
    // The last SMS of the run get their answer before the devices leave.
    await this.people?.idle();
    await this.closeAll();
  }

  /** Every sender of the scenario must be someone the registry names (a typo fails at the start, not at hour 26). */
  private checkSenders(scenario: Scenario): void {
    const problems: string[] = [];
    scenario.events.forEach((event, index) => {
      if (!isSmsEvent(event)) return;
      const borehole = this.options.registry.boreholes.get(event.borehole);
      if (!borehole) return;
      try {
        resolveSender(parseSender(event.from), borehole);
      } catch (error) {
        problems.push(`events[${index}] (sms on ${event.borehole}).from: ${(error as Error).message}`);
      }
    });
    if (problems.length > 0) throw new ConfigError(`scenario ${scenario.source}`, problems);
  }

  /**
   * Hands the `sms` steps due by `atMs` to the people. While catching up they are only reported:
   * a person's SMS is not store-and-forward, the service would stamp it now, long after the
   * readings around it, and a replayed run (the demo after a restart) already sent them.
   */
  private playSms(atMs: number): void {
    while (this.nextSms < this.smsSteps.length && (this.smsSteps[this.nextSms]?.atMs ?? Infinity) <= atMs) {
      const step = this.smsSteps[this.nextSms] as TimedSmsEvent;
      this.nextSms += 1;
      const what = `${step.borehole}: sms from ${step.from}: "${step.text}"${step.note ? ` (${step.note})` : ''}`;
      if (!this.caughtUpWithClock) {
        this.smsCounts.notSent += 1;
        this.progress(`[${formatInstant(step.atMs)}] ${what}: not sent, it falls in the catch-up (people's SMS are played live only)`);
      } else if (!this.people) {
        this.smsCounts.notSent += 1;
        this.progress(`[${formatInstant(step.atMs)}] ${what}: not sent, no service given to send it to`);
      } else {
        this.people.enqueue({ boreholeId: step.borehole, atMs: step.atMs, from: step.from, text: step.text, note: step.note });
      }
    }
  }

  private countSms(event: SmsStepEvent): void {
    if (event.stage === 'answered') {
      if (event.status !== null && event.status >= 200 && event.status < 300) this.smsCounts.accepted += 1;
      else this.smsCounts.refused += 1;
    } else if (event.stage === 'failed') {
      this.smsCounts.notSent += 1;
    }
    this.options.onSms?.(event);
  }

  private async tickAll(atMs: number, live: boolean): Promise<void> {
    for (const device of this.devices) {
      const { messages, notes, outage } = device.firmware.tick(atMs, { live, transportUp: device.transport.connected && !device.cut });
      for (const note of notes) this.progress(`[${formatInstant(atMs)}] ${device.id}: ${note}`);
      if (live && outage && !device.cut) await this.cutLink(device);
      if (live && !outage && device.cut) await this.restoreLink(device, atMs);
      this.transmit(device, messages, atMs);
    }
    await this.capacity();
  }

  /** A GPRS outage: what is in flight gets its acknowledgement first, then the link drops hard. */
  private async cutLink(device: Device): Promise<void> {
    // What was already on the air gets through before the link drops.
    for (const { message } of this.onTheAir.take(Infinity, device.id)) this.send(device, message.message, false);
    await this.waitFor(() => device.inFlight === 0, DRAIN_TIMEOUT_MS);
    device.cut = true;
    await device.transport.cut();
  }

  private async restoreLink(device: Device, atMs: number): Promise<void> {
    try {
      await device.transport.connect();
    } catch (error) {
      // Still cut: the next tick tries again, and the readings wait in the buffer meanwhile.
      this.progress(`[${formatInstant(atMs)}] ${device.id}: cannot reconnect yet (${(error as Error).message})`);
      return;
    }
    device.cut = false;
    const held = device.firmware.flush();
    const readings = held.reduce((sum, message) => sum + message.readings, 0);
    this.transmit(device, held, atMs);
    this.progress(`[${formatInstant(atMs)}] ${device.id}: reconnected, sending ${count(readings)} held readings in ${held.length} messages`);
  }

  private flushAll(): void {
    for (const device of this.devices) {
      if (device.cut || device.firmware.offline) continue;
      this.transmit(device, device.firmware.flush(), this.simulatedAtMs);
    }
  }

  /**
   * Hands what a device sends at `atMs` to the network. Under field timing each message is on the
   * air for a while (a live reading from when it was measured, a store-and-forward flush topic by
   * topic) and reaches the broker in order of arrival; otherwise it is published at once.
   */
  private transmit(device: Device, messages: readonly OutgoingMessage[], atMs: number): void {
    const timing = this.timing;
    if (!timing) {
      for (const message of messages) this.send(device, message, false);
      return;
    }
    const batches = messages.filter((message) => message.batch);
    const flushed = planFlush(
      timing,
      device.id,
      batches.map((message) => ({ topic: message.kind, message: { device, message } })),
      atMs,
    );
    for (const delivery of flushed) this.onTheAir.push(delivery);
    messages
      .filter((message) => !message.batch)
      .forEach((message, index) => {
        const sentAtMs = Math.max(atMs, message.measuredAtMs ?? atMs);
        const arrivesAtMs = sentAtMs + latencyMs(timing, device.id, message.kind, sentAtMs, index);
        this.onTheAir.push({ boreholeId: device.id, topic: message.kind, message: { device, message }, arrivesAtMs });
      });
  }

  /** Publishes, in order of arrival, what has reached the broker by `atMs` (everything when omitted). */
  private release(atMs = Infinity): void {
    for (const { message } of this.onTheAir.take(atMs)) this.send(message.device, message.message, false);
  }

  private send(device: Device, message: OutgoingMessage, retain: boolean): void {
    const topic = topicFor(this.topicRoot, device.id, message.kind);
    const bytes = message.payload.length;
    this.inFlight += 1;
    this.inFlightBytes += bytes;
    device.inFlight += 1;
    device.transport
      .publish(topic, message.payload, retain)
      .then(
        () => {
          this.messages += 1;
          this.readings += message.readings;
          this.options.onPublish?.({
            boreholeId: device.id,
            topic,
            payload: message.payload,
            retain,
            readings: message.readings,
            batch: message.batch,
            malformed: message.malformed,
            publishedAtMs: this.clock.now(),
          });
        },
        (error: unknown) => {
          this.failedMessages += 1;
          if (this.failedMessages === 1) this.progress(`${device.id}: a message was not acknowledged (${String(error)})`);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        this.inFlightBytes -= bytes;
        device.inFlight -= 1;
        this.waiters = this.waiters.filter((waiter) => {
          if (!waiter.ready()) return true;
          waiter.resolve();
          return false;
        });
      });
  }

  private waitFor(ready: () => boolean, timeoutMs = Infinity): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const waiter = { ready, resolve };
      this.waiters.push(waiter);
      if (Number.isFinite(timeoutMs)) {
        const timer = setTimeout(() => {
          this.waiters = this.waiters.filter((other) => other !== waiter);
          resolve();
        }, timeoutMs);
        timer.unref();
      }
    });
  }

  /** Backpressure; a stop does not wait for a broker that has gone away. */
  private capacity(): Promise<void> {
    return Promise.race([this.waitFor(() => this.inFlight < MAX_IN_FLIGHT && this.inFlightBytes < MAX_IN_FLIGHT_BYTES), this.aborted]);
  }

  private drained(timeoutMs = Infinity): Promise<void> {
    return this.waitFor(() => this.inFlight === 0, timeoutMs);
  }

  private maybeReportProgress(reachedNow: boolean): void {
    const wallNowMs = this.clock.now();
    const everyMs = this.options.progressEveryMs ?? 2000;
    if (wallNowMs - this.lastProgressAtMs < (reachedNow ? Math.max(everyMs, 10 * MINUTE_MS) : everyMs)) return;
    this.lastProgressAtMs = wallNowMs;
    const stats = this.stats();
    const states = Object.entries(stats.boreholes)
      .map(([id, state]) => `${id} ${state.fault ? `FAULT ${state.fault}` : state.running ? 'pumping' : 'idle'}${state.online ? '' : ' (offline)'}`)
      .join(', ');
    const lag = reachedNow ? '' : ` (${formatDuration(Math.max(0, wallNowMs - this.simulatedAtMs))} behind now)`;
    this.progress(`[${formatInstant(this.simulatedAtMs)}]${lag} ${count(stats.readings)} readings in ${count(stats.messages)} messages · ${states}`);
  }

  private async closeAll(): Promise<void> {
    if (this.phase === 'stopped') return;
    this.phase = 'stopping';
    for (const device of this.devices) {
      if (!device.transport.connected || device.cut || device.firmware.offline) continue;
      this.transmit(device, device.firmware.flush(), this.simulatedAtMs);
    }
    this.release();
    await this.drained(DRAIN_TIMEOUT_MS);
    await Promise.all(this.devices.map((device) => device.transport.close()));
    this.phase = 'stopped';
    const stats = this.stats();
    this.progress(
      `stopped at ${formatInstant(stats.simulatedAtMs)}: ${count(stats.readings)} readings in ${count(stats.messages)} messages acknowledged` +
        (stats.heldReadings > 0 ? `, ${count(stats.heldReadings)} readings still held` : '') +
        (stats.failedMessages > 0 ? `, ${count(stats.failedMessages)} messages not acknowledged` : ''),
    );
  }
}

/**
 * Connects every device and starts the run; resolves once they are all connected. The handle's
 * `caughtUp` and `done` follow the run; `stop()` ends it cleanly.
 */
export async function startSimulation(options: SimulationOptions): Promise<SimulationHandle> {
  const simulation = new Simulation(options);
  await simulation.start();
  return simulation;
}
