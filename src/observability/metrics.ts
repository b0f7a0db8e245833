/**
 * Prometheus metrics (`GET /metrics`). One registry per service instance, so tests that run
 * several instances in one process do not mix their counts.
 */
import { statfs } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REJECT_REASONS } from '../ingest/decode.js';
import { TOPIC_KINDS } from '../contract/topics.js';
import { SEVERITIES } from '../rules/types.js';

import type { AlertChangeKind } from '../alerts/alert.js';
import type { JournalStats } from '../ingest/journal.js';

const ALERT_CHANGE_KINDS = ['opened', 'escalated', 'acknowledged', 'resolved'] as const satisfies readonly AlertChangeKind[];
const REGISTRY_RELOAD_RESULTS = ['applied', 'unchanged', 'refused'] as const;

export interface MetricSources {
  journalStats(): JournalStats;
  now(): number;
  /** Alerts not yet resolved, by severity. */
  unresolvedAlerts?(): Record<string, number>;
  lateReadings?(): number;
  outbox?(): { pending: number; oldestPendingAgeMs: number; failed: number };
  /** Journal damage found since start (docs/ingest.md, disk full and torn writes). */
  journalDamage?(): { tornTails: number; damagedSegments: number };
  /** Whether writes to the time-series store are failing (the drain's health). */
  storeWriteHealth?(): { consecutiveFailures: number; failingSinceMs: number | null } | undefined;
  /**
   * DATA_DIR, whose file system holds the journal and state.db: its free space and size are
   * exported so that an alert can say the disk is filling before the journal write fails
   * (deploy/prometheus/alerts.yml). Without it the two gauges are not exported at all, rather
   * than as a 0 that would read as a full disk.
   */
  dataDir?: string;
}

export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    messages: new Counter({
      name: 'ingest_messages_total',
      help: 'MQTT messages received, by topic kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    readings: new Counter({
      name: 'ingest_readings_total',
      help: 'Readings accepted (journaled and acknowledged), by topic kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'ingest_rejected_total',
      help: 'Messages or batch readings rejected, by reason; each is kept in the dead-letter log',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    journalErrors: new Counter({
      name: 'ingest_journal_errors_total',
      help: 'Journal appends that failed (disk full, I/O error); the message was not acknowledged',
      registers: [registry],
    }),
    storeWrites: new Counter({
      name: 'store_writes_total',
      help: 'Batch writes to the time-series store, by result (ok, retry, refused)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    storePoints: new Counter({
      name: 'store_points_written_total',
      help: 'Points the time-series store confirmed',
      registers: [registry],
    }),
    storeWriteSeconds: new Histogram({
      name: 'store_write_duration_seconds',
      help: 'Duration of successful batch writes to the time-series store',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    registryInfo: new Gauge({
      name: 'registry_info',
      help: 'The borehole registry in use: 1 for its version (first 12 hex digits of the SHA-256 of its file)',
      labelNames: ['version'] as const,
      registers: [registry],
    }),
    registryBoreholes: new Gauge({
      name: 'registry_boreholes',
      help: 'Boreholes in the registry in use',
      registers: [registry],
    }),
    registryReloads: new Counter({
      name: 'registry_reloads_total',
      help: 'Registry reloads asked (SIGHUP, file change, POST /api/admin/reload), by result: applied, unchanged, refused',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    storeConsecutiveFailures: new Gauge({
      name: 'store_write_consecutive_failures',
      help: 'Failed write attempts to the time-series store since the last one that worked (0 while writes work)',
      registers: [registry],
      collect() {
        this.set(sources.storeWriteHealth?.()?.consecutiveFailures ?? 0);
      },
    }),
    storeFailingSeconds: new Gauge({
      name: 'store_write_failing_seconds',
      help: 'How long every write to the time-series store has failed (0 while writes work)',
      registers: [registry],
      collect() {
        const since = sources.storeWriteHealth?.()?.failingSinceMs ?? null;
        this.set(since === null ? 0 : Math.max(0, (sources.now() - since) / 1000));
      },
    }),
    journalPendingPoints: new Gauge({
      name: 'journal_pending_points',
      help: 'Readings accepted but not yet confirmed by the time-series store (spool depth)',
      registers: [registry],
      collect() {
        this.set(sources.journalStats().pendingPoints);
      },
    }),
    journalPendingBytes: new Gauge({
      name: 'journal_pending_bytes',
      help: 'Bytes of journal segments on disk not yet confirmed by the store',
      registers: [registry],
      collect() {
        this.set(sources.journalStats().pendingBytes);
      },
    }),
    journalOldestAge: new Gauge({
      name: 'journal_oldest_age_seconds',
      help: 'Age of the oldest reading not yet confirmed by the store (0 when empty)',
      registers: [registry],
      collect() {
        const { oldestAtMs } = sources.journalStats();
        this.set(oldestAtMs === null ? 0 : Math.max(0, (sources.now() - oldestAtMs) / 1000));
      },
    }),
    journalDamage: new Gauge({
      name: 'journal_damage_found',
      help: 'Journal damage found since start, by kind: torn_tail (a crash cut a record, cut off), damaged (a segment quarantined)',
      labelNames: ['kind'] as const,
      registers: [registry],
      collect() {
        const damage = sources.journalDamage?.();
        this.set({ kind: 'torn_tail' }, damage?.tornTails ?? 0);
        this.set({ kind: 'damaged' }, damage?.damagedSegments ?? 0);
      },
    }),
    mqttConnected: new Gauge({
      name: 'mqtt_connected',
      help: '1 while the service is connected to the MQTT broker',
      registers: [registry],
    }),
    alertChanges: new Counter({
      name: 'alert_changes_total',
      help: 'Alert state changes, by kind (opened, escalated, acknowledged, resolved) and severity',
      labelNames: ['kind', 'severity'] as const,
      registers: [registry],
    }),
    incidentChanges: new Counter({
      name: 'incident_changes_total',
      help: 'Incident and work-order changes, by kind (opened, acknowledged, on_site, repair_claimed, verified, reopened, escalated, target_missed...)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    alertsUnresolved: new Gauge({
      name: 'alerts_unresolved',
      help: 'Alerts open or acknowledged, by severity',
      labelNames: ['severity'] as const,
      registers: [registry],
      collect() {
        const counts = sources.unresolvedAlerts?.() ?? {};
        for (const severity of ['info', 'warning', 'critical']) this.set({ severity }, counts[severity] ?? 0);
      },
    }),
    rulesLateReadings: new Gauge({
      name: 'rules_late_readings',
      help: 'Readings older than the newest already judged for their borehole (stored, not judged) since start',
      registers: [registry],
      collect() {
        this.set(sources.lateReadings?.() ?? 0);
      },
    }),
    smsSent: new Counter({
      name: 'sms_sent_total',
      help: 'SMS accepted by the gateway, by kind (alert, escalation, water_back, reply, summary)',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    smsFailures: new Counter({
      name: 'sms_send_failures_total',
      help: 'Failed SMS attempts, by kind and whether they will be retried',
      labelNames: ['kind', 'retryable'] as const,
      registers: [registry],
    }),
    smsInboundDuplicates: new Counter({
      name: 'sms_inbound_duplicates_total',
      help: 'Inbound SMS delivered again by a gateway (same provider id, or same sender and text within a minute): not acted on twice',
      registers: [registry],
    }),
    smsRepliesSuppressed: new Counter({
      name: 'sms_replies_suppressed_total',
      help: 'Replies not sent because their sender already had the hourly share of replies (the command itself was applied)',
      registers: [registry],
    }),
    smsOutboxPending: new Gauge({
      name: 'sms_outbox_pending',
      help: 'SMS stored and not yet accepted by the gateway (including those waiting for quiet hours to end)',
      registers: [registry],
      collect() {
        this.set(sources.outbox?.().pending ?? 0);
      },
    }),
    smsOutboxOldestAge: new Gauge({
      name: 'sms_outbox_oldest_age_seconds',
      help: 'Age of the oldest SMS not yet accepted by the gateway (0 when none)',
      registers: [registry],
      collect() {
        this.set((sources.outbox?.().oldestPendingAgeMs ?? 0) / 1000);
      },
    }),
    smsFailedMessages: new Gauge({
      name: 'sms_failed_messages',
      help: 'SMS that failed for good (invalid number, refused credentials): see the outbox',
      registers: [registry],
      collect() {
        this.set(sources.outbox?.().failed ?? 0);
      },
    }),
    deadLetters: new Gauge({
      name: 'dead_letters',
      help: 'Entries in the bounded dead-letter log',
      registers: [registry],
    }),
    dataDirAvailable: new Gauge({
      name: 'data_dir_available_bytes',
      help: 'Bytes free for the service on the file system of DATA_DIR (journal, state.db)',
      registers: sources.dataDir === undefined ? [] : [registry],
      async collect() {
        // NaN when it cannot be read: a 0 would read as a full disk.
        this.set((await dataDirSpace(sources.dataDir))?.availableBytes ?? Number.NaN);
      },
    }),
    dataDirSize: new Gauge({
      name: 'data_dir_size_bytes',
      help: 'Size of the file system of DATA_DIR',
      registers: sources.dataDir === undefined ? [] : [registry],
      async collect() {
        this.set((await dataDirSpace(sources.dataDir))?.sizeBytes ?? Number.NaN);
      },
    }),
  };
  // Every label value exists from the start, so a rate() over a reason that never happened is 0, not absent.
  for (const reason of REJECT_REASONS) metrics.rejected.inc({ reason }, 0);
  for (const kind of TOPIC_KINDS) {
    metrics.messages.inc({ kind }, 0);
    metrics.readings.inc({ kind }, 0);
  }
  for (const result of ['ok', 'retry', 'refused'] as const) metrics.storeWrites.inc({ result }, 0);
  // The alerting rules watch for an increase of these: a series born at 1 shows none.
  for (const kind of ALERT_CHANGE_KINDS) for (const severity of SEVERITIES) metrics.alertChanges.inc({ kind, severity }, 0);
  for (const result of REGISTRY_RELOAD_RESULTS) metrics.registryReloads.inc({ result }, 0);
  return metrics;
}

/** The file system's figures for an unprivileged writer (`df`'s "Avail"); undefined if it cannot be read. */
async function dataDirSpace(dir: string | undefined): Promise<{ availableBytes: number; sizeBytes: number } | undefined> {
  if (dir === undefined) return undefined;
  try {
    const stats = await statfs(dir);
    return { availableBytes: stats.bavail * stats.bsize, sizeBytes: stats.blocks * stats.bsize };
  } catch {
    return undefined;
  }
}

export type Metrics = ReturnType<typeof createMetrics>;
