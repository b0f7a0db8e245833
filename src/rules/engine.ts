/**
 * The rules engine: the imperative shell around the pure rule functions. It keeps each
 * borehole's rule state (durably, in the operational store, in the same transaction as the alert
 * changes it causes), re-checks time-only conditions on a tick, turns rule events into alert
 * changes, writes one `alert` point per change for Grafana, and tells its listeners (SMS).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Registry } from '../config/registry.js';
import type { Reading } from '../domain/reading.js';
import {
  AlertTransitionError,
  acknowledge,
  escalate,
  openAlert,
  resolve,
  type Actor,
  type Alert,
  type AlertChange,
} from '../alerts/alert.js';
import type { MaintenanceRecord, OperationalStore } from '../storage/sqlite-store.js';
import { evaluateReadings, evaluateTick, forgetCondition, recordMaintenance, type RuleContext } from './evaluate.js';
import { initialRuleState, isDataRule, type RuleEvent, type RuleState } from './types.js';

export type AlertListener = (change: AlertChange) => void;

export interface RulesEngineOptions {
  registry: Registry;
  store: OperationalStore;
  /** Wall clock: the time stamped on what people see (acknowledgements, repairs). */
  now: () => number;
  /**
   * A clock that never steps (`performance.now()`), for elapsed silence and durations: a server
   * clock set back or forward must neither freeze the offline check nor open alerts by itself.
   * Without it (tests) the wall clock is used for both.
   */
  monotonicNow?: () => number;
  log: Logger;
  /** Receives the `alert` points (one per change) for the time-series store. */
  writeAlertPoints: (changes: readonly AlertChange[]) => void;
  tickIntervalMs?: number;
  /** How long the timer's tick checks boreholes before it lets the event loop turn (default 20 ms). */
  tickSliceBudgetMs?: number;
  /**
   * Readings older than this (store-and-forward history) wait until their borehole is quiet, so
   * that a backlog sent in pieces is judged as one and only what still holds at its end notifies.
   */
  holdOlderThanMs?: number;
  holdQuietMs?: number;
}

export class UnknownAlertError extends Error {
  override name = 'UnknownAlertError';
}

/** Readings of one borehole waiting to be judged together. */
interface Held {
  readings: Reading[];
  timer: NodeJS.Timeout;
  firstAtMs: number;
}

const MAX_HOLD_MS = 5000;
/** Boreholes a tick checks in one transaction, and the time it goes on before a turn of the event loop. */
const TICK_BATCH = 250;
const TICK_SLICE_BUDGET_MS = 20;

export class RulesEngine {
  private readonly held = new Map<string, Held>();
  private states = new Map<string, RuleState>();
  private readonly listeners: AlertListener[] = [];
  private ticker: NodeJS.Timeout | null = null;
  /** A sliced tick under way (tickInSlices), and the round number that `stop` moves on. */
  private ticking = false;
  private tickRound = 0;
  private lateReadings = 0;
  /** Whether the service can hear the boreholes (its broker connection is up). */
  private hearing = true;
  /** The service clock: wall time at construction, advanced by the monotonic clock. */
  private readonly serviceNow: () => number;

  constructor(private readonly options: RulesEngineOptions) {
    const { monotonicNow } = options;
    if (monotonicNow) {
      const wallAtStart = options.now();
      const monotonicAtStart = monotonicNow();
      this.serviceNow = () => wallAtStart + (monotonicNow() - monotonicAtStart);
    } else {
      this.serviceNow = options.now;
    }
  }

  onChange(listener: AlertListener): void {
    this.listeners.push(listener);
  }

  start(): void {
    // Read back through the state's schema (rules/state.ts): any earlier shape loads.
    this.states = new Map(this.options.store.loadRuleStates());
    // The service was down until now: nobody heard the boreholes, so none of that is their silence.
    this.restartSilence();
    // The contract asks for a re-check at least every 10 seconds.
    this.ticker = setInterval(() => void this.tickInSlices(), this.options.tickIntervalMs ?? 5000);
    this.ticker.unref();
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.tickRound += 1;
    for (const boreholeId of [...this.held.keys()]) this.flush(boreholeId);
  }

  /**
   * The service cannot hear the boreholes (its broker connection dropped): silence is not judged
   * until `hearingResumed`, which counts it again from then. The service's own downtime, or its
   * broker's, is no borehole's silence.
   */
  hearingLost(): void {
    this.hearing = false;
  }

  hearingResumed(): void {
    this.hearing = true;
    this.restartSilence();
  }

  /** Silence counts from now for every borehole heard before. */
  private restartSilence(): void {
    const now = this.serviceNow();
    for (const [boreholeId, state] of this.states) {
      if (state.lastHeardAtMs !== null && state.lastHeardAtMs < now) this.states.set(boreholeId, { ...state, lastHeardAtMs: now });
    }
  }

  get lateReadingCount(): number {
    return this.lateReadings;
  }

  stateOf(boreholeId: string): RuleState | undefined {
    return this.states.get(boreholeId);
  }

  /**
   * Judges readings that were just made durable. Live readings are judged at once. History (a
   * store-and-forward backlog, which a device may send in many messages) waits until its borehole
   * has been quiet for a moment, so that only a condition that still holds at the backlog's end
   * notifies. Across topics, order no longer matters (evaluate.ts judges each topic on its own
   * timeline and `no_flow` on a joint one); the wait is about what is live.
   */
  accept(readings: readonly Reading[]): void {
    const now = this.serviceNow();
    const wallNow = this.options.now();
    const holdOlderThanMs = this.options.holdOlderThanMs ?? 120_000;
    const byBorehole = new Map<string, Reading[]>();
    for (const reading of readings) {
      const list = byBorehole.get(reading.boreholeId);
      if (list) list.push(reading);
      else byBorehole.set(reading.boreholeId, [reading]);
    }
    const immediate: [string, Reading[]][] = [];
    for (const [boreholeId, list] of byBorehole) {
      const held = this.held.get(boreholeId);
      // Reading stamps are wall time (the device's): history is told from them by the wall clock.
      if (held || list.some((r) => r.tsMs < wallNow - holdOlderThanMs)) this.hold(boreholeId, list, now);
      else immediate.push([boreholeId, list]);
    }
    if (immediate.length > 0) this.judge(immediate, now);
  }

  /** Re-checks what only time can change, for every borehole, at once. */
  tick(): void {
    this.tickBoreholes([...this.options.registry.boreholes.keys()]);
  }

  /**
   * The timer's tick: the same checks, a slice of boreholes at a time with a turn of the event
   * loop between slices. A country's 100,000 boreholes take about 2 s of checks (issue 19): at
   * once, that held MQTT acks, alerts and the API every 5 seconds. A round still running when
   * the timer fires again is let finish, not doubled; `stop` ends it between two slices.
   */
  private async tickInSlices(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const round = this.tickRound;
    try {
      const ids = [...this.options.registry.boreholes.keys()];
      for (let start = 0; start < ids.length && round === this.tickRound; ) {
        const sliceStartedAt = performance.now();
        // Slices of a few hundred boreholes until the budget is spent: each its own transaction.
        const budgetMs = this.options.tickSliceBudgetMs ?? TICK_SLICE_BUDGET_MS;
        do {
          if (!this.tickBoreholes(ids.slice(start, start + TICK_BATCH))) return;
          start += TICK_BATCH;
        } while (start < ids.length && performance.now() - sliceStartedAt < budgetMs);
        await yieldToEventLoop();
      }
    } finally {
      this.ticking = false;
    }
  }

  /** The tick of some boreholes, in one transaction; false when it failed (logged; the next tick tries again). */
  private tickBoreholes(boreholeIds: readonly string[]): boolean {
    // Deaf, the service would take its own outage for the boreholes' silence.
    if (!this.hearing) return false;
    const now = this.serviceNow();
    const changes: AlertChange[] = [];
    const updated = new Map<string, RuleState>();
    try {
      this.options.store.transaction(() => {
        for (const boreholeId of boreholeIds) {
          const state = this.states.get(boreholeId);
          // Removed from the registry by a reload between two slices: not checked.
          if (!state || !this.options.registry.boreholes.has(boreholeId)) continue;
          const result = evaluateTick(state, now, this.contextOf(boreholeId));
          if (result.events.length === 0 && sameState(state, result.state)) continue;
          updated.set(boreholeId, result.state);
          this.options.store.saveRuleState(boreholeId, result.state);
          changes.push(...this.apply(boreholeId, result.events));
        }
      });
    } catch (error) {
      // The next tick tries again from the state as it was: nothing half-applied.
      this.options.log.error({ err: error }, 'rules tick failed');
      return false;
    }
    for (const [boreholeId, state] of updated) this.states.set(boreholeId, state);
    this.publish(changes);
    return true;
  }

  acknowledge(alertId: string, actor: Actor): Alert {
    return this.change(alertId, (alert, now) => {
      const updated = acknowledge(alert, actor, now);
      return updated === alert ? null : { kind: 'acknowledged', alert: updated, atMs: now, actor, notify: !alert.historical };
    });
  }

  /** A person closed the alert (a technician repaired the pump, say). */
  resolve(alertId: string, actor: Actor, note?: string): Alert {
    return this.change(alertId, (alert, now) => {
      const updated = resolve(alert, actor, now);
      const state = this.states.get(alert.boreholeId);
      // A person's report (`reported_by_person`) has no condition for the rules to forget.
      if (state && isDataRule(alert.rule)) {
        const next = forgetCondition(state, alert.rule);
        this.states.set(alert.boreholeId, next);
        this.options.store.saveRuleState(alert.boreholeId, next);
      }
      return { kind: 'resolved', alert: updated, atMs: now, actor, notify: !alert.historical, ...(note ? { note } : {}) };
    });
  }

  /** A technician's maintenance visit: running hours start again, so maintenance_due clears. */
  recordMaintenance(boreholeId: string, actor: Actor, note: string): MaintenanceRecord {
    const now = this.options.now();
    const next = recordMaintenance(this.states.get(boreholeId) ?? initialRuleState());
    const record = this.options.store.transaction(() => {
      this.options.store.saveRuleState(boreholeId, next);
      return this.options.store.insertMaintenance({ boreholeId, atMs: now, by: actor, note });
    });
    this.states.set(boreholeId, next);
    this.tick();
    return record;
  }

  private change(alertId: string, transition: (alert: Alert, now: number) => AlertChange | null): Alert {
    const now = this.options.now();
    let result: Alert | null = null;
    let change: AlertChange | null = null;
    this.options.store.transaction(() => {
      const alert = this.options.store.alertById(alertId);
      if (!alert) throw new UnknownAlertError(`no alert ${alertId}`);
      change = transition(alert, now);
      result = change?.alert ?? alert;
      if (change) {
        this.options.store.updateAlert(change.alert);
        this.options.store.recordAlertChange(change);
      }
    });
    if (change) this.publish([change]);
    if (!result) throw new AlertTransitionError(`alert ${alertId} did not change`);
    return result;
  }

  private hold(boreholeId: string, readings: Reading[], now: number): void {
    const held = this.held.get(boreholeId);
    if (held) clearTimeout(held.timer);
    const entry: Held = {
      readings: [...(held?.readings ?? []), ...readings],
      firstAtMs: held?.firstAtMs ?? now,
      timer: setTimeout(() => this.flush(boreholeId), this.options.holdQuietMs ?? 500),
    };
    this.held.set(boreholeId, entry);
    if (now - entry.firstAtMs >= MAX_HOLD_MS) this.flush(boreholeId);
  }

  private flush(boreholeId: string): void {
    const held = this.held.get(boreholeId);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(boreholeId);
    this.judge([[boreholeId, held.readings]], this.serviceNow());
  }

  private judge(groups: readonly [string, Reading[]][], now: number): void {
    const changes: AlertChange[] = [];
    const updated = new Map<string, RuleState>();
    let late = 0;
    try {
      this.options.store.transaction(() => {
        for (const [boreholeId, readings] of groups) {
          // Accepted just before a registry reload removed the borehole: stored, no longer judged.
          if (!this.options.registry.boreholes.has(boreholeId)) continue;
          const state = this.states.get(boreholeId) ?? initialRuleState();
          const result = evaluateReadings(state, readings, now, this.contextOf(boreholeId));
          late += result.late;
          updated.set(boreholeId, result.state);
          this.options.store.saveRuleState(boreholeId, result.state);
          changes.push(...this.apply(boreholeId, result.events));
        }
      });
    } catch (error) {
      // The readings are stored whatever happens here; a rules failure must not stop ingest.
      // The in-memory state stays as the store has it, so the next reading judges afresh.
      this.options.log.error({ err: error }, 'rules evaluation failed');
      return;
    }
    for (const [boreholeId, state] of updated) this.states.set(boreholeId, state);
    this.lateReadings += late;
    this.publish(changes);
  }

  private contextOf(boreholeId: string): RuleContext {
    const borehole = this.options.registry.boreholes.get(boreholeId);
    if (!borehole) throw new Error(`borehole ${boreholeId} is not in the registry`);
    return { params: borehole.rules, intakeDepthM: borehole.pump.intake_depth_m };
  }

  /** Turns rule events into alert changes, inside the caller's transaction. */
  private apply(boreholeId: string, events: readonly RuleEvent[]): AlertChange[] {
    const { store } = this.options;
    const changes: AlertChange[] = [];
    for (const event of events) {
      const open = store.unresolvedAlert(boreholeId, event.rule);
      let change: AlertChange | null = null;
      if (event.type === 'raised') {
        if (!open) {
          const alert = store.insertAlert(openAlert(boreholeId, event.rule, event.severity, event.detail, event.atMs, event.live, event.fault ?? null));
          change = { kind: 'opened', alert, atMs: event.atMs, actor: 'rules', notify: event.live };
        } else {
          const escalated = escalate(open, event.severity, event.detail, event.live);
          if (escalated) change = { kind: 'escalated', alert: escalated, atMs: event.atMs, actor: 'rules', notify: event.live };
        }
      } else if (open) {
        change = { kind: 'resolved', alert: resolve(open, 'rules', event.atMs), atMs: event.atMs, actor: 'rules', notify: !open.historical };
      }
      if (!change) continue;
      if (change.kind !== 'opened') store.updateAlert(change.alert);
      store.recordAlertChange(change);
      changes.push(change);
    }
    return changes;
  }

  private publish(changes: readonly AlertChange[]): void {
    if (changes.length === 0) return;
    try {
      this.options.writeAlertPoints(changes);
    } catch (error) {
      this.options.log.error({ err: error }, 'alert points could not be journaled');
    }
    for (const change of changes) {
      this.options.log.info(
        { alertId: change.alert.id, code: change.alert.code, boreholeId: change.alert.boreholeId, rule: change.alert.rule, kind: change.kind, severity: change.alert.severity, notify: change.notify },
        'alert changed',
      );
      for (const listener of this.listeners) {
        try {
          listener(change);
        } catch (error) {
          this.options.log.error({ err: error }, 'alert listener failed');
        }
      }
    }
  }
}

/**
 * Whether a tick changed a state. Compared as the JSON it is stored as (an undefined property is
 * no property), without writing it out: two JSON.stringify a borehole were half of a tick.
 */
function sameState(a: RuleState, b: RuleState): boolean {
  return sameJson(a, b);
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item, index) => sameJson(item, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left).filter((key) => left[key] !== undefined);
  if (keys.length !== Object.keys(right).filter((key) => right[key] !== undefined).length) return false;
  return keys.every((key) => sameJson(left[key], right[key]));
}
