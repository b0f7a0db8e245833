/**
 * A month's uptime report on the embedded store, on the event loop (report.ts `buildUptimeReport`)
 * and in the report worker (reports/report-worker.ts), with the main loop's lag measured by
 * perf_hooks.monitorEventLoopDelay while each runs (how long an MQTT ack or an HTTP request would
 * have waited) and its utilization (the share of the time it was busy). Also what it costs the
 * main thread to send the boreholes to the worker, whole registry entries or only the fields the
 * computation reads, and to receive the report. Asserts nothing.
 *
 *   npx tsx bench/report-worker.ts -- [--boreholes 1000] [--days 30] [--every-min 10] [--data-dir DIR]
 *
 * `--data-dir` keeps the filled store for the next run (filling is the slow part).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildUptimeReport, type ReportSources } from '../src/reports/report.js';
import { ReportWorker } from '../src/reports/report-worker.js';
import { EmbeddedTelemetry } from '../src/storage/embedded-telemetry.js';
import { reportTelemetry } from '../src/storage/report-telemetry.js';
import { tempDir, testRegistry } from '../tests/support/fixtures.js';
import { writeSparseHistory } from '../tests/support/sparse-telemetry.js';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    boreholes: { type: 'string', default: '1000' },
    days: { type: 'string', default: '30' },
    'every-min': { type: 'string', default: '10' },
    'data-dir': { type: 'string' },
  },
});
const boreholeCount = Number(args.boreholes);
const days = Number(args.days);
const everyMs = Number(args['every-min']) * 60_000;
const DAY_MS = 86_400_000;
const FROM_MS = Date.UTC(2026, 10, 1);
const TO_MS = FROM_MS + days * DAY_MS;
const ids = Array.from({ length: boreholeCount }, (_, index) => `bench-${String(index + 1).padStart(6, '0')}`);
const boreholes = [...testRegistry(ids).boreholes.values()];

const dataDir = args['data-dir'] ?? tempDir('report-worker');
const dbPath = join(dataDir, 'telemetry.db');
if (!existsSync(dbPath)) {
  const startedAt = performance.now();
  const writer = EmbeddedTelemetry.open({ path: dbPath });
  const lines = await writeSparseHistory(writer, { ids, fromMs: FROM_MS, toMs: TO_MS, everyMs });
  writer.close();
  console.log(`filled: ${boreholeCount} boreholes × ${days} days, a reading every ${everyMs / 60_000} min: ${lines.toLocaleString('en')} lines in ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
} else {
  console.log(`reusing ${dbPath}`);
}

const store = EmbeddedTelemetry.open({ path: dbPath });
// A few critical alerts, so that down time is computed too.
const alerts = ids.filter((_, index) => index % 50 === 0).map((boreholeId) => ({ boreholeId, code: 1, openedAtMs: FROM_MS + 3 * DAY_MS, criticalAtMs: FROM_MS + 3 * DAY_MS, resolvedAtMs: FROM_MS + 4 * DAY_MS }));
const sources: ReportSources = { criticalAlertsBetween: () => alerts, telemetry: store, now: () => TO_MS + DAY_MS };
const period = { fromMs: FROM_MS, toMs: TO_MS, tz: 'Africa/Bamako' };

async function measured<T>(label: string, run: () => Promise<T>): Promise<T> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const startedAt = performance.now();
  const utilizationBefore = performance.eventLoopUtilization();
  const result = await run();
  const tookMs = performance.now() - startedAt;
  // The share of the time the main loop was busy: what MQTT and HTTP had to share with the report.
  const busyPct = 100 * performance.eventLoopUtilization(utilizationBefore).utilization;
  lag.disable();
  const ms = (ns: number): string => (ns / 1e6).toFixed(0);
  console.log(`${label.padEnd(28)} ${(tookMs / 1000).toFixed(2).padStart(7)} s   event-loop lag max ${ms(lag.max).padStart(5)} ms, p99 ${ms(lag.percentile(99)).padStart(5)} ms, main loop busy ${busyPct.toFixed(0).padStart(3)} %`);
  return result;
}

console.log(`the uptime report of ${days} days for ${boreholeCount.toLocaleString('en')} boreholes on the embedded store:`);
const onLoop = await measured('on the event loop', () => buildUptimeReport(sources, period, boreholes));
const worker = new ReportWorker({ telemetry: reportTelemetry({ kind: 'embedded', path: dbPath }), sources });
const first = await measured('in the worker (first: start)', () => worker.uptime(period, boreholes));
const again = await measured('in the worker (kept)', () => worker.uptime(period, boreholes));
await worker.close();
store.close();
const same = JSON.stringify(onLoop) === JSON.stringify(first) && JSON.stringify(first) === JSON.stringify(again);
console.log(`reports identical: ${same}`);

// What sending the boreholes costs the main thread (structured clone, as postMessage does).
const compact = boreholes.map((b) => ({ id: b.id, name: b.name, village: b.village, commune: b.commune, region: b.region, rules: { offline_minutes: b.rules.offline_minutes } }));
for (const [label, value] of [
  ['whole registry entries', boreholes],
  ['the fields computed on', compact],
  ['the report back', onLoop],
] as const) {
  const startedAt = performance.now();
  structuredClone(value);
  console.log(`structured clone of ${label.padEnd(24)} ${(performance.now() - startedAt).toFixed(0).padStart(5)} ms`);
}
