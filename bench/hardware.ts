/**
 * The hardware a region needs (issue 16), measured: disk per reading in the embedded store and in
 * InfluxDB 1.6 (compacted TSM, as it sits after a while), and the resident memory and state.db of
 * the running service with N boreholes registered after a day of their readings, then scaled to
 * 1,000 boreholes for a year at the given reporting interval. Prints figures; asserts nothing.
 *
 *   npx tsx bench/hardware.ts [--boreholes 1000] [--days 7] [--interval-minutes 10]
 *
 * The cadence is a reading per topic (flow, pump, level) every `--interval-minutes`, the field's
 * usual GPRS budget; at 10 minutes that is 157.7 million readings a year per 1,000 boreholes.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { pino } from 'pino';
import type { Reading } from '../src/domain/reading.js';
import { EmbeddedTelemetry } from '../src/storage/embedded-telemetry.js';
import { InfluxClient } from '../src/storage/influx.js';
import { ReadingEncoder } from '../src/storage/points.js';
import { registryYaml, tempDir } from '../tests/support/fixtures.js';
import { freePort, startInfluxd } from '../tests/support/servers.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '1000' },
    days: { type: 'string', default: '7' },
    'interval-minutes': { type: 'string', default: '10' },
  },
});
const BOREHOLES = Number(args.boreholes);
const DAYS = Number(args.days);
const INTERVAL_MIN = Number(args['interval-minutes']);
const MINUTE = 60_000;
const START = Date.UTC(2026, 0, 1);
const ids = Array.from({ length: BOREHOLES }, (_, index) => `hw-${String(index + 1).padStart(5, '0')}`);
const perYearPer1000 = (3 * (24 * 60 / INTERVAL_MIN) * 365 * 1000);

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

function* readings(days: number): Generator<Reading> {
  for (let minute = 0; minute < days * 24 * 60; minute += INTERVAL_MIN) {
    const hour = (minute / 60) % 24;
    const running = hour >= 7.5 && hour < 17.5;
    for (const [index, boreholeId] of ids.entries()) {
      // Each borehole measures at its own second of the interval, as devices do.
      const tsMs = START + minute * MINUTE + (index % 600) * 1000;
      const rate = running ? 38 + ((minute + index) % 7) * 1.3 : 0;
      yield { boreholeId, kind: 'flow', tsMs, values: { rate_lpm: Math.round(rate * 10) / 10, total_m3: Math.round((10_000 + (minute * rate) / 1000) * 1000) / 1000 } };
      yield { boreholeId, kind: 'pump', tsMs, values: { running, current_a: running ? 5.2 + (index % 3) * 0.1 : 0, voltage_v: 228 + (minute % 5), fault: null } };
      yield { boreholeId, kind: 'level', tsMs, values: { depth_m: Math.round((20 + (running ? 8 : 0) + (index % 5) + (minute % 30) / 100) * 100) / 100 } };
    }
  }
}

/** Line-protocol bodies of 5,000 points, as the drain sends them. */
function* batches(days: number): Generator<Buffer> {
  const encoder = new ReadingEncoder((id) => ({ borehole: id, region: 'Kayes', commune: 'Kayes' }));
  let lines: string[] = [];
  for (const reading of readings(days)) {
    lines.push(encoder.line(reading));
    if (lines.length === 5000) {
      yield Buffer.from(`${lines.join('\n')}\n`);
      lines = [];
    }
  }
  if (lines.length > 0) yield Buffer.from(`${lines.join('\n')}\n`);
}

function sizeOf(path: string, accept: (name: string) => boolean = () => true): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) total += sizeOf(full, accept);
    else if (accept(entry.name)) total += statSync(full).size;
  }
  return total;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
const points = 3 * BOREHOLES * Math.ceil((DAYS * 24 * 60) / INTERVAL_MIN);
console.log(`${BOREHOLES} boreholes, ${DAYS} days, a reading per topic every ${INTERVAL_MIN} min: ${points.toLocaleString('en')} points`);
console.log(`a year of 1,000 boreholes at this cadence: ${perYearPer1000.toLocaleString('en')} readings\n`);

// --- the embedded store ------------------------------------------------------------------------
{
  const dir = tempDir('hw-embedded');
  const store = EmbeddedTelemetry.open({ path: join(dir, 'telemetry.db') });
  for (const body of batches(DAYS)) await store.writeLines(body);
  store.close();
  const bytes = sizeOf(dir);
  const perPoint = bytes / points;
  console.log(`embedded store: ${mb(bytes)} on disk, ${perPoint.toFixed(1)} bytes a reading → ${gb(perPoint * perYearPer1000)} a year per 1,000 boreholes`);
}

// --- InfluxDB 1.6 -------------------------------------------------------------------------------
{
  // A cache written out as soon as it is cold, so that what is measured is compressed TSM, as on a
  // server that has run for a while, not the write-ahead log.
  process.env.INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION = '2s';
  process.env.INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION = '5s';
  const influxd = await startInfluxd();
  try {
    const client = new InfluxClient({ url: influxd.url, token: '', org: '', bucket: 'hardware' }, pino({ level: 'silent' }));
    for (const body of batches(DAYS)) await client.writeLines(body);
    const data = join(influxd.dataDir, 'data');
    let tsm = 0;
    for (let waited = 0; waited < 120_000; waited += 2000) {
      await sleep(2000);
      const wal = sizeOf(join(influxd.dataDir, 'wal'), (name) => name.endsWith('.wal'));
      tsm = sizeOf(data, (name) => name.endsWith('.tsm'));
      if (wal < 1e6 && tsm > 0) break;
    }
    const perPoint = tsm / points;
    console.log(`InfluxDB ${influxd.version}: ${mb(tsm)} of TSM, ${perPoint.toFixed(1)} bytes a reading → ${gb(perPoint * perYearPer1000)} a year per 1,000 boreholes`);
  } finally {
    await influxd.stop();
  }
}

// --- the running service: memory and state.db after a day of every borehole ---------------------
{
  const dir = tempDir('hw-service');
  const registry = join(dir, 'boreholes.yaml');
  writeFileSync(registry, registryYaml(ids));
  const httpPort = await freePort();
  const mqttPort = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, BOREHOLES_FILE: registry, DATA_DIR: join(dir, 'data'), HTTP_PORT: String(httpPort), MQTT_EMBEDDED_PORT: String(mqttPort), LOG_LEVEL: 'warn' };
  for (const name of ['MQTT_URL', 'INFLUX_URL', 'SMS_PROVIDER', 'API_TOKENS']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const rss = () => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid ?? 0}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text())?.[1] ?? 0);
  try {
    for (let waited = 0; ; waited += 200) {
      if (waited > 120_000) throw new Error('the service did not become ready');
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status === 200, () => false);
      if (ready) break;
      await sleep(200);
    }
    const idle = rss();
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'hw-bench', clean: true });
    // A day of each borehole and topic as store-and-forward batches of at most 1,000 readings.
    const perTopic = new Map<string, Record<string, unknown>[]>();
    for (const reading of readings(1)) {
      const key = `${reading.boreholeId}/${reading.kind}`;
      const list = perTopic.get(key) ?? [];
      list.push({ ts: reading.tsMs, ...reading.values });
      perTopic.set(key, list);
    }
    let published = 0;
    const inFlight: Promise<unknown>[] = [];
    for (const [key, list] of perTopic) {
      inFlight.push(client.publishAsync(`boreholes/${key}`, JSON.stringify(list), { qos: 1 }));
      published += list.length;
      if (inFlight.length >= 100) await Promise.all(inFlight.splice(0));
    }
    await Promise.all(inFlight);
    await client.endAsync();
    for (let waited = 0; (await metric('journal_pending_points')) > 0 && waited < 300_000; waited += 500) await sleep(500);
    await sleep(12_000); // two rule ticks
    const loaded = rss();
    const stateDb = sizeOf(join(dir, 'data'), (name) => name.startsWith('state.db'));
    console.log(`service with ${BOREHOLES} boreholes: ${mb(idle)} resident at start, ${mb(loaded)} after a day of their ${published.toLocaleString('en')} readings; state.db ${mb(stateDb)}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((done) => child.once('exit', done));
  }
}
