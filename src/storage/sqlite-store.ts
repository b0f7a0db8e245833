/**
 * The operational state store: alerts and their history, rule state, maintenance records. These
 * need transactions, not a time-series database. SQLite (better-sqlite3) under DATA_DIR serves
 * one machine; the engine only sees the `OperationalStore` port, so a server database can
 * replace it when several instances share the load.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Alert, AlertChange, AlertState, NewAlert } from '../alerts/alert.js';
import { parseRuleState, RuleStateError } from '../rules/state.js';
import { listWhere } from './list-filter.js';
import { INCIDENT_MIGRATION, IncidentRepository } from './sqlite-incidents.js';
import type { RuleId, RuleState, Severity } from '../rules/types.js';

export interface MaintenanceRecord {
  id: number;
  boreholeId: string;
  atMs: number;
  by: string;
  note: string;
}

export interface AlertEventRecord {
  alertId: string;
  atMs: number;
  kind: AlertChange['kind'];
  state: AlertState;
  severity: Severity;
  actor: string;
  note: string | null;
}

export interface AlertQuery {
  state?: AlertState | 'unresolved' | undefined;
  boreholeIds?: readonly string[] | undefined;
  limit: number;
  offset: number;
  /** Start after this alert of the list (newest first): a cursor that new alerts do not shift. */
  after?: Pick<Alert, 'openedAtMs' | 'code'> | undefined;
}

/** A critical alert as the uptime report sees it (CONTRACT.md section 7). */
export interface CriticalAlertRecord {
  boreholeId: string;
  code: number;
  openedAtMs: number;
  /** When it became critical: its opening, or a later escalation. */
  criticalAtMs: number;
  resolvedAtMs: number | null;
}

export interface ArchivedReport {
  kind: string;
  fromMs: number;
  toMs: number;
  tz: string;
  generatedAtMs: number;
  body: string;
}

export interface OperationalStore {
  transaction<T>(work: () => T): T;
  loadRuleStates(): Map<string, RuleState>;
  saveRuleState(boreholeId: string, state: RuleState): void;
  insertAlert(alert: NewAlert): Alert;
  updateAlert(alert: Alert): void;
  recordAlertChange(change: AlertChange): void;
  unresolvedAlert(boreholeId: string, rule: RuleId): Alert | null;
  alertById(id: string): Alert | null;
  alertByCode(code: number): Alert | null;
  listAlerts(query: AlertQuery): { alerts: Alert[]; total: number };
  /** The rules of every unresolved alert, by borehole: all a borehole's status needs of them. */
  unresolvedRules(): Map<string, string[]>;
  alertHistory(alertId: string): AlertEventRecord[];
  unresolvedCounts(): Record<Severity, number>;
  insertMaintenance(record: Omit<MaintenanceRecord, 'id'>): MaintenanceRecord;
  listMaintenance(boreholeId: string): MaintenanceRecord[];
  close(): void;
}

interface AlertRow {
  id: string;
  code: number;
  borehole: string;
  rule: string;
  severity: string;
  state: string;
  message: string;
  opened_at: number;
  acknowledged_at: number | null;
  acknowledged_by: string | null;
  resolved_at: number | null;
  resolved_by: string | null;
  historical: number;
  fault: string | null;
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE alerts (
     code INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     borehole TEXT NOT NULL,
     rule TEXT NOT NULL,
     severity TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
     message TEXT NOT NULL,
     opened_at INTEGER NOT NULL,
     acknowledged_at INTEGER,
     acknowledged_by TEXT,
     resolved_at INTEGER,
     resolved_by TEXT,
     historical INTEGER NOT NULL DEFAULT 0
   );
   -- The contract's "at most one alert not yet resolved per borehole and rule", enforced.
   CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (borehole, rule) WHERE state != 'resolved';
   CREATE INDEX alerts_by_borehole ON alerts (borehole, opened_at);
   CREATE TABLE alert_events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     alert_id TEXT NOT NULL REFERENCES alerts (id),
     at INTEGER NOT NULL,
     kind TEXT NOT NULL,
     state TEXT NOT NULL,
     severity TEXT NOT NULL,
     actor TEXT NOT NULL,
     note TEXT
   );
   CREATE INDEX alert_events_by_alert ON alert_events (alert_id, seq);
   CREATE TABLE rule_state (
     borehole TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE maintenance (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     borehole TEXT NOT NULL,
     at INTEGER NOT NULL,
     by TEXT NOT NULL,
     note TEXT NOT NULL DEFAULT ''
   );
   CREATE INDEX maintenance_by_borehole ON maintenance (borehole, at);`,
  `CREATE TABLE sms_outbox (
     id TEXT PRIMARY KEY,
     recipient TEXT NOT NULL,
     text TEXT NOT NULL,
     kind TEXT NOT NULL,
     alert_id TEXT,
     created_at INTEGER NOT NULL,
     not_before INTEGER NOT NULL,
     only_while_unresolved INTEGER NOT NULL DEFAULT 0,
     status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled', 'folded')),
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL,
     last_error TEXT,
     sent_at INTEGER,
     gateway TEXT,
     provider_message_id TEXT,
     summary_id TEXT
   );
   CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt_at);
   CREATE INDEX sms_outbox_by_recipient ON sms_outbox (recipient, sent_at);
   CREATE TABLE sms_escalations (
     alert_id TEXT PRIMARY KEY,
     at INTEGER NOT NULL
   );
   CREATE TABLE sms_inbound (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     received_at INTEGER NOT NULL,
     sender TEXT NOT NULL,
     text TEXT NOT NULL,
     outcome TEXT NOT NULL
   );`,
  // The fault code, so that messages can name the fault in the committee's own language.
  `ALTER TABLE alerts ADD COLUMN fault TEXT;`,
  // Uptime reports as they were generated (the ministry's record), and how far each schedule got.
  `CREATE TABLE reports (
     kind TEXT NOT NULL,
     from_ms INTEGER NOT NULL,
     to_ms INTEGER NOT NULL,
     tz TEXT NOT NULL,
     generated_at INTEGER NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (kind, from_ms, tz)
   );
   CREATE TABLE report_watermarks (
     kind TEXT PRIMARY KEY,
     through_ms INTEGER NOT NULL
   );`,
  // Inbound SMS already acted on, by provider id or by sender and text: a gateway that delivers
  // one again (its retry after a lost answer) causes no second effect, across restarts too.
  `CREATE TABLE sms_inbound_seen (
     key TEXT PRIMARY KEY,
     at INTEGER NOT NULL
   );
   CREATE INDEX sms_inbound_seen_by_age ON sms_inbound_seen (at);`,
  // Delivery receipts (issue 16): what the provider later said of a message it had taken.
  `ALTER TABLE sms_outbox ADD COLUMN delivery TEXT CHECK (delivery IN ('delivered', 'undelivered'));
   ALTER TABLE sms_outbox ADD COLUMN delivered_at INTEGER;
   ALTER TABLE sms_outbox ADD COLUMN delivery_detail TEXT;
   CREATE INDEX sms_outbox_by_provider_id ON sms_outbox (provider_message_id);
   CREATE INDEX sms_outbox_by_created ON sms_outbox (created_at);`,
  // Incidents, work orders and verified repairs (issue 15, CONTRACT.md section 9).
  INCIDENT_MIGRATION,
];

function toAlert(row: AlertRow): Alert {
  return {
    id: row.id,
    code: row.code,
    boreholeId: row.borehole,
    rule: row.rule as RuleId,
    severity: row.severity as Severity,
    state: row.state as AlertState,
    message: row.message,
    openedAtMs: row.opened_at,
    acknowledgedAtMs: row.acknowledged_at,
    acknowledgedBy: row.acknowledged_by,
    resolvedAtMs: row.resolved_at,
    resolvedBy: row.resolved_by,
    historical: row.historical === 1,
    fault: row.fault,
  };
}

export type OutboxStatus = 'pending' | 'sent' | 'failed' | 'cancelled' | 'folded';

/** What is stored of a message before any attempt. */
export type OutboxEntry = Pick<OutboxMessage, 'id' | 'recipient' | 'text' | 'kind' | 'alertId' | 'createdAtMs' | 'notBeforeMs' | 'onlyWhileUnresolved'> & { incidentId?: string | null };

export interface OutboxMessage {
  id: string;
  recipient: string;
  text: string;
  kind: string;
  alertId: string | null;
  /** The incident it tells of (section 9); its timeline lists it. */
  incidentId: string | null;
  createdAtMs: number;
  notBeforeMs: number;
  onlyWhileUnresolved: boolean;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
  sentAtMs: number | null;
  gateway: string | null;
  summaryId: string | null;
  /** The provider's id of the message, from its answer to the send. */
  providerMessageId: string | null;
  /** What the provider's delivery receipt said, if one came. */
  delivery: SmsDelivery | null;
  deliveredAtMs: number | null;
  deliveryDetail: string | null;
}

export type SmsDelivery = 'delivered' | 'undelivered';

/**
 * A message as people follow it: `delivered` (a receipt said so), `sent` (the gateway took it, no
 * receipt yet or none from this provider), `failed` (given up, or a receipt said undelivered),
 * `pending`, `cancelled`, `folded` (into a summary).
 */
export type SmsState = 'pending' | 'sent' | 'delivered' | 'failed' | 'cancelled' | 'folded';
export const SMS_STATES = ['pending', 'sent', 'delivered', 'failed', 'cancelled', 'folded'] as const satisfies readonly SmsState[];

export function smsStateOf(message: Pick<OutboxMessage, 'status' | 'delivery'>): SmsState {
  if (message.status === 'sent' && message.delivery === 'delivered') return 'delivered';
  if (message.status === 'sent' && message.delivery === 'undelivered') return 'failed';
  return message.status;
}

/** The SQL condition of each state, over `sms_outbox`. */
const STATE_SQL: Record<SmsState, string> = {
  pending: "status = 'pending'",
  sent: "status = 'sent' AND delivery IS NULL",
  delivered: "status = 'sent' AND delivery = 'delivered'",
  failed: "(status = 'failed' OR (status = 'sent' AND delivery = 'undelivered'))",
  cancelled: "status = 'cancelled'",
  folded: "status = 'folded'",
};

export interface SmsQuery {
  states?: readonly SmsState[];
  recipient?: string;
  alertId?: string;
  sinceMs?: number;
  /** Failed first, then pending, then the rest; each newest first (the operator's page). */
  failuresFirst?: boolean;
  limit: number;
  offset: number;
}

/** Which message a delivery receipt is about: the provider's id, or ours given back (Orange's callbackData). */
export interface ReceiptMatch {
  providerMessageId?: string | undefined;
  messageId?: string | undefined;
  /** Orange may name only the recipient: then its oldest sent message still waiting for a receipt. */
  recipient?: string | undefined;
}

interface OutboxRow {
  id: string;
  recipient: string;
  text: string;
  kind: string;
  alert_id: string | null;
  incident_id: string | null;
  created_at: number;
  not_before: number;
  only_while_unresolved: number;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  sent_at: number | null;
  gateway: string | null;
  summary_id: string | null;
  provider_message_id: string | null;
  delivery: string | null;
  delivered_at: number | null;
  delivery_detail: string | null;
}

function toOutboxMessage(row: OutboxRow): OutboxMessage {
  return {
    id: row.id,
    recipient: row.recipient,
    text: row.text,
    kind: row.kind,
    alertId: row.alert_id,
    incidentId: row.incident_id,
    createdAtMs: row.created_at,
    notBeforeMs: row.not_before,
    onlyWhileUnresolved: row.only_while_unresolved === 1,
    status: row.status as OutboxStatus,
    attempts: row.attempts,
    nextAttemptAtMs: row.next_attempt_at,
    lastError: row.last_error,
    sentAtMs: row.sent_at,
    gateway: row.gateway,
    summaryId: row.summary_id,
    providerMessageId: row.provider_message_id,
    delivery: row.delivery as SmsDelivery | null,
    deliveredAtMs: row.delivered_at,
    deliveryDetail: row.delivery_detail,
  };
}

export class SqliteStore implements OperationalStore {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  /** Incidents and work orders: their own repository, in the same database and transactions. */
  readonly incidents: IncidentRepository = new IncidentRepository((sql) => this.statement(sql));

  /** Prepared once, reused: rule state is saved on every batch of readings. */
  private statement<P extends unknown[] = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let prepared = this.statements.get(sql);
    if (!prepared) {
      prepared = this.db.prepare(sql);
      this.statements.set(sql, prepared);
    }
    return prepared as unknown as Database.Statement<P, R>;
  }

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    // WAL with synchronous=NORMAL: a commit survives a crash of the process; a power cut can
    // lose the last commits, like the journal's fsync interval (docs/rules.md).
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let next = version; next < MIGRATIONS.length; next += 1) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[next] ?? '');
        this.db.pragma(`user_version = ${next + 1}`);
      })();
    }
  }

  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  loadRuleStates(): Map<string, RuleState> {
    const rows = this.statement<[], { borehole: string; state: string }>('SELECT borehole, state FROM rule_state').all();
    // Through the state's schema: any earlier shape loads, a row that cannot be read says which.
    return new Map(
      rows.map((row) => {
        try {
          return [row.borehole, parseRuleState(row.state)];
        } catch (error) {
          throw new RuleStateError(`rule state of borehole ${row.borehole}: ${(error as Error).message}`, { cause: error });
        }
      }),
    );
  }

  saveRuleState(boreholeId: string, state: RuleState): void {
    this.statement('INSERT INTO rule_state (borehole, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (borehole) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(boreholeId, JSON.stringify(state), Date.now());
  }

  insertAlert(alert: NewAlert): Alert {
    const id = randomUUID();
    const result = this.statement(
        `INSERT INTO alerts (id, borehole, rule, severity, state, message, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, historical, fault)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        id,
        alert.boreholeId,
        alert.rule,
        alert.severity,
        alert.state,
        alert.message,
        alert.openedAtMs,
        alert.acknowledgedAtMs,
        alert.acknowledgedBy,
        alert.resolvedAtMs,
        alert.resolvedBy,
        alert.historical ? 1 : 0,
        alert.fault,
      );
    return { ...alert, id, code: Number(result.lastInsertRowid) };
  }

  updateAlert(alert: Alert): void {
    this.statement(
        `UPDATE alerts SET severity = ?, state = ?, message = ?, acknowledged_at = ?, acknowledged_by = ?, resolved_at = ?, resolved_by = ?, historical = ?
         WHERE id = ?`,
      )
      .run(
        alert.severity,
        alert.state,
        alert.message,
        alert.acknowledgedAtMs,
        alert.acknowledgedBy,
        alert.resolvedAtMs,
        alert.resolvedBy,
        alert.historical ? 1 : 0,
        alert.id,
      );
  }

  recordAlertChange(change: AlertChange): void {
    this.statement('INSERT INTO alert_events (alert_id, at, kind, state, severity, actor, note) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(change.alert.id, change.atMs, change.kind, change.alert.state, change.alert.severity, change.actor, change.note ?? null);
  }

  unresolvedAlert(boreholeId: string, rule: RuleId): Alert | null {
    const row = this.statement<[string, string], AlertRow>("SELECT * FROM alerts WHERE borehole = ? AND rule = ? AND state != 'resolved'")
      .get(boreholeId, rule);
    return row ? toAlert(row) : null;
  }

  alertById(id: string): Alert | null {
    const row = this.statement<[string], AlertRow>('SELECT * FROM alerts WHERE id = ?').get(id);
    return row ? toAlert(row) : null;
  }

  alertByCode(code: number): Alert | null {
    const row = this.statement<[number], AlertRow>('SELECT * FROM alerts WHERE code = ?').get(code);
    return row ? toAlert(row) : null;
  }

  listAlerts(query: AlertQuery): { alerts: Alert[]; total: number } {
    const { clause, params } = listWhere({ state: query.state, notEnded: { word: 'unresolved', sql: "state != 'resolved'" }, boreholeIds: query.boreholeIds });
    const total = this.statement<(string | number)[], { n: number }>(`SELECT count(*) AS n FROM alerts ${clause}`).get(...params)?.n ?? 0;
    let pageClause = clause;
    const pageParams = [...params];
    if (query.after) {
      pageClause = `${clause ? `${clause} AND` : 'WHERE'} (opened_at < ? OR (opened_at = ? AND code < ?))`;
      pageParams.push(query.after.openedAtMs, query.after.openedAtMs, query.after.code);
    }
    const rows = this.statement<(string | number)[], AlertRow>(`SELECT * FROM alerts ${pageClause} ORDER BY opened_at DESC, code DESC LIMIT ? OFFSET ?`)
      .all(...pageParams, query.limit, query.offset);
    return { alerts: rows.map(toAlert), total };
  }

  alertHistory(alertId: string): AlertEventRecord[] {
    return this.statement<[string], { alert_id: string; at: number; kind: string; state: string; severity: string; actor: string; note: string | null }>(
        'SELECT alert_id, at, kind, state, severity, actor, note FROM alert_events WHERE alert_id = ? ORDER BY seq',
      )
      .all(alertId)
      .map((row) => ({
        alertId: row.alert_id,
        atMs: row.at,
        kind: row.kind as AlertChange['kind'],
        state: row.state as AlertState,
        severity: row.severity as Severity,
        actor: row.actor,
        note: row.note,
      }));
  }

  unresolvedRules(): Map<string, string[]> {
    // Read from the partial index alerts_one_unresolved alone: a country's list pages ask it on
    // every page, and resolved alerts (years of them) are never touched.
    const byBorehole = new Map<string, string[]>();
    for (const [borehole, rule] of this.statement<[], [string, string]>("SELECT borehole, rule FROM alerts WHERE state != 'resolved'").raw().all()) {
      const rules = byBorehole.get(borehole);
      if (rules) rules.push(rule);
      else byBorehole.set(borehole, [rule]);
    }
    return byBorehole;
  }

  unresolvedCounts(): Record<Severity, number> {
    const counts: Record<Severity, number> = { info: 0, warning: 0, critical: 0 };
    for (const row of this.statement<[], { severity: Severity; n: number }>("SELECT severity, count(*) AS n FROM alerts WHERE state != 'resolved' GROUP BY severity").all()) {
      counts[row.severity] = row.n;
    }
    return counts;
  }

  insertMaintenance(record: Omit<MaintenanceRecord, 'id'>): MaintenanceRecord {
    const result = this.statement('INSERT INTO maintenance (borehole, at, by, note) VALUES (?, ?, ?, ?)')
      .run(record.boreholeId, record.atMs, record.by, record.note);
    return { ...record, id: Number(result.lastInsertRowid) };
  }

  listMaintenance(boreholeId: string): MaintenanceRecord[] {
    return this.statement<[string], { id: number; borehole: string; at: number; by: string; note: string }>(
        'SELECT id, borehole, at, by, note FROM maintenance WHERE borehole = ? ORDER BY at DESC',
      )
      .all(boreholeId)
      .map((row) => ({ id: row.id, boreholeId: row.borehole, atMs: row.at, by: row.by, note: row.note }));
  }

  /** Stores a message before any attempt; a message with the same id is not stored twice. */
  enqueueSms(message: OutboxEntry): boolean {
    const result = this.statement(
      `INSERT OR IGNORE INTO sms_outbox (id, recipient, text, kind, alert_id, incident_id, created_at, not_before, only_while_unresolved, status, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)`,
    ).run(message.id, message.recipient, message.text, message.kind, message.alertId, message.incidentId ?? null, message.createdAtMs, message.notBeforeMs, message.onlyWhileUnresolved ? 1 : 0, message.notBeforeMs);
    return result.changes === 1;
  }

  dueSms(nowMs: number, limit: number): OutboxMessage[] {
    return this.statement<[number, number], OutboxRow>(
      "SELECT * FROM sms_outbox WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, created_at LIMIT ?",
    )
      .all(nowMs, limit)
      .map(toOutboxMessage);
  }

  smsById(id: string): OutboxMessage | null {
    const row = this.statement<[string], OutboxRow>('SELECT * FROM sms_outbox WHERE id = ?').get(id);
    return row ? toOutboxMessage(row) : null;
  }

  markSmsSent(id: string, atMs: number, gateway: string, providerMessageId: string | null): void {
    this.statement("UPDATE sms_outbox SET status = 'sent', sent_at = ?, gateway = ?, provider_message_id = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?").run(
      atMs,
      gateway,
      providerMessageId,
      id,
    );
  }

  markSmsRetry(id: string, nextAttemptAtMs: number, error: string): void {
    this.statement('UPDATE sms_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?').run(nextAttemptAtMs, error, id);
  }

  finishSms(id: string, status: 'failed' | 'cancelled', error: string | null): void {
    // A failure was an attempt; a cancellation was not.
    this.statement('UPDATE sms_outbox SET status = ?, last_error = ?, attempts = attempts + ? WHERE id = ?').run(status, error, status === 'failed' ? 1 : 0, id);
  }

  foldSms(id: string, summaryId: string): void {
    this.statement("UPDATE sms_outbox SET status = 'folded', summary_id = ? WHERE id = ?").run(summaryId, id);
  }

  foldedInto(summaryId: string): OutboxMessage[] {
    return this.statement<[string], OutboxRow>('SELECT * FROM sms_outbox WHERE summary_id = ? ORDER BY created_at').all(summaryId).map(toOutboxMessage);
  }

  /** When the messages sent to a phone after `sinceMs` went out, oldest first. */
  sentTimes(recipient: string, sinceMs: number): number[] {
    return this.statement<[string, number], { sent_at: number }>(
      "SELECT sent_at FROM sms_outbox WHERE recipient = ? AND status = 'sent' AND sent_at > ? ORDER BY sent_at",
    )
      .all(recipient, sinceMs)
      .map((row) => row.sent_at);
  }

  outboxStats(nowMs: number): { pending: number; oldestPendingAgeMs: number; failed: number } {
    const row = this.statement<[], { pending: number; oldest: number | null }>(
      "SELECT count(*) AS pending, min(created_at) AS oldest FROM sms_outbox WHERE status = 'pending'",
    ).get();
    const failed = this.statement<[], { n: number }>(`SELECT count(*) AS n FROM sms_outbox WHERE ${STATE_SQL.failed}`).get()?.n ?? 0;
    return { pending: row?.pending ?? 0, oldestPendingAgeMs: row?.oldest ? nowMs - row.oldest : 0, failed };
  }

  listSms(limit: number): OutboxMessage[] {
    return this.statement<[number], OutboxRow>('SELECT * FROM sms_outbox ORDER BY created_at DESC LIMIT ?').all(limit).map(toOutboxMessage);
  }

  /** Messages for `GET /api/sms` and the SMS page, with the total matching. */
  querySms(query: SmsQuery): { messages: OutboxMessage[]; total: number } {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.states && query.states.length > 0) where.push(`(${query.states.map((state) => STATE_SQL[state]).join(' OR ')})`);
    if (query.recipient !== undefined) {
      where.push('recipient = ?');
      params.push(query.recipient);
    }
    if (query.alertId !== undefined) {
      where.push('alert_id = ?');
      params.push(query.alertId);
    }
    if (query.sinceMs !== undefined) {
      where.push('created_at >= ?');
      params.push(query.sinceMs);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const order = query.failuresFirst ? `CASE WHEN ${STATE_SQL.failed} THEN 0 WHEN ${STATE_SQL.pending} THEN 1 ELSE 2 END, created_at DESC` : 'created_at DESC';
    // Built from fixed fragments only; every value is a bound parameter.
    const total = this.db.prepare<(string | number)[], { n: number }>(`SELECT count(*) AS n FROM sms_outbox ${clause}`).get(...params)?.n ?? 0;
    const rows = this.db.prepare<(string | number)[], OutboxRow>(`SELECT * FROM sms_outbox ${clause} ORDER BY ${order} LIMIT ? OFFSET ?`).all(...params, query.limit, query.offset);
    return { messages: rows.map(toOutboxMessage), total };
  }

  /**
   * Records a provider's delivery receipt on the message it names; the message, or null when no
   * sent message matches. A later receipt replaces an earlier one (a provider may say
   * undelivered, then delivered after its own retries).
   */
  recordDelivery(match: ReceiptMatch, delivery: SmsDelivery, detail: string | null, atMs: number): OutboxMessage | null {
    return this.transaction(() => {
      let row: OutboxRow | undefined;
      if (match.messageId !== undefined) row = this.statement<[string], OutboxRow>("SELECT * FROM sms_outbox WHERE id = ? AND status = 'sent'").get(match.messageId);
      if (!row && match.providerMessageId !== undefined) {
        row = this.statement<[string], OutboxRow>("SELECT * FROM sms_outbox WHERE provider_message_id = ? AND status = 'sent' ORDER BY sent_at DESC LIMIT 1").get(match.providerMessageId);
      }
      if (!row && match.recipient !== undefined && match.messageId === undefined && match.providerMessageId === undefined) {
        row = this.statement<[string], OutboxRow>("SELECT * FROM sms_outbox WHERE recipient = ? AND status = 'sent' AND delivery IS NULL ORDER BY sent_at LIMIT 1").get(match.recipient);
      }
      if (!row) return null;
      this.statement('UPDATE sms_outbox SET delivery = ?, delivered_at = ?, delivery_detail = ? WHERE id = ?').run(delivery, atMs, detail, row.id);
      return toOutboxMessage({ ...row, delivery, delivered_at: atMs, delivery_detail: detail });
    });
  }

  /**
   * Sends a failed message again, with the same id (so a gateway that deduplicates by it, and
   * the operator reading the log, see one message). False when the message is not failed.
   */
  retrySms(id: string, nowMs: number): boolean {
    return (
      this.statement(
        `UPDATE sms_outbox SET status = 'pending', next_attempt_at = ?, not_before = min(not_before, ?), delivery = NULL, delivered_at = NULL, delivery_detail = NULL
         WHERE id = ? AND ${STATE_SQL.failed}`,
      ).run(nowMs, nowMs, id).changes === 1
    );
  }

  /** Records that an alert was escalated; false if it already was. */
  markEscalated(alertId: string, atMs: number): boolean {
    return this.statement('INSERT OR IGNORE INTO sms_escalations (alert_id, at) VALUES (?, ?)').run(alertId, atMs).changes === 1;
  }

  /**
   * Critical alerts nobody acknowledged yet and not yet escalated, with the time each became
   * critical (a warning may have been open for hours before); the caller applies each
   * borehole's delay.
   */
  alertsToEscalate(): { alert: Alert; criticalSinceMs: number }[] {
    return this.statement<[], AlertRow & { critical_since: number | null }>(
      `SELECT alerts.*, (SELECT min(at) FROM alert_events e WHERE e.alert_id = alerts.id AND e.severity = 'critical') AS critical_since
       FROM alerts WHERE state = 'open' AND severity = 'critical' AND historical = 0
       AND id NOT IN (SELECT alert_id FROM sms_escalations)`,
    )
      .all()
      .map((row) => ({ alert: toAlert(row), criticalSinceMs: row.critical_since ?? row.opened_at }));
  }

  /** Drops the pending messages of an incident of the given kinds (a deferred warning that became critical). */
  cancelIncidentSms(incidentId: string, kinds: readonly string[], reason: string): number {
    if (kinds.length === 0) return 0;
    return this.statement(`UPDATE sms_outbox SET status = 'cancelled', last_error = ? WHERE incident_id = ? AND status = 'pending' AND kind IN (${kinds.map(() => '?').join(', ')})`).run(
      reason,
      incidentId,
      ...kinds,
    ).changes;
  }

  /** Drops the pending deferred messages of an alert (a night warning that became critical). */
  cancelDeferredSms(alertId: string, reason: string): number {
    return this.statement("UPDATE sms_outbox SET status = 'cancelled', last_error = ? WHERE alert_id = ? AND status = 'pending' AND only_while_unresolved = 1 AND kind = 'alert'").run(
      reason,
      alertId,
    ).changes;
  }

  /** Alerts that were critical at some time in [fromMs, toMs), historical ones included. */
  criticalAlertsBetween(fromMs: number, toMs: number): CriticalAlertRecord[] {
    return this.statement<[number, number], { borehole: string; code: number; opened_at: number; resolved_at: number | null; critical_at: number | null }>(
      `SELECT borehole, code, opened_at, resolved_at,
              (SELECT min(at) FROM alert_events e WHERE e.alert_id = alerts.id AND e.severity = 'critical') AS critical_at
       FROM alerts WHERE severity = 'critical' AND opened_at < ? AND (resolved_at IS NULL OR resolved_at > ?)
       ORDER BY code`,
    )
      .all(toMs, fromMs)
      .map((row) => ({
        boreholeId: row.borehole,
        code: row.code,
        openedAtMs: row.opened_at,
        criticalAtMs: row.critical_at ?? row.opened_at,
        resolvedAtMs: row.resolved_at,
      }));
  }

  /** Keeps the first report generated for a period: what the ministry was sent does not change under it. */
  archiveReport(report: ArchivedReport): boolean {
    return (
      this.statement('INSERT OR IGNORE INTO reports (kind, from_ms, to_ms, tz, generated_at, body) VALUES (?, ?, ?, ?, ?, ?)').run(
        report.kind,
        report.fromMs,
        report.toMs,
        report.tz,
        report.generatedAtMs,
        report.body,
      ).changes === 1
    );
  }

  /** Newest first, without their bodies. */
  listArchivedReports(limit: number): Omit<ArchivedReport, 'body'>[] {
    return this.statement<[number], { kind: string; from_ms: number; to_ms: number; tz: string; generated_at: number }>(
      'SELECT kind, from_ms, to_ms, tz, generated_at FROM reports ORDER BY from_ms DESC, kind LIMIT ?',
    )
      .all(limit)
      .map((row) => ({ kind: row.kind, fromMs: row.from_ms, toMs: row.to_ms, tz: row.tz, generatedAtMs: row.generated_at }));
  }

  archivedReport(kind: string, fromMs: number, tz: string): ArchivedReport | null {
    const row = this.statement<[string, number, string], { kind: string; from_ms: number; to_ms: number; tz: string; generated_at: number; body: string }>(
      'SELECT * FROM reports WHERE kind = ? AND from_ms = ? AND tz = ?',
    ).get(kind, fromMs, tz);
    return row ? { kind: row.kind, fromMs: row.from_ms, toMs: row.to_ms, tz: row.tz, generatedAtMs: row.generated_at, body: row.body } : null;
  }

  reportWatermark(kind: string): number | null {
    return this.statement<[string], { through_ms: number }>('SELECT through_ms FROM report_watermarks WHERE kind = ?').get(kind)?.through_ms ?? null;
  }

  setReportWatermark(kind: string, throughMs: number): void {
    this.statement('INSERT INTO report_watermarks (kind, through_ms) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET through_ms = excluded.through_ms').run(kind, throughMs);
  }

  /**
   * Claims an inbound SMS by its deduplication key: true the first time, false when the key was
   * claimed within the last `windowMs`. Keys older than `retentionMs` are dropped on the way, so
   * the table holds at most that long a history.
   */
  claimInboundSms(key: string, atMs: number, windowMs: number, retentionMs: number): boolean {
    return this.db.transaction(() => {
      this.statement('DELETE FROM sms_inbound_seen WHERE at < ?').run(atMs - retentionMs);
      const seen = this.statement<[string], { at: number }>('SELECT at FROM sms_inbound_seen WHERE key = ?').get(key);
      if (seen && seen.at > atMs - windowMs) return false;
      this.statement('INSERT INTO sms_inbound_seen (key, at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET at = excluded.at').run(key, atMs);
      return true;
    })();
  }

  /** Gives a claim back: the SMS could not be handled, and the gateway's retry must be. */
  releaseInboundSms(key: string): void {
    this.statement('DELETE FROM sms_inbound_seen WHERE key = ?').run(key);
  }

  /** How many replies were queued for a phone after `sinceMs`, sent or not. */
  repliesQueuedSince(recipient: string, sinceMs: number): number {
    return this.statement<[string, number], { n: number }>("SELECT count(*) AS n FROM sms_outbox WHERE recipient = ? AND kind = 'reply' AND created_at > ?").get(recipient, sinceMs)?.n ?? 0;
  }

  /**
   * When the first message about an alert was queued to go out (a deferred one counts from when
   * it may go), or null when none was: the moment people were told, from which escalation counts.
   */
  firstToldAtMs(alertId: string): number | null {
    return (
      this.statement<[string], { at: number | null }>(
        "SELECT min(max(created_at, not_before)) AS at FROM sms_outbox WHERE alert_id = ? AND kind = 'alert' AND status != 'cancelled'",
      ).get(alertId)?.at ?? null
    );
  }

  recordInboundSms(receivedAtMs: number, sender: string, text: string, outcome: string, incidentId: string | null = null): void {
    this.statement('INSERT INTO sms_inbound (received_at, sender, text, outcome, incident_id) VALUES (?, ?, ?, ?, ?)').run(receivedAtMs, sender, text.slice(0, 500), outcome, incidentId);
  }

  close(): void {
    this.db.close();
  }
}
