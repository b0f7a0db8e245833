/**
 * The service's own downtime is no borehole's silence (issue 13). On the embedded broker, which
 * keeps no queue across a restart, devices are silent after the service comes back until their
 * next upload: that must not send every committee an `offline` SMS. A borehole still silent
 * `offline_minutes` after the restart does go offline.
 */
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { registryFile, tempDir, testConfig, VIEWER_TOKEN } from '../support/fixtures.js';
import { freePort } from '../support/servers.js';

const silent = pino({ level: 'silent' });
const QUIET = 'rs-quiet';
const TALKS = 'rs-talks';
/** offline after 6 s of silence, so that the test takes seconds, not hours. */
const OFFLINE_MS = 6000;

interface ApiAlert {
  borehole: string;
  rule: string;
  opened_at: string;
}

async function offlineAlerts(service: RunningService): Promise<ApiAlert[]> {
  const response = await service.app.inject({ url: '/api/alerts?limit=100', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
  expect(response.statusCode).toBe(200);
  return response.json<{ items: ApiAlert[] }>().items.filter((alert) => alert.rule === 'offline');
}

async function publishFlow(url: string, boreholeId: string, clientId: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  await client.publishAsync(`boreholes/${boreholeId}/flow`, JSON.stringify({ rate_lpm: 12 }), { qos: 1 });
  await client.endAsync();
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

describe('a restart of the service on the embedded broker', () => {
  const dataDir = tempDir('restart-silence');
  const registry = buildRegistry(registryFileSchema.parse({ ...registryFile([QUIET, TALKS]), rules: { offline_minutes: OFFLINE_MS / 60_000, clear_minutes: 0.05 } }));
  let port: number;
  let service: RunningService | undefined;

  const start = async (): Promise<RunningService> => {
    const config = testConfig({ DATA_DIR: dataDir, MQTT_EMBEDDED_PORT: String(port) });
    return startService({ config, registry, log: silent, tickIntervalMs: 200 });
  };

  beforeAll(async () => {
    port = await freePort();
  });

  afterAll(async () => {
    await service?.stop();
  });

  it('sends no offline for the time the service was down, and still finds the borehole that stays silent', async () => {
    const url = `mqtt://127.0.0.1:${port}`;
    service = await start();
    await publishFlow(url, QUIET, 'rs-dev-quiet');
    await publishFlow(url, TALKS, 'rs-dev-talks');
    await expect.poll(() => service?.rules.stateOf(TALKS)?.lastHeardAtMs ?? null, { timeout: 10_000 }).not.toBeNull();
    await expect.poll(() => service?.rules.stateOf(QUIET)?.lastHeardAtMs ?? null, { timeout: 10_000 }).not.toBeNull();
    await service.stop();
    service = undefined;

    // Down for longer than offline_minutes: on the code of before, both were offline at the first tick.
    await sleep(OFFLINE_MS + 2000);
    const restartedAtMs = Date.now();
    service = await start();
    const talking = setInterval(() => void publishFlow(url, TALKS, 'rs-dev-talks').catch(() => undefined), 1000);
    try {
      await sleep(OFFLINE_MS / 2);
      expect(await offlineAlerts(service)).toEqual([]);

      await expect.poll(async () => (await offlineAlerts(service as RunningService)).map((alert) => alert.borehole), { timeout: 15_000, interval: 250 }).toEqual([QUIET]);
      const [quiet] = await offlineAlerts(service);
      // Silence counted from the restart, not from the last message before the service stopped.
      expect(Date.parse(quiet?.opened_at ?? '')).toBeGreaterThanOrEqual(restartedAtMs + OFFLINE_MS - 1000);
    } finally {
      clearInterval(talking);
    }
  });
});
