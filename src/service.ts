/**
 * Wires the parts of the running service from a validated configuration. `main.ts` reads the
 * environment and calls this; integration tests call it directly with their own servers.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AlertChange } from './alerts/alert.js';
import type { Config } from './config/env.js';
import { ConfigError, locatedText } from './config/errors.js';
import { LiveRegistry, readRegistryFile, type RegistryReload } from './config/live-registry.js';
import type { Registry } from './config/registry.js';
import { DeadLetterLog, replayDeadLetters, type DeadLetterFilter, type ReplayResult } from './ingest/dead-letters.js';
import { Drain, writeHealthCheck, type LineWriter } from './ingest/drain.js';
import { EmbeddedBroker } from './ingest/embedded-broker.js';
import { Ingest, type IncomingMessage } from './ingest/ingest.js';
import { Journal } from './ingest/journal.js';
import { MqttSource } from './ingest/mqtt-source.js';
import { buildApp } from './http/app.js';
import { alertsPortOf } from './http/routes/alerts.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { normaliseSender } from './domain/phone.js';
import { InfluxClient, StoreWriteError } from './storage/influx.js';
import { InfluxTelemetry } from './storage/influx-telemetry.js';
import { EmbeddedTelemetry } from './storage/embedded-telemetry.js';
import type { TelemetryStore } from './storage/telemetry.js';
import { alertChangeLine, boreholeTags, registryLine, uptimeLine } from './storage/points.js';
import type { ReportSources } from './reports/report.js';
import { ReportWorker, type WorkerTelemetry } from './reports/report-worker.js';
import { reportTelemetry } from './storage/report-telemetry.js';
import { ReportScheduler, serviceMonthReport } from './reports/scheduler.js';
import { SqliteStore } from './storage/sqlite-store.js';
import { RulesEngine } from './rules/engine.js';
import { resolveAlertsOfRemovedBoreholes } from './alerts/removed-boreholes.js';
import { SmsDispatcher } from './notify/dispatcher.js';
import { createSmsGateway } from './notify/gateways/config.js';
import { InboundSmsHandler } from './notify/replies.js';
import { IncidentDesk } from './incidents/desk.js';

export interface ServiceDeps {
  config: Config;
  /** A LiveRegistry (main.ts) keeps its version; a plain one is wrapped in one. */
  registry: Registry;
  /**
   * The file the registry came from: read again on `reloadRegistry()` (SIGHUP in main.ts,
   * `POST /api/admin/reload`) and, with `watchRegistry`, whenever it changes (docs/operations.md).
   */
  registryFile?: string;
  watchRegistry?: boolean;
  log: Logger;
  now?: () => number;
  /** Rules tick interval; the contract asks for at least every 10 s. */
  tickIntervalMs?: number;
  /** How long after start-up the uptime reports catch up (docs/reports.md); default 2 minutes. */
  reportStartDelayMs?: number;
  /**
   * How long every write to the time-series store must have failed before `/readyz` says so
   * (docs/operations.md); default a minute, so that a blip is not an outage.
   */
  storeFailingReadyAfterMs?: number;
}

export interface RunningService {
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  metrics: Metrics;
  journal: Journal;
  rules: RulesEngine;
  dispatcher: SmsDispatcher;
  /** Incidents and work orders (section 9). */
  incidents: IncidentDesk;
  registry: LiveRegistry;
  /** Reads the registry file again; an invalid one is refused and the running one kept. Never rejects. */
  reloadRegistry(trigger: 'signal' | 'file' | 'api'): Promise<RegistryReload>;
  stop(): Promise<void>;
}

/** Editors write a file in several steps (truncate, write, rename): one reload after the last. */
const REGISTRY_WATCH_SETTLE_MS = 500;

/** How long a clean shutdown keeps sending the journal to the store before leaving it for next time. */
const SHUTDOWN_FLUSH_MS = 5000;
const STORE_FAILING_READY_AFTER_MS = 60_000;

export async function startService({
  config,
  registry: givenRegistry,
  registryFile,
  watchRegistry = false,
  log,
  now = Date.now,
  tickIntervalMs,
  reportStartDelayMs,
  storeFailingReadyAfterMs = STORE_FAILING_READY_AFTER_MS,
}: ServiceDeps): Promise<RunningService> {
  const registry = givenRegistry instanceof LiveRegistry ? givenRegistry : new LiveRegistry(givenRegistry, 'in-memory');
  // MQTT_URL and INFLUX_URL unset: the embedded broker and time-series store (CONTRACT.md section 8).
  const journal = new Journal({
    dir: join(config.dataDir, 'journal'),
    fsyncIntervalMs: config.journal.fsyncIntervalMs,
    now,
    onCorruption: (info) =>
      log.error(
        info,
        info.kind === 'torn_tail'
          ? 'journal tail was torn (crash or power cut); cut it off'
          : 'journal segment damaged: valid records kept, the segment quarantined for inspection',
      ),
    onError: (info) => log.error(info, 'journal operation failed'),
  });
  await journal.open();
  const deadLetters = new DeadLetterLog(join(config.dataDir, 'dead-letters'), config.deadLetterLimit);
  await deadLetters.open();

  const timeSeries = openTimeSeries(config, log, now);
  const store = new SqliteStore(join(config.dataDir, 'state.db'));
  const metrics = createMetrics({
    journalStats: () => journal.stats(),
    journalDamage: () => journal.damage,
    now,
    unresolvedAlerts: () => store.unresolvedCounts(),
    lateReadings: () => rules.lateReadingCount,
    outbox: () => store.outboxStats(now()),
    storeWriteHealth: () => drainRef?.health(),
    dataDir: config.dataDir,
  });
  metrics.deadLetters.set(deadLetters.size);
  let drainRef: Drain | null = null;
  // Points the service makes itself (alerts, reports) travel the same durable path as readings.
  const writeLines = (lines: string[]): void => {
    if (lines.length === 0) return;
    journal.append(lines, now());
    journal.commit();
    drainRef?.notify();
  };
  /** One `alert` point per alert change, for Grafana's annotations (CONTRACT.md section 2). */
  const writeAlertPoints = (changes: readonly AlertChange[]): void =>
    writeLines(changes.map((change) => alertChangeLine(change, boreholeTags(registry, change.alert.boreholeId))));
  const rules = new RulesEngine({
    registry,
    store,
    now,
    // A clock injected by a test drives silence too; the real one gets a monotonic companion.
    ...(now === Date.now ? { monotonicNow: () => performance.now() } : {}),
    log: log.child({ component: 'rules' }),
    ...(tickIntervalMs === undefined ? {} : { tickIntervalMs }),
    writeAlertPoints,
  });
  rules.onChange((change) => metrics.alertChanges.inc({ kind: change.kind, severity: change.alert.severity }));
  // Silence is judged only while the boreholes can be heard: from the broker connection on.
  rules.hearingLost();
  const hearing = (up: boolean): void => {
    metrics.mqttConnected.set(up ? 1 : 0);
    if (up) rules.hearingResumed();
    else rules.hearingLost();
  };

  const smsLog = log.child({ component: 'sms' });
  const dispatcher = new SmsDispatcher({
    store,
    gateway: createSmsGateway(config.sms.gateways, { log: smsLog }),
    registry,
    timeZone: config.reportTz,
    now,
    log: smsLog,
    perHourLimit: config.sms.perHourLimit,
    incidentStanding: (id) => {
      const incident = store.incidents.byId(id);
      return incident ? { closed: incident.state === 'verified', acknowledged: incident.acknowledgedAtMs !== null } : null;
    },
    events: {
      sent: (kind) => metrics.smsSent.inc({ kind }),
      failed: (kind, retryable) => metrics.smsFailures.inc({ kind, retryable: String(retryable) }),
    },
  });
  // Alerts become incidents, and incidents are what people hear of (CONTRACT.md section 9).
  const desk = new IncidentDesk({
    registry,
    store,
    rules,
    wakeDispatcher: () => void dispatcher.wake(),
    timeZone: config.reportTz,
    now,
    log: log.child({ component: 'incidents' }),
    events: { changed: (kind) => metrics.incidentChanges.inc({ kind }) },
  });
  rules.onChange((change) => desk.onAlertChange(change));
  const inboundSms = new InboundSmsHandler({
    registry,
    now,
    log: smsLog,
    defaultRegion: config.sms.defaultRegion,
    events: { duplicate: () => metrics.smsInboundDuplicates.inc(), replySuppressed: () => metrics.smsRepliesSuppressed.inc() },
    ports: {
      desk,
      unresolvedAlerts: (boreholeIds) => store.listAlerts({ state: 'unresolved', boreholeIds, limit: 1000, offset: 0 }).alerts,
      lastHeardAtMs: (boreholeId) => rules.stateOf(boreholeId)?.lastHeardAtMs ?? null,
      record: (at, sender, text, outcome, incidentId) => store.recordInboundSms(at, sender, text, outcome, incidentId ?? null),
      reply: (to, text, replyTo, incidentId) => dispatcher.enqueueReply(to, text, replyTo, incidentId),
      claimInboundSms: (key, at, windowMs, retentionMs) => store.claimInboundSms(key, at, windowMs, retentionMs),
      releaseInboundSms: (key) => store.releaseInboundSms(key),
      repliesQueuedSince: (to, sinceMs) => store.repliesQueuedSince(to, sinceMs),
    },
  });
  const ingest = new Ingest({
    topicRoot: config.mqtt.topicRoot,
    registry,
    journal,
    deadLetters,
    metrics,
    now,
    log: log.child({ component: 'ingest' }),
    onAccepted: (readings) => {
      rules.accept(readings);
      desk.observe(readings);
    },
  });
  const drain = new Drain({
    journal,
    writer: timeSeries.writer,
    batchPoints: config.influx.batchPoints,
    concurrency: config.influx.concurrency,
    now,
    log: log.child({ component: 'drain' }),
    events: {
      written: (points, durationMs) => {
        metrics.storeWrites.inc({ result: 'ok' });
        metrics.storePoints.inc(points);
        metrics.storeWriteSeconds.observe(durationMs / 1000);
      },
      failed: (retryable) => metrics.storeWrites.inc({ result: retryable ? 'retry' : 'refused' }),
      refused: (line, reason) => ingest.refusedByStore(line, reason),
    },
  });
  drainRef = drain;

  let journalFailing = false;
  // Either way a message is acknowledged only once `commit` has put it on the journal.
  const intake = {
    topicRoot: config.mqtt.topicRoot,
    log: log.child({ component: 'mqtt' }),
    handle: (message: IncomingMessage) => ingest.handle(message),
    commit: () => {
      const wrote = ingest.commit();
      // A turn of rejected messages alone writes nothing, and says nothing of a full disk.
      if (wrote) journalFailing = false;
      drain.notify();
      return wrote;
    },
    onCommitError: () => {
      journalFailing = true;
      metrics.journalErrors.inc();
    },
  };
  const mqttSource: MessageSource =
    config.mqtt.url === undefined
      ? new EmbeddedBroker({
          ...intake,
          host: config.mqtt.embedded.host,
          port: config.mqtt.embedded.port,
          onListeningChange: hearing,
          // Cut before its payload was read: counted and logged (with the address), not dead-lettered.
          onOversizePacket: () => metrics.rejected.inc({ reason: 'oversize' }),
        })
      : new MqttSource({
          ...intake,
          url: config.mqtt.url,
          clientId: config.mqtt.clientId,
          protocolVersion: config.mqtt.protocolVersion,
          username: config.mqtt.username,
          password: config.mqtt.password,
          onConnectionChange: hearing,
        });

  /** The `registry` measurement (Grafana's names and places), at start-up and after each reload. */
  const writeRegistryPoints = (): void => writeLines([...registry.boreholes.values()].map((borehole) => registryLine(borehole, now())));
  // POST /api/dead-letters/replay: kept messages judged again by the live ingest (docs/ingest.md).
  const ingestLog = log.child({ component: 'ingest' });
  const replayLetters = async (filter: DeadLetterFilter, limit: number): Promise<ReplayResult> => {
    // A reload under way (a file just saved, an admin's reload) is applied first: the replay
    // judges with the registry the operator has just written.
    await reloading.catch(() => undefined);
    const result = replayDeadLetters(
      deadLetters,
      (messages) => {
        try {
          return ingest.replay(messages);
        } catch (error) {
          journalFailing = true;
          metrics.journalErrors.inc();
          throw error;
        }
      },
      filter,
      limit,
    );
    drain.notify();
    metrics.deadLetters.set(deadLetters.size);
    const { persisted, ...counts } = result;
    ingestLog.info({ ...filter, limit, ...counts }, 'dead letters replayed');
    if (!persisted) {
      ingestLog.error({ err: deadLetters.lastWriteError }, 'the dead-letter log could not be rewritten after a replay: the replayed letters come back at the next start (replaying them again stores nothing twice)');
    }
    return result;
  };
  const reportSources: ReportSources = {
    criticalAlertsBetween: (fromMs, toMs) => store.criticalAlertsBetween(fromMs, toMs),
    telemetry: timeSeries.telemetry,
    incidents: desk,
    now,
  };
  const reportLog = log.child({ component: 'reports' });
  // The uptime and results reports read the time-series store in a worker thread (docs/reports.md, "Where reports are computed").
  const reportWorker = new ReportWorker({ telemetry: timeSeries.reportTelemetry, sources: reportSources, log: reportLog });
  const reportScheduler = new ReportScheduler({
    tz: config.reportTz,
    now,
    log: reportLog,
    archive: store,
    build: (period) => reportWorker.uptime(period, [...registry.boreholes.values()]),
    writeUptime: (report, kind, period) =>
      writeLines(report.boreholes.map((row) => uptimeLine({ ...row, ...boreholeTags(registry, row.borehole) }, kind, period.fromMs))),
    writeRegistry: () => writeRegistryPoints(),
    // The maintenance provider's figures, archived like the uptime (docs/reports.md).
    buildService: (period) => serviceMonthReport(desk, [...registry.boreholes.values()], period, now()),
    buildResults: (quarter) => reportWorker.results(quarter, [...registry.boreholes.values()]),
    ...(reportStartDelayMs === undefined ? {} : { startDelayMs: reportStartDelayMs }),
  });

  const app = await buildApp({
    log: log.child({ component: 'http' }),
    apiTokens: config.apiTokens,
    metricsRegistry: metrics.registry,
    deadLetters,
    // Called once the server listens, by when reloadRegistry (below) exists.
    reloadRegistry: () => reloadRegistry('api'),
    replayDeadLetters: replayLetters,
    alerts: alertsPortOf(store, rules, registry),
    incidents: desk,
    calls: { missedCall: (from) => inboundSms.missedCall(from) },
    network: {
      registry,
      lastHeardAtMs: (id) => rules.stateOf(id)?.lastHeardAtMs ?? null,
      maintenance: (id) => store.listMaintenance(id),
      telemetry: timeSeries.telemetry,
    },
    reports: {
      build: (period, boreholes) => reportWorker.uptime(period, boreholes),
      results: (quarter, boreholes) => reportWorker.results(quarter, boreholes),
      archived: (limit) => store.listArchivedReports(limit),
      archivedReport: (kind, fromMs, tz) => store.archivedReport(kind, fromMs, tz),
    },
    now,
    timeZone: config.reportTz,
    trustProxy: config.http.trustProxy,
    smsInbound: {
      inboundToken: config.sms.inboundToken,
      twilioAuthToken: config.sms.gateways.twilio?.authToken,
      publicUrl: config.sms.publicUrl,
      handle: (sms) => inboundSms.handle(sms),
      receipt: (receipt, provider) => {
        if (receipt.delivery === null) return 'not_final';
        const message = store.recordDelivery(receipt.match, receipt.delivery, receipt.detail, now());
        if (!message) {
          smsLog.warn({ provider, match: receipt.match, detail: receipt.detail }, 'delivery receipt for no message the service sent');
          return 'unmatched';
        }
        const line = { messageId: message.id, to: message.recipient, kind: message.kind, provider, detail: receipt.detail };
        if (receipt.delivery === 'delivered') smsLog.info(line, 'sms delivered');
        else smsLog.error(line, 'sms not delivered (receipt): retry it from /sms or POST /api/sms/{id}/retry');
        return 'recorded';
      },
    },
    sms: {
      query: (query) => store.querySms(query),
      retry: (id, actor) => {
        if (!store.smsById(id)) return 'not_found';
        if (!store.retrySms(id, now())) return 'not_failed';
        smsLog.info({ messageId: id, actor }, 'sms queued again by an operator');
        void dispatcher.wake();
        return 'retried';
      },
      normaliseNumber: (raw) => normaliseSender(raw, config.sms.defaultRegion),
    },
    readiness: async () => {
      // Answering /ping is not taking writes (a revoked token, a dropped bucket): both are asked.
      const writes = writeHealthCheck(drain.health(), now(), storeFailingReadyAfterMs, timeSeries.name);
      const store = await timeSeries.ping().then(
        () => writes,
        (error: Error) => ({ ok: false, detail: error instanceof StoreWriteError ? `${timeSeries.name} refused: ${error.reason}` : `${timeSeries.name} unreachable: ${error.message}` }),
      );
      return {
        broker: mqttSource.connected
          ? { ok: true }
          : { ok: false, detail: config.mqtt.url === undefined ? 'the embedded MQTT broker is not listening' : 'not connected to the MQTT broker' },
        store,
        journal: journalFailing ? { ok: false, detail: 'the journal cannot be written (disk full?)' } : { ok: true },
      };
    },
  });

  // Before the rules start: alerts of boreholes gone from the registry resolved, journaled as alert
  // points (Grafana) and counted, never notified (issue 13).
  const retireRemovedBoreholes = (): number => {
    const removed = resolveAlertsOfRemovedBoreholes({ store, registry, now });
    if (removed.length > 0) {
      writeAlertPoints(removed);
      for (const change of removed) metrics.alertChanges.inc({ kind: change.kind, severity: change.alert.severity });
      log.warn({ alerts: removed.length, boreholes: [...new Set(removed.map((change) => change.alert.boreholeId))] }, 'resolved the alerts of boreholes removed from the registry');
    }
    return removed.length;
  };
  retireRemovedBoreholes();
  const showRegistry = (): void => {
    metrics.registryInfo.reset();
    metrics.registryInfo.set({ version: registry.version }, 1);
    metrics.registryBoreholes.set(registry.boreholes.size);
  };
  showRegistry();

  const registryLog = log.child({ component: 'registry' });
  let reloading: Promise<RegistryReload> = Promise.resolve({ result: 'unchanged', version: registry.version, boreholes: registry.boreholes.size });
  const reloadOnce = async (trigger: 'signal' | 'file' | 'api'): Promise<RegistryReload> => {
    const size = registry.boreholes.size;
    if (registryFile === undefined) {
      return { result: 'refused', version: registry.version, boreholes: size, problems: ['the service was started without a registry file to read again'] };
    }
    let next;
    try {
      next = await readRegistryFile(registryFile, registry.version);
    } catch (error) {
      // With the line and column, as npm run check prints them.
      const problems = error instanceof ConfigError ? error.located.map(locatedText) : [(error as Error).message];
      metrics.registryReloads.inc({ result: 'refused' });
      registryLog.error({ trigger, file: registryFile, version: registry.version, problems }, 'registry reload refused: the running registry stays in use');
      return { result: 'refused', version: registry.version, boreholes: size, problems };
    }
    if (next.registry === null) {
      metrics.registryReloads.inc({ result: 'unchanged' });
      registryLog.info({ trigger, version: registry.version }, 'registry file unchanged');
      return { result: 'unchanged', version: registry.version, boreholes: size };
    }
    const previous = registry.version;
    const diff = registry.replace(next.registry, next.version);
    // From here on every reading, tick, SMS and page uses the new registry.
    ingest.registryChanged();
    const alertsResolved = retireRemovedBoreholes();
    writeRegistryPoints();
    showRegistry();
    metrics.registryReloads.inc({ result: 'applied' });
    registryLog.info(
      { trigger, previous, version: registry.version, boreholes: registry.boreholes.size, added: diff.added, removed: diff.removed, changed: diff.changed, alertsResolved },
      'registry reloaded',
    );
    return { result: 'applied', version: registry.version, boreholes: registry.boreholes.size, alertsResolved, ...diff };
  };
  // One reload at a time, in the order asked: a SIGHUP during a file-change reload waits for it.
  const reloadRegistry = (trigger: 'signal' | 'file' | 'api'): Promise<RegistryReload> => {
    const attempt = (): Promise<RegistryReload> =>
      reloadOnce(trigger).catch((error: unknown) => {
        // A store or journal failure while retiring boreholes: said, and the service keeps running.
        registryLog.error({ err: error, trigger, version: registry.version }, 'registry reload failed');
        return { result: 'refused' as const, version: registry.version, boreholes: registry.boreholes.size, problems: [`reload failed: ${(error as Error).message}`] };
      });
    reloading = reloading.then(attempt, attempt);
    return reloading;
  };

  let watcher: FSWatcher | null = null;
  let settle: NodeJS.Timeout | null = null;
  if (registryFile !== undefined && watchRegistry) {
    const file = basename(registryFile);
    try {
      // The directory, not the file: an editor that saves by rename replaces the file watched.
      watcher = watch(dirname(registryFile), (_event, name) => {
        if (name !== file) return;
        if (settle) clearTimeout(settle);
        settle = setTimeout(() => {
          settle = null;
          void reloadRegistry('file');
        }, REGISTRY_WATCH_SETTLE_MS);
      });
      watcher.on('error', (error) => registryLog.warn({ err: error }, 'registry file watch failed: reload with SIGHUP'));
    } catch (error) {
      registryLog.warn({ err: error, file: registryFile }, 'cannot watch the registry file: reload with SIGHUP or POST /api/admin/reload');
    }
  }
  rules.start();
  desk.start();
  dispatcher.start();
  drain.start();
  reportScheduler.start();

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      watcher?.close();
      if (settle) clearTimeout(settle);
      await reloading.catch(() => undefined);
      await mqttSource.stop();
      // Whatever was handled but not committed was not acknowledged either: the broker keeps it.
      rules.stop();
      desk.stop();
      await reportScheduler.stop();
      await reportWorker.close();
      await dispatcher.stop();
      await drain.stop(SHUTDOWN_FLUSH_MS);
      journal.close();
      store.close();
      timeSeries.close();
      await app.close();
    })();
    return stopped;
  };
  let address: string;
  try {
    await mqttSource.start();
    address = await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    // A port already taken, say: leave nothing open behind the error.
    await stop();
    throw error;
  }

  return {
    app,
    url: address,
    metrics,
    journal,
    rules,
    dispatcher,
    incidents: desk,
    registry,
    reloadRegistry,
    stop,
  };
}

/** What the service needs of an MQTT side: an external broker's subscription or the embedded broker. */
interface MessageSource {
  /** Connected to the external broker, or the embedded one listening. */
  readonly connected: boolean;
  start(): void | Promise<void>;
  stop(): Promise<void>;
}

/** The time-series store: InfluxDB when INFLUX_URL is set, else the embedded store under DATA_DIR. */
interface TimeSeries {
  name: string;
  writer: LineWriter;
  telemetry: TelemetryStore;
  /** How the report worker opens its own connection to the same store. */
  reportTelemetry: WorkerTelemetry;
  /** Readiness: resolves when the store answers. */
  ping(): Promise<unknown>;
  close(): void;
}

function openTimeSeries(config: Config, log: Logger, now: () => number): TimeSeries {
  const { url, token, org, bucket } = config.influx;
  if (url === undefined) {
    const path = join(config.dataDir, 'telemetry.db');
    const embedded = EmbeddedTelemetry.open({ path, now });
    log.child({ component: 'store' }).info({ path }, 'embedded time-series store opened (INFLUX_URL unset)');
    return { name: 'the embedded time-series store', writer: embedded, telemetry: embedded, reportTelemetry: reportTelemetry({ kind: 'embedded', path }), ping: () => embedded.ping(), close: () => embedded.close() };
  }
  const influx = new InfluxClient({ url, token, org, bucket, now }, log.child({ component: 'influx' }));
  return { name: 'influxdb', writer: influx, telemetry: new InfluxTelemetry(influx), reportTelemetry: reportTelemetry({ kind: 'influx', settings: { url, token, org, bucket } }), ping: () => influx.ping(), close: () => undefined };
}
