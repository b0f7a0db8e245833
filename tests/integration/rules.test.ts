/**
 * Rules and alerts through the running service, over real Mosquitto and InfluxDB: a fault
 * published by a device becomes an alert in the API and an `alert` point in InfluxDB; a restart
 * in the middle of a no_flow duration still opens the alert on time.
 */
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, registryFile, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { influxClient } from '../support/influx.js';
import { connectPublisher } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';
import type { z } from 'zod';
import type { alertSchema } from '../../src/http/routes/alerts.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! rules integration suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

/** An alert as the API answers it: the type of the route's own schema. */
type AlertJson = z.infer<typeof alertSchema>;

describe.skipIf(serverSource === 'none')('rules through the running service', () => {
  const unique = uniqueName('rules').toLowerCase().replace(/_/g, '-');
  const id = `${unique}-b`;
  const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
  const dataDir = tempDir('rules');
  // Short windows so the test runs in seconds: minutes accept decimals (0.05 min = 3 s).
  const registry = buildRegistry(
    registryFileSchema.parse({
      ...registryFile([id]),
      rules: { no_flow_minutes: 0.05, clear_minutes: 0.02 },
    }),
  );
  let service: RunningService;
  let publisher: MqttClient;

  const start = async (): Promise<RunningService> => {
    const config = testConfig({
      ...serverEnv(unique, bucket),
      DATA_DIR: dataDir,
    });
    const running = await startService({ config, registry, log: pino({ level: 'silent' }), tickIntervalMs: 200 });
    await waitUntil(isReady(running.app), 'the service to be ready');
    return running;
  };
  const alerts = async (query = ''): Promise<AlertJson[]> => {
    const response = await service.app.inject({ url: `/api/alerts?borehole=${id}${query}`, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    return response.json<{ items: AlertJson[] }>().items;
  };
  const publish = (kind: string, body: object) => publisher.publishAsync(`${unique}/${id}/${kind}`, JSON.stringify(body), { qos: 1 });

  beforeAll(async () => {
    service = await start();
    publisher = await connectPublisher(inject('mqttUrl'));
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
  });

  it('turns a dry-run fault into a critical alert, an alert point, an acknowledgement and a resolution', async () => {
    const faultAt = Date.now() - 1000;
    await publish('pump', { ts: faultAt, running: false, current_a: 0.4, fault: 'dry_run' });
    await expect.poll(async () => (await alerts('&state=open')).filter((a) => a.rule === 'pump_fault'), { timeout: 10_000 }).toHaveLength(1);
    const [opened] = (await alerts('&state=open')).filter((a) => a.rule === 'pump_fault');
    expect(opened).toMatchObject({ severity: 'critical', historical: false, opened_at: new Date(faultAt).toISOString() });

    const ack = await service.app.inject({ method: 'POST', url: `/api/alerts/${opened?.id ?? ''}/ack`, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(ack.statusCode).toBe(200);
    expect(ack.json<AlertJson>().state).toBe('acknowledged');

    // The technician repairs the pump: the fault is gone and stays gone for clear_minutes.
    const repairedAt = Date.now();
    await publish('pump', { ts: repairedAt, running: true, current_a: 4.1, fault: null });
    await expect.poll(async () => (await alerts()).find((a) => a.id === opened?.id)?.state, { timeout: 15_000 }).toBe('resolved');
    expect((await alerts()).find((a) => a.id === opened?.id)?.resolved_at).toBe(new Date(repairedAt).toISOString());

    const client = influxClient({ name: 'rules', url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket: () => bucket }, bucket);
    await expect
      .poll(async () => {
        const [series] = await client.query(`SELECT "state" FROM "alert" WHERE "borehole" = '${id}' AND "rule" = 'pump_fault'`).catch(() => [[]]);
        return (series?.[0]?.values ?? []).map((row) => row[1]);
      }, { timeout: 15_000 })
      .toEqual(['open', 'acknowledged', 'resolved']);
  });

  it('opens no_flow on time even when the service restarts in the middle of the duration', async () => {
    const t0 = Date.now();
    await publish('pump', { ts: t0, running: true, current_a: 4 });
    await publish('flow', { ts: t0, rate_lpm: 0 });
    await expect.poll(() => service.rules.stateOf(id)?.conditions.no_flow?.phase, { timeout: 10_000 }).toBe('pending');

    await service.stop();
    service = await start();
    expect(service.rules.stateOf(id)?.conditions.no_flow).toMatchObject({ phase: 'pending', sinceMs: t0 });
    // No new reading: the tick alone completes the 3-second duration.
    await expect.poll(async () => (await alerts('&state=open')).filter((a) => a.rule === 'no_flow'), { timeout: 15_000 }).toHaveLength(1);
    const [alert] = (await alerts('&state=open')).filter((a) => a.rule === 'no_flow');
    expect(alert?.opened_at).toBe(new Date(t0 + 3000).toISOString());
  });
});
