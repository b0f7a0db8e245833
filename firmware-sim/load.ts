/**
 * Load mode, for benchmarks: N virtual devices publishing live single readings at a chosen total
 * rate (readings per second) or as fast as the broker acknowledges them. Each virtual device runs
 * the same physical model as the simulator, so the readings look real and pass the wire schemas.
 *
 * Up to POOL_THRESHOLD devices get a connection each; beyond that they share a pool of
 * connections (default 16), since thousands of sockets would measure the client, not the
 * service. Pooled connections carry no Last Will and publish no status.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { DEFAULT_TOPIC_ROOT, topicFor, type ReadingKind } from '../src/contract/topics.js';
import { systemClock, type Clock } from './clock.js';
import { boreholeParams, initialState, step, type ModelState } from './model.js';

export interface LoadOptions {
  url: string;
  devices: number;
  /** Total readings per second, or `max`: as fast as the broker acknowledges. */
  rate: number | 'max';
  durationMs: number;
  topicRoot?: string;
  /** Borehole ids to use (device n uses id n modulo their count). Default: load-00001, load-00002, … */
  boreholeIds?: readonly string[];
  /** Connections to spread the devices over. Default: one per device up to 100 devices, else 16. */
  connections?: number;
  seed?: number;
  clock?: Clock;
  onProgress?: (line: string) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

export interface LoadResult {
  /** Readings (one per message) the broker acknowledged. */
  published: number;
  failed: number;
  elapsedMs: number;
  ratePerSec: number;
  devices: number;
  connections: number;
}

const POOL_THRESHOLD = 100;
const DEFAULT_POOL = 16;
/** Unacknowledged messages per connection. */
const WINDOW_PER_CONNECTION = 500;
const DRAIN_TIMEOUT_MS = 10_000;

interface VirtualDevice {
  id: string;
  state: ModelState;
  connection: number;
  epochTs: boolean;
  pending: { kind: ReadingKind; payload: string }[];
}

export function loadDeviceIds(devices: number, boreholeIds?: readonly string[]): string[] {
  return Array.from({ length: devices }, (_, index) =>
    boreholeIds && boreholeIds.length > 0 ? (boreholeIds[index % boreholeIds.length] as string) : `load-${String(index + 1).padStart(5, '0')}`,
  );
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const clock = options.clock ?? systemClock;
  const topicRoot = options.topicRoot ?? DEFAULT_TOPIC_ROOT;
  const progress = options.onProgress ?? (() => undefined);
  if (!Number.isInteger(options.devices) || options.devices < 1) throw new Error('devices must be a whole number of at least 1');
  if (options.rate !== 'max' && !(options.rate > 0)) throw new Error('rate must be a positive number of readings per second, or max');
  const connectionCount = Math.min(options.devices, options.connections ?? (options.devices <= POOL_THRESHOLD ? options.devices : DEFAULT_POOL));
  const startMs = clock.now();
  const devices: VirtualDevice[] = loadDeviceIds(options.devices, options.boreholeIds).map((id, index) => {
    const params = boreholeParams({ id, pump: { rated_flow_lpm: 40 + 10 * (index % 5), intake_depth_m: 40 + 7 * (index % 4) } }, (options.seed ?? 1) + index);
    return { id, state: initialState(params, startMs, 0), connection: index % connectionCount, epochTs: index % 2 === 1, pending: [] };
  });
  const unique = `${process.pid}-${Date.now().toString(36)}`;
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: connectionCount }, (_, index) =>
      mqtt.connectAsync(options.url, { clientId: `bhsim-load-${unique}-${index}`, clean: true, protocolVersion: 4, reconnectPeriod: 1000 }),
    ),
  );
  progress(`load: ${options.devices} devices on ${connectionCount} connections, target ${options.rate === 'max' ? 'max' : `${options.rate}/s`} for ${options.durationMs / 1000} s`);

  // Two readings of one borehole and topic never share a ts (the service would keep one), and no
  // ts is ahead of the clock: a device whose last ts is now waits for the next millisecond.
  const lastTsById = new Map<string, number>();
  let cursor = 0;
  const nextMessage = (nowMs: number): { device: VirtualDevice; kind: ReadingKind; payload: string } | null => {
    for (let tries = 0; tries < devices.length; tries += 1) {
      const device = devices[cursor] as VirtualDevice;
      cursor = (cursor + 1) % devices.length;
      if (device.pending.length === 0) {
        if (nowMs <= (lastTsById.get(device.id) ?? -1)) continue;
        lastTsById.set(device.id, nowMs);
        const result = step(device.state, Math.max(1, nowMs - device.state.atMs), nowMs, []);
        device.state = result.state;
        const ts = device.epochTs ? nowMs : new Date(nowMs).toISOString();
        const { flow, pump, level } = result.readings;
        device.pending = [
          { kind: 'flow', payload: JSON.stringify({ ts, ...flow }) },
          { kind: 'pump', payload: JSON.stringify({ ts, ...pump }) },
          { kind: 'level', payload: JSON.stringify({ ts, ...level }) },
        ];
      }
      const next = device.pending.shift();
      if (next) return { device, ...next };
    }
    return null;
  };

  let issued = 0;
  let published = 0;
  let failed = 0;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  const window = WINDOW_PER_CONNECTION * connectionCount;
  const settle = (error?: Error): void => {
    inFlight -= 1;
    if (error) failed += 1;
    else published += 1;
    const resolve = wake;
    wake = null;
    resolve?.();
  };
  const nap = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, ms);
    });

  const everyMs = options.progressEveryMs ?? 5000;
  let lastReportMs = startMs;
  let lastReportPublished = 0;
  for (;;) {
    const nowMs = clock.now();
    const elapsedMs = nowMs - startMs;
    if (elapsedMs >= options.durationMs || options.signal?.aborted) break;
    const due = options.rate === 'max' ? Infinity : Math.floor((options.rate * elapsedMs) / 1000) - issued;
    let budget = Math.min(due, window - inFlight);
    let starved = false;
    while (budget > 0) {
      const message = nextMessage(nowMs);
      if (!message) {
        starved = true;
        break;
      }
      const client = clients[message.device.connection] as MqttClient;
      inFlight += 1;
      issued += 1;
      budget -= 1;
      client.publish(topicFor(topicRoot, message.device.id, message.kind), message.payload, { qos: 1 }, settle);
    }
    if (nowMs - lastReportMs >= everyMs) {
      const rate = ((published - lastReportPublished) * 1000) / (nowMs - lastReportMs);
      progress(`load: ${published.toLocaleString('en-US')} readings acknowledged, ${Math.round(rate).toLocaleString('en-US')}/s over the last ${((nowMs - lastReportMs) / 1000).toFixed(1)} s`);
      lastReportMs = nowMs;
      lastReportPublished = published;
    }
    if (inFlight >= window) await nap(100);
    else if (starved || options.rate !== 'max') await nap(1);
    else await new Promise<void>((resolve) => setImmediate(resolve));
  }

  const drainUntil = clock.now() + DRAIN_TIMEOUT_MS;
  while (inFlight > 0 && clock.now() < drainUntil) await nap(50);
  const elapsedMs = clock.now() - startMs;
  await Promise.all(clients.map((client) => client.endAsync(inFlight > 0)));
  const ratePerSec = elapsedMs > 0 ? (published * 1000) / elapsedMs : 0;
  progress(
    `load done: ${published.toLocaleString('en-US')} readings acknowledged in ${(elapsedMs / 1000).toFixed(1)} s = ${Math.round(ratePerSec).toLocaleString('en-US')} readings/s` +
      (failed > 0 ? ` (${failed} failed)` : ''),
  );
  return { published, failed, elapsedMs, ratePerSec, devices: options.devices, connections: connectionCount };
}
