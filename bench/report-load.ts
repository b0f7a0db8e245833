/**
 * A year-long uptime report of a national network on the embedded store, while the service goes on
 * with its work. Fills the embedded store with a year of `--boreholes` boreholes (flow with a meter
 * and pump readings every `--every-min` minutes), starts the service on embedded defaults (embedded
 * broker and store), and for `--idle-s` seconds, then for the whole report, publishes readings to
 * its MQTT ingest (QoS 1, a window of 100 in flight) and polls `GET /api/boreholes` every 50 ms.
 * Prints the ingest rate (PUBACKs a second) and the API latency (p50, p99, max) while idle and while
 * the report runs, and how long the report took. Asserts nothing.
 *
 *   npm run bench:report -- [--boreholes 1000] [--days 365] [--every-min 30] [--idle-s 10] [--data-dir DIR]
 *
 * `--data-dir` keeps the filled store for the next run (filling is the slow part).
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { startService } from '../src/service.js';
import { EmbeddedTelemetry } from '../src/storage/embedded-telemetry.js';
import { tempDir, testConfig, testRegistry, VIEWER_TOKEN } from '../tests/support/fixtures.js';
import { freePort } from '../tests/support/servers.js';
import { writeSparseHistory } from '../tests/support/sparse-telemetry.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '1000' },
    days: { type: 'string', default: '365' },
    'every-min': { type: 'string', default: '30' },
    'idle-s': { type: 'string', default: '10' },
    'data-dir': { type: 'string' },
  },
});
const boreholes = Number(args.boreholes);
const days = Number(args.days);
const everyMs = Number(args['every-min']) * 60_000;
const idleMs = Number(args['idle-s']) * 1000;
const DAY_MS = 86_400_000;
const TO_MS = Date.UTC(2026, 0, 1);
const FROM_MS = TO_MS - days * DAY_MS;
const ids = Array.from({ length: boreholes }, (_, index) => `bench-${String(index + 1).padStart(4, '0')}`);

const dataDir = args['data-dir'] ?? tempDir('report-load');
const dbPath = join(dataDir, 'telemetry.db');
if (!existsSync(dbPath)) {
  const startedAt = performance.now();
  const store = EmbeddedTelemetry.open({ path: dbPath });
  const lines = await writeSparseHistory(store, { ids, fromMs: FROM_MS, toMs: TO_MS, everyMs });
  store.close();
  console.log(`filled: ${boreholes} boreholes × ${days} days, a reading every ${everyMs / 60_000} min: ${lines.toLocaleString('en')} points in ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
} else {
  console.log(`reusing ${dbPath}`);
}

const port = await freePort();
const config = testConfig({ DATA_DIR: dataDir, MQTT_EMBEDDED_PORT: String(port) });
const service = await startService({ config, registry: testRegistry(ids), log: pino({ level: 'silent' }), reportStartDelayMs: 3_600_000 });

interface Phase {
  acks: number;
  latenciesMs: number[];
}
let phase: Phase = { acks: 0, latenciesMs: [] };
let running = true;

// Ingest: live readings of every borehole in turn, as fast as the service acknowledges them.
const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'bench-report-load', protocolVersion: 4 });
const publishing = (async () => {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (running) {
      const id = ids[next % ids.length] ?? ids[0];
      next += 1;
      await client.publishAsync(`boreholes/${id}/flow`, JSON.stringify({ ts: Date.now(), rate_lpm: next % 60 }), { qos: 1 });
      phase.acks += 1;
    }
  };
  await Promise.all(Array.from({ length: 100 }, lane));
})();

// HTTP: what a dashboard or a technician's page asks meanwhile.
const polling = (async () => {
  while (running) {
    const startedAt = performance.now();
    const response = await fetch(`${service.url}/api/boreholes`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    await response.arrayBuffer();
    phase.latenciesMs.push(performance.now() - startedAt);
    await sleep(50);
  }
})();

function summary(name: string, measured: Phase, durationMs: number): string {
  const sorted = [...measured.latenciesMs].sort((a, b) => a - b);
  const at = (q: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(0);
  return `${name.padEnd(14)} ingest ${Math.round(measured.acks / (durationMs / 1000)).toLocaleString('en').padStart(7)} readings/s | GET /api/boreholes (${sorted.length}) p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
}

await sleep(2000); // warm up: connections, JIT
phase = { acks: 0, latenciesMs: [] };
await sleep(idleMs);
const idle = phase;
console.log(summary('idle', idle, idleMs));

phase = { acks: 0, latenciesMs: [] };
const reportStartedAt = performance.now();
const from = new Date(FROM_MS).toISOString().slice(0, 10);
const to = new Date(TO_MS).toISOString().slice(0, 10);
const response = await fetch(`${service.url}/api/reports/uptime?from=${from}&to=${to}&tz=UTC`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
const report = (await response.json()) as { boreholes?: unknown[]; message?: string };
const reportMs = performance.now() - reportStartedAt;
const during = phase;
console.log(summary('during report', during, reportMs));
console.log(`report ${from} to ${to}: HTTP ${response.status}, ${report.boreholes?.length ?? report.message} boreholes, ${(reportMs / 1000).toFixed(1)} s`);

running = false;
await Promise.all([publishing, polling]);
await client.endAsync();
await service.stop();
if (args['data-dir'] === undefined) rmSync(dataDir, { recursive: true, force: true });
