/**
 * A country on one box (issue 19): a generated registry of N boreholes in 8 regions, the built
 * service in its own process against a private Mosquitto and InfluxDB 1.6.7 (or the embedded
 * broker and SQLite store), and every figure the issue asks for, each as a labelled line and at
 * the end as one JSON object:
 *
 *   - start-up to `/readyz` 200, the registry's size, and `npm run check` on it;
 *   - every borehole reporting once per topic (status, flow, pump, level) until all is stored;
 *   - with `--rate` single readings a second in the background: 100 pump faults, PUBACK → alert
 *     visible in `GET /api/alerts` and → its SMS queued (the outbox's `created_at`), p50/p99;
 *   - pages of `GET /api/boreholes` (first, middle, one region) and `GET /api/alerts`, p50/p99;
 *   - this month's uptime report, and the worst `/healthz` (polled every 50 ms) meanwhile;
 *   - a reconnect burst: 10 % of the boreholes send 6 hours of store-and-forward at once (one
 *     batch per topic), its drain time, and no reading lost nor alert opened by it;
 *   - the service's resident memory (VmRSS) after all that.
 *
 * Asserts nothing on time. Exits 1 only when the run itself broke: the service did not start or
 * crashed, a reading the broker acknowledged is not in the store, or an injected fault opened no
 * alert. docs/performance.md has the method.
 *
 *   npm run bench:scale -- [--boreholes 10000] [--store influx|embedded] [--broker mosquitto|embedded]
 *                          [--regions 8] [--rate 5000] [--background-s 10] [--faults 100]
 *                          [--burst-percent 10] [--backlog-hours 6] [--samples 30]
 *                          [--profile DIR] [--json FILE] [--keep]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { topicFor, type TopicKind } from '../src/contract/topics.js';
import { freePort, startInfluxd, startMosquitto, type InfluxServer, type MosquittoServer } from '../tests/support/servers.js';
import { PublisherPool, publishAtRate, type Ack } from './lib/publisher.js';
import { nationalRegistry } from './lib/registry.js';
import { rssKb, ServiceProcess, snapshotBuild } from './lib/service-process.js';
import { embeddedCounter, influxCounter, type StoreCounter } from './lib/store-count.js';

const { values: args } = parseArgs({
  options: {
    boreholes: { type: 'string', default: '10000' },
    store: { type: 'string', default: 'influx' },
    broker: { type: 'string', default: 'mosquitto' },
    regions: { type: 'string', default: '8' },
    rate: { type: 'string', default: '5000' },
    'background-s': { type: 'string', default: '10' },
    faults: { type: 'string', default: '100' },
    'burst-percent': { type: 'string', default: '10' },
    'backlog-hours': { type: 'string', default: '6' },
    samples: { type: 'string', default: '30' },
    profile: { type: 'string' },
    json: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

const usage = (line: string): never => {
  process.stderr.write(`${line}\n`);
  process.exit(2);
};
const number = (name: keyof typeof args, min: number): number => {
  const value = Number(args[name]);
  if (!Number.isFinite(value) || value < min) usage(`--${name} must be a number ≥ ${min}`);
  return value;
};
const BOREHOLES = number('boreholes', 100);
const REGIONS = number('regions', 1);
const RATE = number('rate', 0);
const BACKGROUND_MS = number('background-s', 0) * 1000;
const FAULTS = Math.min(number('faults', 1), BOREHOLES);
const BURST_PERCENT = number('burst-percent', 0);
const BACKLOG_HOURS = number('backlog-hours', 0);
const SAMPLES = number('samples', 1);
const STORE = args.store;
const BROKER = args.broker;
if (STORE !== 'influx' && STORE !== 'embedded') usage('--store must be influx (a private influxd 1.6.7) or embedded (the SQLite store)');
if (BROKER !== 'mosquitto' && BROKER !== 'embedded') usage("--broker must be mosquitto or embedded (the service's own broker)");

const TOPIC_ROOT = 'boreholes';
const DB = 'scale';
const VIEWER_TOKEN = 'scale-viewer-token-0000000001';
/** The outbox shows phone numbers to operators only, and the bench finds a borehole's SMS by its committee's phone. */
const OPERATOR_TOKEN = 'scale-operator-token-00000001';
const READING_KINDS = ['flow', 'pump', 'level'] as const;
/** A store-and-forward device samples every 10 minutes (the contract's example cadence). */
const BACKLOG_STEP_MS = 10 * 60_000;
const CONNECTIONS = 8;
const WINDOW_PER_CONNECTION = 250;
/** How long the store may take to hold what was acknowledged before the run counts it lost. */
const DRAIN_TIMEOUT_MS = 10 * 60_000;
const ALERT_TIMEOUT_MS = 120_000;

const runStartedAt = Date.now();
const figures: Record<string, unknown> = {};
const failures: string[] = [];
const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));
function log(line: string): void {
  const seconds = Math.floor((Date.now() - runStartedAt) / 1000);
  process.stdout.write(`[${String(Math.floor(seconds / 60)).padStart(3, '0')}:${String(seconds % 60).padStart(2, '0')}] ${line}\n`);
}
/** A labelled figure: printed now, and kept for the JSON at the end. */
function figure(key: string, value: unknown, line: string): void {
  figures[key] = value;
  process.stdout.write(`  ${line}\n`);
}
const seconds = (ms: number) => Math.round(ms / 100) / 10;
/** The service started, for the exit paths: servers.ts ends Mosquitto and InfluxDB; the service is ours to end. */
let started: ServiceProcess | undefined;

interface Quantiles {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}
function quantiles(values: readonly number[]): Quantiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN);
  return { n: sorted.length, p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1) };
}
const described = (q: Quantiles) => `p50 ${q.p50_ms} ms, p99 ${q.p99_ms} ms, max ${q.max_ms} ms (${q.n})`;

async function api<T>(baseUrl: string, path: string, token = VIEWER_TOKEN): Promise<T> {
  const response = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(600_000) });
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  return (await response.json()) as T;
}

async function timedGet(baseUrl: string, path: string): Promise<number> {
  const startedAt = performance.now();
  const response = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` }, signal: AbortSignal.timeout(60_000) });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return performance.now() - startedAt;
}

interface AlertJson {
  id: string;
  borehole: string;
  rule: string;
  state: string;
}
interface SmsJson {
  to: string;
  kind: string;
  created_at: string;
}

/** Every item of a paged list endpoint. */
async function everyItem<T>(baseUrl: string, path: string, pageSize: number, token = VIEWER_TOKEN): Promise<T[]> {
  const items: T[] = [];
  const separator = path.includes('?') ? '&' : '?';
  for (let offset = 0; ; offset += pageSize) {
    const page = await api<{ total: number; items: T[] }>(baseUrl, `${path}${separator}limit=${pageSize}&offset=${offset}`, token);
    items.push(...page.items);
    if (page.items.length < pageSize || items.length >= page.total) return items;
  }
}

/** Waits until the store holds `target` points (before `beforeMs` if given); the time that took, or NaN. */
async function untilStored(counter: StoreCounter, target: number, startedAt: number, beforeMs?: number): Promise<{ ms: number; stored: number }> {
  let stored = 0;
  let previous = -1;
  let stableSince = Date.now();
  for (;;) {
    stored = await counter.count(beforeMs);
    if (stored >= target) return { ms: performance.now() - startedAt, stored };
    if (stored !== previous) stableSince = Date.now();
    previous = stored;
    // Nothing more arriving for a minute, or the overall limit: what is missing is lost.
    if (Date.now() - stableSince > 60_000 || performance.now() - startedAt > DRAIN_TIMEOUT_MS) return { ms: Number.NaN, stored };
    await sleep(250);
  }
}

async function timedCheck(registryFile: string, env: NodeJS.ProcessEnv): Promise<{ ms: number; code: number | null; output: string }> {
  const startedAt = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join('src', 'check.ts'), '--registry', registryFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  return { ms: performance.now() - startedAt, code, output: output.trim() };
}

async function main(): Promise<number> {
  const workDir = mkdtempSync(join(tmpdir(), 'scale-'));
  const cpu = cpus();
  figure('machine', { cores: cpu.length, cpu: cpu[0]?.model ?? 'unknown', memory_gib: Math.round(totalmem() / 2 ** 30), node: process.version }, `machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  figure(
    'run',
    { boreholes: BOREHOLES, regions: REGIONS, store: STORE, broker: BROKER, rate: RATE, background_s: BACKGROUND_MS / 1000, faults: FAULTS, burst_percent: BURST_PERCENT, backlog_hours: BACKLOG_HOURS },
    `run: ${BOREHOLES.toLocaleString('en')} boreholes in ${REGIONS} regions, store ${STORE}, broker ${BROKER}, background ${RATE.toLocaleString('en')} readings/s; work directory ${workDir}`,
  );

  // The registry.
  let startedAt = performance.now();
  const registry = nationalRegistry(BOREHOLES, REGIONS);
  const registryFile = join(workDir, 'boreholes.yaml');
  writeFileSync(registryFile, registry.yaml);
  const registryMb = statSync(registryFile).size / 1e6;
  log(`registry generated in ${seconds(performance.now() - startedAt)} s: ${registryFile}`);
  const { ids } = registry;

  // The servers and the service's environment.
  const [mosquitto, influxd]: [MosquittoServer | undefined, InfluxServer | undefined] = await Promise.all([
    BROKER === 'mosquitto' ? startMosquitto() : Promise.resolve(undefined),
    STORE === 'influx' ? startInfluxd() : Promise.resolve(undefined),
  ]);
  if (influxd) log(`influxd ${influxd.version} at ${influxd.url}`);
  if (mosquitto) log(`mosquitto at ${mosquitto.url}`);
  const port = await freePort();
  const brokerPort = mosquitto ? mosquitto.port : await freePort();
  const brokerUrl = mosquitto ? mosquitto.url : `mqtt://127.0.0.1:${brokerPort}`;
  const dataDir = join(workDir, 'data');
  mkdirSync(dataDir);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...(mosquitto ? { MQTT_URL: mosquitto.url } : { MQTT_EMBEDDED_HOST: '127.0.0.1', MQTT_EMBEDDED_PORT: String(brokerPort) }),
    MQTT_TOPIC_ROOT: TOPIC_ROOT,
    ...(influxd ? { INFLUX_URL: influxd.url, INFLUX_BUCKET: DB } : {}),
    DATA_DIR: dataDir,
    BOREHOLES_FILE: registryFile,
    API_TOKENS: `viewer:${VIEWER_TOKEN},operator:${OPERATOR_TOKEN}`,
    SMS_PROVIDER: 'console',
    HTTP_PORT: String(port),
    LOG_LEVEL: 'warn',
    REPORT_TZ: 'UTC',
  };

  const check = await timedCheck(registryFile, env);
  figure('check_s', seconds(check.ms), `npm run check on the registry: ${seconds(check.ms)} s (exit ${String(check.code)}: ${check.output.split('\n')[0] ?? ''})`);
  if (check.code !== 0) failures.push(`npm run check refused the generated registry: ${check.output}`);

  const main = snapshotBuild(workDir);
  const serviceLog = join(workDir, 'service.log');
  const service = new ServiceProcess({
    main,
    env,
    cwd: workDir,
    logFile: serviceLog,
    baseUrl: `http://127.0.0.1:${port}`,
    readyPath: '/readyz',
    startTimeoutMs: 600_000,
    nodeArgs: args.profile ? ['--cpu-prof', '--cpu-prof-dir', args.profile] : [],
    log,
  });
  started = service;
  let startupMs: number;
  try {
    startupMs = await service.start();
  } catch (error) {
    failures.push(String(error));
    await Promise.all([mosquitto?.stop(), influxd?.stop()]);
    log(`!!! ${String(error)}`);
    return 1;
  }
  figure('startup', { readyz_s: seconds(startupMs), registry_mb: Math.round(registryMb * 10) / 10 }, `start-up to /readyz 200: ${seconds(startupMs)} s (registry ${registryMb.toFixed(1)} MB of YAML); rss ${Math.round(rssKb(service.pid) / 1024)} MiB`);
  const baseUrl = service.baseUrl;

  const counter = influxd ? influxCounter(influxd.url, DB) : embeddedCounter(join(dataDir, 'telemetry.db'));
  const pool = await PublisherPool.connect({ url: brokerUrl, connections: CONNECTIONS, windowPerConnection: WINDOW_PER_CONNECTION, clientIdPrefix: 'scale' });
  let expected = 0;
  const expect = (readings: number) => () => (expected += readings);

  // 1. Every borehole reports once per topic, all at the same measured time.
  const onceTs = Date.now();
  startedAt = performance.now();
  const kinds: TopicKind[] = ['status', ...READING_KINDS];
  for (const [index, id] of ids.entries()) {
    const pumpIndex = index % 5;
    for (const kind of kinds) {
      const payload =
        kind === 'status'
          ? { ts: onceTs, online: true, fw: '2.4.1', rssi_dbm: -70 - (index % 30), battery_v: 12.6 }
          : kind === 'flow'
            ? { ts: onceTs, rate_lpm: 30 + pumpIndex * 8 }
            : kind === 'pump'
              ? { ts: onceTs, running: true, current_a: 6.2, voltage_v: 398, fault: null }
              : { ts: onceTs, depth_m: 18 + (index % 7) };
      await pool.publish(topicFor(TOPIC_ROOT, id, kind), JSON.stringify(payload), expect(1), kind === 'status');
    }
  }
  await pool.settled();
  const onceAckedMs = performance.now() - startedAt;
  const once = await untilStored(counter, expected, startedAt);
  figure(
    'report_once',
    { messages: ids.length * kinds.length, acked_s: seconds(onceAckedMs), stored_s: seconds(once.ms), stored: once.stored },
    `every borehole's ${kinds.length} messages (${(ids.length * kinds.length).toLocaleString('en')}): all acknowledged in ${seconds(onceAckedMs)} s, all stored in ${seconds(once.ms)} s (${once.stored.toLocaleString('en')} points)`,
  );
  if (Number.isNaN(once.ms)) failures.push(`after every borehole reported once the store holds ${once.stored} of ${expected} readings`);

  // The background: live single readings of the boreholes that are neither faulty nor about to
  // come back from an outage, each series' ts strictly increasing so none is a duplicate.
  const faultIndexes = Array.from({ length: FAULTS }, (_, k) => Math.floor((k * BOREHOLES) / FAULTS));
  const faultSet = new Set(faultIndexes);
  const burstIndexes = ids.map((_, index) => index).filter((index) => !faultSet.has(index) && BURST_PERCENT > 0 && index % Math.round(100 / BURST_PERCENT) === Math.round(50 / BURST_PERCENT));
  const burstSet = new Set(burstIndexes);
  const liveIndexes = ids.map((_, index) => index).filter((index) => !burstSet.has(index));
  const lastTs = new Float64Array(ids.length * READING_KINDS.length);
  const background = new AbortController();
  let backgroundAcked = 0;
  const backgroundStartedAt = performance.now();
  const backgroundDone = RATE > 0
    ? publishAtRate(pool, RATE, background.signal, (n) => {
        const index = liveIndexes[Math.floor(n / READING_KINDS.length) % liveIndexes.length] ?? 0;
        const k = n % READING_KINDS.length;
        const kind = READING_KINDS[k] ?? 'flow';
        const slot = index * READING_KINDS.length + k;
        const ts = Math.max(Date.now(), (lastTs[slot] ?? 0) + 1);
        lastTs[slot] = ts;
        const payload = kind === 'flow' ? { ts, rate_lpm: 30 + (index % 5) * 8 + (n % 7) / 10 } : kind === 'pump' ? { ts, running: true, current_a: 6.2, voltage_v: 398, fault: null } : { ts, depth_m: 18 + (index % 7) + (n % 5) / 10 };
        return {
          topic: topicFor(TOPIC_ROOT, ids[index] ?? '', kind),
          payload: JSON.stringify(payload),
          onAck: () => {
            expected += 1;
            backgroundAcked += 1;
          },
        };
      })
    : Promise.resolve(0);
  log(`background: ${RATE.toLocaleString('en')} readings/s from ${liveIndexes.length.toLocaleString('en')} boreholes; settling for ${BACKGROUND_MS / 1000} s`);
  await sleep(BACKGROUND_MS);

  // 2. Alert latency: pump faults on FAULTS boreholes, 20 ms apart, PUBACK → alert listed → SMS queued.
  const alertsBefore = (await api<{ total: number }>(baseUrl, '/api/alerts?limit=1')).total;
  const faultAcks = new Map<string, Ack>();
  const seenAt = new Map<string, number>();
  const faultStartedWall = Date.now();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      try {
        const open = await api<{ items: AlertJson[] }>(baseUrl, `/api/alerts?state=open&limit=500`);
        const now = performance.now();
        for (const alert of open.items) if (alert.rule === 'pump_fault' && !seenAt.has(alert.borehole)) seenAt.set(alert.borehole, now);
      } catch (error) {
        log(`!!! polling alerts: ${String(error)}`);
      }
      await sleep(25);
    }
  })();
  for (const index of faultIndexes) {
    const id = ids[index] ?? '';
    const slot = index * READING_KINDS.length + 1;
    const ts = Math.max(Date.now(), (lastTs[slot] ?? 0) + 1);
    lastTs[slot] = ts;
    await pool.publish(topicFor(TOPIC_ROOT, id, 'pump'), JSON.stringify({ ts, running: true, current_a: 9.8, voltage_v: 398, fault: 'overload' }), (ack) => {
      expected += 1;
      faultAcks.set(id, ack);
    });
    await sleep(20);
  }
  const faultIds = faultIndexes.map((index) => ids[index] ?? '');
  const alertDeadline = Date.now() + ALERT_TIMEOUT_MS;
  while (faultIds.some((id) => !seenAt.has(id)) && Date.now() < alertDeadline) await sleep(100);
  watching = false;
  await watcher;
  const openAlerts = await everyItem<AlertJson>(baseUrl, '/api/alerts?state=open', 500);
  const alertIdOf = new Map(openAlerts.filter((alert) => alert.rule === 'pump_fault').map((alert) => [alert.borehole, alert.id]));
  // The first SMS to each faulty borehole's committee: an alert's SMS, or its incident's (the
  // incident desk sends those, with no alert id), whichever the service queues.
  const committeeOf = new Map(faultIndexes.map((index) => [registry.file.boreholes[index]?.committee.contacts[0]?.phone ?? '', ids[index] ?? '']));
  const sms = await everyItem<SmsJson>(baseUrl, `/api/sms?since=${encodeURIComponent(new Date(faultStartedWall - 1000).toISOString())}`, 500, OPERATOR_TOKEN);
  const queuedAt = new Map<string, number>();
  const smsKinds: Record<string, number> = {};
  for (const message of sms) {
    const id = committeeOf.get(message.to);
    const at = Date.parse(message.created_at);
    if (id === undefined || (queuedAt.get(id) ?? Infinity) <= at) continue;
    queuedAt.set(id, at);
  }
  for (const message of sms) if (committeeOf.has(message.to)) smsKinds[message.kind] = (smsKinds[message.kind] ?? 0) + 1;
  const toAlert: number[] = [];
  const toSms: number[] = [];
  const ackToSms: number[] = [];
  const missing: string[] = [];
  for (const id of faultIds) {
    const ack = faultAcks.get(id);
    const seen = seenAt.get(id);
    const queued = queuedAt.get(id);
    if (!ack || seen === undefined || queued === undefined) {
      missing.push(`${id}${ack ? '' : ' (no PUBACK)'}${seen === undefined ? ' (no alert)' : ''}${queued === undefined ? ' (no SMS)' : ''}`);
      continue;
    }
    // From the publish, not the PUBACK: the service may queue the SMS before the PUBACK reaches
    // the device (it acknowledges once the reading is durable, and the rules run meanwhile).
    toAlert.push(seen - ack.sentAtPerfMs);
    // Both clocks are this machine's: the SMS's created_at and the publish's wall time.
    toSms.push(queued - ack.sentAtWallMs);
    ackToSms.push(queued - ack.atWallMs);
  }
  const alertQ = quantiles(toAlert);
  const smsQ = quantiles(toSms);
  const ackSmsQ = quantiles(ackToSms);
  figure('alert_latency', { alert_visible: alertQ, sms_queued: smsQ, puback_to_sms: ackSmsQ, sms_kinds: smsKinds, missing: missing.length }, `${FAULTS} pump faults, publish → alert in GET /api/alerts (polled every 25 ms): ${described(alertQ)}`);
  process.stdout.write(`  ${FAULTS} pump faults, publish → the committee's first SMS queued (outbox created_at; ${JSON.stringify(smsKinds)}): ${described(smsQ)}\n`);
  process.stdout.write(`  ${FAULTS} pump faults, PUBACK → that SMS queued (negative: queued before the PUBACK arrived): ${described(ackSmsQ)}\n`);
  if (missing.length > 0) failures.push(`${missing.length} of ${FAULTS} injected pump faults opened no alert or queued no SMS within ${ALERT_TIMEOUT_MS / 1000} s, e.g. ${missing.slice(0, 5).join(', ')}`);

  // 3. Pages, one request at a time, while the background goes on.
  const pages: Record<string, string> = {
    boreholes_first: '/api/boreholes?limit=100',
    boreholes_middle: `/api/boreholes?limit=100&offset=${Math.floor(BOREHOLES / 2)}`,
    boreholes_region: `/api/boreholes?limit=100&region=${encodeURIComponent(registry.regions[Math.min(3, registry.regions.length - 1)] ?? '')}`,
    alerts_first: '/api/alerts?limit=100',
  };
  const pageFigures: Record<string, Quantiles> = {};
  for (const [name, path] of Object.entries(pages)) {
    const times: number[] = [];
    for (let n = 0; n < SAMPLES; n += 1) times.push(await timedGet(baseUrl, path));
    pageFigures[name] = quantiles(times);
    process.stdout.write(`  GET ${path}: ${described(pageFigures[name])}\n`);
  }
  figures.pages = pageFigures;

  // 4. This month's uptime report, /healthz polled every 50 ms meanwhile.
  const today = new Date();
  const from = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1)).toISOString().slice(0, 10);
  const to = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
  let reporting = true;
  const health: number[] = [];
  const healthPoll = (async () => {
    while (reporting) {
      const at = performance.now();
      await fetch(`${baseUrl}/healthz`, { signal: AbortSignal.timeout(600_000) }).then((r) => r.arrayBuffer(), () => undefined);
      health.push(performance.now() - at);
      await sleep(50);
    }
  })();
  startedAt = performance.now();
  const report = await api<{ boreholes?: unknown[] }>(baseUrl, `/api/reports/uptime?from=${from}&to=${to}`).catch((error: unknown) => {
    failures.push(`the uptime report failed: ${String(error)}`);
    return { boreholes: undefined };
  });
  const reportMs = performance.now() - startedAt;
  reporting = false;
  await healthPoll;
  const healthQ = quantiles(health);
  figure('uptime_report', { from, to, s: seconds(reportMs), rows: report.boreholes?.length ?? null, healthz: healthQ }, `uptime report ${from} to ${to}: ${seconds(reportMs)} s, ${report.boreholes?.length ?? '?'} boreholes; /healthz meanwhile ${described(healthQ)}`);

  // 5. The reconnect burst: BURST_PERCENT % of the boreholes (silent since they reported once) send
  // their store-and-forward at once, a batch per topic of BACKLOG_HOURS at 10-minute steps, all
  // older than anything else stored, so the store can count them apart.
  const steps = Math.floor((BACKLOG_HOURS * 3_600_000) / BACKLOG_STEP_MS);
  const backlogFrom = onceTs - steps * BACKLOG_STEP_MS;
  const burstReadings = burstIndexes.length * READING_KINDS.length * steps;
  const burstStoredBefore = await counter.count(onceTs);
  startedAt = performance.now();
  if (steps > 0) {
    for (const index of burstIndexes) {
      const id = ids[index] ?? '';
      for (const kind of READING_KINDS) {
        const readings = Array.from({ length: steps }, (_, j) => {
          const ts = backlogFrom + j * BACKLOG_STEP_MS;
          return kind === 'flow' ? { ts, rate_lpm: 30 + (index % 5) * 8 } : kind === 'pump' ? { ts, running: true, current_a: 6.2, voltage_v: 398, fault: null } : { ts, depth_m: 18 + (index % 7) };
        });
        await pool.publish(topicFor(TOPIC_ROOT, id, kind), JSON.stringify(readings), expect(steps));
      }
    }
  }
  await pool.settled();
  const burstAckedMs = performance.now() - startedAt;
  const burst = await untilStored(counter, burstStoredBefore + burstReadings, startedAt, onceTs);
  figure(
    'burst',
    { boreholes: burstIndexes.length, messages: burstIndexes.length * READING_KINDS.length, readings: burstReadings, acked_s: seconds(burstAckedMs), drained_s: seconds(burst.ms), readings_per_s: Math.round(burstReadings / (burst.ms / 1000)), stored: burst.stored - burstStoredBefore },
    `reconnect burst: ${burstIndexes.length.toLocaleString('en')} boreholes × ${READING_KINDS.length} batches of ${steps} readings (${burstReadings.toLocaleString('en')}): acknowledged in ${seconds(burstAckedMs)} s, stored in ${seconds(burst.ms)} s (${Math.round(burstReadings / (burst.ms / 1000)).toLocaleString('en')} readings/s), ${(burst.stored - burstStoredBefore).toLocaleString('en')} stored`,
  );
  if (Number.isNaN(burst.ms)) failures.push(`the burst's ${burstReadings} readings: only ${burst.stored - burstStoredBefore} stored`);

  // The end: the background stops, everything acknowledged must be stored.
  background.abort();
  const backgroundSent = await backgroundDone;
  await pool.settled();
  const backgroundS = (performance.now() - backgroundStartedAt) / 1000;
  figure('background', { sent: backgroundSent, acked: backgroundAcked, readings_per_s: Math.round(backgroundAcked / backgroundS), publish_errors: pool.failed }, `background: ${backgroundAcked.toLocaleString('en')} readings acknowledged over ${backgroundS.toFixed(0)} s (${Math.round(backgroundAcked / backgroundS).toLocaleString('en')}/s achieved of ${RATE.toLocaleString('en')}), publish errors ${pool.failed}`);
  const final = await untilStored(counter, expected, performance.now());
  const lost = Math.max(0, expected - final.stored);
  figure('stored', { acknowledged: expected, stored: final.stored, lost }, `acknowledged readings ${expected.toLocaleString('en')}, stored ${final.stored.toLocaleString('en')}, lost ${lost}`);
  if (lost > 0) failures.push(`${lost} acknowledged readings are not in the store`);

  // No alert but the injected faults' (nothing from the backlog, nothing from the load).
  await sleep(11_000); // one silence re-check period (docs/contract.md section 4)
  const everyAlert = await everyItem<AlertJson>(baseUrl, '/api/alerts', 500);
  const faultIdSet = new Set(faultIds);
  const unexpected = everyAlert.filter((alert) => !(alert.rule === 'pump_fault' && faultIdSet.has(alert.borehole)));
  const byRule: Record<string, number> = {};
  for (const alert of unexpected) byRule[alert.rule] = (byRule[alert.rule] ?? 0) + 1;
  figure('alerts', { before: alertsBefore, total: everyAlert.length, expected_open: alertIdOf.size, unexpected: unexpected.length, unexpected_by_rule: byRule }, `alerts: ${everyAlert.length} in all, ${alertIdOf.size} of ${FAULTS} injected pump faults, ${unexpected.length} others${unexpected.length > 0 ? ` (${JSON.stringify(byRule)}, e.g. ${unexpected.slice(0, 3).map((alert) => `${alert.borehole} ${alert.rule}`).join(', ')})` : ''}`);

  const rssMib = Math.round(rssKb(service.pid) / 1024);
  figure('rss_mib', rssMib, `service resident memory (VmRSS) after all that: ${rssMib} MiB`);

  await pool.end();
  counter.close();
  const stopMs = await service.stop('SIGTERM');
  figure('stop_s', seconds(stopMs), `service stopped in ${seconds(stopMs)} s`);
  for (const crash of service.crashes) failures.push(crash);
  await Promise.all([mosquitto?.stop(), influxd?.stop()]);

  figures.failures = failures;
  const json = JSON.stringify(figures);
  process.stdout.write(`${failures.length === 0 ? 'RESULT: the run completed' : `RESULT: the run broke\n${failures.map((failure) => `  - ${failure}`).join('\n')}`}\n`);
  process.stdout.write(`SCALE_JSON ${json}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(figures, null, 2)}\n`);
  if (failures.length === 0 && !args.keep) rmSync(workDir, { recursive: true, force: true });
  else log(`kept ${workDir} (service log ${serviceLog})`);
  return failures.length === 0 ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (started?.pid !== undefined) process.kill(started.pid, 'SIGKILL');
    process.exit(130);
  });
}
process.exit(
  await main().catch((error: unknown) => {
    log(`!!! the run broke: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (started?.pid !== undefined) process.kill(started.pid, 'SIGKILL');
    return 1;
  }),
);
