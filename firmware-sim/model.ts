/**
 * The physical model of one solar borehole in the Kayes region: sun, pump, storage tank with a
 * float switch, village demand, water meter, and the water level in the well. Pure and
 * deterministic: `step` is a function of the state, the time and the scenario's events, and all
 * randomness comes from a seeded generator carried in the state (never `Math.random`).
 *
 * Every noise term is bounded (uniform, not Gaussian), so the ranges docs/simulator.md states
 * are guarantees rather than likelihoods. The numbers are chosen to look like a 2–4 kW solar
 * submersible pump feeding a water tower, as a technician in Kayes would recognise them.
 */
import type { BoreholeEntry } from '../src/config/registry.js';
import type { FlowReading, KnownFaultCode, LevelReading, PumpReading } from '../src/contract/payloads.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './clock.js';
import type { Sensor, TimedEvent } from './scenarios.js';

// --- Deterministic randomness -------------------------------------------------------------------

/** mulberry32: one 32-bit state, good enough statistics for noise, identical on every platform. */
export function nextRandom(state: number): { state: number; value: number } {
  const next = (state + 0x6d2b79f5) | 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { state: next, value: ((t ^ (t >>> 14)) >>> 0) / 4294967296 };
}

/** A 32-bit seed from a run seed and names (FNV-1a, then one mulberry round to spread it). */
export function hashSeed(seed: number, ...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5 ^ (seed | 0);
  for (const char of parts.join('|')) {
    hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  }
  return nextRandom(hash).state ^ Math.imul(hash, 0x9e3779b1);
}

/** A value in [0, 1) fixed by the seed and the names: the same sky on the same day, every run. */
export function unitHash(seed: number, ...parts: readonly (string | number)[]): number {
  return nextRandom(hashSeed(seed, ...parts)).value;
}

// --- Constants of the model (docs/simulator.md states what they guarantee) ----------------------

/** Bamako is UTC+0 all year, so local solar time is UTC. */
const SUNRISE_HOUR = 7;
const SUNSET_HOUR = 18;
/** Share of full sun the pump needs to start: about 07:30 to 17:30 on a clear day. */
export const START_POWER = 0.15;
/** The daily sky: haze, dust (Harmattan) and clouds take up to 15% of the sun. */
const SKY_MIN = 0.85;
/** The pump gives 69% of its rated flow at the start threshold, all of it from half sun up. */
const flowFractionAt = (power: number): number => Math.min(1, 0.55 + 0.9 * power);
const FLOW_NOISE = 0.03;
/** Float switch of the tank: the pump starts below 75% full and stops at 98%. */
const FLOAT_START = 0.75;
const FLOAT_STOP = 0.98;
/** Village demand: hours of rated flow a day, with a ±10% daily and ±10% hourly variation. */
const DEMAND_RATED_HOURS = 5.5;
const TANK_RATED_HOURS = 4.5;
/** Share of the day's demand drawn in each local hour: morning and evening peaks, quiet nights. */
const DEMAND_BY_HOUR = [
  0.2, 0.1, 0.1, 0.1, 0.3, 1.5, 5.0, 8.0, 7.5, 5.5, 4.0, 3.5, 4.0, 3.5, 3.0, 3.5, 5.0, 7.5, 8.5, 7.0, 4.5, 2.0, 1.0, 0.5,
];
const DEMAND_TOTAL = DEMAND_BY_HOUR.reduce((sum, weight) => sum + weight, 0);
/** Water level: static depth (fraction of the intake depth), seasonal swing, drawdown. */
const STATIC_DEPTH_MIN = 0.4;
const STATIC_DEPTH_MAX = 0.48;
const SEASONAL_SWING = 0.08;
const DRAWDOWN_MIN = 0.16;
const DRAWDOWN_MAX = 0.22;
const DRAWDOWN_TAU_MS = 20 * MINUTE_MS;
const RECOVERY_TAU_MS = 45 * MINUTE_MS;
const LEVEL_NOISE_M = 0.03;
/** Aquifer recharge: shallowest on 1 October (day 273), deepest on 20 June (day 170). */
const SHALLOWEST_DAY = 273;
const DECLINE_DAYS = 262;
const RISE_DAYS = 365 - DECLINE_DAYS;
/** Electrical: wire-to-water efficiency, controller voltage, and the head above the intake. */
const EFFICIENCY = 0.45;
const NOMINAL_VOLTAGE_V = 240;
const HEAD_ABOVE_INTAKE_M = 15;
const WATER_CURRENT_NOISE = 0.02;
/** An unloaded motor (air or a broken coupling) draws about a third of its rated current. */
const UNLOADED_CURRENT = 0.35;
const UNLOADED_CURRENT_NOISE = 0.1;
/** dry_run: the level falls to the intake in 3 minutes; the well probe trips 2 minutes later. */
export const DRY_RUN_FALL_MS = 3 * MINUTE_MS;
export const DRY_RUN_PROBE_DELAY_MS = 2 * MINUTE_MS;
const DRY_RUN_BELOW_INTAKE_M = 0.3;
/** After a trip the depleted well recovers slowly, and only to 2 m above the intake. */
const DRY_RUN_RECOVERED_ABOVE_INTAKE_M = 2;
const DRY_RUN_RECOVERY_TAU_MS = 2 * HOUR_MS;
/** short_cycling: a chattering float switch, 3 minutes on and 4 off: 8.6 starts an hour. */
export const SHORT_CYCLE_ON_MS = 3 * MINUTE_MS;
export const SHORT_CYCLE_OFF_MS = 4 * MINUTE_MS;
/** Integration step: a minute is fine for time constants of 20 minutes and more. */
const MAX_SUBSTEP_MS = MINUTE_MS;

// --- Parameters and state -----------------------------------------------------------------------

export interface BoreholeParams {
  id: string;
  seed: number;
  ratedFlowLpm: number;
  intakeDepthM: number;
  /** Static water level after the rains (1 October), metres below ground. */
  shallowestStaticDepthM: number;
  /** How much deeper the static level is by the end of the dry season (20 June). */
  seasonalSwingM: number;
  /** Drawdown after a long run at rated flow. */
  maxDrawdownM: number;
  tankM3: number;
  demandM3PerDay: number;
  /** Current at rated flow. */
  ratedCurrentA: number;
  nominalVoltageV: number;
}

export type ModelBorehole = Pick<BoreholeEntry, 'id' | 'pump'>;

export function boreholeParams(borehole: ModelBorehole, seed: number): BoreholeParams {
  const { rated_flow_lpm: ratedFlowLpm, intake_depth_m: intakeDepthM } = borehole.pump;
  const pick = (name: string, min: number, max: number): number => min + (max - min) * unitHash(seed, borehole.id, name);
  const ratedM3PerHour = (ratedFlowLpm * 60) / 1000;
  const hydraulicW = 1000 * 9.81 * (ratedFlowLpm / 60_000) * (intakeDepthM + HEAD_ABOVE_INTAKE_M);
  return {
    id: borehole.id,
    seed,
    ratedFlowLpm,
    intakeDepthM,
    shallowestStaticDepthM: intakeDepthM * pick('static', STATIC_DEPTH_MIN, STATIC_DEPTH_MAX),
    seasonalSwingM: intakeDepthM * SEASONAL_SWING,
    maxDrawdownM: intakeDepthM * pick('drawdown', DRAWDOWN_MIN, DRAWDOWN_MAX),
    tankM3: ratedM3PerHour * TANK_RATED_HOURS,
    demandM3PerDay: ratedM3PerHour * DEMAND_RATED_HOURS,
    ratedCurrentA: hydraulicW / EFFICIENCY / NOMINAL_VOLTAGE_V,
    nominalVoltageV: NOMINAL_VOLTAGE_V,
  };
}

export interface ModelState {
  readonly params: BoreholeParams;
  atMs: number;
  rngState: number;
  tankM3: number;
  running: boolean;
  /** Latched by the controller until a repair. */
  fault: KnownFaultCode | null;
  /** The water meter's total, unrounded. */
  meterM3: number;
  /** Depth of the water below its static level, noise-free. */
  drawdownM: number;
  /** Share of the rated flow the pump lifts at the wellhead now (0 when stopped or on air). */
  wellheadFraction: number;
  /** Running without lifting water: on air, or with a broken pump. */
  unloaded: boolean;
  starts: number;
  pumpingMs: number;
  dryRun: { sinceMs: number; fromDepthM: number; dryFromMs: number | null; trippedAtMs: number | null } | null;
  pumpFailure: { untilMs: number | null } | null;
  leak: { lostFraction: number; untilMs: number | null } | null;
  stuck: { sensor: Sensor; value: number | null; totalM3: number | null; untilMs: number | null } | null;
  shortCycling: { sinceMs: number; untilMs: number | null } | null;
}

/** What the borehole's sensors read at one instant, as the wire carries it (the device adds ts and seq). */
export interface ModelReadings {
  atMs: number;
  flow: Required<Pick<FlowReading, 'rate_lpm' | 'total_m3'>>;
  pump: Required<Pick<PumpReading, 'running' | 'current_a' | 'voltage_v' | 'fault'>>;
  level: Pick<LevelReading, 'depth_m'>;
}

export interface StepResult {
  state: ModelState;
  readings: ModelReadings;
  /** What changed by itself during the step (a trip, a condition that ran out), for progress output. */
  notes: string[];
}

// --- Environment --------------------------------------------------------------------------------

export function localHour(atMs: number): number {
  return (((atMs % DAY_MS) + DAY_MS) % DAY_MS) / HOUR_MS;
}

const dayIndex = (atMs: number): number => Math.floor(atMs / DAY_MS);

interface DayValues {
  sky: number;
  demandFactor: number;
  hourFactors: number[];
}

/**
 * The sky and the village's demand are fixed per borehole and day; every minute of the day asks
 * for them, and hashing them each time was most of the cost of a step.
 */
const dayValuesCache = new WeakMap<BoreholeParams, Map<number, DayValues>>();

function dayValues(params: BoreholeParams, day: number): DayValues {
  let byDay = dayValuesCache.get(params);
  if (!byDay) {
    byDay = new Map();
    dayValuesCache.set(params, byDay);
  }
  let values = byDay.get(day);
  if (!values) {
    values = {
      sky: SKY_MIN + (1 - SKY_MIN) * unitHash(params.seed, params.id, 'sky', day),
      demandFactor: 0.9 + 0.2 * unitHash(params.seed, params.id, 'demand', day),
      hourFactors: DEMAND_BY_HOUR.map((_, hour) => 0.9 + 0.2 * unitHash(params.seed, params.id, 'demand', day, hour)),
    };
    byDay.set(day, values);
  }
  return values;
}

/** Share of full sun on the panels: a sine from 07:00 to 18:00, dimmed by the day's sky. */
export function solarPower(params: BoreholeParams, atMs: number): number {
  const hour = localHour(atMs);
  if (hour <= SUNRISE_HOUR || hour >= SUNSET_HOUR) return 0;
  const { sky } = dayValues(params, dayIndex(atMs));
  return Math.sin((Math.PI * (hour - SUNRISE_HOUR)) / (SUNSET_HOUR - SUNRISE_HOUR)) * sky;
}

/** Village demand on the tank, m³ per minute. */
export function demandM3PerMinute(params: BoreholeParams, atMs: number): number {
  const hour = Math.floor(localHour(atMs));
  const { demandFactor, hourFactors } = dayValues(params, dayIndex(atMs));
  const share = (DEMAND_BY_HOUR[hour] ?? 0) / DEMAND_TOTAL;
  return (params.demandM3PerDay * demandFactor * (hourFactors[hour] ?? 1) * share) / 60;
}

/** 0 on 1 October, after the rains; 1 on 20 June, the end of the dry season. */
export function seasonalDecline(atMs: number): number {
  const date = new Date(atMs);
  const dayOfYear = (atMs - Date.UTC(date.getUTCFullYear(), 0, 1)) / DAY_MS;
  const sinceShallowest = (((dayOfYear - SHALLOWEST_DAY) % 365) + 365) % 365;
  if (sinceShallowest <= DECLINE_DAYS) return (1 - Math.cos((Math.PI * sinceShallowest) / DECLINE_DAYS)) / 2;
  return (1 + Math.cos((Math.PI * (sinceShallowest - DECLINE_DAYS)) / RISE_DAYS)) / 2;
}

export function staticDepthM(params: BoreholeParams, atMs: number): number {
  return params.shallowestStaticDepthM + params.seasonalSwingM * seasonalDecline(atMs);
}

// --- The model ----------------------------------------------------------------------------------

/**
 * The state at `startAtMs`, after `warmUpMs` of unrecorded normal life so that the tank, the
 * drawdown and the pump are where a day of running would leave them.
 */
export function initialState(params: BoreholeParams, startAtMs: number, warmUpMs = DAY_MS): ModelState {
  const beganAtMs = startAtMs - warmUpMs;
  let state: ModelState = {
    params,
    atMs: beganAtMs,
    rngState: hashSeed(params.seed, params.id, 'noise'),
    tankM3: params.tankM3 * 0.6,
    running: false,
    fault: null,
    // A meter that has been turning for years: 5,000 to 50,000 m³.
    meterM3: 5000 + 45_000 * unitHash(params.seed, params.id, 'meter'),
    drawdownM: 0,
    wellheadFraction: 0,
    unloaded: false,
    starts: 0,
    pumpingMs: 0,
    dryRun: null,
    pumpFailure: null,
    leak: null,
    stuck: null,
    shortCycling: null,
  };
  for (let atMs = beganAtMs; atMs < startAtMs; ) {
    const next = Math.min(startAtMs, atMs + MAX_SUBSTEP_MS);
    state = step(state, next - atMs, next, []).state;
    atMs = next;
  }
  return { ...state, starts: 0, pumpingMs: 0 };
}

/** The step's draws from the seeded generator; its final state goes back into the model state. */
class Noise {
  constructor(public state: number) {}

  /** Uniform in [-amplitude, +amplitude]: bounded, so stated ranges hold. */
  jitter(amplitude: number): number {
    const drawn = nextRandom(this.state);
    this.state = drawn.state;
    return (drawn.value * 2 - 1) * amplitude;
  }
}

const isRunningOut = (untilMs: number | null, atMs: number): boolean => untilMs !== null && atMs >= untilMs;
const round = (value: number, decimals: number): number => {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
};

/**
 * Advances the borehole by `dtMs` to `atMs` and reads its sensors there. `events` are the
 * scenario events due in this step; those that are not about the borehole's physics (offline,
 * clock_skew, duplicate_messages, malformed_messages) belong to the device and are ignored here.
 */
export function step(previous: ModelState, dtMs: number, atMs: number, events: readonly TimedEvent[]): StepResult {
  // Copy the nested conditions too: the caller's state must never change under it.
  const state: ModelState = {
    ...previous,
    dryRun: previous.dryRun && { ...previous.dryRun },
    pumpFailure: previous.pumpFailure && { ...previous.pumpFailure },
    leak: previous.leak && { ...previous.leak },
    stuck: previous.stuck && { ...previous.stuck },
    shortCycling: previous.shortCycling && { ...previous.shortCycling },
  };
  const notes: string[] = [];
  const noise = new Noise(state.rngState);

  for (const event of events) applyEvent(state, event);

  const substeps = Math.max(1, Math.ceil(dtMs / MAX_SUBSTEP_MS));
  const substepMs = dtMs / substeps;
  for (let index = 1; index <= substeps; index += 1) {
    advance(state, atMs - dtMs + index * substepMs, substepMs, noise, notes);
  }

  const readings = measure(state, atMs, noise);
  state.atMs = atMs;
  state.rngState = noise.state;
  return { state, readings, notes };
}

function applyEvent(state: ModelState, event: TimedEvent): void {
  const untilMs = 'for' in event && event.for !== undefined ? event.atMs + event.for : null;
  switch (event.type) {
    case 'dry_run':
      state.dryRun = {
        sinceMs: event.atMs,
        fromDepthM: staticDepthM(state.params, event.atMs) + state.drawdownM,
        dryFromMs: null,
        trippedAtMs: null,
      };
      return;
    case 'pump_failure':
      state.pumpFailure = { untilMs };
      return;
    case 'pipe_leak':
      state.leak = { lostFraction: event.lost_fraction, untilMs };
      return;
    case 'sensor_stuck':
      state.stuck = { sensor: event.sensor, value: event.value ?? null, totalM3: null, untilMs };
      return;
    case 'short_cycling':
      state.shortCycling = { sinceMs: event.atMs, untilMs };
      return;
    case 'repair':
      // The technician clears the latched fault and fixes whatever was wrong; the well, now
      // unloaded, recovers from where it is.
      state.fault = null;
      state.dryRun = null;
      state.pumpFailure = null;
      state.leak = null;
      state.stuck = null;
      state.shortCycling = null;
      return;
    default:
      return;
  }
}

function advance(state: ModelState, atMs: number, dtMs: number, noise: Noise, notes: string[]): void {
  const { params } = state;
  if (state.pumpFailure && isRunningOut(state.pumpFailure.untilMs, atMs)) {
    state.pumpFailure = null;
    notes.push('pump_failure over: the pump lifts water again');
  }
  if (state.leak && isRunningOut(state.leak.untilMs, atMs)) {
    state.leak = null;
    notes.push('pipe_leak over');
  }
  if (state.stuck && isRunningOut(state.stuck.untilMs, atMs)) {
    notes.push(`sensor_stuck over: the ${state.stuck.sensor} sensor reads again`);
    state.stuck = null;
  }
  if (state.shortCycling && isRunningOut(state.shortCycling.untilMs, atMs)) {
    state.shortCycling = null;
    notes.push('short_cycling over: the float switch holds again');
  }

  const power = solarPower(params, atMs);
  const intakeDepthM = params.intakeDepthM;
  const staticM = staticDepthM(params, atMs);

  // The well probe: once the level is at the intake, the controller trips (after its delay if
  // the pump is running, at once if it is idle) and latches the fault until a repair.
  let onAir = false;
  const dryRun = state.dryRun;
  if (dryRun && dryRun.trippedAtMs === null && atMs - dryRun.sinceMs >= DRY_RUN_FALL_MS) {
    if (state.running) {
      dryRun.dryFromMs ??= dryRun.sinceMs + DRY_RUN_FALL_MS;
      onAir = true;
    }
    if (!state.running || atMs - (dryRun.dryFromMs ?? atMs) >= DRY_RUN_PROBE_DELAY_MS) {
      state.dryRun = { ...dryRun, trippedAtMs: atMs };
      state.fault = 'dry_run';
      state.running = false;
      state.drawdownM = intakeDepthM + DRY_RUN_BELOW_INTAKE_M - staticM;
      onAir = false;
      notes.push('dry_run fault: water at the intake, controller stopped the pump');
    }
  }

  const wanted = wantsToRun(state, atMs, power);
  if (!state.running && wanted) {
    state.running = true;
    state.starts += 1;
  } else if (state.running && !wanted) {
    state.running = false;
  }

  state.unloaded = state.running && (onAir || state.pumpFailure !== null);
  state.wellheadFraction = state.running && !state.unloaded ? flowFractionAt(power) * (1 + noise.jitter(FLOW_NOISE)) : 0;
  if (state.running) state.pumpingMs += dtMs;

  const minutes = dtMs / MINUTE_MS;
  const deliveredM3 = (params.ratedFlowLpm * state.wellheadFraction * (1 - (state.leak?.lostFraction ?? 0)) * minutes) / 1000;
  state.meterM3 += deliveredM3;
  const drawnM3 = demandM3PerMinute(params, atMs) * minutes;
  state.tankM3 = Math.min(params.tankM3, Math.max(0, state.tankM3 + deliveredM3 - drawnM3));

  const current = state.dryRun;
  if (current && current.trippedAtMs === null) {
    const progress = Math.min(1, (atMs - current.sinceMs) / DRY_RUN_FALL_MS);
    const depthM = current.fromDepthM + (intakeDepthM + DRY_RUN_BELOW_INTAKE_M - current.fromDepthM) * progress;
    state.drawdownM = depthM - staticM;
  } else if (current && current.trippedAtMs !== atMs) {
    const target = intakeDepthM - DRY_RUN_RECOVERED_ABOVE_INTAKE_M - staticM;
    state.drawdownM += (target - state.drawdownM) * (1 - Math.exp(-dtMs / DRY_RUN_RECOVERY_TAU_MS));
  } else if (!current) {
    const target = state.wellheadFraction * params.maxDrawdownM;
    const tauMs = target > state.drawdownM ? DRAWDOWN_TAU_MS : RECOVERY_TAU_MS;
    state.drawdownM += (target - state.drawdownM) * (1 - Math.exp(-dtMs / tauMs));
  }
}

function wantsToRun(state: ModelState, atMs: number, power: number): boolean {
  if (state.fault !== null) return false;
  // A falling level inhibits a start; a running pump carries on until the probe trips it.
  if (state.dryRun) return state.running && power >= START_POWER;
  if (power < START_POWER) return false;
  if (state.shortCycling) {
    const phase = (atMs - state.shortCycling.sinceMs) % (SHORT_CYCLE_ON_MS + SHORT_CYCLE_OFF_MS);
    return phase < SHORT_CYCLE_ON_MS;
  }
  const fill = state.tankM3 / state.params.tankM3;
  return state.running ? fill < FLOAT_STOP : fill < FLOAT_START;
}

function measure(state: ModelState, atMs: number, noise: Noise): ModelReadings {
  const { params } = state;
  const power = solarPower(params, atMs);
  const rateLpm = params.ratedFlowLpm * state.wellheadFraction * (1 - (state.leak?.lostFraction ?? 0));
  let currentA = 0;
  if (state.running) {
    currentA = state.unloaded
      ? params.ratedCurrentA * UNLOADED_CURRENT * (1 + noise.jitter(UNLOADED_CURRENT_NOISE))
      : params.ratedCurrentA * (0.3 + 0.7 * state.wellheadFraction) * (1 + noise.jitter(WATER_CURRENT_NOISE));
  }
  // The array's voltage: near nominal under load, higher when idle in the sun, none at night.
  let voltageV = 0;
  if (power > 0) {
    voltageV = state.running
      ? params.nominalVoltageV * (0.92 + 0.08 * power) * (1 + noise.jitter(0.01))
      : params.nominalVoltageV * 1.2 * (0.9 + 0.1 * Math.min(1, 3 * power));
  }
  const depthM = Math.max(0, staticDepthM(params, atMs) + state.drawdownM + noise.jitter(LEVEL_NOISE_M));
  const readings: ModelReadings = {
    atMs,
    flow: { rate_lpm: round(rateLpm, 1), total_m3: round(state.meterM3, 3) },
    pump: { running: state.running, current_a: round(currentA, 2), voltage_v: round(voltageV, 1), fault: state.fault },
    level: { depth_m: round(depthM, 2) },
  };

  // A stuck sensor repeats the value it had when it stuck (or the one the scenario gives).
  const stuck = state.stuck;
  if (stuck) {
    const live = stuck.sensor === 'flow' ? readings.flow.rate_lpm : stuck.sensor === 'level' ? readings.level.depth_m : readings.pump.current_a;
    const value = stuck.value ?? live;
    const totalM3 = stuck.totalM3 ?? readings.flow.total_m3;
    state.stuck = { ...stuck, value, totalM3 };
    if (stuck.sensor === 'flow') readings.flow = { rate_lpm: value, total_m3: totalM3 };
    else if (stuck.sensor === 'level') readings.level = { depth_m: value };
    else readings.pump = { ...readings.pump, current_a: value };
  }
  return readings;
}
