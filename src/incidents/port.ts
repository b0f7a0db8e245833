/**
 * What the HTTP routes, pages and reports need of incidents: the desk's public face (desk.ts
 * implements it). Defined here, where its users can import it without importing the desk.
 */
import type { Alert } from '../alerts/alert.js';
import type { Actor, Incident, IncidentState, ReadingsSnapshot } from './incident.js';

export type { ReadingsSnapshot };

export interface IncidentQuery {
  state?: IncidentState | 'open' | undefined;
  boreholeIds?: readonly string[] | undefined;
  limit: number;
  offset: number;
}

/** One line of an incident's story, as the incident page and `GET /api/incidents/{id}` show it. */
export type TimelineEntry =
  | { kind: 'alert'; atMs: number; alert: Alert; change: 'opened' | 'escalated' | 'acknowledged' | 'resolved'; actor: string }
  | { kind: 'sms'; atMs: number; messageId: string; to: string; text: string; smsKind: string; status: string; delivery: string | null; deliveryDetail: string | null; sentAtMs: number | null }
  | { kind: 'command'; atMs: number; from: string; text: string; outcome: string }
  | { kind: 'change'; atMs: number; change: IncidentEventKind; state: IncidentState; actor: Actor; detail: string | null }
  | { kind: 'snapshot'; atMs: number; label: 'opened' | 'verified'; readings: ReadingsSnapshot };

export const INCIDENT_EVENT_KINDS = [
  'opened',
  'alert_joined',
  'severity_raised',
  'acknowledged',
  'on_site',
  'waiting_parts',
  'repair_claimed',
  'confirmation_asked',
  'verified',
  'reopened',
  'reassigned',
  'escalated',
  'reminded',
  'target_missed',
  'reported_again',
] as const;
export type IncidentEventKind = (typeof INCIDENT_EVENT_KINDS)[number];

export interface IncidentEvent {
  incidentId: string;
  atMs: number;
  kind: IncidentEventKind;
  state: IncidentState;
  actor: Actor;
  detail: string | null;
}

/** Why an operator's transition was refused, said as the API's 404/409 say it. */
export type TransitionRefusal = 'not_found' | 'closed' | 'no_work_order';

export type TransitionResult = { ok: true; incident: Incident } | { ok: false; reason: TransitionRefusal; message: string };

export interface IncidentsPort {
  list(query: IncidentQuery): { incidents: Incident[]; total: number };
  byId(id: string): Incident | null;
  byCode(code: number): Incident | null;
  timeline(id: string): TimelineEntry[];
  /** The open incident of each borehole asked, newest first (the borehole page, the network page). */
  openOf(boreholeIds: readonly string[]): Incident[];
  acknowledge(id: string, actor: Actor): TransitionResult;
  arrive(id: string, actor: Actor): TransitionResult;
  part(id: string, part: string, actor: Actor): TransitionResult;
  repair(id: string, note: string | null, actor: Actor): TransitionResult;
  /** An operator's confirmation that it works again: closes it as verified by that person. */
  close(id: string, actor: Actor): TransitionResult;
  /** A manual report (`POST /api/boreholes/{id}/incidents`, as `PANNE`); null for an unknown borehole. */
  report(boreholeId: string, text: string, actor: Actor): Incident | null;
  /** Incidents open at some point of [fromMs, toMs): the service and results reports. */
  between(fromMs: number, toMs: number): Incident[];
}
