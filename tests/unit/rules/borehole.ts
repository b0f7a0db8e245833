/**
 * Helpers for the rule tests: readings of the borehole 'khabou' at times given in milliseconds from
 * a fixed base, and a small driver that carries the state from call to call like the engine does.
 */
import { resolveRuleParams, type RuleParamsOverride } from '../../../src/config/rule-params.js';
import type { Reading } from '../../../src/domain/reading.js';
import { evaluateReadings, evaluateTick, type RuleContext } from '../../../src/rules/evaluate.js';
import { initialRuleState, type RuleEvent, type RuleState } from '../../../src/rules/types.js';

/** 2026-02-05 06:00 UTC (Mali is UTC+0). */
export const BASE_MS = Date.UTC(2026, 1, 5, 6, 0);
export const SECOND_MS = 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** The pump intake of 'khabou': low_water warns from 37 m (margin 3 m), is critical from 40 m. */
export const INTAKE_DEPTH_M = 40;

export const minutes = (n: number): number => n * MINUTE_MS;
export const hours = (n: number): number => n * HOUR_MS;
/** Absolute time of an offset from the base. */
export const at = (t: number): number => BASE_MS + t;
/** Offset of UTC midnight starting day `day` (day 1 is 2026-02-06). */
export const midnight = (day: number): number => day * DAY_MS - hours(6);

export function pump(t: number, running: boolean, fault?: string | null): Reading {
  return { boreholeId: 'khabou', kind: 'pump', tsMs: at(t), values: fault === undefined ? { running } : { running, fault } };
}

export function flow(t: number, rateLpm: number, totalM3?: number): Reading {
  return {
    boreholeId: 'khabou',
    kind: 'flow',
    tsMs: at(t),
    values: totalM3 === undefined ? { rate_lpm: rateLpm } : { rate_lpm: rateLpm, total_m3: totalM3 },
  };
}

export function level(t: number, depthM: number): Reading {
  return { boreholeId: 'khabou', kind: 'level', tsMs: at(t), values: { depth_m: depthM } };
}

export function status(t: number): Reading {
  return { boreholeId: 'khabou', kind: 'status', tsMs: at(t), values: { online: true } };
}

export function contextWith(...overrides: (RuleParamsOverride | undefined)[]): RuleContext {
  return { params: resolveRuleParams(...overrides), intakeDepthM: INTAKE_DEPTH_M };
}

/** `06:10:00` on the base day, `2026-02-20 00:00:00` otherwise. */
export function clock(atMs: number): string {
  const iso = new Date(atMs).toISOString();
  const date = iso.slice(0, 10);
  const time = iso.slice(11, 19);
  return date === new Date(BASE_MS).toISOString().slice(0, 10) ? time : `${date} ${time}`;
}

/** An event in one line: `raised no_flow critical 06:10:00`, `(not live)` when nobody is notified. */
export function describeEvent(event: RuleEvent): string {
  return event.type === 'raised'
    ? `raised ${event.rule} ${event.severity} ${clock(event.atMs)}${event.live ? '' : ' (not live)'}`
    : `cleared ${event.rule} ${clock(event.atMs)}`;
}

export const describeEvents = (events: readonly RuleEvent[]): string[] => events.map(describeEvent);

/** One borehole as the engine drives it: state carried between calls, every event kept. */
export class Borehole {
  state: RuleState = initialRuleState();
  readonly events: RuleEvent[] = [];

  constructor(readonly context: RuleContext = contextWith()) {}

  /** Readings received at `nowMs` (default: the newest reading's time, a device without delay). */
  receive(readings: readonly Reading[], nowMs?: number): { events: string[]; late: number } {
    const receivedAtMs = nowMs ?? Math.max(...readings.map((reading) => reading.tsMs));
    const result = evaluateReadings(this.state, readings, receivedAtMs, this.context);
    this.state = result.state;
    this.events.push(...result.events);
    return { events: describeEvents(result.events), late: result.late };
  }

  tick(nowMs: number): string[] {
    const result = evaluateTick(this.state, nowMs, this.context);
    this.state = result.state;
    this.events.push(...result.events);
    return describeEvents(result.events);
  }

  /** Every event so far, one line each. */
  get history(): string[] {
    return describeEvents(this.events);
  }
}

/** A small deterministic generator (mulberry32), so a shuffle is reproduced by its seed. */
export function randomFrom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
