/**
 * Who is told what, and when (CONTRACT.md section 5). Pure: the alert change, the registry entry
 * and the time in, planned messages out.
 * - critical: the committee and the technician, at once, day or night;
 * - warning: the technician at once; the committee only between 07:00 and 21:00 local time (a
 *   warning at 23:00 reaches them at 07:00, if the alert is still open then);
 * - info: nobody (dashboards and reports only);
 * - a critical alert that resolves: the committee hears that the water is back;
 * - (escalation is the incident desk's: src/incidents/desk.ts).
 */
import type { Alert, AlertChange } from '../alerts/alert.js';
import type { Borehole, Contact, Language } from '../config/registry.js';

export type Audience = 'committee' | 'technician' | 'escalation';
export type MessageKind = 'alert' | 'escalation' | 'water_back';

export interface PlannedMessage {
  kind: MessageKind;
  alert: Alert;
  to: Contact;
  audience: Audience;
  language: Language;
  /** Not before this instant (quiet hours). */
  notBeforeMs: number;
  /** Dropped if the alert is resolved before it goes out (a deferred warning). */
  onlyWhileUnresolved: boolean;
}

export const QUIET_UNTIL_HOUR = 7;
export const QUIET_FROM_HOUR = 21;

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

export function localParts(ms: number, timeZone: string): LocalParts {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(ms);
  const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute') };
}

/** `HH:MM` in the given time zone, as the message shows it. */
export function localTime(ms: number, timeZone: string): string {
  const { hour, minute } = localParts(ms, timeZone);
  return `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
}

/** How far local wall-clock time is ahead of UTC at `ms`, in whole minutes. */
function offsetAt(ms: number, timeZone: string): number {
  const local = localParts(ms, timeZone);
  return Date.UTC(local.year, local.month - 1, local.day, local.hour, local.minute) - Math.floor(ms / 60_000) * 60_000;
}

/** The next instant at `hour`:00 local time, strictly after `ms` (right across a DST change too). */
export function nextLocalHour(ms: number, hour: number, timeZone: string): number {
  const today = localParts(ms, timeZone);
  for (let days = 0; days <= 2; days += 1) {
    // Local calendar days counted on the wall clock (Date.UTC normalises day 32 and the like).
    const wall = Date.UTC(today.year, today.month - 1, today.day + days, hour);
    // The offset that applies is the one at the target instant, not at `ms`.
    let candidate = wall - offsetAt(wall - offsetAt(ms, timeZone), timeZone);
    candidate = wall - offsetAt(candidate, timeZone);
    if (candidate > ms) return candidate;
  }
  return ms + 86_400_000;
}

export function isQuietHours(ms: number, timeZone: string): boolean {
  const { hour } = localParts(ms, timeZone);
  return hour < QUIET_UNTIL_HOUR || hour >= QUIET_FROM_HOUR;
}

function committee(borehole: Borehole): { to: Contact; language: Language }[] {
  return borehole.committee.contacts.map((to) => ({ to, language: borehole.committee.language }));
}

/**
 * The messages an alert change calls for, planned at `nowMs`. No longer used by the service (the
 * incident desk tells people once per incident, src/incidents/desk.ts); kept for the dispatcher's
 * tests, which queue alert messages through it.
 */
export function planMessages(change: AlertChange, borehole: Borehole, nowMs: number, timeZone: string): PlannedMessage[] {
  const { alert } = change;
  if (!change.notify || alert.historical) return [];
  const planned: PlannedMessage[] = [];
  const add = (kind: MessageKind, audience: Audience, to: Contact, language: Language, notBeforeMs = nowMs, onlyWhileUnresolved = false): void => {
    planned.push({ kind, alert, to, audience, language, notBeforeMs, onlyWhileUnresolved });
  };
  if (change.kind === 'opened' || change.kind === 'escalated') {
    if (alert.severity === 'info') return [];
    // Technicians work in French; the committee in its own language.
    add('alert', 'technician', borehole.technician, 'fr');
    if (alert.severity === 'critical') {
      for (const { to, language } of committee(borehole)) add('alert', 'committee', to, language);
    } else if (change.kind === 'opened') {
      const quiet = isQuietHours(nowMs, timeZone);
      const notBefore = quiet ? nextLocalHour(nowMs, QUIET_UNTIL_HOUR, timeZone) : nowMs;
      for (const { to, language } of committee(borehole)) add('alert', 'committee', to, language, notBefore, quiet);
    }
    return dedupe(planned);
  }
  if (change.kind === 'resolved' && alert.severity === 'critical') {
    for (const { to, language } of committee(borehole)) add('water_back', 'committee', to, language);
  }
  return dedupe(planned);
}

/** One message per phone: a technician who is also on the committee hears it once. */
function dedupe(planned: PlannedMessage[]): PlannedMessage[] {
  const seen = new Set<string>();
  return planned.filter((message) => {
    if (seen.has(message.to.phone)) return false;
    seen.add(message.to.phone);
    return true;
  });
}
