/**
 * Wires the parts of the running service from a validated configuration. `main.ts` reads the
 * environment and calls this; integration tests call it directly with their own servers.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config/env.js';
import { ConfigError } from './config/errors.js';
import type { Registry } from './config/registry.js';
import { DeadLetterLog } from './ingest/dead-letters.js';
import { Drain } from './ingest/drain.js';
import { Ingest } from './ingest/ingest.js';
import { Journal } from './ingest/journal.js';
import { MqttSource } from './ingest/mqtt-source.js';
import { buildApp } from './http/app.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { InfluxClient } from './storage/influx.js';
import { alertChangeLine, boreholeTags } from './storage/points.js';
import { SqliteStore } from './storage/sqlite-store.js';
import { RulesEngine } from './rules/engine.js';

export interface ServiceDeps {
  config: Config;
  registry: Registry;
  log: Logger;
  now?: () => number;
  /** Rules tick interval; the contract asks for at least every 10 s. */
  tickIntervalMs?: number;
}

export interface RunningService {
  app: FastifyInstance;
  /** Base URL the HTTP server listens on. */
  url: string;
  metrics: Metrics;
  journal: Journal;
  rules: RulesEngine;
  stop(): Promise<void>;
}

/** How long a clean shutdown keeps sending the journal to the store before leaving it for next time. */
const SHUTDOWN_FLUSH_MS = 5000;

export async function startService({ config, registry, log, now = Date.now, tickIntervalMs }: ServiceDeps): Promise<RunningService> {
  if (config.mqtt.url === undefined) {
    throw new ConfigError('environment', ['MQTT_URL: is required for now (the embedded broker is not built yet)']);
  }
  if (config.influx.url === undefined) {
    throw new ConfigError('environment', ['INFLUX_URL: is required for now (the embedded time-series store is not built yet)']);
  }
  const journal = new Journal({
    dir: join(config.dataDir, 'journal'),
    fsyncIntervalMs: config.journal.fsyncIntervalMs,
    now,
    onCorruption: (info) => log.error(info, 'journal tail was torn (crash or power cut); cut it off'),
  });
  await journal.open();
  const deadLetters = new DeadLetterLog(join(config.dataDir, 'dead-letters'), config.deadLetterLimit);
  await deadLetters.open();

  const influx = new InfluxClient(
    { url: config.influx.url, token: config.influx.token, org: config.influx.org, bucket: config.influx.bucket },
    log.child({ component: 'influx' }),
  );
  const store = new SqliteStore(join(config.dataDir, 'state.db'));
  const metrics = createMetrics({
    journalStats: () => journal.stats(),
    now,
    unresolvedAlerts: () => store.unresolvedCounts(),
    lateReadings: () => rules.lateReadingCount,
  });
  metrics.deadLetters.set(deadLetters.size);
  let drainRef: Drain | null = null;
  const rules = new RulesEngine({
    registry,
    store,
    now,
    log: log.child({ component: 'rules' }),
    ...(tickIntervalMs === undefined ? {} : { tickIntervalMs }),
    // Alert points travel the same durable path as readings: journal, then InfluxDB.
    writeAlertPoints: (changes) => {
      journal.append(changes.map((change) => alertChangeLine(change, boreholeTags(registry, change.alert.boreholeId))), now());
      journal.commit();
      drainRef?.notify();
    },
  });
  rules.onChange((change) => metrics.alertChanges.inc({ kind: change.kind, severity: change.alert.severity }));
  const ingest = new Ingest({
    topicRoot: config.mqtt.topicRoot,
    registry,
    journal,
    deadLetters,
    metrics,
    now,
    log: log.child({ component: 'ingest' }),
    onAccepted: (readings) => rules.accept(readings),
  });
  const drain = new Drain({
    journal,
    writer: influx,
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
  const mqttSource = new MqttSource({
    url: config.mqtt.url,
    clientId: config.mqtt.clientId,
    protocolVersion: config.mqtt.protocolVersion,
    username: config.mqtt.username,
    password: config.mqtt.password,
    topicRoot: config.mqtt.topicRoot,
    log: log.child({ component: 'mqtt' }),
    handle: (message) => ingest.handle(message),
    commit: () => {
      ingest.commit();
      journalFailing = false;
      drain.notify();
    },
    onCommitError: () => {
      journalFailing = true;
      metrics.journalErrors.inc();
    },
    onConnectionChange: (connected) => metrics.mqttConnected.set(connected ? 1 : 0),
  });

  const app = await buildApp({
    log: log.child({ component: 'http' }),
    apiTokens: config.apiTokens,
    metricsRegistry: metrics.registry,
    deadLetters,
    alerts: {
      list: (query) => store.listAlerts(query),
      acknowledge: (id, actor) => rules.acknowledge(id, actor),
      resolve: (id, actor, note) => rules.resolve(id, actor, note),
      recordMaintenance: (boreholeId, actor, note) => rules.recordMaintenance(boreholeId, actor, note),
      isKnownBorehole: (id) => registry.boreholes.has(id),
    },
    readiness: async () => {
      const store = await influx.ping().then(
        () => ({ ok: true }),
        (error: Error) => ({ ok: false, detail: `influxdb unreachable: ${error.message}` }),
      );
      return {
        broker: mqttSource.connected ? { ok: true } : { ok: false, detail: 'not connected to the MQTT broker' },
        store,
        journal: journalFailing ? { ok: false, detail: 'the journal cannot be written (disk full?)' } : { ok: true },
      };
    },
  });

  rules.start();
  drain.start();
  mqttSource.start();
  const address = await app.listen({ host: config.http.host, port: config.http.port });

  let stopped: Promise<void> | null = null;
  return {
    app,
    url: address,
    metrics,
    journal,
    rules,
    stop: () => {
      stopped ??= (async () => {
        await mqttSource.stop();
        // Whatever was handled but not committed was not acknowledged either: the broker keeps it.
        rules.stop();
        await drain.stop(SHUTDOWN_FLUSH_MS);
        journal.close();
        store.close();
        await app.close();
      })();
      return stopped;
    },
  };
}
