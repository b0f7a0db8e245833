/**
 * The uptime and results reports computed in the report worker (issue 19): the same reports as on
 * the event loop, from a second read-only connection to the embedded store, with the main loop
 * left free while they run; a worker that dies rejects its report and the next report gets a new
 * one. Figures for 1,000 and more boreholes: bench/report-worker.ts.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimRepair, openIncident, verifyIncident, type Incident } from '../../../src/incidents/incident.js';
import { buildUptimeReport, uptimeReportSchema, type ReportSources } from '../../../src/reports/report.js';
import { PART_SIZE, ReportWorker } from '../../../src/reports/report-worker.js';
import { buildResultsReport, parseQuarter, resultsReportSchema } from '../../../src/reports/results-report.js';
import { EmbeddedTelemetry } from '../../../src/storage/embedded-telemetry.js';
import { reportTelemetry } from '../../../src/storage/report-telemetry.js';
import type { CrashingOptions } from '../../support/crashing-report-telemetry.js';
import { tempDir, testRegistry } from '../../support/fixtures.js';
import { writeSparseHistory } from '../../support/sparse-telemetry.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const FROM_MS = Date.UTC(2026, 10, 1);
const TO_MS = Date.UTC(2026, 11, 1);
const BAMAKO = 'Africa/Bamako';
const NOVEMBER = { fromMs: FROM_MS, toMs: TO_MS, tz: BAMAKO };
/** A month after November's end: every report below is complete. */
const NOW_MS = Date.UTC(2027, 0, 2);

const dir = tempDir('report-worker');

/** 300 boreholes, a reading an hour all November: the reports compared. */
const networkIds = Array.from({ length: 300 }, (_, index) => `net-${String(index).padStart(3, '0')}`);
const networkPath = join(dir, 'network.db');
const network = [...testRegistry(networkIds).boreholes.values()];

/** 8 boreholes, a reading a minute: a report the event loop waits hundreds of milliseconds for at a time. */
const denseIds = Array.from({ length: 8 }, (_, index) => `dense-${index}`);
const densePath = join(dir, 'dense.db');
const dense = [...testRegistry(denseIds).boreholes.values()];

// Every 25th borehole down a day and a half; every 40th has had a repair verified.
const criticalAlerts = networkIds
  .filter((_, index) => index % 25 === 0)
  .map((boreholeId, index) => ({ boreholeId, code: 1, openedAtMs: FROM_MS + (3 + index) * DAY_MS, criticalAtMs: FROM_MS + (3 + index) * DAY_MS + HOUR_MS, resolvedAtMs: FROM_MS + (4 + index) * DAY_MS + 12 * HOUR_MS }));
const incidents: Incident[] = networkIds
  .filter((_, index) => index % 40 === 0)
  .map((boreholeId, index) => {
    const openedAtMs = FROM_MS + (5 + index) * DAY_MS;
    const incident = openIncident({
      id: `inc-${boreholeId}`,
      code: 1,
      boreholeId,
      cause: 'pump_fault',
      fault: 'dry_run',
      severity: 'critical',
      alertId: `alert-${boreholeId}`,
      workOrder: true,
      manual: null,
      historical: false,
      atMs: openedAtMs,
      assignee: null,
      respondHours: 72,
      repairHours: 168,
      groupMs: MINUTE_MS,
      snapshot: null,
    });
    return verifyIncident(claimRepair(incident, null, 'sms:+22379000003', openedAtMs + 20 * HOUR_MS), 'data', openedAtMs + DAY_MS);
  });

const sources: Omit<ReportSources, 'telemetry'> = {
  criticalAlertsBetween: (fromMs, toMs) => criticalAlerts.filter((a) => a.openedAtMs < toMs && (a.resolvedAtMs === null || a.resolvedAtMs > fromMs)),
  incidents: { between: () => incidents },
  now: () => NOW_MS,
};

let networkStore: EmbeddedTelemetry;
let denseStore: EmbeddedTelemetry;

beforeAll(async () => {
  networkStore = EmbeddedTelemetry.open({ path: networkPath });
  await writeSparseHistory(networkStore, { ids: networkIds, fromMs: FROM_MS, toMs: TO_MS, everyMs: HOUR_MS });
  denseStore = EmbeddedTelemetry.open({ path: densePath });
  await writeSparseHistory(denseStore, { ids: denseIds, fromMs: FROM_MS, toMs: TO_MS, everyMs: MINUTE_MS });
}, 180_000);

afterAll(() => {
  networkStore.close();
  denseStore.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the report worker', () => {
  it("gives the same uptime and results reports as the event loop's, from its own connection to the store", async () => {
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: networkPath }), sources });
    try {
      const uptime = await worker.uptime(NOVEMBER, network);
      const onLoop = await buildUptimeReport({ ...sources, telemetry: networkStore }, NOVEMBER, network);
      expect(uptimeReportSchema.parse(uptime)).toEqual(onLoop);
      // Not a match of two empty reports: data, down time and repairs are in it.
      expect(uptime.boreholes).toHaveLength(300);
      expect(uptime.boreholes.every((row) => row.coverage_pct !== null && row.coverage_pct > 99 && row.volume_m3 > 0)).toBe(true);
      expect(uptime.boreholes.filter((row) => row.hours_down > 0)).toHaveLength(12);
      expect(uptime.boreholes.filter((row) => row.verified_repairs === 1)).toHaveLength(8);

      const q4 = parseQuarter('2026-Q4', BAMAKO);
      const results = await worker.results(q4, network);
      const resultsOnLoop = await buildResultsReport({ ...sources, incidents: { between: () => incidents }, telemetry: networkStore }, q4, network);
      expect(resultsReportSchema.parse(results)).toEqual(resultsOnLoop);
      expect(results.rows.reduce((sum, row) => sum + row.verified_repairs, 0)).toBe(8);
      expect(results.rows.every((row) => row.functional_days >= 28)).toBe(true);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('sends and receives a report of more boreholes than one message carries, whole and in order', async () => {
    // 4,500 boreholes: three parts each way (PART_SIZE); those after the first 300 have no data.
    const many = [...testRegistry(Array.from({ length: 4500 }, (_, index) => (index < 300 ? (networkIds[index] as string) : `none-${index}`))).boreholes.values()];
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: networkPath }), sources });
    try {
      expect(many.length).toBeGreaterThan(2 * PART_SIZE);
      const report = await worker.uptime(NOVEMBER, many);
      expect(report).toEqual(await buildUptimeReport({ ...sources, telemetry: networkStore }, NOVEMBER, many));
      expect(report.boreholes.map((row) => row.borehole)).toEqual(many.map((b) => b.id));
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('reads what the service wrote after the worker opened the store', async () => {
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: densePath }), sources });
    try {
      const first = await worker.uptime(NOVEMBER, [...testRegistry(['late-1']).boreholes.values()]);
      expect(first.boreholes[0]?.coverage_pct).toBe(0);
      // A borehole first heard from now: its streams did not exist when the worker's connection opened.
      await writeSparseHistory(denseStore, { ids: ['late-1'], fromMs: FROM_MS, toMs: TO_MS, everyMs: HOUR_MS });
      const second = await worker.uptime(NOVEMBER, [...testRegistry(['late-1']).boreholes.values()]);
      expect(second.boreholes[0]?.coverage_pct).toBeGreaterThan(99);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('leaves the event loop free while it computes a report the loop would wait hundreds of milliseconds for', async () => {
    const lagOf = async (run: () => Promise<unknown>): Promise<{ maxMs: number; p99Ms: number }> => {
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      await run();
      // One more turn, so that a stall at the very end is recorded too.
      await new Promise((resolve) => setTimeout(resolve, 20));
      lag.disable();
      return { maxMs: lag.max / 1e6, p99Ms: lag.percentile(99) / 1e6 };
    };
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: densePath }), sources });
    try {
      // Started once before, as the service's worker is kept: what is measured is a report.
      await worker.uptime(NOVEMBER, dense.slice(0, 1));
      const onLoop = await lagOf(() => buildUptimeReport({ ...sources, telemetry: denseStore }, NOVEMBER, dense));
      const inWorker = await lagOf(() => worker.uptime(NOVEMBER, dense));
      const idle = await lagOf(() => new Promise((resolve) => setTimeout(resolve, 2000)));
      const shown = ({ maxMs, p99Ms }: { maxMs: number; p99Ms: number }): string => `max ${maxMs.toFixed(0)} ms, p99 ${p99Ms.toFixed(0)} ms`;
      console.log(`a month of 8 boreholes at a reading a minute, event-loop lag: on the loop ${shown(onLoop)}; with the worker ${shown(inWorker)}; idle ${shown(idle)}`);
      // Here (2 cores shared with other runs): on the loop max and p99 530 to 640 ms (four
      // boreholes' month of minutes between two turns); with the worker max 12 to 32 ms on a calm
      // machine, up to 170 ms (p99 125) at a load average of 10, when an idle Node process waits
      // as long for a core (idle: max 72 to 256 ms, p99 33 to 122 ms). Hence bounds relative to the loop's: the first
      // shows the measure sees a stall, the others that the worker takes it away, however loaded
      // the machine. bench/report-worker.ts prints the figures at scale.
      expect(onLoop.maxMs).toBeGreaterThan(150);
      expect(inWorker.maxMs).toBeLessThan(onLoop.maxMs / 2);
      expect(inWorker.p99Ms).toBeLessThan(onLoop.p99Ms / 2);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('rejects the report whose worker died, and computes the next one in a new worker', async () => {
    const crashing: CrashingOptions = { path: networkPath, crashOn: 'net-007' };
    const worker = new ReportWorker({ telemetry: { module: new URL('../../support/crashing-report-telemetry.ts', import.meta.url).href, options: crashing }, sources });
    try {
      const doomed = worker.uptime(NOVEMBER, network.slice(0, 10));
      // Asked while the first runs: it waits its turn, and the first one's end does not take it along.
      const next = worker.uptime(NOVEMBER, network.slice(10, 20));
      await expect(doomed).rejects.toThrow('the report worker stopped (exit code 3) before the report was done');
      const report = await next;
      expect(report.boreholes.map((row) => row.borehole)).toEqual(networkIds.slice(10, 20));
      expect(report.boreholes.every((row) => row.volume_m3 > 0)).toBe(true);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('refuses reports once closed', async () => {
    const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: networkPath }), sources });
    await worker.uptime(NOVEMBER, network.slice(0, 1));
    await worker.close();
    await expect(worker.uptime(NOVEMBER, network.slice(0, 1))).rejects.toThrow('the report worker is closed');
  });
});
