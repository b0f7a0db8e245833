/**
 * The HTTP app built from real parts (SQLite store in memory, rules engine, registry) with a fake
 * telemetry store and a clock the test moves: what `app.inject()` tests of the borehole routes
 * and the pages run against.
 */
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import type { Reading } from '../../../src/domain/reading.js';
import { buildApp, type AppDeps } from '../../../src/http/app.js';
import { alertsPortOf, type AlertsPort } from '../../../src/http/routes/alerts.js';
import { buildUptimeReport } from '../../../src/reports/report.js';
import { IncidentDesk } from '../../../src/incidents/desk.js';
import { buildResultsReport } from '../../../src/reports/results-report.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { checkActiveRange, checkRange, type PeriodTotals, type SeriesBucket, type SeriesQuery } from '../../../src/storage/telemetry.js';

export const T0_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

export const TOKENS = {
  viewer: 'viewer-token-for-http-tests-01',
  operator: 'operator-token-for-http-tests-01',
  admin: 'admin-token-for-http-tests-0001',
  /** Limited to Koulikoro. */
  koulikoroViewer: 'koulikoro-viewer-token-for-tests',
  koulikoroOperator: 'koulikoro-operator-token-for-tst',
} as const;

const contact = (name: string, phone: string) => ({ name, phone });

/** Khabou and two neighbours in Kayes, two boreholes in Koulikoro, one in Sikasso. */
export function httpRegistry(): Registry {
  const borehole = (id: string, name: string, village: string, commune: string, region: string, lat: number, lon: number, phone: string) => ({
    id,
    name,
    village,
    commune,
    region,
    location: { lat, lon },
    pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
    committee: { language: 'fr' as const, contacts: [contact('Président du comité', phone), contact('Trésorière', phone.replace(/1$/, '2'))] },
    technician: contact(`Technicien de ${commune}`, '+22379000003'),
  });
  return buildRegistry(
    registryFileSchema.parse({
      boreholes: [
        borehole('khabou', 'Forage de Khabou', 'Khabou', 'Kayes', 'Kayes', 14.4469, -11.4445, '+22376000001'),
        borehole('segala', 'Forage de Ségala', 'Ségala', 'Ségala', 'Kayes', 14.6167, -11.2833, '+22376000011'),
        borehole('diamou', 'Forage de Diamou', 'Diamou', 'Diamou', 'Kayes', 14.0931, -11.2714, '+22376000031'),
        borehole('banamba', 'Forage de Banamba', 'Banamba', 'Banamba', 'Koulikoro', 13.5497, -7.4481, '+22376000041'),
        borehole('kolokani', 'Forage de Kolokani', 'Kolokani', 'Kolokani', 'Koulikoro', 13.5728, -8.0339, '+22376000051'),
        // A name with markup in it: every page must show it as text.
        borehole('zegoua', 'Forage <b>de</b> "Zégoua" & Cie', 'Zégoua', 'Zégoua', 'Sikasso', 10.4667, -5.6333, '+22376000061'),
      ],
    }),
  );
}

/** A day of a solar pump in hourly buckets: runs 08:00–17:00, the level draws down while it runs. */
export function syntheticBuckets(query: SeriesQuery): SeriesBucket[] {
  const buckets: SeriesBucket[] = [];
  for (let timeMs = query.fromMs; timeMs < query.toMs; timeMs += query.everyMs) {
    const hour = new Date(timeMs).getUTCHours();
    const running = hour >= 8 && hour < 17 ? 1 : 0;
    buckets.push({
      timeMs,
      flowLpmMean: running ? 55 : 0,
      depthMMin: running ? 24 : 22,
      depthMMean: running ? 28 : 22.5,
      depthMMax: running ? 31 : 23,
      runningFraction: running,
      currentAMean: running ? 6.1 : 0,
      volumeM3: running ? 3.3 : 0,
    });
  }
  return buckets;
}

export interface Harness {
  app: FastifyInstance;
  store: SqliteStore;
  engine: RulesEngine;
  desk: IncidentDesk;
  registry: Registry;
  clock: { nowMs: number };
  /** Series queries received by the fake telemetry store. */
  seriesQueries: SeriesQuery[];
  /** Boreholes whose series query fails as if InfluxDB were down. */
  failingSeries: Set<string>;
  feed(...readings: Reading[]): void;
  close(): Promise<void>;
}

export const pump = (boreholeId: string, tsMs: number, fault: string | null, running = false): Reading => ({
  boreholeId,
  kind: 'pump',
  tsMs,
  values: { running, fault },
});
export const level = (boreholeId: string, tsMs: number, depthM: number): Reading => ({ boreholeId, kind: 'level', tsMs, values: { depth_m: depthM } });
export const flow = (boreholeId: string, tsMs: number, rateLpm: number): Reading => ({ boreholeId, kind: 'flow', tsMs, values: { rate_lpm: rateLpm } });

export async function startHarness(overrides: Partial<AppDeps> = {}): Promise<Harness> {
  const clock = { nowMs: T0_MS };
  const registry = httpRegistry();
  const store = new SqliteStore(':memory:');
  const log = pino({ level: 'silent' });
  const engine = new RulesEngine({ registry, store, now: () => clock.nowMs, log, writeAlertPoints: () => {} });
  // Incidents as service.ts makes them from the alerts; their SMS wait in the store's outbox.
  const desk = new IncidentDesk({ registry, store, rules: engine, wakeDispatcher: () => undefined, timeZone: 'Africa/Bamako', now: () => clock.nowMs, log });
  engine.onChange((change) => desk.onAlertChange(change));
  const seriesQueries: SeriesQuery[] = [];
  const failingSeries = new Set<string>();
  const telemetry = {
    series: async (query: SeriesQuery) => {
      checkRange(query);
      seriesQueries.push(query);
      if (failingSeries.has(query.boreholeId)) throw new Error('connect ECONNREFUSED 127.0.0.1:8086');
      return syntheticBuckets(query);
    },
    // Every borehole but zegoua sent something every minute up to now; each pumped 10 m³ in 2 h a day.
    activeMinutes: async (boreholeId: string, fromMs: number, toMs: number) => {
      checkActiveRange(fromMs, toMs);
      if (failingSeries.has(boreholeId)) throw new Error('connect ECONNREFUSED 127.0.0.1:8086');
      const minutes: number[] = [];
      if (boreholeId === 'zegoua') return minutes;
      for (let t = Math.ceil(fromMs / MINUTE_MS) * MINUTE_MS; t < Math.min(toMs, clock.nowMs); t += MINUTE_MS) minutes.push(t);
      return minutes;
    },
    totals: async (ids: readonly string[], fromMs: number, toMs: number) =>
      new Map<string, PeriodTotals>(ids.map((id) => [id, id === 'zegoua' ? { volumeM3: 0, pumpingHours: 0 } : { volumeM3: (10 * (toMs - fromMs)) / 86_400_000, pumpingHours: (2 * (toMs - fromMs)) / 86_400_000 }])),
  };
  const alerts: AlertsPort = alertsPortOf(store, engine, registry);
  const app = await buildApp({
    log,
    apiTokens: [
      { role: 'viewer', token: TOKENS.viewer },
      { role: 'operator', token: TOKENS.operator },
      { role: 'admin', token: TOKENS.admin },
      { role: 'viewer', token: TOKENS.koulikoroViewer, regions: ['Koulikoro'] },
      { role: 'operator', token: TOKENS.koulikoroOperator, regions: ['Koulikoro'] },
    ],
    metricsRegistry: new MetricsRegistry(),
    readiness: async () => ({}),
    deadLetters: { newest: () => [], size: 0 },
    alerts,
    incidents: desk,
    network: {
      registry,
      lastHeardAtMs: (id) => engine.stateOf(id)?.lastHeardAtMs ?? null,
      maintenance: (id) => store.listMaintenance(id),
      telemetry,
    },
    reports: {
      build: (period, boreholes) => buildUptimeReport({ criticalAlertsBetween: (from, to) => store.criticalAlertsBetween(from, to), telemetry, now: () => clock.nowMs }, period, boreholes),
      results: (quarter, boreholes) =>
        buildResultsReport({ criticalAlertsBetween: (from, to) => store.criticalAlertsBetween(from, to), telemetry, incidents: desk, now: () => clock.nowMs }, quarter, boreholes),
      archived: (limit) => store.listArchivedReports(limit),
      archivedReport: (kind, fromMs, tz) => store.archivedReport(kind, fromMs, tz),
    },
    sms: {
      query: (query) => store.querySms(query),
      retry: (id) => (!store.smsById(id) ? 'not_found' : store.retrySms(id, clock.nowMs) ? 'retried' : 'not_failed'),
      normaliseNumber: (raw) => (/^\+\d{8,15}$/.test(raw) ? raw : null),
    },
    // The admin routes exist (the OpenAPI document lists them); a test that needs their effect
    // brings its own.
    reloadRegistry: async () => ({ result: 'unchanged', version: 'harness', boreholes: registry.boreholes.size }),
    replayDeadLetters: async () => ({ replayed: 0, acceptedReadings: 0, stillRefused: {}, remaining: 0, persisted: true }),
    now: () => clock.nowMs,
    ...overrides,
  });
  await app.ready();
  return {
    app,
    store,
    engine,
    desk,
    registry,
    clock,
    seriesQueries,
    failingSeries,
    feed(...readings) {
      clock.nowMs = Math.max(clock.nowMs, ...readings.map((r) => r.tsMs));
      engine.accept(readings);
      desk.observe(readings);
    },
    async close() {
      await app.close();
      store.close();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * The network at T0 (readings fed live, each at its own time):
 * khabou `alert` (pump_fault critical + low_water warning), segala `ok`, diamou `offline` (silent
 * for 5 h, offline alert), banamba `ok`, kolokani `alert` (low_water warning), zegoua `unknown`.
 */
export function seedNetwork(h: Harness): void {
  const live = (reading: Reading) => {
    h.clock.nowMs = reading.tsMs;
    h.engine.accept([reading]);
  };
  live(level('diamou', T0_MS - 5 * HOUR_MS, 20));
  live(pump('khabou', T0_MS - 30 * MINUTE_MS, 'dry_run'));
  live(level('banamba', T0_MS - 10 * MINUTE_MS, 21));
  live(level('kolokani', T0_MS - 4 * MINUTE_MS, 53));
  live(level('segala', T0_MS - 3 * MINUTE_MS, 20));
  live(level('khabou', T0_MS - 1 * MINUTE_MS, 54));
  h.clock.nowMs = T0_MS;
  h.engine.tick();
}

/** The unresolved alert of a borehole and rule (throws when there is none). */
export function alertOf(h: Harness, boreholeId: string, rule: string) {
  const alert = h.store.listAlerts({ state: 'unresolved', boreholeIds: [boreholeId], limit: 100, offset: 0 }).alerts.find((a) => a.rule === rule);
  if (!alert) throw new Error(`no unresolved ${rule} alert at ${boreholeId}`);
  return alert;
}
