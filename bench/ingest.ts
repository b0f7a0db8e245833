/**
 * Ingest benchmark. Starts its own Mosquitto and InfluxDB, then measures in one run:
 *   1. the broker's QoS 1 delivery ceiling: publisher → Mosquitto → a subscriber that only counts;
 *   2. the service end to end with single-reading messages: first publish until the last reading
 *      is queryable in InfluxDB;
 *   3. the same with 1,000-reading store-and-forward batches;
 * and the service's peak resident memory throughout. Prints figures; asserts nothing.
 *
 *   npm run bench -- [--messages 100000] [--batches 200] [--boreholes 100]
 *                    [--batch-points 5000] [--concurrency 2] [--fsync-ms 100] [--profile DIR]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { InfluxClient } from '../src/storage/influx.js';
import { registryYaml, tempDir } from '../tests/support/fixtures.js';
import { freePort, startInfluxd, startMosquitto } from '../tests/support/servers.js';

const { values: args } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    batches: { type: 'string', default: '200' },
    boreholes: { type: 'string', default: '100' },
    profile: { type: 'string' },
    'batch-points': { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '2' },
    'fsync-ms': { type: 'string', default: '100' },
  },
});
const MESSAGES = Number(args.messages);
const BATCHES = Number(args.batches);
const BOREHOLES = Number(args.boreholes);
const T0 = Date.UTC(2026, 0, 1);

const tsx = (script: string, scriptArgs: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', script, ...scriptArgs], { env, stdio: ['ignore', 'pipe', 'inherit'] });

/** The first JSON line a child prints that has `key`. */
function lineWith<T>(child: ChildProcess, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) throw new Error('child has no stdout');
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (key in parsed) resolve(parsed as T);
      } catch {
        // log lines of the service: not ours
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited with ${code} before printing ${key}`)));
  });
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main(): Promise<void> {
  const [mosquitto, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
  const ids = Array.from({ length: BOREHOLES }, (_, i) => `bench-${i}`);
  const idList = ids.join(',');
  try {
    // 1. Broker ceiling.
    const counter = tsx('bench/count-subscriber.ts', [mosquitto.url, 'ceiling/+/flow', String(MESSAGES)]);
    await lineWith(counter, 'subscribed');
    const ceilingPub = tsx('bench/publisher.ts', [mosquitto.url, 'ceiling', idList, String(MESSAGES), '1', String(T0)]);
    const [pubStart, counted] = await Promise.all([
      lineWith<{ startedAtMs: number }>(ceilingPub, 'startedAtMs'),
      lineWith<{ lastAtMs: number }>(counter, 'count'),
    ]);
    const ceilingRate = MESSAGES / ((counted.lastAtMs - pubStart.startedAtMs) / 1000);

    // 2 and 3. The service, as a separate process like in production.
    const dir = tempDir('bench');
    writeFileSync(join(dir, 'boreholes.yaml'), registryYaml(ids));
    const port = await freePort();
    const profileArgs = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
    const service = spawn(process.execPath, [...profileArgs, 'dist/src/main.js'], {
      env: {
        ...process.env,
        MQTT_URL: mosquitto.url,
        INFLUX_URL: influxd.url,
        INFLUX_BUCKET: 'bench',
        BOREHOLES_FILE: join(dir, 'boreholes.yaml'),
        DATA_DIR: join(dir, 'data'),
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
        INFLUX_BATCH_POINTS: args['batch-points'],
        INFLUX_CONCURRENCY: args.concurrency,
        JOURNAL_FSYNC_MS: args['fsync-ms'],
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const pid = service.pid ?? 0;
    let peakRss = 0;
    let peakPending = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMb(pid));
      void fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .then((text) => {
          peakPending = Math.max(peakPending, Number(/^journal_pending_points (\d+)/m.exec(text)?.[1] ?? 0));
        }, () => undefined);
    }, 200);
    await until(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), 30_000);
    const influx = new InfluxClient({ url: influxd.url, token: '', org: '', bucket: 'bench' }, pino({ level: 'silent' }));
    const stored = async (): Promise<number> => {
      const [series] = await influx.query('SELECT count("rate_lpm") FROM "flow"').catch(() => [[]]);
      const value = series?.[0]?.values[0]?.[1];
      return typeof value === 'number' ? value : 0;
    };

    const cpu = () => ({ service: cpuSeconds(pid), mosquitto: cpuSeconds(mosquitto.pid), influxd: cpuSeconds(influxd.pid) });
    const perPhase = (before: ReturnType<typeof cpu>, seconds: number) => {
      const after = cpu();
      return `service ${Math.round((100 * (after.service - before.service)) / seconds)}%, mosquitto ${Math.round((100 * (after.mosquitto - before.mosquitto)) / seconds)}%, influxd ${Math.round((100 * (after.influxd - before.influxd)) / seconds)}% of one core`;
    };
    const singleCpu = cpu();
    // Polling a count over a million points would load InfluxDB itself; the service's own counter
    // of confirmed points is cheap, and a count query then proves the points are queryable.
    const confirmed = async (): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(/^store_points_written_total (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const allQueryable = async (expected: number): Promise<void> => {
      await until(async () => (await confirmed()) >= expected, 600_000);
      await until(async () => (await stored()) >= expected, 60_000);
    };
    const singlePub = tsx('bench/publisher.ts', [mosquitto.url, 'boreholes', idList, String(MESSAGES), '1', String(T0)]);
    const singleStart = await lineWith<{ startedAtMs: number }>(singlePub, 'startedAtMs');
    await allQueryable(MESSAGES);
    const singleSeconds = (Date.now() - singleStart.startedAtMs) / 1000;
    const singleRate = MESSAGES / singleSeconds;
    const singleCpuText = perPhase(singleCpu, singleSeconds);
    const batchCpu = cpu();

    const batchReadings = BATCHES * 1000;
    const batchPub = tsx('bench/publisher.ts', [mosquitto.url, 'boreholes', idList, String(BATCHES), '1000', String(T0 + 30 * 86_400_000)]);
    const batchStart = await lineWith<{ startedAtMs: number }>(batchPub, 'startedAtMs');
    await allQueryable(MESSAGES + batchReadings);
    const batchSeconds = (Date.now() - batchStart.startedAtMs) / 1000;
    const batchRate = batchReadings / batchSeconds;
    const batchCpuText = perPhase(batchCpu, batchSeconds);

    clearInterval(sampler);
    const metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(metricsText)?.[1] ?? NaN);
    const writes = metric('store_write_duration_seconds_count');
    const meanWriteMs = (1000 * metric('store_write_duration_seconds_sum')) / writes;
    const total = await stored();
    service.kill('SIGTERM');
    await new Promise((resolve) => service.once('exit', resolve));

    const figures = {
      broker_qos1_ceiling_msgs_per_s: Math.round(ceilingRate),
      service_single_readings_per_s: Math.round(singleRate),
      single_vs_ceiling_pct: Math.round((100 * singleRate) / ceilingRate),
      service_batch_readings_per_s: Math.round(batchRate),
      service_peak_rss_mb: Math.round(peakRss),
      journal_peak_pending_points: peakPending,
      store_writes: writes,
      store_write_mean_ms: Math.round(meanWriteMs),
      readings_published: MESSAGES + batchReadings,
      readings_stored: total,
      lost: MESSAGES + batchReadings - total,
    };
    process.stdout.write(`\ningest benchmark (${MESSAGES} single-reading messages, ${BATCHES} batches of 1,000, ${BOREHOLES} boreholes)\n`);
    for (const [name, value] of Object.entries(figures)) process.stdout.write(`  ${name.padEnd(32)} ${value}\n`);
    process.stdout.write(`  cpu, single messages: ${singleCpuText}\n  cpu, batches:         ${batchCpuText}\n`);
  } finally {
    await Promise.all([mosquitto.stop(), influxd.stop()]);
  }
}

await main();
