/**
 * A year's uptime report on the embedded store (SQLite, synchronous) leaves the event loop free
 * for ingest and HTTP while it runs. Asked in one go, the totals of every borehole held the loop
 * for the whole report: its store calls are awaited, but an embedded store answers at once, so
 * nothing else ran until the last borehole (about 700 ms here for 40 boreholes; minutes for a
 * national network). Sliced per borehole and per month with a turn of the event loop between
 * slices, the loop waits about 50 ms at most. The test asserts turns, not milliseconds: the
 * probe timer must run while the report does, however loaded the machine.
 * Figures for 1,000 boreholes: bench/report-load.ts.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildUptimeReport } from '../../../src/reports/report.js';
import { EmbeddedTelemetry } from '../../../src/storage/embedded-telemetry.js';
import { tempDir, testRegistry } from '../../support/fixtures.js';
import { writeSparseHistory } from '../../support/sparse-telemetry.js';

const DAY_MS = 86_400_000;
const FROM_MS = Date.UTC(2025, 0, 1);
const TO_MS = FROM_MS + 365 * DAY_MS;
const ids = Array.from({ length: 40 }, (_, index) => `loop-${String(index).padStart(3, '0')}`);
const registry = testRegistry(ids);
const dir = tempDir('report-event-loop');
let store: EmbeddedTelemetry;

beforeAll(async () => {
  store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db') });
  await writeSparseHistory(store, { ids, fromMs: FROM_MS, toMs: TO_MS, everyMs: 45 * 60_000 });
}, 120_000);

afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('keeps the event loop responsive while a year-long report of 40 boreholes runs on the embedded store', async () => {
  // A timer that should tick every 5 ms: the longest gap between its ticks is how long ingest
  // and HTTP would have waited. (perf_hooks.monitorEventLoopDelay does not see the loop of a
  // vitest worker thread.)
  let longestGapMs = 0;
  let lastTickAt = performance.now();
  let ticksWhileRunning = 0;
  let running = true;
  const probe = setInterval(() => {
    const at = performance.now();
    longestGapMs = Math.max(longestGapMs, at - lastTickAt);
    lastTickAt = at;
    if (running) ticksWhileRunning += 1;
  }, 5);
  const startedAt = performance.now();
  lastTickAt = startedAt;
  const report = await buildUptimeReport(
    { criticalAlertsBetween: () => [], telemetry: store, now: () => TO_MS + DAY_MS },
    { fromMs: FROM_MS, toMs: TO_MS, tz: 'Africa/Bamako' },
    [...registry.boreholes.values()],
  );
  running = false;
  const tookMs = performance.now() - startedAt;
  // The blocked loop shows when the probe ticks at last: give it that turn.
  await new Promise((resolve) => setTimeout(resolve, 20));
  clearInterval(probe);
  console.log(`year report of ${ids.length} boreholes: ${tookMs.toFixed(0)} ms, longest event-loop wait ${longestGapMs.toFixed(1)} ms, ${ticksWhileRunning} probe ticks while it ran`);

  // The report is whole: every borehole, data all year, water pumped.
  expect(report.boreholes).toHaveLength(ids.length);
  expect(report.boreholes.every((row) => row.coverage_pct !== null && row.coverage_pct > 99 && row.volume_m3 > 0)).toBe(true);
  // Not a bound on time (the machine may be loaded): the loop got turns while the report ran.
  // Asked in one go, the probe cannot tick at all until the report is done; sliced per borehole
  // and month (40 × 13 slices), it ticks between slices whenever 5 ms have passed.
  expect(ticksWhileRunning).toBeGreaterThanOrEqual(Math.min(20, Math.floor(tookMs / 50)));
}, 120_000);
