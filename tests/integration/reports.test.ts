/**
 * Uptime reports from real stores: readings written to InfluxDB (and to the embedded store), alerts
 * in the SQLite state store, figures computed by hand. Then the schedule of a running service:
 * reports archived and `uptime` points in InfluxDB right after start-up.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { periodFromDates } from '../../src/reports/periods.js';
import { buildUptimeReport, type UptimeReport } from '../../src/reports/report.js';
import { startService } from '../../src/service.js';
import { EmbeddedTelemetry } from '../../src/storage/embedded-telemetry.js';
import { InfluxClient } from '../../src/storage/influx.js';
import { influxClient, influxTargets } from '../support/influx.js';
import { InfluxTelemetry } from '../../src/storage/influx-telemetry.js';
import { SqliteStore } from '../../src/storage/sqlite-store.js';
import type { TelemetryStore } from '../../src/storage/telemetry.js';
import { registryEntry, tempDir, testConfig, testRegistry, uniqueName, VIEWER_TOKEN } from '../support/fixtures.js';
import { serverEnv } from '../support/service.js';
import { waitUntil } from '../support/wait.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! uptime reports against InfluxDB SKIPPED: no InfluxDB (see tests/support/global-setup.ts); the embedded store still runs');

const MINUTE = 60_000;
const at = (iso: string): number => Date.parse(iso);
const unique = uniqueName('reports').toLowerCase().replace(/_/g, '-');
const ids = { faulty: `${unique}-a`, silent: `${unique}-b`, unmetered: `${unique}-c` };

/** Minutes from 22:00 the day before the period to 02:00 the day after it, without the silences. */
function minutes(silences: readonly [string, string][]): number[] {
  const holes = silences.map(([start, end]) => [at(start), at(end)] as const);
  const out: number[] = [];
  for (let t = at('2026-01-09T22:00:00Z'); t < at('2026-01-12T02:00:00Z'); t += MINUTE) if (!holes.some(([s, e]) => t > s && t < e)) out.push(t);
  return out;
}

const RESET_AT = at('2026-01-11T12:00:00Z');

/**
 * `faulty`: a reading every minute with a meter counting 0.06 m³ a minute, reset to 0 at 12:00 on
 * the 11th; silent 10:00–16:00 on the 10th (during a fault) and 02:00–05:00 on the 11th.
 * `unmetered`: 30 l/min every minute, no meter. `silent`: nothing at all.
 */
function lines(): string {
  const out: string[] = [];
  const tags = (id: string) => `borehole=${id},commune=Kayes,region=Kayes`;
  for (const t of minutes([['2026-01-10T10:00:00Z', '2026-01-10T16:00:00Z'], ['2026-01-11T02:00:00Z', '2026-01-11T05:00:00Z']])) {
    const total = t < RESET_AT ? 1000 + (0.06 * (t - at('2026-01-09T22:00:00Z'))) / MINUTE : (0.06 * (t - RESET_AT)) / MINUTE;
    out.push(`flow,${tags(ids.faulty)} rate_lpm=60,total_m3=${total.toFixed(4)} ${t}`);
    out.push(`pump,${tags(ids.faulty)} running=1i,fault="" ${t}`);
  }
  for (const t of minutes([])) out.push(`flow,${tags(ids.unmetered)} rate_lpm=30 ${t}`);
  return `${out.join('\n')}\n`;
}

interface StoreUnderTest {
  telemetry: TelemetryStore;
  write(body: Buffer): Promise<void>;
  close(): void;
}

const stores: [string, () => StoreUnderTest][] = [
  [
    'the embedded store',
    () => {
      const dir = tempDir('reports-embedded');
      const store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db') });
      return { telemetry: store, write: (body) => store.writeLines(body), close: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  ],
];
if (serverSource !== 'none') {
  for (const target of influxTargets('uptime report suite')) {
    stores.push([
      target.name,
      () => {
        const client = influxClient(target, target.bucket(unique.replace(/-/g, '_')));
        return { telemetry: new InfluxTelemetry(client), write: (body) => client.writeLines(body), close: () => undefined };
      },
    ]);
  }
}

describe.each(stores)('the uptime report of 10–11 January 2026 from %s', (_name, open) => {
  let under: StoreUnderTest;
  let state: SqliteStore;
  let report: UptimeReport;
  const row = (id: string) => report.boreholes.find((r) => r.borehole === id);

  beforeAll(async () => {
    under = open();
    await under.write(Buffer.from(lines()));
    state = new SqliteStore(':memory:');
    // A pump fault 08:00–20:00 on the 10th, with the 6-hour silence inside it.
    const alert = state.insertAlert({
      boreholeId: ids.faulty,
      rule: 'pump_fault',
      severity: 'critical',
      state: 'resolved',
      message: 'Panne de pompe',
      openedAtMs: at('2026-01-10T08:00:00Z'),
      acknowledgedAtMs: null,
      acknowledgedBy: null,
      resolvedAtMs: at('2026-01-10T20:00:00Z'),
      resolvedBy: 'rules',
      historical: false,
      fault: 'overload',
    });
    state.recordAlertChange({ kind: 'opened', alert: { ...alert, state: 'open' }, atMs: alert.openedAtMs, actor: 'rules', notify: true });
    const registry = testRegistry(Object.values(ids));
    report = await buildUptimeReport(
      { criticalAlertsBetween: (from, to) => state.criticalAlertsBetween(from, to), telemetry: under.telemetry, now: () => at('2026-02-01T00:00:00Z') },
      periodFromDates('2026-01-10', '2026-01-12', 'Africa/Bamako'),
      [...registry.boreholes.values()],
    );
  });

  afterAll(() => {
    state.close();
    under.close();
  });

  it('keeps the silence during the fault as downtime and the other as no data', () => {
    // 48 h; down 12 h; no data 3 h; uptime 100 × (48 − 3 − 12) / (48 − 3); coverage 100 × 45 / 48.
    expect(row(ids.faulty)).toMatchObject({ hours_total: 48, hours_down: 12, hours_no_data: 3, uptime_pct: 73.33, coverage_pct: 93.75, failures: 1, repairs: 1, mttr_hours: 12 });
  });

  it('counts the water from the meter across its reset', () => {
    // Minutes 0 to 2879 of the period: 2159 steps of 0.06 before the reset, none for the reset, 719 after.
    expect(row(ids.faulty)?.volume_m3).toBeCloseTo(0.06 * (2159 + 719), 2);
    expect(row(ids.faulty)?.pumping_hours).toBeCloseTo(2879 / 60, 1);
  });

  it('integrates the flow where there is no meter', () => {
    expect(row(ids.unmetered)).toMatchObject({ hours_no_data: 0, uptime_pct: 100 });
    expect(row(ids.unmetered)?.volume_m3).toBeCloseTo((30 * 2879) / 1000, 1);
  });

  it('gives a borehole without any data no uptime and no coverage', () => {
    expect(row(ids.silent)).toMatchObject({ hours_no_data: 48, uptime_pct: null, coverage_pct: 0, volume_m3: 0, failures: 0 });
  });
});

describe.skipIf(serverSource === 'none')('the report schedule of a running service', () => {
  const serviceUnique = uniqueName('reports-svc').toLowerCase().replace(/_/g, '-');
  const boreholeIds = [`${serviceUnique}-x`, `${serviceUnique}-y`];
  const dataDir = tempDir('reports-service');

  it('reports the last week and month at first start-up: archived, and `uptime` and `registry` points in InfluxDB', async () => {
    const bucket = inject('influxBucket') || serviceUnique.replace(/-/g, '_');
    const registry = buildRegistry(registryFileSchema.parse({ boreholes: boreholeIds.map((id, i) => registryEntry(id, i)) }));
    const service = await startService({ config: testConfig({ ...serverEnv(serviceUnique, bucket), DATA_DIR: dataDir }), registry, log: pino({ level: 'silent' }), reportStartDelayMs: 0 });
    try {
      const client = new InfluxClient({ url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket }, pino({ level: 'silent' }));
      const count = async (query: string): Promise<number> => {
        const [series] = await client.query(query);
        const value = series?.[0]?.values[0]?.[1];
        return typeof value === 'number' ? value : 0;
      };
      const where = `"borehole" = '${boreholeIds[0]}'`;
      await waitUntil(async () => (await count(`SELECT count("hours_total") FROM "uptime" WHERE ${where} AND "period" = 'day'`)) === 7, 'seven daily uptime points', 60_000, 500);
      // The week and the month come after the days (each report its turn in the report worker).
      await waitUntil(async () => (await count(`SELECT count("hours_total") FROM "uptime" WHERE ${where} AND "period" = 'month'`)) === 1, 'the month uptime point', 60_000, 500);
      expect(await count(`SELECT count("lat") FROM "registry" WHERE ${where} AND time > now() - 1h`)).toBeGreaterThanOrEqual(1);
      const list = await service.app.inject({ url: '/api/reports', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
      // The uptime week and month, and since issue 15 the month's service report and the quarter's results.
      expect(list.json<{ items: { kind: string }[] }>().items.map((item) => item.kind).sort()).toEqual(['month', 'results-quarter', 'service-month', 'week']);
    } finally {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
