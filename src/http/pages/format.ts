/** Words and numbers as a French-speaking district officer reads them. */
import type { AlertState } from '../../alerts/alert.js';
import type { Role } from '../../config/env.js';
import { RULE_TITLES } from '../../rules/messages.js';
import type { IncidentState } from '../../incidents/incident.js';
import type { IncidentEventKind } from '../../incidents/port.js';
import type { AlertRule, Severity } from '../../rules/types.js';
import type { BoreholeStatus } from '../../domain/borehole-status.js';

export const STATUS_LABELS: Record<BoreholeStatus, string> = {
  ok: 'En service',
  alert: 'En alerte',
  offline: 'Hors ligne',
  unknown: 'Sans données',
};

export const STATUS_HINTS: Record<BoreholeStatus, string> = {
  ok: 'fonctionne, aucune alerte en cours',
  alert: 'au moins une alerte en cours',
  offline: "le boîtier n'envoie plus de messages",
  unknown: "aucun message reçu depuis l'installation",
};

export const SEVERITY_LABELS: Record<Severity, string> = { critical: 'Critique', warning: 'Avertissement', info: 'Information' };

export const STATE_LABELS: Record<AlertState, string> = { open: 'Ouverte', acknowledged: 'Acquittée', resolved: 'Résolue' };

/** The work order's state, as the board and the incident page name it (an « intervention »). */
export const INCIDENT_STATE_LABELS: Record<IncidentState, string> = {
  reported: 'Signalée',
  acknowledged: 'Prise en compte',
  on_site: 'Technicien sur place',
  waiting_parts: 'En attente de pièce',
  repair_claimed: 'Réparée, à vérifier',
  verified: 'Vérifiée (close)',
  reopened: 'Rouverte',
};

/** One line of an incident's story: what happened to it. */
export const INCIDENT_EVENT_LABELS: Record<IncidentEventKind, string> = {
  opened: 'Ouverture',
  alert_joined: 'Alerte rattachée',
  severity_raised: 'Gravité relevée',
  acknowledged: 'Prise en compte',
  on_site: 'Technicien sur place',
  waiting_parts: 'En attente de pièce',
  repair_claimed: 'Réparation annoncée',
  confirmation_asked: 'Confirmation demandée au comité',
  verified: 'Réparation vérifiée',
  reopened: 'Rouverte',
  reassigned: 'Réattribuée',
  escalated: 'Escaladée à la région',
  reminded: 'Rappel envoyé',
  target_missed: 'Délai dépassé',
  reported_again: 'Signalée à nouveau',
};

export const ROLE_LABELS: Record<Role, string> = { viewer: 'lecteur', operator: 'opérateur', admin: 'administrateur' };

export const LANGUAGE_LABELS: Record<string, string> = { fr: 'français', bm: 'bambara', en: 'anglais' };

export const ruleTitle = (rule: AlertRule): string => RULE_TITLES[rule];

export class Formatter {
  private readonly dateTime: Intl.DateTimeFormat;
  private readonly date: Intl.DateTimeFormat;
  private readonly dayKey: Intl.DateTimeFormat;
  private readonly shortDay: Intl.DateTimeFormat;
  private readonly clock: Intl.DateTimeFormat;

  constructor(readonly timeZone: string) {
    this.dateTime = new Intl.DateTimeFormat('fr-FR', { timeZone, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit' });
    this.date = new Intl.DateTimeFormat('fr-FR', { timeZone, day: '2-digit', month: '2-digit', year: 'numeric' });
    this.dayKey = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    this.shortDay = new Intl.DateTimeFormat('fr-FR', { timeZone, weekday: 'short', day: '2-digit', month: '2-digit' });
    this.clock = new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }

  /** Midnight of the instant's day in the configured time zone. */
  startOfDay(ms: number): number {
    const parts = Object.fromEntries(this.clock.formatToParts(ms).map((part) => [part.type, part.value]));
    const sinceMidnightS = (Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second);
    return ms - sinceMidnightS * 1000 - (((ms % 1000) + 1000) % 1000);
  }

  /** `05/02/2026 10:42` */
  dateTimeOf(ms: number): string {
    return this.dateTime.format(ms).replace(',', '').replace(' à ', ' ');
  }

  dateOf(ms: number): string {
    return this.date.format(ms);
  }

  /** `2026-02-05` in the configured time zone. */
  dayKeyOf(ms: number): string {
    return this.dayKey.format(ms);
  }

  /** `jeu. 05/02` */
  shortDayOf(ms: number): string {
    return this.shortDay.format(ms);
  }
}

/** `à l'instant`, `il y a 5 min`, `il y a 3 h`, `il y a 2 j`. */
export function ago(ms: number, nowMs: number): string {
  const minutes = Math.floor((nowMs - ms) / 60_000);
  if (minutes < 1) return "à l'instant";
  if (minutes < 60) return `il y a ${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `il y a ${hours} h`;
  return `il y a ${Math.floor(hours / 24)} j`;
}

const decimal = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1, minimumFractionDigits: 0 });

export const number = (value: number | null | undefined, unit = ''): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '—' : `${decimal.format(value)}${unit ? `\u00a0${unit}` : ''}`;

/** `1 forage`, `3 forages`. */
export const plural = (count: number, one: string, many: string): string => `${count} ${count > 1 ? many : one}`;

/** What each kind of SMS is, for the /sms page and an incident's timeline (one table for both). */
export const SMS_KIND_LABELS: Readonly<Record<string, string>> = {
  alert: 'alerte',
  escalation: 'escalade',
  water_back: 'eau revenue',
  reply: 'réponse',
  summary: 'résumé',
  incident: 'annonce de la panne',
  incident_critical: 'panne devenue critique',
  incident_escalation: 'escalade',
  incident_target_missed: 'délai dépassé',
  incident_reminder: 'rappel',
  incident_reopened: 'panne revenue',
  incident_verified: 'réparation vérifiée',
  confirmation_question: 'question au comité',
};
