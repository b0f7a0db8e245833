/**
 * The fuzzer's messages through the real thing (issue 9): a few hundred generated messages, valid,
 * near-valid and junk, published with QoS 1 to the Mosquitto of the global setup, taken in by a
 * service (src/service.ts) writing to the InfluxDB of the global setup. Every valid reading must
 * be in InfluxDB with the values sent, every rejection counted by reason and kept as a dead letter.
 *
 * tests/fuzz/ingest.fuzz.test.ts runs far more streams through the same parts with the embedded
 * store; this run proves that what holds there holds with the broker and InfluxDB in the loop
 * (MQTT topic rules, InfluxDB's line protocol and string escaping).
 */
import fc from 'fast-check';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { READING_KINDS, TOPIC_KINDS } from '../../src/contract/topics.js';
import { topicPreview } from '../../src/ingest/dead-letters.js';
import { startService, type RunningService } from '../../src/service.js';
import type { InfluxClient } from '../../src/storage/influx.js';
import { VIEWER_TOKEN, tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { influxClient } from '../support/influx.js';
import { connectPublisher, publishAll } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';
import {
  MEASUREMENT,
  build,
  fuzzParameters,
  judge,
  messageSpec,
  readingSpec,
  type BuiltMessage,
  type Expected,
  type MessageSpec,
  type WireOptions,
} from '../fuzz/arbitraries.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! fuzzed ingest integration test SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

/** Tags every point carries (CONTRACT.md section 2); the other columns are fields. */
const TAG_COLUMNS = new Set(['time', 'borehole', 'region', 'commune']);

/** Points of one measurement for some boreholes: `borehole time` → fields, nulls left out. */
async function influxPoints(client: InfluxClient, measurement: string, ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const where = ids.map((id) => `"borehole" = '${id}'`).join(' OR ');
  const [series] = await client.query(`SELECT * FROM "${measurement}" WHERE ${where}`);
  const points = new Map<string, Record<string, unknown>>();
  for (const { columns, values } of series ?? []) {
    for (const row of values) {
      const get = (name: string) => row[columns.indexOf(name)];
      const fields = Object.fromEntries(columns.flatMap((name, i) => (TAG_COLUMNS.has(name) || row[i] === null ? [] : [[name, row[i]]])));
      points.set(`${String(get('borehole'))} ${String(get('time'))}`, fields);
    }
  }
  return points;
}

const sorted = (map: Map<string, Record<string, unknown>>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function sumRejected(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const match of metrics.matchAll(/^ingest_rejected_total\{reason="([a-z_]+)"\} (\d+)/gm)) out[match[1] ?? ''] = Number(match[2]);
  return out;
}

const sumMessages = (metrics: string) => [...metrics.matchAll(/^ingest_messages_total\{[^}]*\} (\d+)/gm)].reduce((total, m) => total + Number(m[1]), 0);

describe.skipIf(serverSource === 'none')('fuzzed messages through Mosquitto, the service and InfluxDB', () => {
  const unique = uniqueName('fuzz').toLowerCase().replace(/_/g, '-');
  const ids = ['a', 'b', 'c'].map((suffix) => `${unique}-${suffix}`);
  let service: RunningService;
  let publisher: MqttClient;
  let client: InfluxClient;

  beforeAll(async () => {
    const env = serverEnv(unique);
    const config = testConfig({ ...env, DATA_DIR: tempDir('fuzz-ingest') });
    service = await startService({ config, registry: testRegistry(ids), log: pino({ level: 'silent' }) });
    publisher = await connectPublisher(inject('mqttUrl'));
    client = influxClient({ name: 'influx', url: inject('influxUrl'), token: inject('influxToken'), org: inject('influxOrg'), bucket: () => env.INFLUX_BUCKET ?? '' }, env.INFLUX_BUCKET ?? '');
    await waitUntil(isReady(service.app), 'the service to be ready');
  });

  afterAll(async () => {
    await publisher?.endAsync(true);
    await service?.stop();
  });

  it('stores every valid reading with its values and counts every rejection, among a few hundred fuzzed messages', async () => {
    const { seed, numRuns } = fuzzParameters('messages through Mosquitto and InfluxDB', 300, 'npx vitest run --project integration tests/integration/fuzz-ingest.test.ts');
    const startMs = Date.now();
    // The service's clock moves while the test runs: no `ts` within an hour of the 10-minute limit,
    // and none left out (its time would be the receive time, which the test cannot know).
    const wire: WireOptions = { topicRoot: unique, knownIds: ids, time: { allowNoTs: false, edgeMarginMs: 3_600_000 }, brokerDelivered: true };
    const fuzzed = fc.sample(messageSpec(wire), { seed, numRuns });
    const valid = TOPIC_KINDS.flatMap((kind, k) =>
      fc.sample(readingSpec(kind, wire.time, 0), { seed: seed + k + 1, numRuns: 25 }).map((reading, i): MessageSpec => ({ type: 'one', id: ids[i % ids.length] ?? '', reading, retained: false })),
    );
    // Interleaved, and a few sent twice (a device re-sending after a lost PUBACK).
    const specs = fuzzed.flatMap((spec, i) => (i % 3 === 0 && valid[i / 3] ? [spec, valid[i / 3] as MessageSpec] : [spec]));
    const messages: BuiltMessage[] = specs.map((spec) => build(spec, wire, startMs));
    messages.push(...messages.filter((_, i) => i % 37 === 0));
    const expected: Expected[] = messages.map((message) => judge(message, startMs));

    const before = await service.app.inject('/metrics');
    await publishAll(publisher, messages.map((message) => ({ topic: message.topic, payload: message.payload })));

    // Every message reached the service, and the journal is empty: InfluxDB has everything.
    await expect.poll(async () => sumMessages((await service.app.inject('/metrics')).body) - sumMessages(before.body), { timeout: 60_000, interval: 200 }).toBe(messages.length);
    await expect.poll(() => service.journal.stats().pendingPoints, { timeout: 60_000, interval: 200 }).toBe(0);

    // Every valid reading, once, with the values sent. Two different readings of one borehole at
    // one time are one point, but which one's values it keeps is not promised (the drain writes
    // two batches at once): such a point is only checked to be there.
    for (const kind of TOPIC_KINDS) {
      const want = new Map<string, Record<string, unknown>>();
      const contested = new Set<string>();
      for (const point of expected.flatMap((e) => e.stored).filter((p) => p.kind === kind)) {
        const key = `${point.boreholeId} ${point.tsMs}`;
        const earlier = want.get(key);
        if (earlier && JSON.stringify(Object.entries(earlier).sort()) !== JSON.stringify(Object.entries(point.fields).sort())) contested.add(key);
        want.set(key, { ...earlier, ...point.fields });
      }
      const got = await influxPoints(client, MEASUREMENT[kind], ids);
      const uncontested = (points: Map<string, Record<string, unknown>>) => sorted(new Map([...points].map(([key, fields]) => [key, contested.has(key) ? {} : fields])));
      expect(uncontested(got), `${kind} points in InfluxDB`).toEqual(uncontested(want));
    }
    expect(expected.flatMap((e) => e.stored).filter((p) => (READING_KINDS as readonly string[]).includes(p.kind)).length).toBeGreaterThan(50);

    // Every rejection counted by reason, and in the dead-letter log with its topic and reason.
    const rejections = messages.flatMap((message, i) => (expected[i] as Expected).rejected.map((r) => ({ topic: topicPreview(message.topic), reason: r.reason, index: r.index })));
    const after = await service.app.inject('/metrics');
    const countedBefore = sumRejected(before.body);
    const counted = Object.fromEntries(Object.entries(sumRejected(after.body)).map(([reason, n]) => [reason, n - (countedBefore[reason] ?? 0)] as const).filter(([, n]) => n > 0));
    const want: Record<string, number> = {};
    for (const { reason } of rejections) want[reason] = (want[reason] ?? 0) + 1;
    expect(counted).toEqual(want);
    expect(Object.keys(want).length).toBeGreaterThanOrEqual(6);

    // The log keeps the newest 1,000 (DEAD_LETTER_LIMIT): each of them is one of ours.
    const letters = await service.app.inject({ url: '/api/dead-letters?limit=1000', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    const items = letters.json<{ items: { topic: string; reason: string; index?: number }[] }>().items;
    const key = (l: { topic: string; reason: string; index?: number | undefined }) => `${l.reason} ${l.index ?? '-'} ${l.topic}`;
    expect(items).toHaveLength(Math.min(1000, rejections.length));
    const unmatched = new Map<string, number>();
    for (const rejection of rejections) unmatched.set(key(rejection), (unmatched.get(key(rejection)) ?? 0) + 1);
    const strangers = items.filter((item) => {
      const left = unmatched.get(key(item)) ?? 0;
      unmatched.set(key(item), left - 1);
      return left <= 0;
    });
    expect(strangers.map(key)).toEqual([]);
    expect((await service.app.inject('/readyz')).statusCode).toBe(200);
  });
});
