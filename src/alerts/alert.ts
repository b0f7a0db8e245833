/**
 * The alert lifecycle of CONTRACT.md section 4: `open` → `acknowledged` (by a person) →
 * `resolved` (the condition cleared and stayed clear, or a person closed it). At most one alert
 * not yet resolved per borehole and rule. Pure functions of values; the engine stores the result.
 */
import { RULE_TITLES } from '../rules/messages.js';
import { severityRank, type AlertRule, type Severity } from '../rules/types.js';

export const ALERT_STATES = ['open', 'acknowledged', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

export interface Alert {
  id: string;
  /** Short number people type in SMS (`OK 17`). */
  code: number;
  boreholeId: string;
  /** A rule of section 4, or `reported_by_person` for a fault people reported (section 9). */
  rule: AlertRule;
  severity: Severity;
  state: AlertState;
  message: string;
  openedAtMs: number;
  acknowledgedAtMs: number | null;
  acknowledgedBy: string | null;
  resolvedAtMs: number | null;
  resolvedBy: string | null;
  /**
   * Found in late data (a store-and-forward batch) and no longer holding at the newest reading:
   * recorded and counted in reports, never notified.
   */
  historical: boolean;
  /** The device's fault code, for pump_fault alerts. */
  fault: string | null;
}

/** Who or what caused a change: `rules`, `operator:<token role>`, `sms:+223…`, `api`. */
export type Actor = string;

export type AlertChangeKind = 'opened' | 'escalated' | 'acknowledged' | 'resolved';

/** A state change, stored with its actor and emitted for notifications. */
export interface AlertChange {
  kind: AlertChangeKind;
  alert: Alert;
  atMs: number;
  actor: Actor;
  note?: string;
  /** Whether people should hear of it (false for historical incidents). */
  notify: boolean;
}

export function alertMessage(rule: AlertRule, detail: string): string {
  return `${RULE_TITLES[rule]} : ${detail}`;
}

export type NewAlert = Omit<Alert, 'id' | 'code'>;

export function openAlert(
  boreholeId: string,
  rule: AlertRule,
  severity: Severity,
  detail: string,
  atMs: number,
  live: boolean,
  fault: string | null = null,
): NewAlert {
  return {
    boreholeId,
    rule,
    severity,
    state: 'open',
    message: alertMessage(rule, detail),
    openedAtMs: atMs,
    acknowledgedAtMs: null,
    acknowledgedBy: null,
    resolvedAtMs: null,
    resolvedBy: null,
    historical: !live,
    fault,
  };
}

/**
 * The condition got worse while the alert was open (a low_water warning reaching the intake):
 * same alert, higher severity; it is notified if it now holds at the newest reading.
 */
export function escalate(alert: Alert, severity: Severity, detail: string, live: boolean): Alert | null {
  if (severityRank(severity) <= severityRank(alert.severity)) return null;
  return { ...alert, severity, message: alertMessage(alert.rule, detail), historical: alert.historical && !live };
}

export class AlertTransitionError extends Error {
  override name = 'AlertTransitionError';
}

export function acknowledge(alert: Alert, actor: Actor, atMs: number): Alert {
  if (alert.state === 'resolved') throw new AlertTransitionError(`alert ${alert.code} is already resolved`);
  if (alert.state === 'acknowledged') return alert;
  // A device clock a little ahead can open an alert "in the future" of the server's clock.
  return { ...alert, state: 'acknowledged', acknowledgedAtMs: Math.max(atMs, alert.openedAtMs), acknowledgedBy: actor };
}

export function resolve(alert: Alert, actor: Actor, atMs: number): Alert {
  if (alert.state === 'resolved') throw new AlertTransitionError(`alert ${alert.code} is already resolved`);
  return { ...alert, state: 'resolved', resolvedAtMs: Math.max(atMs, alert.openedAtMs), resolvedBy: actor };
}
