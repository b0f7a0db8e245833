/**
 * The service and results reports of a national network and a quarter (issue 15: "computed in
 * seconds"). Pure computation, no store: `--boreholes` boreholes in 40 regions, 20 providers (and
 * 5 % without one) and a technician for every 25 boreholes, each with `--incidents` incidents in
 * the quarter that go through every step (acknowledged, on site, waiting for a part, repair
 * claimed, verified; one in ten fails and is reopened, one in twenty is never acknowledged).
 *
 * Prints how long `buildServiceReport` takes (min and median of `--runs`), and the results report's
 * rows from a minute-by-minute quarter of messages per borehole (a day of silence for one in ten)
 * with each incident's critical time as down time, as `buildResultsReport` computes them once the
 * store has answered; plus the heap the reports add. Asserts nothing.
 *
 *   npx tsx --expose-gc bench/service-report.ts -- [--boreholes 10000] [--incidents 2] [--runs 5]
 */
import { parseArgs } from 'node:util';
import { buildRegistry, registryFileSchema, type Borehole } from '../src/config/registry.js';
import { acknowledgeIncident, arriveOnSite, claimRepair, openIncident, reopenIncident, verifyIncident, waitForPart, type Incident } from '../src/incidents/incident.js';
import { assembleResults, parseQuarter, quarterDays, resultsRow, verifiedRepairsByBorehole, type BoreholeQuarter } from '../src/reports/results-report.js';
import { buildServiceReport } from '../src/reports/service-report.js';
import type { CriticalAlert } from '../src/reports/uptime.js';
import { registryEntry } from '../tests/support/fixtures.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '10000' },
    incidents: { type: 'string', default: '2' },
    runs: { type: 'string', default: '5' },
  },
  // `npx tsx bench/service-report.ts -- --boreholes 100` passes the `--` through.
  allowPositionals: true,
});
const count = Number(args.boreholes);
const perBorehole = Number(args.incidents);
const runs = Number(args.runs);

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const TZ = 'Africa/Bamako';
const quarter = parseQuarter('2026-Q1', TZ);
const NOW = quarter.toMs + 10 * DAY_MS;

const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = (): number => {
  gc?.();
  return process.memoryUsage().heapUsed / 1e6;
};
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function registry(): Borehole[] {
  const phone = (n: number): string => `+2237${String(6_000_000 + n).padStart(7, '0')}`;
  const file = registryFileSchema.parse({
    boreholes: Array.from({ length: count }, (_, index) => {
      const technician = Math.floor(index / 25);
      return {
        ...registryEntry(`bh-${String(index).padStart(5, '0')}`, index),
        region: `Région ${index % 40}`,
        technician: { name: `Technicien ${technician}`, phone: phone(technician) },
        ...(index % 20 === 19 ? {} : { provider: `Prestataire ${index % 20}` }),
      };
    }),
  });
  return [...buildRegistry(file).boreholes.values()];
}

/** Incidents spread over the quarter, each through every step; some fail, some are never answered. */
function incidentsOf(boreholes: readonly Borehole[]): Incident[] {
  const incidents: Incident[] = [];
  const span = quarter.toMs - quarter.fromMs - 2 * DAY_MS;
  let code = 0;
  for (const borehole of boreholes) {
    for (let k = 0; k < perBorehole; k += 1) {
      code += 1;
      const opened = quarter.fromMs + ((code * 7_919 * MINUTE_MS) % span);
      let incident = openIncident({
        id: `inc-${code}`,
        code,
        boreholeId: borehole.id,
        cause: 'pump_fault',
        fault: 'dry_run',
        severity: 'critical',
        alertId: `alert-${code}`,
        workOrder: true,
        manual: null,
        historical: false,
        atMs: opened,
        assignee: borehole.technician,
        respondHours: 72,
        repairHours: 168,
        groupMs: MINUTE_MS,
        snapshot: null,
      });
      if (code % 20 !== 0) {
        const step = (code % 50) + 10;
        incident = acknowledgeIncident(incident, `sms:${borehole.technician.phone}`, opened + step * MINUTE_MS);
        incident = arriveOnSite(incident, `sms:${borehole.technician.phone}`, opened + step * 6 * MINUTE_MS);
        incident = waitForPart(incident, 'roulement', `sms:${borehole.technician.phone}`, opened + step * 7 * MINUTE_MS);
        incident = claimRepair(incident, null, `sms:${borehole.technician.phone}`, opened + step * 20 * MINUTE_MS);
        incident = verifyIncident(incident, 'data', opened + step * 21 * MINUTE_MS);
        if (code % 10 === 3) incident = reopenIncident(incident, 'relapse', opened + step * 40 * MINUTE_MS, 168);
      }
      incidents.push(incident);
    }
  }
  return incidents;
}

let startedAt = performance.now();
const boreholes = registry();
const incidents = incidentsOf(boreholes);
console.log(`setup: ${count.toLocaleString('en')} boreholes, ${incidents.length.toLocaleString('en')} incidents in ${quarter.label}, built in ${((performance.now() - startedAt) / 1000).toFixed(1)} s${gc ? '' : ' (run with --expose-gc for steadier heap figures)'}`);

// Service report.
const serviceTimes: number[] = [];
let heapBefore = heapMb();
let rows = 0;
for (let run = 0; run < runs; run += 1) {
  startedAt = performance.now();
  const report = buildServiceReport(incidents, boreholes, quarter, NOW);
  serviceTimes.push(performance.now() - startedAt);
  rows = report.rows.length;
  if (run === 0) console.log(`service report: ${rows.toLocaleString('en')} rows, JSON ${(JSON.stringify(report).length / 1e6).toFixed(1)} MB; heap held by the report ${(heapMb() - heapBefore).toFixed(1)} MB`);
}
console.log(`service report: min ${Math.min(...serviceTimes).toFixed(0)} ms, median ${median(serviceTimes).toFixed(0)} ms over ${runs} runs`);

// Results report: every borehole shares one minute-by-minute quarter of messages, one in ten a
// copy with a silent day, so that generating the input costs nothing inside the timed part.
const minutes: number[] = [];
for (let t = quarter.fromMs - DAY_MS; t < quarter.toMs + DAY_MS; t += MINUTE_MS) minutes.push(t);
const silentDayStart = quarter.fromMs + 40 * DAY_MS;
const withSilence = minutes.filter((t) => t < silentDayStart || t >= silentDayStart + DAY_MS);
const alertsBy = new Map<string, CriticalAlert[]>();
for (const incident of incidents) {
  const list = alertsBy.get(incident.boreholeId) ?? [];
  list.push({ code: incident.code, openedAtMs: incident.openedAtMs, criticalAtMs: incident.openedAtMs, resolvedAtMs: incident.verifiedAtMs });
  alertsBy.set(incident.boreholeId, list);
}
const resultsTimes: number[] = [];
heapBefore = heapMb();
for (let run = 0; run < Math.min(runs, 3); run += 1) {
  startedAt = performance.now();
  const days = quarterDays(quarter, NOW);
  const verified = verifiedRepairsByBorehole(incidents, quarter.fromMs, days.at(-1)?.[1] ?? quarter.fromMs);
  const resultRows = boreholes.map((borehole, index) => {
    const input: BoreholeQuarter = { borehole, criticalAlerts: alertsBy.get(borehole.id) ?? [], activeMinutes: index % 10 === 0 ? withSilence : minutes, volumeM3: 1000, pumpingHours: 500 };
    return resultsRow(quarter, NOW, days, input, verified.get(borehole.id) ?? 0);
  });
  const report = assembleResults(quarter, days, resultRows, boreholes);
  resultsTimes.push(performance.now() - startedAt);
  if (run === 0) {
    const network = report.providers.reduce((sum, provider) => sum + provider.functional_days, 0);
    console.log(`results report: ${report.rows.length.toLocaleString('en')} rows × ${days.length} days (${minutes.length.toLocaleString('en')} minutes of messages each), ${report.providers.length} providers, ${network.toLocaleString('en')} functional days; heap held ${(heapMb() - heapBefore).toFixed(1)} MB`);
  }
}
console.log(`results report (computation after the store's answers): min ${Math.min(...resultsTimes).toFixed(0)} ms, median ${median(resultsTimes).toFixed(0)} ms over ${resultsTimes.length} runs`);
console.log(`rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
