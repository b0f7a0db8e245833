import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../../src/config/registry.js';
import type { Incident } from '../../../src/incidents/incident.js';
import type { Period } from '../../../src/reports/periods.js';
import type { Quarter, ResultsReport } from '../../../src/reports/results-report.js';
import { completedQuarters, ReportScheduler, serviceMonthReport, type ArchivedServiceReport } from '../../../src/reports/scheduler.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { archiveLabel } from '../../../src/http/pages/report-page.js';

const at = (iso: string): number => Date.parse(iso);
const TZ = 'Africa/Bamako';
const listed = (store: SqliteStore) => store.listArchivedReports(50).map((r) => `${r.kind} ${new Date(r.fromMs).toISOString().slice(0, 10)}`);

describe('the schedule archives the service report of each month and the results report of each quarter', () => {
  let store: SqliteStore;
  let clock: { nowMs: number };
  let months: string[];
  let quarters: string[];
  let scheduler: ReportScheduler;

  const service = (period: Period): ArchivedServiceReport => ({ from: new Date(period.fromMs).toISOString(), to: new Date(period.toMs).toISOString(), rows: [], row_regions: [] });
  const results = (quarter: Quarter, generatedAt: number): ResultsReport => ({
    quarter: quarter.label,
    from: new Date(quarter.fromMs).toISOString(),
    to: new Date(quarter.toMs).toISOString(),
    // What the builder saw when it ran: the test tells a first report from a second one by it.
    threshold_pct: generatedAt,
    rows: [],
    providers: [],
  });

  const make = (builders: { service?: boolean; results?: boolean } = { service: true, results: true }) =>
    new ReportScheduler({
      tz: TZ,
      now: () => clock.nowMs,
      log: pino({ level: 'silent' }),
      archive: store,
      build: async (period) => ({ from: new Date(period.fromMs).toISOString(), to: new Date(period.toMs).toISOString(), tz: TZ, generated_at: '', complete: true, boreholes: [] }),
      writeUptime: () => undefined,
      writeRegistry: () => undefined,
      buildService: builders.service
        ? (period) => {
            months.push(new Date(period.fromMs).toISOString().slice(0, 10));
            return service(period);
          }
        : undefined,
      buildResults: builders.results
        ? async (quarter) => {
            quarters.push(quarter.label);
            return results(quarter, clock.nowMs);
          }
        : undefined,
    });

  beforeEach(() => {
    store = new SqliteStore(':memory:');
    clock = { nowMs: at('2026-02-05T10:00:00Z') };
    months = [];
    quarters = [];
    scheduler = make();
  });

  afterEach(async () => {
    await scheduler.stop();
    store.close();
  });

  it('on a first start archives last month and last quarter only', async () => {
    await scheduler.runDue();
    expect(months).toEqual(['2026-01-01']);
    expect(quarters).toEqual(['2025-Q4']);
    expect(listed(store)).toEqual(['week 2026-01-26', 'month 2026-01-01', 'service-month 2026-01-01', 'results-quarter 2025-10-01']);
    const q4 = store.archivedReport('results-quarter', at('2025-10-01T00:00:00Z'), TZ);
    expect(q4).toMatchObject({ toMs: at('2026-01-01T00:00:00Z'), generatedAtMs: clock.nowMs });
    expect(JSON.parse(q4?.body ?? '{}')).toMatchObject({ quarter: '2025-Q4' });
  });

  it('catches up every month and the quarter that ended while it was down, once', async () => {
    await scheduler.runDue();
    months = [];
    quarters = [];
    // Down from 5 February to 2 April: two month ends and the end of Q1 with no night run.
    clock.nowMs = at('2026-04-02T08:00:00Z');
    await make().runDue();
    expect(months).toEqual(['2026-02-01', '2026-03-01']);
    expect(quarters).toEqual(['2026-Q1']);
    expect(store.archivedReport('results-quarter', at('2026-01-01T00:00:00Z'), TZ)?.toMs).toBe(at('2026-04-01T00:00:00Z'));
    months = [];
    quarters = [];
    await make().runDue();
    expect(months).toEqual([]);
    expect(quarters).toEqual([]);
  });

  it('does not archive the quarter under way, only once it has ended', async () => {
    await scheduler.runDue();
    quarters = [];
    // The last night of March: Q1 is not over.
    clock.nowMs = at('2026-03-31T23:59:00Z');
    await make().runDue();
    expect(quarters).toEqual([]);
    clock.nowMs = at('2026-04-01T00:05:00Z');
    await make().runDue();
    expect(quarters).toEqual(['2026-Q1']);
  });

  it('keeps the first report of a period: running again over it changes nothing', async () => {
    await scheduler.runDue();
    const first = store.archivedReport('results-quarter', at('2025-10-01T00:00:00Z'), TZ);
    store.setReportWatermark('results-quarter', at('2025-10-01T00:00:00Z'));
    clock.nowMs += 86_400_000;
    await make().runDue();
    expect(quarters).toEqual(['2025-Q4', '2025-Q4']);
    expect(store.archivedReport('results-quarter', at('2025-10-01T00:00:00Z'), TZ)).toEqual(first);
  });

  it('archives nothing of a kind whose builder is absent, and keeps no watermark for it', async () => {
    scheduler = make({ service: true });
    await scheduler.runDue();
    expect(listed(store)).not.toContain('results-quarter 2025-10-01');
    expect(store.reportWatermark('results-quarter')).toBeNull();
    expect(store.reportWatermark('service-month')).toBe(at('2026-02-01T00:00:00Z'));
  });

  it('counts quarters in the report time zone', () => {
    // 31 December 23:30 in Bamako (UTC) is already 1 January in Paris: Q4 has ended there only.
    const nowMs = at('2025-12-31T23:30:00Z');
    expect(completedQuarters(at('2025-07-01T00:00:00Z'), nowMs, 'Europe/Paris').map((q) => q.label)).toEqual(['2025-Q3', '2025-Q4']);
    expect(completedQuarters(at('2025-07-01T00:00:00Z'), nowMs, TZ).map((q) => q.label)).toEqual(['2025-Q3']);
  });
});

describe('the service report as archived', () => {
  const registry = buildRegistry(
    registryFileSchema.parse({
      boreholes: ['khabou:Kayes:Sahel Eau', 'segala:Kayes:Sahel Eau', 'banamba:Koulikoro:Sahel Eau', 'kolokani:Koulikoro:Forages du Bélédougou'].map((spec) => {
        const [id = '', region = '', provider = ''] = spec.split(':');
        return {
          id,
          name: `Forage de ${id}`,
          village: id,
          commune: id,
          region,
          provider,
          location: { lat: 13, lon: -8 },
          pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
          committee: { language: 'fr', contacts: [{ name: 'Président', phone: '+22376000001' }] },
          // One technician for both Kayes boreholes and Banamba; another for Kolokani.
          technician: id === 'kolokani' ? { name: 'Awa Traoré', phone: '+22379000009' } : { name: 'Moussa Diarra', phone: '+22379000003' },
        };
      }),
    }),
  );

  it('names the regions behind each row, so that a region-limited token can be shown only its own', () => {
    const period: Period = { fromMs: at('2026-11-01T00:00:00Z'), toMs: at('2026-12-01T00:00:00Z'), tz: TZ };
    const report = serviceMonthReport({ between: (): Incident[] => [] }, [...registry.boreholes.values()], period, at('2026-12-01T00:05:00Z'));
    const behind = Object.fromEntries(report.rows.map((row, index) => [`${row.scope} ${row.key ?? ''}`, report.row_regions?.[index]]));
    expect(behind).toEqual({
      'borehole banamba': ['Koulikoro'],
      'borehole khabou': ['Kayes'],
      'borehole kolokani': ['Koulikoro'],
      'borehole segala': ['Kayes'],
      'technician Awa Traoré (+22379000009)': ['Koulikoro'],
      'technician Moussa Diarra (+22379000003)': ['Kayes', 'Koulikoro'],
      'provider Forages du Bélédougou': ['Koulikoro'],
      'provider Sahel Eau': ['Kayes', 'Koulikoro'],
      'region Kayes': ['Kayes'],
      'region Koulikoro': ['Koulikoro'],
    });
  });
});

describe('the archive on the report page', () => {
  it('names each report in French as an officer would look for it', () => {
    const label = (kind: string, iso: string) => archiveLabel({ kind, fromMs: at(iso), tz: TZ });
    expect(label('service-month', '2026-11-01T00:00:00Z')).toBe('Interventions de novembre 2026');
    expect(label('service-month', '2026-04-01T00:00:00Z')).toBe("Interventions d'avril 2026");
    expect(label('results-quarter', '2026-10-01T00:00:00Z')).toBe('Résultats T4 2026');
    expect(label('results-quarter', '2026-01-01T00:00:00Z')).toBe('Résultats T1 2026');
    expect(label('month', '2026-08-01T00:00:00Z')).toBe("Disponibilité d'août 2026");
    expect(label('week', '2026-01-26T00:00:00Z')).toBe('Disponibilité, semaine du 26 janvier 2026');
  });

  it('names the month in the report time zone, not in UTC', () => {
    // Paris's 1 November starts on 31 October in UTC.
    expect(archiveLabel({ kind: 'service-month', fromMs: at('2026-10-31T23:00:00Z'), tz: 'Europe/Paris' })).toBe('Interventions de novembre 2026');
  });
});
