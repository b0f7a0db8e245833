import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AlertTransitionError, type AlertChange, type NewAlert, type Alert } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import type { RuleParamsOverride } from '../../../src/config/rule-params.js';
import type { Reading } from '../../../src/domain/reading.js';
import { RulesEngine, UnknownAlertError, type RulesEngineOptions } from '../../../src/rules/engine.js';
import { alertChangeLine, boreholeTags } from '../../../src/storage/points.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { registryFile, testRegistry } from '../../support/fixtures.js';

const T0_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const pump = (tsMs: number, running: boolean, fault: string | null = null, boreholeId = 'khabou'): Reading => ({
  boreholeId,
  kind: 'pump',
  tsMs,
  values: { running, fault },
});
const flow = (tsMs: number, rateLpm: number, boreholeId = 'khabou'): Reading => ({ boreholeId, kind: 'flow', tsMs, values: { rate_lpm: rateLpm } });
const level = (tsMs: number, depthM: number, boreholeId = 'khabou'): Reading => ({ boreholeId, kind: 'level', tsMs, values: { depth_m: depthM } });
const status = (tsMs: number, online: boolean, boreholeId = 'khabou'): Reading => ({ boreholeId, kind: 'status', tsMs, values: { online } });

/** The test registry with rule overrides for every borehole. */
function registryWith(rules: RuleParamsOverride, ids: readonly string[] = ['khabou']): Registry {
  return buildRegistry(registryFileSchema.parse({ ...registryFile(ids), rules }));
}

interface Harness {
  engine: RulesEngine;
  store: SqliteStore;
  registry: Registry;
  clock: { nowMs: number };
  /** What `writeAlertPoints` received, one entry per change. */
  points: AlertChange[];
  /** What the `onChange` listener heard. */
  heard: AlertChange[];
  /** The engine's log lines, parsed. */
  logs: { level: number; msg: string; err?: { message: string } }[];
}

function silentCollector(): { log: Logger; logs: Harness['logs'] } {
  const logs: Harness['logs'] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Harness['logs'][number]) });
  return { log, logs };
}

const opened: SqliteStore[] = [];
afterEach(() => {
  for (const store of opened.splice(0)) store.close();
});

function harness(
  options: { registry?: Registry; store?: SqliteStore; clock?: { nowMs: number }; monotonic?: { nowMs: number } } & Partial<Pick<RulesEngineOptions, 'holdOlderThanMs' | 'holdQuietMs'>> = {},
): Harness {
  const registry = options.registry ?? testRegistry(['khabou']);
  const store = options.store ?? new SqliteStore(':memory:');
  if (!options.store) opened.push(store);
  const clock = options.clock ?? { nowMs: T0_MS };
  const points: AlertChange[] = [];
  const heard: AlertChange[] = [];
  const { log, logs } = silentCollector();
  const engine = new RulesEngine({
    registry,
    store,
    now: () => clock.nowMs,
    ...(options.monotonic ? { monotonicNow: () => options.monotonic?.nowMs ?? 0 } : {}),
    log,
    writeAlertPoints: (changes) => void points.push(...changes),
    ...(options.holdOlderThanMs === undefined ? {} : { holdOlderThanMs: options.holdOlderThanMs }),
    ...(options.holdQuietMs === undefined ? {} : { holdQuietMs: options.holdQuietMs }),
  });
  engine.onChange((change) => void heard.push(change));
  return { engine, store, registry, clock, points, heard, logs };
}

/** Live readings: the clock moves to the reading time first, as it does for a connected device. */
function live(h: Harness, ...readings: Reading[]): void {
  h.clock.nowMs = Math.max(h.clock.nowMs, ...readings.map((r) => r.tsMs));
  h.engine.accept(readings);
}

const kinds = (changes: readonly AlertChange[]): string[] => changes.map((c) => `${c.kind} ${c.alert.rule} #${c.alert.code}`);
const unresolved = (h: Harness): Alert[] => h.store.listAlerts({ state: 'unresolved', limit: 100, offset: 0 }).alerts;
const only = <T>(items: readonly T[]): T => {
  expect(items).toHaveLength(1);
  return items[0] as T;
};

describe('RulesEngine: pump_fault', () => {
  it('opens a critical pump_fault alert on a dry_run reading, notified, with one alert point', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));

    const change = only(h.heard);
    expect(change).toMatchObject({ kind: 'opened', atMs: T0_MS, actor: 'rules', notify: true });
    expect(change.alert).toMatchObject({
      boreholeId: 'khabou',
      rule: 'pump_fault',
      severity: 'critical',
      state: 'open',
      message: 'Panne pompe : marche à sec',
      openedAtMs: T0_MS,
      historical: false,
    });
    expect(only(h.points)).toEqual(change);
    expect(alertChangeLine(change, boreholeTags(h.registry, 'khabou'))).toBe(
      `alert,borehole=khabou,commune=Kayes,region=Kayes,rule=pump_fault,severity=critical state="open",message="Panne pompe : marche à sec" ${T0_MS}`,
    );
    expect(only(unresolved(h))).toEqual(change.alert);
    expect(h.store.alertHistory(change.alert.id)).toMatchObject([{ kind: 'opened', state: 'open', actor: 'rules', atMs: T0_MS }]);
  });

  it('opens nothing new while the same fault repeats', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    for (let i = 1; i <= 5; i += 1) live(h, pump(T0_MS + i * MINUTE_MS, false, 'dry_run'));
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1']);
    expect(h.points).toHaveLength(1);
    expect(h.store.listAlerts({ limit: 100, offset: 0 }).total).toBe(1);
  });

  it('resolves it, by the rules, when a later reading shows the fault cleared for clear_minutes', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    live(h, pump(T0_MS + 2 * MINUTE_MS, false));
    live(h, pump(T0_MS + 6 * MINUTE_MS, false));
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1']);

    live(h, pump(T0_MS + 7 * MINUTE_MS, false));
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1']);
    const resolved = h.heard[1];
    expect(resolved).toMatchObject({ actor: 'rules', notify: true, atMs: T0_MS + 2 * MINUTE_MS });
    expect(resolved?.alert).toMatchObject({ state: 'resolved', resolvedBy: 'rules', resolvedAtMs: T0_MS + 2 * MINUTE_MS });
    expect(h.points).toHaveLength(2);
    expect(unresolved(h)).toEqual([]);
    expect(h.store.alertHistory(resolved?.alert.id ?? '').map((e) => [e.kind, e.actor])).toEqual([
      ['opened', 'rules'],
      ['resolved', 'rules'],
    ]);
  });

  it('keeps it open when the fault comes back before clear_minutes', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    live(h, pump(T0_MS + 2 * MINUTE_MS, false));
    live(h, pump(T0_MS + 4 * MINUTE_MS, false, 'dry_run'));
    live(h, pump(T0_MS + 8 * MINUTE_MS, false, 'dry_run'));
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1']);
    expect(unresolved(h)).toHaveLength(1);
  });

  it('resolves it on a tick once the wall clock has passed clear_minutes without a new reading', () => {
    const h = harness({ registry: registryWith({ clear_minutes: 1 }) });
    live(h, pump(T0_MS, false, 'dry_run'));
    live(h, pump(T0_MS + MINUTE_MS, false));

    h.clock.nowMs = T0_MS + MINUTE_MS + 59_000;
    h.engine.tick();
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1']);

    h.clock.nowMs = T0_MS + 2 * MINUTE_MS;
    h.engine.tick();
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1']);
    expect(h.heard[1]).toMatchObject({ actor: 'rules', notify: true, alert: { state: 'resolved', resolvedAtMs: T0_MS + MINUTE_MS } });
    expect(h.points).toHaveLength(2);
  });
});

describe('RulesEngine: people acknowledge and resolve', () => {
  it('acknowledges an alert and records who did it', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    const alert = only(h.heard).alert;

    h.clock.nowMs = T0_MS + 3 * MINUTE_MS;
    const acknowledged = h.engine.acknowledge(alert.id, 'sms:+22376000000');
    expect(acknowledged).toMatchObject({ id: alert.id, state: 'acknowledged', acknowledgedAtMs: T0_MS + 3 * MINUTE_MS, acknowledgedBy: 'sms:+22376000000' });
    expect(h.store.alertById(alert.id)).toEqual(acknowledged);
    expect(h.store.alertHistory(alert.id).map((e) => [e.kind, e.state, e.actor, e.atMs])).toEqual([
      ['opened', 'open', 'rules', T0_MS],
      ['acknowledged', 'acknowledged', 'sms:+22376000000', T0_MS + 3 * MINUTE_MS],
    ]);
    expect(h.heard.at(-1)).toMatchObject({ kind: 'acknowledged', actor: 'sms:+22376000000', notify: true });
    expect(h.points).toHaveLength(2);
  });

  it('acknowledging twice changes nothing and tells nobody', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    const alert = only(h.heard).alert;
    const first = h.engine.acknowledge(alert.id, 'sms:+22376000000');
    h.clock.nowMs += MINUTE_MS;
    expect(h.engine.acknowledge(alert.id, 'api:operator')).toEqual(first);
    expect(h.store.alertHistory(alert.id)).toHaveLength(2);
    expect(h.heard).toHaveLength(2);
    expect(h.points).toHaveLength(2);
  });

  it('refuses an unknown alert id with UnknownAlertError', () => {
    const h = harness();
    expect(() => h.engine.acknowledge('no-such-alert', 'api:operator')).toThrow(UnknownAlertError);
    expect(() => h.engine.resolve('no-such-alert', 'api:operator')).toThrow(UnknownAlertError);
  });

  it('resolves an alert for a person, and a fault that persists opens a NEW alert', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    const first = only(h.heard).alert;

    h.clock.nowMs = T0_MS + 10 * MINUTE_MS;
    const resolved = h.engine.resolve(first.id, 'api:operator', 'pompe réarmée');
    expect(resolved).toMatchObject({ state: 'resolved', resolvedBy: 'api:operator', resolvedAtMs: T0_MS + 10 * MINUTE_MS });
    expect(h.heard.at(-1)).toMatchObject({ kind: 'resolved', actor: 'api:operator', note: 'pompe réarmée', notify: true });
    expect(h.store.alertHistory(first.id).at(-1)).toMatchObject({ kind: 'resolved', actor: 'api:operator', note: 'pompe réarmée' });

    live(h, pump(T0_MS + 11 * MINUTE_MS, false, 'dry_run'));
    const reopened = h.heard.at(-1);
    expect(reopened).toMatchObject({ kind: 'opened', notify: true, alert: { rule: 'pump_fault', state: 'open', openedAtMs: T0_MS + 11 * MINUTE_MS } });
    expect(reopened?.alert.code).toBeGreaterThan(first.code);
    expect(only(unresolved(h)).id).toBe(reopened?.alert.id);
    expect(h.store.alertById(first.id)?.state).toBe('resolved');
  });

  it('refuses to acknowledge or resolve a resolved alert with AlertTransitionError, changing nothing', () => {
    const h = harness();
    live(h, pump(T0_MS, false, 'dry_run'));
    const alert = only(h.heard).alert;
    h.engine.resolve(alert.id, 'api:operator');
    const after = h.store.alertById(alert.id);
    expect(() => h.engine.acknowledge(alert.id, 'api:operator')).toThrow(AlertTransitionError);
    expect(() => h.engine.resolve(alert.id, 'api:operator')).toThrow(AlertTransitionError);
    expect(h.store.alertById(alert.id)).toEqual(after);
    expect(h.store.alertHistory(alert.id)).toHaveLength(2);
  });
});

describe('RulesEngine: durations and escalation', () => {
  it('opens no_flow after 10 minutes running dry, at the moment the duration was reached', () => {
    const h = harness();
    live(h, pump(T0_MS, true), flow(T0_MS, 0));
    // Each cycle the device sends its pump and its flow: no_flow judges an instant both reached.
    live(h, pump(T0_MS + 5 * MINUTE_MS, true), flow(T0_MS + 5 * MINUTE_MS, 0));
    live(h, pump(T0_MS + 9 * MINUTE_MS, true), flow(T0_MS + 9 * MINUTE_MS, 0.5));
    expect(h.heard).toEqual([]);
    live(h, pump(T0_MS + 12 * MINUTE_MS, true), flow(T0_MS + 12 * MINUTE_MS, 0));
    expect(only(h.heard)).toMatchObject({ kind: 'opened', notify: true, alert: { rule: 'no_flow', severity: 'critical', openedAtMs: T0_MS + 10 * MINUTE_MS } });
  });

  it('escalates an open low_water warning to critical when the water reaches the intake: same alert, notified', () => {
    const h = harness();
    live(h, level(T0_MS, 53));
    const warning = only(h.heard);
    expect(warning).toMatchObject({ kind: 'opened', alert: { rule: 'low_water', severity: 'warning' } });
    live(h, level(T0_MS + MINUTE_MS, 55.5));
    expect(kinds(h.heard)).toEqual([`opened low_water #${warning.alert.code}`, `escalated low_water #${warning.alert.code}`]);
    expect(h.heard[1]).toMatchObject({ notify: true, alert: { severity: 'critical', state: 'open' } });
    expect(only(unresolved(h))).toMatchObject({ id: warning.alert.id, severity: 'critical' });
    expect(h.store.alertHistory(warning.alert.id).map((e) => [e.kind, e.severity])).toEqual([
      ['opened', 'warning'],
      ['escalated', 'critical'],
    ]);
  });
});

/** A pump reading every 10 minutes over 6 hours from T0, with a dry_run fault from 1 h to 1 h 30. */
function sixHourBatch(): Reading[] {
  const readings: Reading[] = [];
  for (let t = T0_MS; t < T0_MS + 6 * HOUR_MS; t += 10 * MINUTE_MS) {
    const fault = t >= T0_MS + HOUR_MS && t < T0_MS + 90 * MINUTE_MS ? 'dry_run' : null;
    readings.push(pump(t, fault === null, fault));
  }
  return readings;
}

describe('RulesEngine: store-and-forward history', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('records a fault that cleared inside a 6-hour batch as opened AND resolved, historical, notifying nobody', () => {
    const h = harness({ holdOlderThanMs: DAY_MS, clock: { nowMs: T0_MS + 6 * HOUR_MS } });
    h.engine.accept(sixHourBatch());

    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1']);
    expect(h.heard[0]).toMatchObject({ notify: false, atMs: T0_MS + HOUR_MS, alert: { historical: true, openedAtMs: T0_MS + HOUR_MS } });
    expect(h.heard[1]).toMatchObject({ notify: false, atMs: T0_MS + 90 * MINUTE_MS, alert: { historical: true, state: 'resolved', resolvedBy: 'rules' } });
    expect(h.store.alertByCode(1)).toMatchObject({ state: 'resolved', historical: true, openedAtMs: T0_MS + HOUR_MS, resolvedAtMs: T0_MS + 90 * MINUTE_MS });
    expect(h.points).toHaveLength(2);
  });

  it('holds history until the borehole is quiet, then judges it (fake timers)', () => {
    vi.useFakeTimers();
    const h = harness({ clock: { nowMs: T0_MS + 6 * HOUR_MS } });
    h.engine.accept(sixHourBatch());
    expect(h.heard).toEqual([]);

    vi.advanceTimersByTime(499);
    expect(h.heard).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1']);
    expect(h.heard.map((c) => [c.notify, c.alert.historical])).toEqual([
      [false, true],
      [false, true],
    ]);
  });

  it('judges the pump and flow batches a device sends one after the other together, in time order', () => {
    vi.useFakeTimers();
    const h = harness({ clock: { nowMs: T0_MS + 6 * HOUR_MS } });
    const pumps: Reading[] = [];
    const flows: Reading[] = [];
    for (let t = T0_MS; t < T0_MS + 6 * HOUR_MS; t += 10 * MINUTE_MS) {
      pumps.push(pump(t, true));
      // No flow from 1 h to 1 h 30 while the pump runs: no_flow held for 10 minutes, then cleared.
      flows.push(flow(t, t >= T0_MS + HOUR_MS && t < T0_MS + 90 * MINUTE_MS ? 0 : 40));
    }
    h.engine.accept(pumps);
    h.clock.nowMs += 100;
    vi.advanceTimersByTime(100);
    h.engine.accept(flows);
    vi.advanceTimersByTime(500);
    expect(kinds(h.heard)).toEqual(['opened no_flow #1', 'resolved no_flow #1']);
    expect(h.heard[0]).toMatchObject({ notify: false, alert: { historical: true, openedAtMs: T0_MS + 70 * MINUTE_MS } });
  });

  it('notifies a fault in a batch that still holds at the newest reading', () => {
    const h = harness({ holdOlderThanMs: DAY_MS, clock: { nowMs: T0_MS + 6 * HOUR_MS } });
    const batch = sixHourBatch().map((r) => (r.kind === 'pump' && r.tsMs >= T0_MS + 5 * HOUR_MS ? pump(r.tsMs, false, 'overload') : r));
    h.engine.accept(batch);
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1', 'opened pump_fault #2']);
    expect(h.heard.map((c) => c.notify)).toEqual([false, false, true]);
    expect(h.store.alertByCode(2)).toMatchObject({ historical: false, state: 'open', message: 'Panne pompe : surcharge' });
  });

  it('does not let the status a reconnecting device publishes first make the history that follows late', () => {
    // A device announces itself on every (re)connection (retained status, no `ts`, so stamped with
    // the receive time), then sends what it held while it was offline.
    const h = harness({ holdOlderThanMs: DAY_MS, clock: { nowMs: T0_MS + 6 * HOUR_MS } });
    h.engine.accept([status(T0_MS + 6 * HOUR_MS, true)]);
    h.engine.accept(sixHourBatch());
    expect(h.engine.lateReadingCount).toBe(0);
    expect(kinds(h.heard)).toEqual(['opened pump_fault #1', 'resolved pump_fault #1']);
  });
});

describe('RulesEngine: the service\'s own downtime and clocks', () => {
  // Fails on the code of before: silence was counted from the last message before the service
  // stopped, so every borehole went offline (and its committee was told) at the first tick.
  it('counts silence from the restart, not from the last message before the service stopped', () => {
    const store = new SqliteStore(':memory:');
    opened.push(store);
    const clock = { nowMs: T0_MS };
    const before = harness({ store, clock });
    before.engine.start();
    live(before, pump(T0_MS, false));
    before.engine.stop();

    clock.nowMs = T0_MS + 3 * HOUR_MS; // a power cut of the server: three hours down
    const after = harness({ store, clock });
    after.engine.start();
    after.engine.tick();
    expect(after.heard).toEqual([]);
    clock.nowMs += 59 * MINUTE_MS;
    after.engine.tick();
    expect(after.heard).toEqual([]);
    clock.nowMs += MINUTE_MS;
    after.engine.tick();
    // Still silent offline_minutes after the restart: now it is offline.
    expect(only(after.heard)).toMatchObject({ kind: 'opened', alert: { rule: 'offline', openedAtMs: T0_MS + 4 * HOUR_MS } });
    after.engine.stop();
  });

  it('does not judge silence while the broker connection is down, and counts it again from the reconnection', () => {
    const h = harness();
    live(h, pump(T0_MS, false));
    h.clock.nowMs = T0_MS + 5 * MINUTE_MS;
    h.engine.hearingLost();
    h.clock.nowMs = T0_MS + 2 * HOUR_MS;
    h.engine.tick();
    expect(h.heard).toEqual([]);
    h.engine.hearingResumed();
    h.clock.nowMs += 59 * MINUTE_MS;
    h.engine.tick();
    expect(h.heard).toEqual([]);
    h.clock.nowMs += MINUTE_MS;
    h.engine.tick();
    expect(kinds(h.heard)).toEqual(['opened offline #1']);
  });

  it('measures silence on the monotonic clock: a wall clock stepped forward opens nothing, one stepped back freezes nothing', () => {
    const monotonic = { nowMs: 0 };
    const h = harness({ monotonic });
    live(h, pump(T0_MS, false));
    // NTP steps the wall clock two hours forward; one real minute passes.
    h.clock.nowMs = T0_MS + 2 * HOUR_MS;
    monotonic.nowMs += MINUTE_MS;
    h.engine.tick();
    expect(h.heard).toEqual([]);
    // Then an hour back; 61 real minutes pass in all: the borehole is offline all the same.
    h.clock.nowMs = T0_MS + HOUR_MS;
    monotonic.nowMs += 60 * MINUTE_MS;
    h.engine.tick();
    expect(only(h.heard)).toMatchObject({ kind: 'opened', alert: { rule: 'offline' } });
  });
});

describe('RulesEngine: offline', () => {
  it('opens offline on a tick after 60 minutes of wall-clock silence, at the moment silence reached the limit', () => {
    const h = harness();
    live(h, pump(T0_MS, false));
    h.clock.nowMs = T0_MS + 59 * MINUTE_MS;
    h.engine.tick();
    expect(h.heard).toEqual([]);

    h.clock.nowMs = T0_MS + 60 * MINUTE_MS + 3_000;
    h.engine.tick();
    expect(only(h.heard)).toMatchObject({
      kind: 'opened',
      notify: true,
      actor: 'rules',
      alert: { rule: 'offline', severity: 'warning', openedAtMs: T0_MS + 60 * MINUTE_MS, historical: false },
    });
    h.clock.nowMs += 5_000;
    h.engine.tick();
    expect(h.heard).toHaveLength(1);
  });

  it('resolves offline when the borehole talks again and stays heard for clear_minutes', () => {
    const h = harness();
    live(h, pump(T0_MS, false));
    h.clock.nowMs = T0_MS + 61 * MINUTE_MS;
    h.engine.tick();
    expect(kinds(h.heard)).toEqual(['opened offline #1']);

    live(h, pump(T0_MS + 62 * MINUTE_MS, false));
    h.clock.nowMs = T0_MS + 67 * MINUTE_MS;
    h.engine.tick();
    expect(kinds(h.heard)).toEqual(['opened offline #1', 'resolved offline #1']);
    expect(h.heard[1]?.alert.resolvedAtMs).toBe(T0_MS + 62 * MINUTE_MS);
  });

  it('does not judge a borehole it has never heard from as offline', () => {
    const h = harness();
    h.clock.nowMs = T0_MS + 10 * HOUR_MS;
    h.engine.tick();
    expect(h.heard).toEqual([]);
  });
});

describe('RulesEngine: maintenance', () => {
  it('stores a maintenance record and starts the running hours again', () => {
    const h = harness();
    live(h, pump(T0_MS, true), flow(T0_MS, 40));
    live(h, pump(T0_MS + 30 * MINUTE_MS, true), flow(T0_MS + 30 * MINUTE_MS, 40));
    expect(h.engine.stateOf('khabou')?.runningMsSinceService).toBe(30 * MINUTE_MS);

    h.clock.nowMs = T0_MS + 31 * MINUTE_MS;
    const record = h.engine.recordMaintenance('khabou', 'api:operator', 'roulements changés');
    expect(record).toEqual({ id: 1, boreholeId: 'khabou', atMs: T0_MS + 31 * MINUTE_MS, by: 'api:operator', note: 'roulements changés' });
    expect(h.store.listMaintenance('khabou')).toEqual([record]);
    expect(h.engine.stateOf('khabou')?.runningMsSinceService).toBe(0);
    expect(h.store.loadRuleStates().get('khabou')?.runningMsSinceService).toBe(0);
  });

  it('resolves maintenance_due once maintenance is recorded', () => {
    const h = harness({ registry: registryWith({ service_hours: 0.1, clear_minutes: 0 }) });
    live(h, pump(T0_MS, true), flow(T0_MS, 40));
    live(h, pump(T0_MS + 10 * MINUTE_MS, true), flow(T0_MS + 10 * MINUTE_MS, 40));
    expect(kinds(h.heard)).toEqual(['opened maintenance_due #1']);
    expect(h.heard[0]?.alert.severity).toBe('info');

    h.engine.recordMaintenance('khabou', 'api:operator', '');
    expect(kinds(h.heard)).toEqual(['opened maintenance_due #1', 'resolved maintenance_due #1']);
    expect(unresolved(h)).toEqual([]);
  });
});

describe('RulesEngine: restart', () => {
  it('continues a pending no_flow duration across a restart and opens the alert on time', () => {
    const store = new SqliteStore(':memory:');
    opened.push(store);
    const clock = { nowMs: T0_MS };
    const before = harness({ store, clock });
    before.engine.start();
    live(before, pump(T0_MS, true), flow(T0_MS, 0));
    expect(before.engine.stateOf('khabou')?.conditions.no_flow).toMatchObject({ phase: 'pending', sinceMs: T0_MS });
    before.engine.stop();

    const after = harness({ store, clock });
    after.engine.start();
    try {
      live(after, pump(T0_MS + 10 * MINUTE_MS, true), flow(T0_MS + 10 * MINUTE_MS, 0));
      expect(only(after.heard)).toMatchObject({
        kind: 'opened',
        notify: true,
        alert: { rule: 'no_flow', severity: 'critical', openedAtMs: T0_MS + 10 * MINUTE_MS },
      });
      expect(before.heard).toEqual([]);
    } finally {
      after.engine.stop();
    }
  });

  it('closes an alert opened before a restart rather than opening a second one', () => {
    const store = new SqliteStore(':memory:');
    opened.push(store);
    const clock = { nowMs: T0_MS };
    const before = harness({ store, clock });
    before.engine.start();
    live(before, pump(T0_MS, false, 'dry_run'));
    before.engine.stop();

    const after = harness({ store, clock });
    after.engine.start();
    try {
      live(after, pump(T0_MS + MINUTE_MS, false, 'dry_run'));
      live(after, pump(T0_MS + 2 * MINUTE_MS, false));
      live(after, pump(T0_MS + 8 * MINUTE_MS, false));
      expect(kinds(after.heard)).toEqual(['resolved pump_fault #1']);
    } finally {
      after.engine.stop();
    }
  });
});

describe('RulesEngine: failures', () => {
  it('logs a rules failure (the store cannot save) and does not throw out of accept()', () => {
    class BrokenStore extends SqliteStore {
      override saveRuleState(): void {
        throw new Error('SQLITE_IOERR: disk I/O error');
      }
    }
    const h = harness({ store: new BrokenStore(':memory:') });
    expect(() => h.engine.accept([pump(T0_MS, false, 'dry_run')])).not.toThrow();
    expect(h.logs).toContainEqual(expect.objectContaining({ level: 50, msg: 'rules evaluation failed', err: expect.objectContaining({ message: 'SQLITE_IOERR: disk I/O error' }) as unknown }));
    expect(h.heard).toEqual([]);
    expect(h.store.listAlerts({ limit: 10, offset: 0 }).total).toBe(0);
  });

  it('skips the readings of a borehole gone from the registry (a reload removed it) and judges the others', () => {
    // Accepted by ingest just before the reload: stored, but judged by nobody, and no failure.
    const h = harness();
    expect(() => h.engine.accept([pump(T0_MS, false, 'dry_run', 'ghost'), pump(T0_MS, false, 'dry_run')])).not.toThrow();
    expect(h.logs.filter((line) => line.level >= 50)).toEqual([]);
    expect(only(unresolved(h))).toMatchObject({ boreholeId: 'khabou', rule: 'pump_fault' });
  });

  it('keeps judging after a failure: a fault that persists opens its alert', () => {
    // Readings of a known and an unknown borehole in one commit: the failed transaction is rolled
    // back, so the engine's memory must not run ahead of the store.
    const h = harness();
    expect(() => live(h, pump(T0_MS, false, 'dry_run'), pump(T0_MS, false, 'dry_run', 'ghost'))).not.toThrow();
    live(h, pump(T0_MS + MINUTE_MS, false, 'dry_run'));
    expect(only(unresolved(h))).toMatchObject({ boreholeId: 'khabou', rule: 'pump_fault' });
    expect(kinds(h.heard)).toContain('opened pump_fault #1');
  });

  it('opens the alert on the next reading after the store failed to record it (disk full)', () => {
    class FailingStore extends SqliteStore {
      failures = 0;
      override insertAlert(alert: NewAlert): Alert {
        if (this.failures > 0) {
          this.failures -= 1;
          throw new Error('SQLITE_FULL: database or disk is full');
        }
        return super.insertAlert(alert);
      }
    }
    const store = new FailingStore(':memory:');
    opened.push(store);
    const h = harness({ store });
    store.failures = 1;
    expect(() => live(h, pump(T0_MS, false, 'dry_run'))).not.toThrow();
    expect(h.logs.some((line) => line.msg === 'rules evaluation failed')).toBe(true);

    live(h, pump(T0_MS + MINUTE_MS, false, 'dry_run'));
    expect(only(unresolved(h))).toMatchObject({ rule: 'pump_fault', state: 'open' });
    expect(h.heard.map((c) => [c.kind, c.notify])).toEqual([['opened', true]]);
  });

  it('logs a store failure during a tick instead of throwing out of the ticker (which would crash the process)', () => {
    class FailingStore extends SqliteStore {
      failing = false;
      override saveRuleState(...args: Parameters<SqliteStore['saveRuleState']>): void {
        if (this.failing) throw new Error('SQLITE_FULL: database or disk is full');
        super.saveRuleState(...args);
      }
    }
    const store = new FailingStore(':memory:');
    opened.push(store);
    const h = harness({ store });
    live(h, pump(T0_MS, false));
    store.failing = true;
    h.clock.nowMs = T0_MS + 61 * MINUTE_MS;
    expect(() => h.engine.tick()).not.toThrow();
    expect(h.logs.some((line) => line.level >= 50)).toBe(true);

    // Once the store is back, the next tick opens what the failed one could not record.
    store.failing = false;
    h.clock.nowMs += 5_000;
    h.engine.tick();
    expect(only(unresolved(h))).toMatchObject({ rule: 'offline' });
  });

  it('tells the listeners even when the alert points cannot be written, and logs it', () => {
    const { log, logs } = silentCollector();
    const store = new SqliteStore(':memory:');
    opened.push(store);
    const heard: AlertChange[] = [];
    const engine = new RulesEngine({
      registry: testRegistry(['khabou']),
      store,
      now: () => T0_MS,
      log,
      writeAlertPoints: () => {
        throw new Error('journal full');
      },
    });
    engine.onChange((change) => void heard.push(change));
    engine.accept([pump(T0_MS, false, 'dry_run')]);
    expect(heard).toHaveLength(1);
    expect(logs.map((line) => line.msg)).toContain('alert points could not be journaled');
  });

  it('keeps telling the other listeners when one throws', () => {
    const h = harness();
    const second: AlertChange[] = [];
    h.engine.onChange(() => {
      throw new Error('sms outbox down');
    });
    h.engine.onChange((change) => void second.push(change));
    live(h, pump(T0_MS, false, 'dry_run'));
    expect(second).toHaveLength(1);
    expect(h.logs.map((line) => line.msg)).toContain('alert listener failed');
  });
});

describe('RulesEngine: clock', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('re-checks time-only conditions on its own ticker once started', () => {
    const h = harness();
    h.engine.start();
    try {
      live(h, pump(T0_MS, false));
      h.clock.nowMs = T0_MS + 60 * MINUTE_MS;
      vi.advanceTimersByTime(10_000);
      expect(kinds(h.heard)).toEqual(['opened offline #1']);
    } finally {
      h.engine.stop();
    }
  });
});
