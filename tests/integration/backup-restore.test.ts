/**
 * deploy/backup.sh and deploy/restore.sh, run for real (issue 16): a service on its own Mosquitto
 * and its own influxd 1.6.7 takes readings and opens alerts; backup.sh copies it while it runs;
 * everything is stopped and wiped (DATA_DIR and influxd's data); restore.sh puts it back; the
 * service started again has the same alerts (ids, states) and readings, and takes new ones.
 *
 * The scripts run with --local, the same code as with Docker Compose but for the prefix of each
 * command (`docker compose exec -T …`), and with --sqlite node, the way the service's image copies
 * SQLite (it has no sqlite3 CLI).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/env.js';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, tempDir, testConfig, testRegistry } from '../support/fixtures.js';
import { countPoints, influxClient, type InfluxTarget } from '../support/influx.js';
import { connectPublisher, publishAll, type Message } from '../support/mqtt.js';
import { hasBinary, startInfluxd, startMosquitto, type InfluxServer, type MosquittoServer } from '../support/servers.js';

const haveBinaries = hasBinary('mosquitto') && hasBinary('influxd');
if (!haveBinaries) {
  if (process.env.CI === 'true') throw new Error('the backup and restore test needs mosquitto and influxd: apt-get install -y mosquitto influxdb');
  console.warn('!!! backup/restore integration test SKIPPED: mosquitto and influxd not found (apt-get install -y mosquitto influxdb)');
}

const ROOT = join(import.meta.dirname, '..', '..');
const IDS = ['bk-a', 'bk-b', 'bk-c'] as const;
const ROOT_TOPIC = 'bkrs';
const DATABASE = 'backup_restore';
const FLOW_PER_BOREHOLE = 30;

type Alert = { id: string; code: string; borehole: string; rule: string; state: string; severity: string };

interface ScriptResult {
  code: number | null;
  output: string;
}

/** Runs one of the deploy scripts without blocking the event loop: the service keeps running meanwhile. */
function runScript(script: string, args: string[], env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'deploy', script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

function manifestFields(dir: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of readFileSync(join(dir, 'MANIFEST'), 'utf8').split('\n')) {
    const match = /^([a-z_]+)=(.*)$/.exec(line);
    if (match && match[1] !== 'file') fields[match[1] as string] = match[2] as string;
  }
  return fields;
}

describe.skipIf(!haveBinaries)('deploy/backup.sh and deploy/restore.sh on a service with Mosquitto and InfluxDB 1.6.7', () => {
  let mosquitto: MosquittoServer;
  let influxd: InfluxServer;
  let rpcAddress: string;
  let target: InfluxTarget;
  let config: Config;
  let dataDir: string;
  let service: RunningService | undefined;
  let publisher: MqttClient | undefined;
  const backupDir = join(tempDir('backup-target'), 'backup');

  const start = async () => {
    service = await startService({ config, registry: testRegistry(IDS), log: pino({ level: 'silent' }) });
  };
  const stop = async () => {
    await service?.stop();
    service = undefined;
  };
  const api = async <T>(url: string, method: 'GET' | 'POST' = 'GET'): Promise<T> => {
    const response = await (service as RunningService).app.inject({ method, url, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(response.statusCode, `${method} ${url}: ${response.body}`).toBe(200);
    return response.json<T>();
  };
  const alerts = async () => (await api<{ items: Alert[] }>('/api/alerts?limit=100')).items.sort((a, b) => a.id.localeCompare(b.id));
  const client = () => influxClient(target, DATABASE);
  const flowCount = (id: string) => countPoints(client(), 'flow', 'rate_lpm', [id]).catch(() => -1);
  /** Every point of every measurement, as InfluxDB answers them. */
  const everything = async () => {
    await client().connect();
    return client().query('SELECT * FROM /.*/');
  };
  const scriptEnv = () => ({ INFLUX_URL: influxd.url, INFLUX_BUCKET: DATABASE, CI: process.env.CI ?? '' });
  const localArgs = () => ['--local', '--data-dir', dataDir, '--influx-rpc', rpcAddress];

  beforeAll(async () => {
    [mosquitto, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
    // influxd's backup service listens where its configuration says (bind-address, on loopback).
    const conf = readFileSync(join(influxd.dataDir, 'influxdb.conf'), 'utf8');
    rpcAddress = /^bind-address = "([^"]+)"/m.exec(conf)?.[1] ?? '';
    expect(rpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    target = { name: 'own influxd', url: influxd.url, token: '', org: '', bucket: () => DATABASE };
    dataDir = join(tempDir('backup-service'), 'data');
    config = testConfig({ MQTT_URL: mosquitto.url, MQTT_TOPIC_ROOT: ROOT_TOPIC, MQTT_CLIENT_ID: 'backup-restore', INFLUX_URL: influxd.url, INFLUX_BUCKET: DATABASE, DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await stop();
    await Promise.all([mosquitto?.stop(), influxd?.stop()]);
  });

  let alertsBefore: Alert[] = [];
  let pointsBefore: unknown;
  const baseTs = Date.now() - 10 * 60_000;

  it('backs up a running service: alerts, rule state, readings and the journal, with a manifest', async () => {
    await start();
    publisher = await connectPublisher(mosquitto.url);
    const flow: Message[] = IDS.flatMap((id, b) =>
      Array.from({ length: FLOW_PER_BOREHOLE }, (_, k) => ({ topic: `${ROOT_TOPIC}/${id}/flow`, payload: JSON.stringify({ ts: baseTs + k * 10_000, rate_lpm: 40 + b + k / 4 }) })),
    );
    await publishAll(publisher, flow);
    // bk-a: a pump fault, left open; bk-b: a pump fault, acknowledged; bk-c: low water (2 m above
    // the 55 m intake), resolved by the rule once the level stayed good for clear_minutes (5).
    const fault = (id: string, code: string) => ({ topic: `${ROOT_TOPIC}/${id}/pump`, payload: JSON.stringify({ ts: baseTs + 301_000, running: false, current_a: 0, voltage_v: 230, fault: code }) });
    const level = (depthM: number, ts: number) => ({ topic: `${ROOT_TOPIC}/bk-c/level`, payload: JSON.stringify({ ts, depth_m: depthM }) });
    await publishAll(publisher, [fault('bk-a', 'overload'), fault('bk-b', 'dry_run'), level(53, baseTs + 302_000)]);
    await expect.poll(async () => (await alerts()).map((a) => `${a.borehole}/${a.rule}`).sort(), { timeout: 20_000 }).toEqual(['bk-a/pump_fault', 'bk-b/pump_fault', 'bk-c/low_water']);
    const byBorehole = new Map((await alerts()).map((a) => [a.borehole, a]));
    await api(`/api/alerts/${byBorehole.get('bk-b')?.id ?? ''}/ack`, 'POST');
    await publishAll(publisher, [level(30, baseTs + 303_000), level(30, baseTs + 303_000 + 6 * 60_000)]);
    await expect.poll(async () => (await alerts()).map((a) => `${a.borehole}/${a.state}`).sort(), { timeout: 20_000 }).toEqual(['bk-a/open', 'bk-b/acknowledged', 'bk-c/resolved']);
    for (const id of IDS) await expect.poll(() => flowCount(id), { timeout: 20_000 }).toBe(FLOW_PER_BOREHOLE);
    alertsBefore = await alerts();
    // Every reading and alert point confirmed by InfluxDB, so the snapshot below is the whole store.
    await expect.poll(async () => /^journal_pending_points (\d+)$/m.exec((await service?.app.inject('/metrics'))?.body ?? '')?.[1], { timeout: 20_000 }).toBe('0');
    pointsBefore = await everything();

    // While the service runs, as an operator's nightly cron would.
    const backup = await runScript('backup.sh', [...localArgs(), '--sqlite', 'node', backupDir], scriptEnv());
    expect(backup.output).toMatch(/done: /);
    expect(backup.code, backup.output).toBe(0);
    const manifest = manifestFields(backupDir);
    expect(manifest).toMatchObject({ format: '1', mode: 'local', service_version: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version, influx: '1', influx_database: DATABASE, sqlite_method: 'node' });
    expect(manifest.influx_version).toMatch(/^1\.6\.7/);
    expect(manifest.sqlite_version).toMatch(/^3\.\d+\.\d+$/);
    expect(Number(manifest.state_db_schema)).toBeGreaterThan(0);
    expect(manifest.contents?.split(' ')).toEqual(expect.arrayContaining(['service/state.db', 'service/journal', 'service/dead-letters', 'influx']));
    expect(Number(manifest.files)).toBeGreaterThan(3);
    expect(existsSync(join(backupDir, 'service', 'state.db-wal'))).toBe(false);
    // A second backup into the same directory would mix two: refused.
    expect((await runScript('backup.sh', [...localArgs(), backupDir], scriptEnv())).code).toBe(3);
  });

  it('refuses to restore over the running service, and changes nothing', async () => {
    const refused = await runScript('restore.sh', [...localArgs(), backupDir], scriptEnv());
    expect(refused.code, refused.output).toBe(3);
    expect(refused.output).toMatch(new RegExp(`process ${process.pid} has files of .* open: stop the service`));
    expect(await alerts()).toEqual(alertsBefore);
  });

  it('restores into a wiped DATA_DIR and a wiped InfluxDB: the same alerts and readings, and new readings taken', async () => {
    await publisher?.endAsync();
    publisher = undefined;
    await stop();
    await influxd.stop();
    rmSync(dataDir, { recursive: true, force: true });
    for (const dir of ['meta', 'data', 'wal']) rmSync(join(influxd.dataDir, dir), { recursive: true, force: true });
    await influxd.start();
    const databases = await (await fetch(`${influxd.url}/query?q=${encodeURIComponent('SHOW DATABASES')}`)).text();
    expect(databases).not.toContain(DATABASE);

    const restore = await runScript('restore.sh', [...localArgs(), backupDir], scriptEnv());
    expect(restore.code, restore.output).toBe(0);
    expect(restore.output).toMatch(/influxd restore -portable -db backup_restore/);
    expect(existsSync(join(dataDir, 'state.db'))).toBe(true);
    // InfluxDB as it was at the backup, point for point, before the service writes anything.
    expect(await everything()).toEqual(pointsBefore);

    await start();
    expect(await alerts()).toEqual(alertsBefore);
    for (const id of IDS) expect(await flowCount(id)).toBe(FLOW_PER_BOREHOLE);
    const [series] = await client().query(`SELECT "rate_lpm" FROM "flow" WHERE "borehole" = 'bk-b' ORDER BY time ASC LIMIT 3`);
    expect(series?.[0]?.values.map((row) => row[1])).toEqual([41, 41.25, 41.5]);

    // The service goes on from there: a new reading is taken and stored.
    publisher = await connectPublisher(mosquitto.url);
    await publishAll(publisher, [{ topic: `${ROOT_TOPIC}/bk-a/flow`, payload: JSON.stringify({ ts: Date.now(), rate_lpm: 47.5 }) }]);
    await expect.poll(() => flowCount('bk-a'), { timeout: 20_000 }).toBe(FLOW_PER_BOREHOLE + 1);
    const [latest] = await client().query(`SELECT last("rate_lpm") FROM "flow" WHERE "borehole" = 'bk-a'`);
    expect(latest?.[0]?.values[0]?.[1]).toBe(47.5);
  });

  it('refuses a damaged backup before touching anything', async () => {
    const refused = await runScript('restore.sh', [...localArgs(), '--force', join(ROOT, 'deploy')], scriptEnv());
    expect(refused.code).toBe(2);
    // One byte of state.db changed: the manifest's SHA-256 no longer matches.
    const state = join(backupDir, 'service', 'state.db');
    const bytes = readFileSync(state);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(state, bytes);
    const damaged = await runScript('restore.sh', [...localArgs(), '--force', backupDir], scriptEnv());
    expect(damaged.code, damaged.output).toBe(5);
    expect(damaged.output).toMatch(/changed since the backup: service\/state\.db/);
    expect(await alerts()).toEqual(alertsBefore);
  });
});
