import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openAlert, resolve, type Alert, type AlertChange, type NewAlert } from '../../../src/alerts/alert.js';
import { initialRuleState, type RuleState } from '../../../src/rules/types.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { tempDir } from '../../support/fixtures.js';

const T0_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
const MINUTE_MS = 60_000;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A database file path in a fresh directory under os.tmpdir(); the directory `state/` does not exist yet. */
function tempDbPath(): string {
  const dir = tempDir('sqlite-store');
  dirs.push(dir);
  return join(dir, 'state', 'state.db');
}

const faultAlert = (boreholeId: string, atMs: number, rule: NewAlert['rule'] = 'pump_fault'): NewAlert =>
  openAlert(boreholeId, rule, 'critical', 'marche à sec', atMs, true);

const change = (kind: AlertChange['kind'], alert: Alert, atMs: number, actor: string, note?: string): AlertChange => ({
  kind,
  alert,
  atMs,
  actor,
  notify: true,
  ...(note === undefined ? {} : { note }),
});

describe.each([
  ['a file under the temp directory', tempDbPath],
  [':memory:', () => ':memory:'],
])('SqliteStore on %s', (_name, pathOf) => {
  let store: SqliteStore;
  const open = (): SqliteStore => {
    store = new SqliteStore(pathOf());
    return store;
  };
  afterEach(() => store.close());

  it('gives alerts short numeric codes that increase from 1', () => {
    open();
    const codes = ['khabou', 'marena', 'diombougou'].map((id, i) => store.insertAlert(faultAlert(id, T0_MS + i)).code);
    expect(codes).toEqual([1, 2, 3]);
    expect(store.alertByCode(2)?.boreholeId).toBe('marena');
  });

  it('returns an inserted alert as it was given, with an id and a code, by id and by code', () => {
    open();
    const alert = store.insertAlert({ ...faultAlert('khabou', T0_MS), historical: true });
    expect(alert.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(store.alertById(alert.id)).toEqual(alert);
    expect(store.alertByCode(alert.code)).toEqual(alert);
    expect(store.alertById('no-such-id')).toBeNull();
    expect(store.alertByCode(999)).toBeNull();
  });

  it('refuses a second unresolved alert for the same borehole and rule', () => {
    open();
    store.insertAlert(faultAlert('khabou', T0_MS));
    expect(() => store.insertAlert(faultAlert('khabou', T0_MS + MINUTE_MS))).toThrow(/UNIQUE constraint failed/);
    // Another rule or another borehole is a different alert.
    expect(() => store.insertAlert(faultAlert('khabou', T0_MS, 'no_flow'))).not.toThrow();
    expect(() => store.insertAlert(faultAlert('marena', T0_MS))).not.toThrow();
  });

  it('refuses an acknowledged alert next to an open one for the same borehole and rule', () => {
    open();
    store.insertAlert(faultAlert('khabou', T0_MS));
    expect(() => store.insertAlert({ ...faultAlert('khabou', T0_MS), state: 'acknowledged' })).toThrow(/UNIQUE/);
  });

  it('accepts a new alert for the same borehole and rule once the first is resolved', () => {
    open();
    const first = store.insertAlert(faultAlert('khabou', T0_MS));
    store.updateAlert(resolve(first, 'rules', T0_MS + 10 * MINUTE_MS));
    const second = store.insertAlert(faultAlert('khabou', T0_MS + 20 * MINUTE_MS));
    expect(second.code).toBeGreaterThan(first.code);
    expect(store.unresolvedAlert('khabou', 'pump_fault')?.id).toBe(second.id);
  });

  it('finds the one unresolved alert of a borehole and rule, and none once it is resolved', () => {
    open();
    expect(store.unresolvedAlert('khabou', 'pump_fault')).toBeNull();
    const alert = store.insertAlert(faultAlert('khabou', T0_MS));
    expect(store.unresolvedAlert('khabou', 'pump_fault')).toEqual(alert);
    expect(store.unresolvedAlert('khabou', 'no_flow')).toBeNull();
    store.updateAlert(resolve(alert, 'rules', T0_MS + MINUTE_MS));
    expect(store.unresolvedAlert('khabou', 'pump_fault')).toBeNull();
  });

  it('updates every changing field of an alert', () => {
    open();
    const alert = store.insertAlert({ ...faultAlert('khabou', T0_MS), severity: 'warning', historical: true });
    const changed: Alert = {
      ...alert,
      severity: 'critical',
      state: 'resolved',
      message: 'autre',
      acknowledgedAtMs: T0_MS + 1,
      acknowledgedBy: 'sms:+22376000001',
      resolvedAtMs: T0_MS + 2,
      resolvedBy: 'api:operator',
      historical: false,
    };
    store.updateAlert(changed);
    expect(store.alertById(alert.id)).toEqual(changed);
  });

  describe('listAlerts', () => {
    /** khabou: resolved (t0), acknowledged (t0+2); marena: open (t0+1), open (t0+3); diombougou: open (t0+4). */
    function seed(): Alert[] {
      open();
      const a = store.insertAlert(faultAlert('khabou', T0_MS));
      store.updateAlert({ ...a, state: 'resolved', resolvedAtMs: T0_MS + 5, resolvedBy: 'rules' });
      const b = store.insertAlert(faultAlert('marena', T0_MS + MINUTE_MS));
      const c = store.insertAlert(faultAlert('khabou', T0_MS + 2 * MINUTE_MS));
      store.updateAlert({ ...c, state: 'acknowledged', acknowledgedAtMs: T0_MS + 3 * MINUTE_MS, acknowledgedBy: 'api:operator' });
      const d = store.insertAlert(faultAlert('marena', T0_MS + 3 * MINUTE_MS, 'low_water'));
      const e = store.insertAlert(faultAlert('diombougou', T0_MS + 4 * MINUTE_MS));
      return [a, b, c, d, e];
    }
    const codesOf = (result: { alerts: Alert[] }): number[] => result.alerts.map((alert) => alert.code);

    it('lists every alert newest first with the total', () => {
      seed();
      const result = store.listAlerts({ limit: 100, offset: 0 });
      expect(codesOf(result)).toEqual([5, 4, 3, 2, 1]);
      expect(result.total).toBe(5);
    });

    it('orders alerts by when they opened, not by when they were inserted', () => {
      open();
      store.insertAlert(faultAlert('khabou', T0_MS + 60 * MINUTE_MS));
      // A historical alert from a store-and-forward batch arrives later but happened earlier.
      store.insertAlert({ ...faultAlert('marena', T0_MS), historical: true });
      expect(codesOf(store.listAlerts({ limit: 10, offset: 0 }))).toEqual([1, 2]);
    });

    it.each([
      ['open', [5, 4, 2]],
      ['acknowledged', [3]],
      ['resolved', [1]],
      ['unresolved', [5, 4, 3, 2]],
    ] as const)('filters by state %s', (state, codes) => {
      seed();
      const result = store.listAlerts({ state, limit: 100, offset: 0 });
      expect(codesOf(result)).toEqual(codes);
      expect(result.total).toBe(codes.length);
    });

    it('filters by borehole ids', () => {
      seed();
      expect(codesOf(store.listAlerts({ boreholeIds: ['khabou'], limit: 100, offset: 0 }))).toEqual([3, 1]);
      expect(codesOf(store.listAlerts({ boreholeIds: ['khabou', 'diombougou'], limit: 100, offset: 0 }))).toEqual([5, 3, 1]);
      expect(store.listAlerts({ boreholeIds: ['nowhere'], limit: 100, offset: 0 })).toEqual({ alerts: [], total: 0 });
    });

    it('finds nothing for an empty list of borehole ids', () => {
      seed();
      expect(store.listAlerts({ boreholeIds: [], limit: 100, offset: 0 })).toEqual({ alerts: [], total: 0 });
    });

    it('combines the state and borehole filters', () => {
      seed();
      const result = store.listAlerts({ state: 'unresolved', boreholeIds: ['khabou'], limit: 100, offset: 0 });
      expect(codesOf(result)).toEqual([3]);
      expect(result.total).toBe(1);
    });

    it('pages with limit and offset while total counts every match', () => {
      seed();
      const pages = [0, 2, 4].map((offset) => store.listAlerts({ limit: 2, offset }));
      expect(pages.map(codesOf)).toEqual([[5, 4], [3, 2], [1]]);
      expect(pages.map((page) => page.total)).toEqual([5, 5, 5]);
      expect(store.listAlerts({ limit: 2, offset: 10 })).toEqual({ alerts: [], total: 5 });
      expect(store.listAlerts({ state: 'open', limit: 1, offset: 1 })).toMatchObject({ total: 3 });
      expect(codesOf(store.listAlerts({ state: 'open', limit: 1, offset: 1 }))).toEqual([4]);
    });
  });

  it('records every change of an alert with its actor, in order', () => {
    open();
    const opened = store.insertAlert(faultAlert('khabou', T0_MS));
    const acknowledged: Alert = { ...opened, state: 'acknowledged', acknowledgedAtMs: T0_MS + MINUTE_MS, acknowledgedBy: 'sms:+22376000001' };
    const resolved: Alert = { ...acknowledged, state: 'resolved', resolvedAtMs: T0_MS + 9 * MINUTE_MS, resolvedBy: 'api:operator' };
    store.recordAlertChange(change('opened', opened, T0_MS, 'rules'));
    store.recordAlertChange(change('acknowledged', acknowledged, T0_MS + MINUTE_MS, 'sms:+22376000001'));
    store.recordAlertChange(change('resolved', resolved, T0_MS + 9 * MINUTE_MS, 'api:operator', 'pompe remplacée'));
    const other = store.insertAlert(faultAlert('marena', T0_MS));
    store.recordAlertChange(change('opened', other, T0_MS, 'rules'));

    expect(store.alertHistory(opened.id)).toEqual([
      { alertId: opened.id, atMs: T0_MS, kind: 'opened', state: 'open', severity: 'critical', actor: 'rules', note: null },
      { alertId: opened.id, atMs: T0_MS + MINUTE_MS, kind: 'acknowledged', state: 'acknowledged', severity: 'critical', actor: 'sms:+22376000001', note: null },
      { alertId: opened.id, atMs: T0_MS + 9 * MINUTE_MS, kind: 'resolved', state: 'resolved', severity: 'critical', actor: 'api:operator', note: 'pompe remplacée' },
    ]);
    expect(store.alertHistory('no-such-alert')).toEqual([]);
  });

  it('refuses history for an alert that does not exist', () => {
    open();
    const ghost: Alert = { ...faultAlert('khabou', T0_MS), id: 'ghost', code: 42 };
    expect(() => store.recordAlertChange(change('opened', ghost, T0_MS, 'rules'))).toThrow(/FOREIGN KEY/);
  });

  it('round-trips rule state per borehole, the last save winning', () => {
    open();
    expect(store.loadRuleStates()).toEqual(new Map());
    const khabou: RuleState = {
      ...initialRuleState(),
      lastTsMs: T0_MS,
      running: true,
      runningMsSinceService: 5 * 3_600_000,
      starts: [T0_MS - MINUTE_MS],
      conditions: { no_flow: { phase: 'pending', sinceMs: T0_MS, severity: 'critical', detail: 'débit 0 l/min' } },
    };
    store.saveRuleState('khabou', initialRuleState());
    store.saveRuleState('khabou', khabou);
    store.saveRuleState('marena', initialRuleState());
    expect(store.loadRuleStates()).toEqual(new Map([['khabou', khabou], ['marena', initialRuleState()]]));
  });

  it('round-trips maintenance records, newest first per borehole', () => {
    open();
    const first = store.insertMaintenance({ boreholeId: 'khabou', atMs: T0_MS, by: 'api:operator', note: 'vidange' });
    const second = store.insertMaintenance({ boreholeId: 'khabou', atMs: T0_MS + 60 * MINUTE_MS, by: 'sms:+22379000003', note: '' });
    store.insertMaintenance({ boreholeId: 'marena', atMs: T0_MS, by: 'api:operator', note: 'x' });
    expect(second.id).toBeGreaterThan(first.id);
    expect(store.listMaintenance('khabou')).toEqual([second, first]);
    expect(store.listMaintenance('nowhere')).toEqual([]);
  });

  it('undoes everything done in a transaction that throws', () => {
    open();
    expect(() =>
      store.transaction(() => {
        store.insertAlert(faultAlert('khabou', T0_MS));
        store.saveRuleState('khabou', initialRuleState());
        store.insertMaintenance({ boreholeId: 'khabou', atMs: T0_MS, by: 'api:operator', note: '' });
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.listAlerts({ limit: 10, offset: 0 }).total).toBe(0);
    expect(store.loadRuleStates().size).toBe(0);
    expect(store.listMaintenance('khabou')).toEqual([]);
  });

  it('returns what the transaction returns', () => {
    open();
    expect(store.transaction(() => store.insertAlert(faultAlert('khabou', T0_MS)).code)).toBe(1);
  });
});

describe('SqliteStore on a file, closed and reopened', () => {
  it('keeps alerts, their history, rule state and maintenance records', () => {
    const path = tempDbPath();
    const first = new SqliteStore(path);
    const alert = first.insertAlert(faultAlert('khabou', T0_MS));
    first.recordAlertChange(change('opened', alert, T0_MS, 'rules'));
    const state: RuleState = { ...initialRuleState(), lastTsMs: T0_MS, running: true, runningMsSinceService: 1234 };
    first.saveRuleState('khabou', state);
    const record = first.insertMaintenance({ boreholeId: 'khabou', atMs: T0_MS, by: 'api:operator', note: 'graissage' });
    first.close();

    const second = new SqliteStore(path);
    try {
      expect(second.alertById(alert.id)).toEqual(alert);
      expect(second.alertHistory(alert.id)).toHaveLength(1);
      expect(second.loadRuleStates()).toEqual(new Map([['khabou', state]]));
      expect(second.listMaintenance('khabou')).toEqual([record]);
      // The unique index is still there, and codes carry on where they stopped.
      expect(() => second.insertAlert(faultAlert('khabou', T0_MS + MINUTE_MS))).toThrow(/UNIQUE/);
      expect(second.insertAlert(faultAlert('marena', T0_MS)).code).toBe(alert.code + 1);
    } finally {
      second.close();
    }
  });

  it('runs no migration twice: reopening leaves the schema version and the data as they were', () => {
    const path = tempDbPath();
    new SqliteStore(path).close();
    const version = (): number => {
      const db = new Database(path, { readonly: true });
      try {
        return db.pragma('user_version', { simple: true }) as number;
      } finally {
        db.close();
      }
    };
    const migratedTo = version();
    expect(migratedTo).toBeGreaterThanOrEqual(1);

    const again = new SqliteStore(path);
    const alert = again.insertAlert(faultAlert('khabou', T0_MS));
    again.close();
    // A second migration run would fail on "table alerts already exists" or wipe the data.
    for (let i = 0; i < 2; i += 1) {
      const reopened = new SqliteStore(path);
      expect(reopened.alertById(alert.id)).toEqual(alert);
      reopened.close();
    }
    expect(version()).toBe(migratedTo);
  });

  it('creates the directory of the database file', () => {
    const path = tempDbPath();
    const store = new SqliteStore(path);
    store.close();
    const db = new Database(path, { readonly: true, fileMustExist: true });
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
    db.close();
    expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(['alert_events', 'alerts', 'maintenance', 'rule_state']));
  });
});
