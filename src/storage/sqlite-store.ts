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
  };
}

export class SqliteStore implements OperationalStore {
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

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
    return new Map(rows.map((row) => [row.borehole, JSON.parse(row.state) as RuleState]));
  }

  saveRuleState(boreholeId: string, state: RuleState): void {
    this.statement('INSERT INTO rule_state (borehole, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (borehole) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at')
      .run(boreholeId, JSON.stringify(state), Date.now());
  }

  insertAlert(alert: NewAlert): Alert {
    const id = randomUUID();
    const result = this.statement(
        `INSERT INTO alerts (id, borehole, rule, severity, state, message, opened_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, historical)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.state === 'unresolved') where.push("state != 'resolved'");
    else if (query.state) {
      where.push('state = ?');
      params.push(query.state);
    }
    if (query.boreholeIds) {
      where.push(`borehole IN (${query.boreholeIds.map(() => '?').join(', ') || "''"})`);
      params.push(...query.boreholeIds);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = this.statement<(string | number)[], { n: number }>(`SELECT count(*) AS n FROM alerts ${clause}`).get(...params)?.n ?? 0;
    const rows = this.statement<(string | number)[], AlertRow>(`SELECT * FROM alerts ${clause} ORDER BY opened_at DESC, code DESC LIMIT ? OFFSET ?`)
      .all(...params, query.limit, query.offset);
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

  close(): void {
    this.db.close();
  }
}
