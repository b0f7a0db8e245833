/**
 * A store that refuses writes is visible (issue 13), through the InfluxDB 2.x API as production
 * runs it: a rotated token turns `/readyz` 503 naming the store and the reason once writes have
 * failed for the threshold; nothing acknowledged is dropped or dead-lettered meanwhile, and once
 * the token is right again every reading is stored exactly once.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startService, type RunningService } from '../../src/service.js';
import { tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { countPoints, influxClient } from '../support/influx.js';
import { startInflux2Front, type Influx2Front } from '../support/influx2-front.js';
import { connectPublisher, publishAll } from '../support/mqtt.js';

const local = inject('serverSource') === 'local';
if (!local) console.warn('NOTICE: the store refusal suite needs the local influxd of the global setup; skipped');

const TOKEN = 'refusal-token';
const BASE_TS = Date.UTC(2026, 1, 5, 10, 0);

interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

describe.skipIf(!local)('a store that refuses writes (InfluxDB 2.x API)', () => {
  const unique = uniqueName('refusal').toLowerCase().replace(/_/g, '-');
  const id = `${unique}-a`;
  let front: Influx2Front;
  let service: RunningService;

  beforeAll(async () => {
    front = await startInflux2Front({ engineUrl: inject('influxUrl'), token: TOKEN, org: 'boreholes', buckets: ['refusal'] });
    const config = testConfig({
      MQTT_URL: inject('mqttUrl'),
      MQTT_TOPIC_ROOT: unique,
      MQTT_CLIENT_ID: unique,
      INFLUX_URL: front.url,
      INFLUX_TOKEN: TOKEN,
      INFLUX_ORG: 'boreholes',
      INFLUX_BUCKET: 'refusal',
      DATA_DIR: tempDir('refusal'),
    });
    service = await startService({ config, registry: testRegistry([id]), log: pino({ level: 'silent' }), storeFailingReadyAfterMs: 2000 });
  });

  afterAll(async () => {
    await service?.stop();
    await front?.stop();
  });

  const readiness = async (): Promise<Readiness> => (await service.app.inject('/readyz')).json<Readiness>();

  it('says 503 with the reason while the token is refused, keeps every reading, and stores each once when it is fixed', async () => {
    await expect.poll(async () => (await readiness()).ready, { timeout: 30_000 }).toBe(true);
    front.rotateToken('an-operator-rotated-it');
    const publisher = await connectPublisher(inject('mqttUrl'));
    try {
      const messages = Array.from({ length: 300 }, (_, i) => ({ topic: `${unique}/${id}/flow`, payload: JSON.stringify({ ts: BASE_TS + i * 60_000, rate_lpm: i }) }));
      await publishAll(publisher, messages);
    } finally {
      await publisher.endAsync();
    }
    await expect.poll(async () => (await readiness()).checks.store, { timeout: 30_000, interval: 250 }).toMatchObject({ ok: false, detail: expect.stringMatching(/401/) as string });
    expect((await readiness()).ready).toBe(false);
    const metrics = (await service.app.inject('/metrics')).body;
    expect(Number(/^store_write_consecutive_failures (\d+)/m.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
    const deadLetters = metrics.match(/^ingest_rejected_total\{[^}]*\} (\d+)/gm) ?? [];
    expect(deadLetters.every((line) => line.endsWith(' 0'))).toBe(true);

    front.rotateToken(TOKEN);
    await expect.poll(async () => (await readiness()).ready, { timeout: 60_000, interval: 250 }).toBe(true);
    const client = influxClient({ name: 'front', url: front.url, token: TOKEN, org: 'boreholes', bucket: () => 'refusal' }, 'refusal');
    await expect.poll(() => countPoints(client, 'flow', 'rate_lpm', [id]), { timeout: 60_000 }).toBe(300);
  });
});
