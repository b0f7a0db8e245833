/**
 * The incident repository, in the operational store's SQLite database (one file, one
 * transaction with the alerts it groups and the SMS it queues). An incident is kept as its
 * versioned JSON body (read back through `incidentSchema`) beside the columns it is looked up by.
 */
import type Database from 'better-sqlite3';
import { incidentSchema, type Incident } from '../incidents/incident.js';
import type { IncidentEvent, IncidentEventKind, IncidentQuery } from '../incidents/port.js';
import { listWhere } from './list-filter.js';

/** Appended to the store's migrations (sqlite-store.ts): the tables of CONTRACT.md section 9. */
export const INCIDENT_MIGRATION = `
  CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    code INTEGER NOT NULL UNIQUE,
    borehole TEXT NOT NULL,
    state TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    closed_at INTEGER,
    body TEXT NOT NULL
  );
  CREATE INDEX incidents_open ON incidents (borehole) WHERE state != 'verified';
  CREATE INDEX incidents_by_opening ON incidents (opened_at);
  CREATE INDEX incidents_by_closing ON incidents (closed_at);
  CREATE TABLE incident_alerts (
    alert_id TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id)
  );
  CREATE INDEX incident_alerts_by_incident ON incident_alerts (incident_id);
  CREATE TABLE incident_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT
  );
  CREATE INDEX incident_events_by_incident ON incident_events (incident_id, seq);
  -- Which incident an SMS (and a command) belongs to, for its timeline.
  ALTER TABLE sms_outbox ADD COLUMN incident_id TEXT;
  CREATE INDEX sms_outbox_by_incident ON sms_outbox (incident_id);
  ALTER TABLE sms_inbound ADD COLUMN incident_id TEXT;
  CREATE INDEX sms_inbound_by_incident ON sms_inbound (incident_id);
`;

interface IncidentRow {
  body: string;
}

type Prepare = <P extends unknown[] = unknown[], R = unknown>(sql: string) => Database.Statement<P, R>;

export class IncidentRepository {
  constructor(private readonly statement: Prepare) {}

  insert(incident: Incident): void {
    this.statement('INSERT INTO incidents (id, code, borehole, state, opened_at, closed_at, body) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      incident.id,
      incident.code,
      incident.boreholeId,
      incident.state,
      incident.openedAtMs,
      incident.closedAtMs,
      JSON.stringify(incident),
    );
    for (const alertId of incident.alertIds) this.linkAlert(incident.id, alertId);
  }

  update(incident: Incident): void {
    this.statement('UPDATE incidents SET state = ?, closed_at = ?, body = ? WHERE id = ?').run(incident.state, incident.closedAtMs, JSON.stringify(incident), incident.id);
  }

  linkAlert(incidentId: string, alertId: string): void {
    this.statement('INSERT INTO incident_alerts (alert_id, incident_id) VALUES (?, ?) ON CONFLICT (alert_id) DO NOTHING').run(alertId, incidentId);
  }

  byId(id: string): Incident | null {
    return this.one(this.statement<[string], IncidentRow>('SELECT body FROM incidents WHERE id = ?').get(id));
  }

  byCode(code: number): Incident | null {
    return this.one(this.statement<[number], IncidentRow>('SELECT body FROM incidents WHERE code = ?').get(code));
  }

  ofAlert(alertId: string): Incident | null {
    return this.one(
      this.statement<[string], IncidentRow>('SELECT i.body FROM incident_alerts a JOIN incidents i ON i.id = a.incident_id WHERE a.alert_id = ?').get(alertId),
    );
  }

  /** The incidents not verified yet, of one borehole or of all, oldest first. */
  open(boreholeId?: string): Incident[] {
    const rows =
      boreholeId === undefined
        ? this.statement<[], IncidentRow>("SELECT body FROM incidents WHERE state != 'verified' ORDER BY opened_at, code").all()
        : this.statement<[string], IncidentRow>("SELECT body FROM incidents WHERE borehole = ? AND state != 'verified' ORDER BY opened_at, code").all(boreholeId);
    return rows.map((row) => parse(row.body));
  }

  /** Verified since `sinceMs`: a relapse of the same cause reopens one of them. */
  verifiedSince(boreholeId: string, sinceMs: number): Incident[] {
    return this.statement<[string, number], IncidentRow>("SELECT body FROM incidents WHERE borehole = ? AND state = 'verified' AND closed_at >= ? ORDER BY closed_at DESC")
      .all(boreholeId, sinceMs)
      .map((row) => parse(row.body));
  }

  list(query: IncidentQuery): { incidents: Incident[]; total: number } {
    const { clause, params } = listWhere({ state: query.state, notEnded: { word: 'open', sql: "state != 'verified'" }, boreholeIds: query.boreholeIds });
    const total = this.statement<(string | number)[], { n: number }>(`SELECT count(*) AS n FROM incidents ${clause}`).get(...params)?.n ?? 0;
    const rows = this.statement<(string | number)[], IncidentRow>(`SELECT body FROM incidents ${clause} ORDER BY opened_at DESC, code DESC LIMIT ? OFFSET ?`).all(
      ...params,
      query.limit,
      query.offset,
    );
    return { incidents: rows.map((row) => parse(row.body)), total };
  }

  /** Open at some point of [fromMs, toMs): opened before its end, not closed before its start. */
  between(fromMs: number, toMs: number): Incident[] {
    return this.statement<[number, number], IncidentRow>('SELECT body FROM incidents WHERE opened_at < ? AND (closed_at IS NULL OR closed_at >= ?) ORDER BY opened_at, code')
      .all(toMs, fromMs)
      .map((row) => parse(row.body));
  }

  recordEvent(event: IncidentEvent): void {
    this.statement('INSERT INTO incident_events (incident_id, at, kind, state, actor, detail) VALUES (?, ?, ?, ?, ?, ?)').run(
      event.incidentId,
      event.atMs,
      event.kind,
      event.state,
      event.actor,
      event.detail,
    );
  }

  events(incidentId: string): IncidentEvent[] {
    return this.statement<[string], { incident_id: string; at: number; kind: string; state: string; actor: string; detail: string | null }>(
      'SELECT incident_id, at, kind, state, actor, detail FROM incident_events WHERE incident_id = ? ORDER BY seq',
    )
      .all(incidentId)
      .map((row) => ({
        incidentId: row.incident_id,
        atMs: row.at,
        kind: row.kind as IncidentEventKind,
        state: incidentSchema.shape.state.parse(row.state),
        actor: row.actor,
        detail: row.detail,
      }));
  }

  /** Links an SMS already in the outbox, and a command already recorded, to the incident. */
  linkSms(messageId: string, incidentId: string): void {
    this.statement('UPDATE sms_outbox SET incident_id = ? WHERE id = ? AND incident_id IS NULL').run(incidentId, messageId);
  }

  linkLastInbound(sender: string, incidentId: string): void {
    this.statement('UPDATE sms_inbound SET incident_id = ? WHERE seq = (SELECT max(seq) FROM sms_inbound WHERE sender = ?)').run(incidentId, sender);
  }

  smsOf(incidentId: string): { id: string; recipient: string; text: string; kind: string; status: string; created_at: number; sent_at: number | null; delivery: string | null; delivery_detail: string | null }[] {
    return this.statement<[string], { id: string; recipient: string; text: string; kind: string; status: string; created_at: number; sent_at: number | null; delivery: string | null; delivery_detail: string | null }>(
      'SELECT id, recipient, text, kind, status, created_at, sent_at, delivery, delivery_detail FROM sms_outbox WHERE incident_id = ? ORDER BY created_at, id',
    ).all(incidentId);
  }

  commandsOf(incidentId: string): { received_at: number; sender: string; text: string; outcome: string }[] {
    return this.statement<[string], { received_at: number; sender: string; text: string; outcome: string }>(
      'SELECT received_at, sender, text, outcome FROM sms_inbound WHERE incident_id = ? ORDER BY seq',
    ).all(incidentId);
  }

  private one(row: IncidentRow | undefined): Incident | null {
    return row ? parse(row.body) : null;
  }
}

function parse(body: string): Incident {
  return incidentSchema.parse(JSON.parse(body));
}
