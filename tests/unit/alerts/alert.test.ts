import { describe, expect, it } from 'vitest';
import {
  AlertTransitionError,
  acknowledge,
  escalate,
  openAlert,
  resolve,
  type Alert,
} from '../../../src/alerts/alert.js';

const OPENED_AT_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
const MINUTE_MS = 60_000;

/** An alert as the store returns it: the new alert with its id and code. */
function stored(live = true, atMs = OPENED_AT_MS): Alert {
  return { ...openAlert('khabou', 'low_water', 'warning', 'niveau 53 m, crépine à 55 m', atMs, live), id: 'a-1', code: 7 };
}

describe('openAlert', () => {
  it('opens a live alert: open, not acknowledged, not resolved, not historical', () => {
    const alert = openAlert('khabou', 'pump_fault', 'critical', 'marche à sec', OPENED_AT_MS, true, 'dry_run');
    expect(alert).toEqual({
      boreholeId: 'khabou',
      rule: 'pump_fault',
      severity: 'critical',
      state: 'open',
      message: 'Panne pompe : marche à sec',
      openedAtMs: OPENED_AT_MS,
      acknowledgedAtMs: null,
      acknowledgedBy: null,
      resolvedAtMs: null,
      resolvedBy: null,
      historical: false,
      fault: 'dry_run',
    });
  });

  it('marks an alert found in late data that no longer holds as historical', () => {
    expect(openAlert('khabou', 'pump_fault', 'critical', 'marche à sec', OPENED_AT_MS, false).historical).toBe(true);
  });
});

describe('escalate', () => {
  it('raises the severity of the same alert and rewrites its message', () => {
    const alert = stored();
    const escalated = escalate(alert, 'critical', 'niveau 56 m, crépine à 55 m', true);
    expect(escalated).toEqual({
      ...alert,
      severity: 'critical',
      message: "Niveau d'eau bas : niveau 56 m, crépine à 55 m",
    });
  });

  it('never lowers the severity nor repeats the same one', () => {
    const critical: Alert = { ...stored(), severity: 'critical' };
    expect(escalate(critical, 'warning', 'niveau 53 m', true)).toBeNull();
    expect(escalate(critical, 'info', 'niveau 53 m', true)).toBeNull();
    expect(escalate(critical, 'critical', 'niveau 57 m', true)).toBeNull();
    expect(escalate(stored(), 'warning', 'niveau 53 m', true)).toBeNull();
  });

  it('makes a historical alert escalated by a live event non-historical', () => {
    const historical = stored(false);
    expect(historical.historical).toBe(true);
    expect(escalate(historical, 'critical', 'niveau 56 m', true)?.historical).toBe(false);
  });

  it('keeps a historical alert escalated by more late data historical', () => {
    expect(escalate(stored(false), 'critical', 'niveau 56 m', false)?.historical).toBe(true);
  });

  it('never makes a live alert historical', () => {
    expect(escalate(stored(true), 'critical', 'niveau 56 m', false)?.historical).toBe(false);
  });

  it('keeps an acknowledged alert acknowledged when it escalates', () => {
    const acknowledged = acknowledge(stored(), 'operator:operator', OPENED_AT_MS + MINUTE_MS);
    expect(escalate(acknowledged, 'critical', 'niveau 56 m', true)).toMatchObject({ state: 'acknowledged', severity: 'critical' });
  });
});

describe('acknowledge', () => {
  it('moves an open alert to acknowledged with who and when', () => {
    const atMs = OPENED_AT_MS + 3 * MINUTE_MS;
    expect(acknowledge(stored(), 'sms:+22376000001', atMs)).toEqual({
      ...stored(),
      state: 'acknowledged',
      acknowledgedAtMs: atMs,
      acknowledgedBy: 'sms:+22376000001',
    });
  });

  it('acknowledging twice is a no-op: the first person and time stand', () => {
    const first = acknowledge(stored(), 'sms:+22376000001', OPENED_AT_MS + MINUTE_MS);
    const second = acknowledge(first, 'api:operator', OPENED_AT_MS + 9 * MINUTE_MS);
    expect(second).toBe(first);
    expect(second).toMatchObject({ acknowledgedAtMs: OPENED_AT_MS + MINUTE_MS, acknowledgedBy: 'sms:+22376000001' });
  });

  it('refuses to acknowledge a resolved alert with an AlertTransitionError', () => {
    const resolved = resolve(stored(), 'rules', OPENED_AT_MS + MINUTE_MS);
    expect(() => acknowledge(resolved, 'api:operator', OPENED_AT_MS + 2 * MINUTE_MS)).toThrow(AlertTransitionError);
    expect(() => acknowledge(resolved, 'api:operator', OPENED_AT_MS + 2 * MINUTE_MS)).toThrow(/alert 7 is already resolved/);
  });

  it('does not change the alert it is given', () => {
    const alert = stored();
    const copy = structuredClone(alert);
    acknowledge(alert, 'api:operator', OPENED_AT_MS + MINUTE_MS);
    expect(alert).toEqual(copy);
  });
});

describe('resolve', () => {
  it('resolves an open alert with who and when', () => {
    const atMs = OPENED_AT_MS + 20 * MINUTE_MS;
    expect(resolve(stored(), 'rules', atMs)).toEqual({ ...stored(), state: 'resolved', resolvedAtMs: atMs, resolvedBy: 'rules' });
  });

  it('resolves an acknowledged alert and keeps who acknowledged it', () => {
    const acknowledged = acknowledge(stored(), 'sms:+22376000001', OPENED_AT_MS + MINUTE_MS);
    expect(resolve(acknowledged, 'api:operator', OPENED_AT_MS + 30 * MINUTE_MS)).toMatchObject({
      state: 'resolved',
      acknowledgedBy: 'sms:+22376000001',
      acknowledgedAtMs: OPENED_AT_MS + MINUTE_MS,
      resolvedBy: 'api:operator',
      resolvedAtMs: OPENED_AT_MS + 30 * MINUTE_MS,
    });
  });

  it('refuses to resolve a resolved alert with an AlertTransitionError', () => {
    const resolved = resolve(stored(), 'rules', OPENED_AT_MS + MINUTE_MS);
    expect(() => resolve(resolved, 'api:operator', OPENED_AT_MS + 2 * MINUTE_MS)).toThrow(AlertTransitionError);
  });

  it('never puts resolved_at before opened_at (an alert opened at a device time slightly ahead)', () => {
    const ahead = stored(true, OPENED_AT_MS + 5 * MINUTE_MS);
    const resolved = resolve(ahead, 'api:operator', OPENED_AT_MS);
    expect(resolved.resolvedAtMs).toBe(OPENED_AT_MS + 5 * MINUTE_MS);
    expect(resolved.resolvedAtMs).toBeGreaterThanOrEqual(resolved.openedAtMs);
  });
});

describe('AlertTransitionError', () => {
  it('is an Error named AlertTransitionError', () => {
    const error = new AlertTransitionError('x');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('AlertTransitionError');
  });
});
