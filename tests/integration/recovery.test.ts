/**
 * Nothing acknowledged is lost: the service killed with SIGKILL mid-stream, InfluxDB stopped for a
 * minute, Mosquitto restarted. These tests start their own servers so they can stop them. Each runs
 * on InfluxDB 1.6.7 and on the InfluxDB 2.x API (the front of tests/support over the same engine,
 * with the production variables INFLUX_TOKEN/ORG/BUCKET): the engine stopped behind the front is a
 * 2.x server that answers 503.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/service.js';
import { registryYaml, tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { countPoints, influxClient, type InfluxTarget } from '../support/influx.js';
import { waitUntil, isReady } from '../support/wait.js';
import { connectPublisher, publishAll, type Message } from '../support/mqtt.js';
import { freePort, hasBinary, startInfluxd, startMosquitto, type InfluxServer, type MosquittoServer } from '../support/servers.js';
import { startInflux2Front, type Influx2Front } from '../support/influx2-front.js';

const haveBinaries = hasBinary('mosquitto') && hasBinary('influxd');
if (!haveBinaries) {
  if (process.env.CI === 'true') throw new Error('recovery tests need mosquitto and influxd: apt-get install -y mosquitto influxdb');
  console.warn('!!! recovery integration suite SKIPPED: mosquitto and influxd binaries not found (apt-get install -y mosquitto influxdb)');
}

const INFLUX_OUTAGE_MS = 60_000;
const BASE_TS = Date.UTC(2026, 1, 1);

function flowMessages(root: string, id: string, from: number, count: number): Message[] {
  return Array.from({ length: count }, (_, k) => ({
    topic: `${root}/${id}/flow`,
    payload: JSON.stringify({ ts: BASE_TS + (from + k) * 1000, rate_lpm: 50 + ((from + k) % 10) }),
  }));
}

async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

const FRONT_TOKEN = 'recovery-front-token';
const FRONT_BUCKET = 'recovery';

describe.skipIf(!haveBinaries).each(['InfluxDB 1.6.7', 'the InfluxDB 2.x API'] as const)('recovery on %s', (store) => {
  let mosquitto: MosquittoServer;
  let influxd: InfluxServer;
  let front: Influx2Front | undefined;
  let target: InfluxTarget;

  beforeAll(async () => {
    [mosquitto, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
    if (store === 'InfluxDB 1.6.7') {
      target = { name: 'own influxd', url: influxd.url, token: '', org: '', bucket: (u) => u };
    } else {
      front = await startInflux2Front({ engineUrl: influxd.url, token: FRONT_TOKEN, org: 'boreholes', buckets: [FRONT_BUCKET] });
      target = { name: '2.x front', url: front.url, token: FRONT_TOKEN, org: 'boreholes', bucket: () => FRONT_BUCKET };
    }
  });

  afterAll(async () => {
    await front?.stop();
    await Promise.all([mosquitto?.stop(), influxd?.stop()]);
  });

  /** The store's variables for a test's own database (1.x) or the one bucket (2.x). */
  const storeEnv = (unique: string) => ({
    INFLUX_URL: target.url,
    INFLUX_TOKEN: target.token,
    INFLUX_ORG: target.org,
    INFLUX_BUCKET: target.bucket(unique.replace(/-/g, '_')),
  });

  describe('the service killed with SIGKILL in the middle of 20,000 QoS 1 readings', () => {
    let child: ChildProcess | null = null;
    afterEach(() => {
      child?.kill('SIGKILL');
    });

    it('stores all 20,000 after a restart', async () => {
      const unique = uniqueName('kill').toLowerCase().replace(/_/g, '-');
      const id = `${unique}-b`;
      const dir = tempDir('kill');
      const registryPath = join(dir, 'boreholes.yaml');
      writeFileSync(registryPath, registryYaml([id]));
      const port = await freePort();
      const env = {
        ...process.env,
        MQTT_URL: mosquitto.url,
        MQTT_TOPIC_ROOT: unique,
        MQTT_CLIENT_ID: unique,
        ...storeEnv(unique),
        BOREHOLES_FILE: registryPath,
        DATA_DIR: join(dir, 'data'),
        HTTP_PORT: String(port),
        LOG_LEVEL: 'warn',
      };
      const start = (): ChildProcess => spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      const ready = () => expect.poll(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0), { timeout: 30_000, interval: 100 }).toBe(200);

      child = start();
      await ready();
      const publisher = await connectPublisher(mosquitto.url);
      const messages = flowMessages(unique, id, 0, 20_000);
      const publishing = publishAll(publisher, messages);
      // Kill it once it has acknowledged a good part of the stream, with more still arriving.
      await expect.poll(() => metricValue(`http://127.0.0.1:${port}`, 'ingest_readings_total{kind="flow"}').catch(() => 0), { timeout: 60_000, interval: 20 }).toBeGreaterThan(6000);
      child.kill('SIGKILL');
      await publishing;
      await publisher.endAsync();

      child = start();
      await ready();
      const client = influxClient(target, target.bucket(unique.replace(/-/g, '_')));
      await expect.poll(() => countPoints(client, 'flow', 'rate_lpm', [id]).catch(() => -1), { timeout: 120_000, interval: 500 }).toBe(20_000);
      await expect.poll(() => metricValue(`http://127.0.0.1:${port}`, 'journal_pending_points'), { timeout: 30_000 }).toBe(0);
    });
  });

  describe('with the service in-process', () => {
    let service: RunningService;
    let publisher: MqttClient;
    const unique = uniqueName('outage').toLowerCase().replace(/_/g, '-');
    const id = `${unique}-b`;
    let bucket: string;

    beforeAll(async () => {
      const env = storeEnv(unique);
      bucket = env.INFLUX_BUCKET;
      const config = testConfig({
        MQTT_URL: mosquitto.url,
        MQTT_TOPIC_ROOT: unique,
        MQTT_CLIENT_ID: unique,
        ...env,
        DATA_DIR: tempDir('outage'),
      });
      // On 2.x the front still answers /ping while its engine is down: /readyz says so once writes
      // have failed for this long (60 s in production, shorter than the outage here).
      service = await startService({ config, registry: testRegistry([id]), log: pino({ level: 'silent' }), storeFailingReadyAfterMs: 10_000 });
      publisher = await connectPublisher(mosquitto.url);
      await waitUntil(isReady(service.app), 'the service to be ready');
    });

    afterAll(async () => {
      await publisher?.endAsync();
      await service?.stop();
    });

    it('stores everything after InfluxDB was down for a minute, and the journal drains to zero', async () => {
      const client = influxClient(target, bucket);
      await publishAll(publisher, flowMessages(unique, id, 0, 2000));
      await expect.poll(() => countPoints(client, 'flow', 'rate_lpm', [id]).catch(() => -1), { timeout: 30_000 }).toBe(2000);

      await influxd.stop();
      const outageEndsAt = Date.now() + INFLUX_OUTAGE_MS;
      let next = 2000;
      // A steady stream through the outage, acknowledged from the journal.
      while (Date.now() < outageEndsAt) {
        await publishAll(publisher, flowMessages(unique, id, next, 200));
        next += 200;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      const ready = await service.app.inject('/readyz');
      expect(ready.statusCode).toBe(503);
      expect(ready.json<{ checks: { store: { ok: boolean } } }>().checks.store.ok).toBe(false);
      const pendingDuringOutage = Number(/^journal_pending_points (\d+)/m.exec((await service.app.inject('/metrics')).body)?.[1]);
      expect(pendingDuringOutage).toBe(next - 2000);

      await influxd.start();
      await expect.poll(() => countPoints(client, 'flow', 'rate_lpm', [id]).catch(() => -1), { timeout: 90_000, interval: 500 }).toBe(next);
      await expect.poll(async () => /^journal_pending_points (\d+)/m.exec((await service.app.inject('/metrics')).body)?.[1], { timeout: 30_000 }).toBe('0');
      expect((await service.app.inject('/readyz')).statusCode).toBe(200);
    });

    it('reconnects after Mosquitto restarts and resumes storing', async () => {
      const client = influxClient(target, bucket);
      const before = await countPoints(client, 'flow', 'rate_lpm', [id]);
      const offset = 1_000_000;
      await publishAll(publisher, flowMessages(unique, id, offset, 1000));
      await mosquitto.restart();
      await expect.poll(async () => (await service.app.inject('/readyz')).statusCode, { timeout: 60_000, interval: 200 }).toBe(200);
      await expect.poll(() => publisher.connected, { timeout: 30_000 }).toBe(true);
      await publishAll(publisher, flowMessages(unique, id, offset + 1000, 1000));
      await expect.poll(() => countPoints(client, 'flow', 'rate_lpm', [id]), { timeout: 60_000, interval: 500 }).toBe(before + 2000);
    });
  });
});
