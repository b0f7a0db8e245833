/**
 * The ingest path against real servers: Mosquitto (or the configured broker) and InfluxDB 1.x
 * (Debian's) and, where a container runtime answers, InfluxDB 2.7.
 */
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningService } from '../../src/service.js';
import { startService } from '../../src/service.js';
import { VIEWER_TOKEN, tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { countPoints, influxClient, influxTargets } from '../support/influx.js';
import { waitUntil, isReady } from '../support/wait.js';
import { connectPublisher, publishAll, type Message } from '../support/mqtt.js';

const serverSource = inject('serverSource');
const targets = influxTargets('ingest suite');
if (serverSource === 'none') console.warn('!!! ingest integration suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const BASE_TS = Date.UTC(2026, 1, 5, 10, 0, 0);

describe.skipIf(targets.length === 0).each(targets)('ingest into $name', (target) => {
  const unique = uniqueName('ingest').toLowerCase().replace(/_/g, '-');
  const bucket = target.bucket(unique.replace(/-/g, '_'));
  const ids = ['a', 'b', 'c', 'd'].map((suffix) => `${unique}-${suffix}`);
  let service: RunningService;
  let publisher: MqttClient;
  const root = unique;

  beforeAll(async () => {
    const config = testConfig({
      MQTT_URL: inject('mqttUrl'),
      MQTT_TOPIC_ROOT: root,
      MQTT_CLIENT_ID: unique,
      INFLUX_URL: target.url,
      INFLUX_TOKEN: target.token,
      INFLUX_ORG: target.org,
      INFLUX_BUCKET: bucket,
      DATA_DIR: tempDir('ingest'),
    });
    service = await startService({ config, registry: testRegistry(ids), log: pino({ level: 'silent' }) });
    publisher = await connectPublisher(inject('mqttUrl'));
    await waitUntil(isReady(service.app), 'the service to be ready');
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
  });

  it('stores 10,000 readings exactly once: a 1,000-reading batch, 500 duplicates, both ts forms', async () => {
    const [a, b, c, d] = ids as [string, string, string, string];
    const messages: Message[] = [];
    // A store-and-forward batch of 1,000 flow readings, one a minute.
    messages.push({
      topic: `${root}/${a}/flow`,
      payload: JSON.stringify(Array.from({ length: 1000 }, (_, i) => ({ ts: BASE_TS + i * 60_000, rate_lpm: 40 + (i % 20), total_m3: 1000 + i }))),
    });
    // 9,000 single readings over three kinds and boreholes, alternating RFC 3339 and epoch-ms ts.
    const ts = (i: number): string | number => (i % 2 === 0 ? new Date(BASE_TS + i * 1000).toISOString() : BASE_TS + i * 1000);
    for (let i = 0; i < 3000; i += 1) {
      messages.push({ topic: `${root}/${b}/pump`, payload: JSON.stringify({ ts: ts(i), running: i % 3 !== 0, current_a: 4.2, voltage_v: 230, fault: i % 100 === 0 ? 'overheat' : null }) });
      messages.push({ topic: `${root}/${c}/level`, payload: JSON.stringify({ ts: ts(i), depth_m: 30 + (i % 7) }) });
      messages.push({ topic: `${root}/${d}/flow`, payload: JSON.stringify({ ts: ts(i), rate_lpm: i % 10 === 0 ? 0 : 55.5 }) });
    }
    // 500 exact duplicates (a device re-sending after a lost PUBACK).
    const duplicates = messages.slice(1, 501);
    await publishAll(publisher, [...messages, ...duplicates]);

    const client = influxClient(target, bucket);
    await expect
      .poll(async () => (await countPoints(client, 'flow', 'rate_lpm', [a, d]).catch(() => -1)) + (await countPoints(client, 'pump', 'running', [b]).catch(() => -1)) + (await countPoints(client, 'level', 'depth_m', [c]).catch(() => -1)), { timeout: 60_000, interval: 500 })
      .toBe(10_000);
    expect(await countPoints(client, 'flow', 'rate_lpm', [a])).toBe(1000);
    expect(await countPoints(client, 'pump', 'running', [b])).toBe(3000);

    // Section 2: field types and tags exactly as technicians query them.
    const [fieldKeys] = await client.query('SHOW FIELD KEYS');
    const types = Object.fromEntries((fieldKeys ?? []).flatMap((s) => s.values.map((v) => [`${s.name}.${String(v[0])}`, v[1]])));
    expect(types).toMatchObject({
      'flow.rate_lpm': 'float',
      'flow.total_m3': 'float',
      'pump.running': 'integer',
      'pump.current_a': 'float',
      'pump.voltage_v': 'float',
      'pump.fault': 'string',
      'level.depth_m': 'float',
    });
    const [rows] = await client.query(`SELECT "running", "fault", "borehole", "region", "commune" FROM "pump" WHERE "borehole" = '${b}' ORDER BY time ASC LIMIT 2`);
    const row = rows?.[0];
    expect(row?.columns).toEqual(['time', 'running', 'fault', 'borehole', 'region', 'commune']);
    // Millisecond timestamps come back exactly: the first pump reading used an RFC 3339 ts.
    expect(row?.values[0]).toEqual([BASE_TS, 0, 'overheat', b, 'Kayes', 'Marena Diombougou']);
    expect(row?.values[1]).toEqual([BASE_TS + 1000, 1, '', b, 'Kayes', 'Marena Diombougou']);
  });

  it('keeps storing valid readings among 1,000 malformed messages, counting and keeping every rejection', async () => {
    const [a] = ids as [string];
    const bad: Message[] = [
      { topic: `${root}/${a}/flow`, payload: '{not json' },
      { topic: `${root}/${a}/flow`, payload: JSON.stringify({ rate_lpm: -1 }) },
      { topic: `${root}/${a}/flow`, payload: JSON.stringify({ rate_lpm: 'fast' }) },
      { topic: `${root}/${a}/pump`, payload: JSON.stringify({ current_a: 3 }) },
      { topic: `${root}/unknown-borehole/flow`, payload: JSON.stringify({ rate_lpm: 1 }) },
      { topic: `${root}/${a}/flow`, payload: JSON.stringify({ ts: Date.now() + 3_600_000, rate_lpm: 1 }) },
      { topic: `${root}/${a}/flow`, payload: JSON.stringify(Array.from({ length: 1001 }, () => ({ rate_lpm: 1 }))) },
      { topic: `${root}/${a}/flow`, payload: Buffer.alloc(300 * 1024, 0x20) },
      { topic: `${root}/${a}/telemetry`, payload: JSON.stringify({ rate_lpm: 1 }) },
      { topic: `${root}/${a}/level`, payload: JSON.stringify([]) },
    ];
    const messages: Message[] = [];
    const validTs = BASE_TS + 10 * 86_400_000;
    for (let i = 0; i < 1000; i += 1) {
      messages.push(bad[i % bad.length] as Message);
      messages.push({ topic: `${root}/${a}/level`, payload: JSON.stringify({ ts: validTs + i * 1000, depth_m: 20 }) });
    }
    const before = await service.app.inject('/metrics');
    const rejectedBefore = sumRejected(before.body);
    await publishAll(publisher, messages);

    const client = influxClient(target, bucket);
    await expect.poll(() => countPoints(client, 'level', 'depth_m', [a]).catch(() => -1), { timeout: 60_000, interval: 500 }).toBe(1000);
    const after = await service.app.inject('/metrics');
    expect(sumRejected(after.body) - rejectedBefore).toBe(1000);
    for (const reason of ['bad_json', 'invalid_reading', 'unknown_borehole', 'future_ts', 'batch_too_large', 'oversize', 'bad_topic', 'empty_batch']) {
      expect(after.body).toMatch(new RegExp(`ingest_rejected_total\\{reason="${reason}"\\} [1-9]`));
    }
    expect((await service.app.inject('/readyz')).statusCode).toBe(200);
    // Every rejected message is in the dead-letter log with its reason (the log keeps the newest 1,000).
    const letters = await service.app.inject({ url: '/api/dead-letters?limit=1000', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(letters.statusCode).toBe(200);
    const items = (letters.json<{ items: { topic: string; reason: string }[] }>()).items;
    expect(items).toHaveLength(1000);
    expect(new Set(items.map((item) => item.reason))).toEqual(
      new Set(['bad_json', 'invalid_reading', 'unknown_borehole', 'future_ts', 'batch_too_large', 'oversize', 'bad_topic', 'empty_batch']),
    );
  });
});

function sumRejected(metrics: string): number {
  return [...metrics.matchAll(/^ingest_rejected_total\{reason="[a-z_]+"\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}
