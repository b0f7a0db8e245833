/** Shared by the simulator's tests: the example registry, simulated days, a fake clock and transport. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseRegistry, type Borehole, type Registry } from '../src/config/registry.js';
import type { Clock } from './clock.js';
import { boreholeParams, initialState, step, type BoreholeParams, type ModelReadings, type ModelState } from './model.js';
import type { DeviceTransport } from './runner.js';
import { parseScenario, scheduleEvents, type TimedEvent } from './scenarios.js';

export const EXAMPLE_REGISTRY_PATH = fileURLToPath(new URL('../config/boreholes.example.yaml', import.meta.url));
export const SCENARIO_DIR = fileURLToPath(new URL('./scenarios/', import.meta.url));

export function exampleRegistry(): Registry {
  return parseRegistry(readFileSync(EXAMPLE_REGISTRY_PATH, 'utf8'), EXAMPLE_REGISTRY_PATH);
}

export function exampleBorehole(id: string): Borehole {
  const borehole = exampleRegistry().boreholes.get(id);
  if (!borehole) throw new Error(`no ${id} in the example registry`);
  return borehole;
}

/** Events from inline scenario YAML, on the time line of a run starting at `startAtMs`. */
export function events(yaml: string, startAtMs: number): TimedEvent[] {
  return scheduleEvents(parseScenario(yaml, 'test.yaml').events, startAtMs);
}

export interface SimulatedRun {
  params: BoreholeParams;
  readings: ModelReadings[];
  states: ModelState[];
}

/** Steps the model one minute at a time from `startAtMs` for `durationMs`. */
export function simulate(borehole: Pick<Borehole, 'id' | 'pump'>, seed: number, startAtMs: number, durationMs: number, timed: readonly TimedEvent[] = []): SimulatedRun {
  const params = boreholeParams(borehole, seed);
  let state = initialState(params, startAtMs);
  const readings: ModelReadings[] = [];
  const states: ModelState[] = [];
  let next = 0;
  for (let atMs = startAtMs + 60_000; atMs <= startAtMs + durationMs; atMs += 60_000) {
    const due: TimedEvent[] = [];
    while (next < timed.length && (timed[next]?.atMs ?? Infinity) <= atMs) due.push(timed[next++] as TimedEvent);
    const result = step(state, 60_000, atMs, due);
    state = result.state;
    readings.push(result.readings);
    states.push(state);
  }
  return { params, readings, states };
}

/** A wall clock that jumps instead of waiting, so hours of real-time mode take milliseconds. */
export class FakeClock implements Clock {
  constructor(public nowMs: number) {}
  now(): number {
    return this.nowMs;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return;
    this.nowMs += ms;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

export interface Recorded {
  topic: string;
  payload: string;
  retain: boolean;
  atMs: number;
}

/** Records what a device would send; acknowledges at once. */
export class MemoryTransport implements DeviceTransport {
  connected = false;
  readonly published: Recorded[] = [];
  readonly log: string[] = [];
  private readonly listeners: (() => void)[] = [];
  constructor(private readonly clock: Clock) {}
  onConnect(listener: () => void): void {
    this.listeners.push(listener);
  }
  async connect(): Promise<void> {
    this.connected = true;
    this.log.push('connect');
    for (const listener of this.listeners) listener();
  }
  publish(topic: string, payload: string, retain: boolean): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    this.published.push({ topic, payload, retain, atMs: this.clock.now() });
    return Promise.resolve();
  }
  async cut(): Promise<void> {
    this.connected = false;
    this.log.push('cut');
  }
  async close(): Promise<void> {
    this.connected = false;
    this.log.push('close');
  }
}

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
