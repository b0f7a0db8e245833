/**
 * The report worker on InfluxDB (issue 19): its own client, built in the thread from the same
 * settings as the service's, gives the report the event loop gives. The embedded store's case,
 * and the event loop's lag: tests/unit/reports/report-worker.test.ts.
 */
import { pino } from 'pino';
import { describe, expect, inject, it } from 'vitest';
import { buildUptimeReport, type ReportSources } from '../../src/reports/report.js';
import { ReportWorker } from '../../src/reports/report-worker.js';
import { buildResultsReport, parseQuarter } from '../../src/reports/results-report.js';
import { InfluxClient } from '../../src/storage/influx.js';
import { InfluxTelemetry } from '../../src/storage/influx-telemetry.js';
import { reportTelemetry } from '../../src/storage/report-telemetry.js';
import { testRegistry, uniqueName } from '../support/fixtures.js';
import { influxTargets } from '../support/influx.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! the report worker against InfluxDB SKIPPED: no InfluxDB (see tests/support/global-setup.ts)');

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const FROM_MS = Date.UTC(2026, 10, 1);
const TO_MS = Date.UTC(2026, 11, 1);
const NOVEMBER = { fromMs: FROM_MS, toMs: TO_MS, tz: 'Africa/Bamako' };
const unique = uniqueName('reportworker').toLowerCase().replace(/_/g, '-');
const ids = Array.from({ length: 12 }, (_, index) => `${unique}-${index}`);
const boreholes = [...testRegistry(ids).boreholes.values()];

/** A reading an hour all November, the pump running 07:00–17:00 UTC; the third borehole silent from the 20th. */
function lines(): string {
  const out: string[] = [];
  for (const [index, id] of ids.entries()) {
    let totalM3 = 100 + index;
    const until = index === 2 ? FROM_MS + 19 * DAY_MS : TO_MS;
    for (let t = FROM_MS + index * 60_000; t < until; t += HOUR_MS) {
      const hour = (t % DAY_MS) / HOUR_MS;
      const running = hour >= 7 && hour < 17;
      totalM3 += running ? 2.4 : 0;
      out.push(`flow,borehole=${id},commune=Kayes,region=Kayes rate_lpm=${running ? 40 : 0},total_m3=${totalM3.toFixed(3)} ${t}`);
      out.push(`pump,borehole=${id},commune=Kayes,region=Kayes running=${running ? 1 : 0}i,fault="" ${t}`);
    }
  }
  return `${out.join('\n')}\n`;
}

const criticalAlerts = [{ boreholeId: ids[5] as string, code: 1, openedAtMs: FROM_MS + 4 * DAY_MS, criticalAtMs: FROM_MS + 4 * DAY_MS, resolvedAtMs: FROM_MS + 6 * DAY_MS }];
const sources: Omit<ReportSources, 'telemetry'> = { criticalAlertsBetween: () => criticalAlerts, incidents: { between: () => [] }, now: () => Date.UTC(2027, 0, 2) };

const targets = serverSource === 'none' ? [] : influxTargets('report worker suite');

describe.each(targets.map((target) => [target.name, target] as const))('the report worker on %s', (_name, target) => {
  it("gives the uptime and results reports the event loop gives, through the worker's own client", async () => {
    const settings = { url: target.url, token: target.token, org: target.org, bucket: target.bucket(unique.replace(/-/g, '_')) };
    const client = new InfluxClient(settings, pino({ level: 'silent' }));
    await client.connect();
    await client.writeLines(Buffer.from(lines()));
    const telemetry = new InfluxTelemetry(client);
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'influx', settings }), sources });
    try {
      const uptime = await worker.uptime(NOVEMBER, boreholes);
      expect(uptime).toEqual(await buildUptimeReport({ ...sources, telemetry }, NOVEMBER, boreholes));
      const row = (index: number) => uptime.boreholes.find((r) => r.borehole === ids[index]);
      expect(row(0)?.coverage_pct).toBeGreaterThan(99);
      expect(row(0)?.volume_m3).toBeGreaterThan(0);
      expect(row(2)?.hours_no_data).toBeGreaterThan(10 * 24);
      expect(row(5)?.hours_down).toBe(48);

      const q4 = parseQuarter('2026-Q4', 'Africa/Bamako');
      const results = await worker.results(q4, boreholes);
      expect(results).toEqual(await buildResultsReport({ ...sources, incidents: { between: () => [] }, telemetry }, q4, boreholes));
      expect(results.rows.find((r) => r.borehole === ids[5])?.down_days).toBe(2);
    } finally {
      await worker.close();
    }
  }, 120_000);
});
