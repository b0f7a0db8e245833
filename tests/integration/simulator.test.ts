/**
 * The firmware simulator against a real Mosquitto, read back by a subscriber and judged by the
 * service's own decoder: every scenario's messages are what the service accepts (or, for the
 * malformed ones, rejects), an outage comes back as complete ordered batches, and the Last Will
 * goes out when the simulator is killed, but not when it stops cleanly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, type DecodeResult } from '../../src/ingest/decode.js';
import { parseStart } from '../../firmware-sim/clock.js';
import { runLoad } from '../../firmware-sim/load.js';
import { startSimulation, type PublishedMessage } from '../../firmware-sim/runner.js';
import { loadScenario, parseScenario } from '../../firmware-sim/scenarios.js';
import { exampleRegistry, SCENARIO_DIR } from '../../firmware-sim/test-helpers.js';
import { registryYaml, tempDir, uniqueName } from '../support/fixtures.js';
import { hasBinary, startMosquitto, type MosquittoServer } from '../support/servers.js';

const haveMosquitto = hasBinary('mosquitto');
if (!haveMosquitto) {
  if (process.env.CI === 'true') throw new Error('the simulator integration tests need mosquitto: apt-get install -y mosquitto');
  console.warn('!!! simulator integration suite SKIPPED: mosquitto binary not found (apt-get install -y mosquitto)');
}

interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
  receivedAtMs: number;
}

interface Listener {
  received: Received[];
  client: MqttClient;
}

const uniqueRoot = (prefix: string): string => uniqueName(prefix).toLowerCase().replace(/_/g, '-');

async function listen(url: string, filter: string): Promise<Listener> {
  const client = await mqtt.connectAsync(url, { clientId: uniqueName('sim-listener'), clean: true, protocolVersion: 4 });
  const received: Received[] = [];
  client.on('message', (topic, payload, packet) => received.push({ topic, payload, retain: packet.retain, receivedAtMs: Date.now() }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { received, client };
}

interface Item {
  ts?: string | number;
  seq?: number;
}

const itemsOf = (payload: Buffer): Item[] => {
  const body = JSON.parse(payload.toString('utf8')) as unknown;
  return (Array.isArray(body) ? body : [body]) as Item[];
};
const tsMs = (item: Item): number => (typeof item.ts === 'number' ? item.ts : Date.parse(item.ts ?? ''));

describe.skipIf(!haveMosquitto)('the firmware simulator against Mosquitto', () => {
  let mosquitto: MosquittoServer;
  const registry = exampleRegistry();
  const context = (topicRoot: string) => ({ topicRoot, isKnownBorehole: (id: string) => registry.boreholes.has(id) });

  beforeAll(async () => {
    mosquitto = await startMosquitto();
  });

  afterAll(async () => {
    await mosquitto?.stop();
  });

  const scenarioFiles = readdirSync(SCENARIO_DIR).filter((name) => name.endsWith('.yaml'));

  describe.each(scenarioFiles)('%s, backfilled at max speed up to now', (file) => {
    it('publishes only messages the service accepts (the malformed ones rejected, the skewed ones only when in the future)', async () => {
      const scenario = await loadScenario(join(SCENARIO_DIR, file));
      const root = uniqueRoot('sim');
      const listener = await listen(mosquitto.url, `${root}/+/+`);
      const published: PublishedMessage[] = [];
      const nowMs = Date.now();
      const handle = await startSimulation({
        registry,
        scenario,
        brokerUrl: mosquitto.url,
        topicRoot: root,
        startAtMs: parseStart(scenario.from ?? '-1d', nowMs),
        untilMs: nowMs,
        speed: 'max',
        seed: 42,
        onPublish: (message) => published.push(message),
      });
      const stats = await handle.done;
      expect(stats.failedMessages).toBe(0);
      await expect.poll(() => listener.received.length, { timeout: 20_000 }).toBe(published.length);
      await listener.client.endAsync();

      const malformed = new Set(published.filter((message) => message.malformed !== null).map((message) => message.payload));
      const unexpected: string[] = [];
      let accepted = 0;
      let rejectedMalformed = 0;
      let futureTs = 0;
      for (const message of listener.received) {
        const decoded: DecodeResult = decodeMessage(message.topic, message.payload, message.receivedAtMs, context(root));
        accepted += decoded.readings.length;
        if (malformed.has(message.payload.toString('utf8'))) {
          if (decoded.readings.length > 0 || decoded.rejections.length === 0) unexpected.push(`malformed message accepted: ${message.topic}`);
          rejectedMalformed += 1;
          continue;
        }
        for (const rejection of decoded.rejections) {
          // clock_skew is the one scenario that may stamp readings in the future, and only at Khabou.
          if (file === 'clock-skew.yaml' && rejection.reason === 'future_ts' && message.topic.startsWith(`${root}/khabou/`)) futureTs += 1;
          else unexpected.push(`${message.topic}: ${rejection.reason} ${rejection.detail}`);
        }
      }
      expect(unexpected.slice(0, 10)).toEqual([]);
      expect(accepted + futureTs).toBe(stats.readings + published.filter((message) => message.topic.endsWith('/status')).length);
      expect(rejectedMalformed).toBe(file === 'malformed-messages.yaml' ? 30 : 0);
      if (file === 'clock-skew.yaml') expect(futureTs).toBeGreaterThan(0);
      // Readings went out as store-and-forward batches, statuses as single retained messages.
      expect(published.filter((message) => message.batch).every((message) => !message.retain && message.readings <= 1000)).toBe(true);
      expect(published.filter((message) => message.topic.endsWith('/status')).every((message) => message.retain)).toBe(true);
    });
  });

  it('an offline scenario played in real time: the will on the cut, then every held reading in ordered batches', async () => {
    const root = uniqueRoot('sim-offline');
    const listener = await listen(mosquitto.url, `${root}/+/+`);
    const scenario = parseScenario(
      'boreholes: [marena, khabou]\nevents: [{ at: 1h, borehole: marena, type: offline, for: 1h }]',
      'offline-in-real-time.yaml',
    );
    const nowMs = Date.now();
    const startAtMs = nowMs - 3 * 3_600_000;
    // 3 hours at 3,600× take 3 seconds: fast, but each reading is live, as in the field.
    // The lab's exact timing (one reading a minute on the minute), which this test counts on;
    // field timing has its own tests (tests/unit/firmware-sim/timing.test.ts, the scenarios).
    const handle = await startSimulation({ registry, scenario, brokerUrl: mosquitto.url, topicRoot: root, startAtMs, untilMs: nowMs, speed: 3600, seed: 42, fieldTiming: false });
    const stats = await handle.done;
    expect(stats.failedMessages).toBe(0);
    await expect.poll(() => listener.received.filter((m) => m.topic.startsWith(`${root}/marena/`)).length, { timeout: 20_000 }).toBeGreaterThan(0);
    await expect
      .poll(() => listener.received.reduce((sum, m) => sum + (m.topic.endsWith('/status') ? 0 : itemsOf(m.payload).length), 0), { timeout: 20_000 })
      .toBe(stats.readings);
    await listener.client.endAsync();

    const marena = listener.received.filter((m) => m.topic.startsWith(`${root}/marena/`));
    const statuses = marena.filter((m) => m.topic.endsWith('/status')).map((m) => JSON.parse(m.payload.toString('utf8')) as { online: boolean });
    expect(statuses.map((status) => status.online)).toEqual([true, false, true]);
    expect(listener.received.filter((m) => m.topic === `${root}/khabou/status`)).toHaveLength(1);

    const cutAt = marena.findIndex((m) => m.topic.endsWith('/status') && m.payload.toString('utf8') === '{"online":false}');
    const outageFrom = startAtMs + 3_600_000;
    const outageTo = outageFrom + 3_600_000;
    for (const kind of ['flow', 'pump', 'level'] as const) {
      const messages = marena.filter((m) => m.topic === `${root}/marena/${kind}`);
      const batches = messages.filter((m) => m.payload[0] === 0x5b);
      expect(batches.length).toBeGreaterThanOrEqual(1);
      // The batches come after the will, and hold the outage's readings, oldest first.
      expect(batches.every((m) => marena.indexOf(m) > cutAt)).toBe(true);
      const held = batches.flatMap((m) => itemsOf(m.payload).map(tsMs));
      expect(held).toEqual([...held].sort((a, b) => a - b));
      expect(held.every((ts) => ts >= outageFrom && ts <= outageTo + 60_000)).toBe(true);
      // Nothing missing: one reading a minute from start to end, each once, whatever way it came.
      const all = messages.flatMap((m) => itemsOf(m.payload).map(tsMs)).sort((a, b) => a - b);
      expect(new Set(all).size).toBe(all.length);
      expect(all.slice(1).every((ts, index) => ts - (all[index] ?? 0) === 60_000)).toBe(true);
      expect(all.filter((ts) => ts >= outageFrom && ts < outageTo)).toHaveLength(60);
      expect(held.length).toBeGreaterThanOrEqual(60);
    }
    const seqs = marena.filter((m) => !m.topic.endsWith('/status')).flatMap((m) => itemsOf(m.payload).map((item) => item.seq ?? -1)).sort((a, b) => a - b);
    expect(seqs.slice(1).every((seq, index) => seq === (seqs[index] ?? 0) + 1)).toBe(true);
  });

  it('load mode publishes at the asked rate, readings the service accepts, each (borehole, topic, ts) once', async () => {
    const root = uniqueRoot('sim-load');
    const listener = await listen(mosquitto.url, `${root}/+/+`);
    const boreholeIds = ['khabou', 'segala', 'marena'];
    const result = await runLoad({ url: mosquitto.url, devices: 12, rate: 600, durationMs: 2000, topicRoot: root, boreholeIds });
    expect(result.failed).toBe(0);
    expect(result.ratePerSec).toBeGreaterThan(450);
    expect(result.ratePerSec).toBeLessThan(700);
    await expect.poll(() => listener.received.length, { timeout: 10_000 }).toBe(result.published);
    await listener.client.endAsync();
    const keys = new Set<string>();
    for (const message of listener.received) {
      const decoded = decodeMessage(message.topic, message.payload, message.receivedAtMs, context(root));
      expect(decoded.rejections).toEqual([]);
      for (const reading of decoded.readings) keys.add(`${reading.boreholeId} ${reading.kind} ${reading.tsMs}`);
    }
    expect(keys.size).toBe(result.published);
  });

  describe('the Last Will of the command-line simulator', () => {
    let child: ChildProcess | null = null;
    const registryPath = join(tempDir('sim-will'), 'boreholes.yaml');
    writeFileSync(registryPath, registryYaml(['will-test']));

    afterAll(() => {
      child?.kill('SIGKILL');
    });

    async function startCli(root: string): Promise<{ child: ChildProcess; output: () => string; exited: Promise<{ code: number | null; signal: string | null }> }> {
      let output = '';
      const started = spawn(
        process.execPath,
        ['--import', 'tsx', 'firmware-sim/cli.ts', '--registry', registryPath, '--broker', mosquitto.url, '--topic-root', root, '--from', '-30m', '--speed', 'max'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      started.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      started.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => started.once('exit', (code, signal) => resolve({ code, signal })));
      child = started;
      await expect.poll(() => output, { timeout: 30_000 }).toContain('caught up with real time');
      return { child: started, output: () => output, exited };
    }

    const statuses = (listener: Listener): string[] => listener.received.filter((m) => m.topic.endsWith('/status')).map((m) => m.payload.toString('utf8'));

    it('arrives when the simulator is killed with SIGKILL', async () => {
      const root = uniqueRoot('sim-kill');
      const listener = await listen(mosquitto.url, `${root}/+/status`);
      const cli = await startCli(root);
      await expect.poll(() => statuses(listener).some((payload) => payload.includes('"online":true')), { timeout: 10_000 }).toBe(true);
      cli.child.kill('SIGKILL');
      await cli.exited;
      await expect.poll(() => statuses(listener), { timeout: 15_000 }).toContain('{"online":false}');
      const will = listener.received.find((m) => m.payload.toString('utf8') === '{"online":false}');
      expect(will?.topic).toBe(`${root}/will-test/status`);
      await listener.client.endAsync();
    });

    it('does not arrive when the simulator stops cleanly on SIGTERM', async () => {
      const root = uniqueRoot('sim-term');
      const listener = await listen(mosquitto.url, `${root}/#`);
      const cli = await startCli(root);
      await expect.poll(() => statuses(listener).some((payload) => payload.includes('"online":true')), { timeout: 10_000 }).toBe(true);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toEqual({ code: 0, signal: null });
      expect(cli.output()).toContain('stopped at');

      // A will would be published as the broker handles the closed socket. A marker sent after the
      // exit, through the same broker, comes back after anything that closure could have caused.
      const marker = await mqtt.connectAsync(mosquitto.url, { clientId: uniqueName('sim-marker'), clean: true, protocolVersion: 4 });
      await marker.publishAsync(`${root}/marker`, 'after the exit', { qos: 1 });
      await marker.endAsync();
      await expect.poll(() => listener.received.some((m) => m.topic === `${root}/marker`), { timeout: 10_000 }).toBe(true);
      expect(statuses(listener)).not.toContain('{"online":false}');
      await listener.client.endAsync();

      // And the retained status a newcomer gets is still the device's own "online".
      const newcomer = await listen(mosquitto.url, `${root}/+/status`);
      await expect.poll(() => newcomer.received.length, { timeout: 10_000 }).toBe(1);
      expect(newcomer.received[0]?.retain).toBe(true);
      expect(statuses(newcomer)[0]).toContain('"online":true');
      await newcomer.client.endAsync();
    });
  });

});
