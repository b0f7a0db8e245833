/**
 * The embedded broker (MQTT_URL unset) with the embedded store (INFLUX_URL unset), driven by real
 * MQTT clients: a QoS 1 PUBACK leaves only once the journal has the message, a commit that fails
 * acknowledges nothing, a device's Last Will becomes a status point, `mosquitto_pub` works, and a
 * SIGKILL in the middle of a stream loses nothing that was acknowledged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { EmbeddedBroker } from '../../src/ingest/embedded-broker.js';
import type { IncomingMessage } from '../../src/ingest/ingest.js';
import { startService, type RunningService } from '../../src/service.js';
import { registryYaml, tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { publishAll, type Message } from '../support/mqtt.js';
import { freePort, hasBinary } from '../support/servers.js';

const silent = pino({ level: 'silent' });

/** Values of one field of one borehole in the embedded store, read from its file. */
function storedValues(dataDir: string, measurement: string, field: string, boreholeId: string): number[] {
  const path = join(dataDir, 'telemetry.db');
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[string, string, string], { value: number }>(
        `SELECT s.value FROM samples s JOIN streams t ON t.id = s.stream
          WHERE t.measurement = ? AND t.field = ? AND t.borehole = ? ORDER BY s.ts_ms`,
      )
      .all(measurement, field, boreholeId)
      .map((row) => row.value);
  } finally {
    db.close();
  }
}

function device(url: string, clientId: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { clientId, clean: false, protocolVersion: 4, reconnectPeriod: 200, ...options });
}

function flowMessages(root: string, id: string, from: number, count: number): Message[] {
  const start = Date.now() - 3_600_000;
  return Array.from({ length: count }, (_, index) => ({
    topic: `${root}/${id}/flow`,
    payload: JSON.stringify({ ts: start + (from + index) * 100, rate_lpm: (from + index) % 60, seq: from + index }),
  }));
}

describe('EmbeddedBroker: acknowledgement after the commit', () => {
  let broker: EmbeddedBroker | null = null;
  const clients: MqttClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.endAsync(true);
    await broker?.stop();
    broker = null;
  });

  async function startBroker(commit: () => void, handled: IncomingMessage[]): Promise<string> {
    broker = new EmbeddedBroker({ host: '127.0.0.1', port: await freePort(), topicRoot: 'boreholes', log: silent, handle: (m) => handled.push(m), commit });
    await broker.start();
    return broker.url;
  }

  it('releases a PUBACK only once the message it acknowledges has been committed', async () => {
    const handled: IncomingMessage[] = [];
    let committed = 0;
    const url = await startBroker(() => {
      committed = handled.length;
    }, handled);
    const client = await device(url, 'ack-order');
    clients.push(client);
    const acknowledged = await Promise.all(
      Array.from({ length: 300 }, (_, index) =>
        client.publishAsync('boreholes/khabou/flow', JSON.stringify({ rate_lpm: index }), { qos: 1 }).then(() => committed),
      ),
    );
    expect(handled).toHaveLength(300);
    // When the PUBACK of message i reached the device, at least i + 1 messages were committed.
    acknowledged.forEach((committedAtAck, index) => expect(committedAtAck).toBeGreaterThan(index));
    expect(handled[0]).toMatchObject({ topic: 'boreholes/khabou/flow', retained: false });
  });

  it('acknowledges nothing when the commit fails, and closes the client, which sends it again', async () => {
    const handled: IncomingMessage[] = [];
    let failing = true;
    let committed = 0;
    const url = await startBroker(() => {
      if (failing) throw new Error('disk full');
      committed = handled.length;
    }, handled);
    const client = await device(url, 'commit-fails');
    clients.push(client);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    let acknowledgedAt: number | null = null;
    const sent = client.publishAsync('boreholes/khabou/flow', JSON.stringify({ rate_lpm: 7 }), { qos: 1 }).then(() => {
      acknowledgedAt = committed;
    });
    await closed;
    expect(acknowledgedAt).toBeNull();
    expect(committed).toBe(0);
    failing = false;
    // mqtt.js reconnects and sends the unacknowledged message again; now it is committed first.
    await sent;
    expect(acknowledgedAt).toBeGreaterThanOrEqual(1);
    expect(handled.length).toBeGreaterThanOrEqual(2);
  });

  it('cuts a client that announces a packet over the limit before reading it, and keeps serving the others', async () => {
    const handled: IncomingMessage[] = [];
    const oversize: number[] = [];
    broker = new EmbeddedBroker({
      host: '127.0.0.1',
      port: await freePort(),
      topicRoot: 'boreholes',
      log: silent,
      handle: (m) => handled.push(m),
      commit: () => undefined,
      onOversizePacket: (bytes) => oversize.push(bytes),
    });
    await broker.start();
    const url = broker.url;
    // A 250 KiB payload is within the contract's 256 KiB: it reaches the ingest (which judges it).
    const honest = await device(url, 'honest');
    clients.push(honest);
    await honest.publishAsync('boreholes/khabou/flow', 'x'.repeat(250 * 1024), { qos: 1 });
    expect(handled).toHaveLength(1);
    // A raw client announces a 200 MB PUBLISH: only the header was read when the connection dropped.
    const { port } = new URL(url);
    const raw = connect(Number(port), '127.0.0.1');
    // The reset is the point: the broker hangs up mid-packet.
    raw.on('error', () => undefined);
    await new Promise<void>((resolve) => raw.once('connect', () => resolve()));
    const connectPacket = Buffer.from([0x10, 0x0f, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x03, 0x62, 0x69, 0x67]);
    raw.write(connectPacket);
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    // PUBLISH QoS 0, remaining length 200,000,000 (varint 0x80 0x84 0xaf 0x5f), then a first slice.
    raw.write(Buffer.concat([Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f]), Buffer.alloc(64 * 1024)]));
    await closed;
    expect(oversize).toEqual([200_000_000]);
    // The honest device is still served.
    await honest.publishAsync('boreholes/khabou/flow', JSON.stringify({ rate_lpm: 1 }), { qos: 1 });
    expect(handled).toHaveLength(2);
  });

  it('takes only the topics the service subscribes to, brokers the rest, and keeps $SYS to itself', async () => {
    const handled: IncomingMessage[] = [];
    const url = await startBroker(() => undefined, handled);
    const listener = await device(url, 'listener', { clean: true });
    clients.push(listener);
    await listener.subscribeAsync('#', { qos: 1 });
    const seen: string[] = [];
    listener.on('message', (topic) => seen.push(topic));
    const client = await device(url, 'topics');
    clients.push(client);
    await client.publishAsync('other/thing', 'x', { qos: 1 });
    await client.publishAsync('boreholes/khabou/flow/extra', 'x', { qos: 1 });
    await client.publishAsync('boreholes/khabou/pump', '{"running":true}', { qos: 1 });
    await expect.poll(() => seen).toEqual(['other/thing', 'boreholes/khabou/flow/extra', 'boreholes/khabou/pump']);
    expect(handled.map((m) => m.topic)).toEqual(['boreholes/khabou/pump']);
    // aedes closes a client that publishes where it may not.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('$SYS/forged', 'x', { qos: 1 });
    await closed;
  });

  it('stops at once, even with a connection that never sent CONNECT', async () => {
    const url = await startBroker(() => undefined, []);
    const client = await device(url, 'idle-device');
    clients.push(client);
    const silent = connect(Number(new URL(url).port), '127.0.0.1');
    await new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    const startedAt = Date.now();
    await broker?.stop();
    broker = null;
    expect(Date.now() - startedAt).toBeLessThan(2000);
    silent.destroy();
  });

  it('refuses to start on a port already taken, naming the variable', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const taken = new EmbeddedBroker({ host: '127.0.0.1', port, topicRoot: 'boreholes', log: silent, handle: () => undefined, commit: () => undefined });
      const error = await taken.start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems[0]).toMatch(/^MQTT_EMBEDDED_PORT: .*in use/);
    } finally {
      blocker.close();
    }
  });
});

describe('the service on embedded defaults (MQTT_URL and INFLUX_URL unset)', () => {
  const ids = ['emb-khabou', 'emb-segala'] as const;
  const dataDir = tempDir('embedded-service');
  let service: RunningService;
  let port: number;
  let url: string;

  beforeAll(async () => {
    port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
    const config = testConfig({ DATA_DIR: dataDir, MQTT_EMBEDDED_PORT: String(port) });
    expect(config.mqtt.url).toBeUndefined();
    expect(config.influx.url).toBeUndefined();
    service = await startService({ config, registry: testRegistry([...ids]), log: silent });
  });

  afterAll(async () => {
    await service?.stop();
  });

  it('is ready: the broker listens and the store answers', async () => {
    const ready = await service.app.inject('/readyz');
    expect(ready.statusCode).toBe(200);
    expect((await service.app.inject('/metrics')).body).toMatch(/^mqtt_connected 1$/m);
  });

  it('journals every acknowledged QoS 1 reading, then stores it once in the embedded store', async () => {
    const client = await device(url, 'emb-device-1');
    const messages = flowMessages('boreholes', ids[0], 0, 1000);
    await publishAll(client, messages);
    // A device resending after a lost PUBACK: the same readings again, stored once.
    await publishAll(client, messages.slice(0, 100));
    await client.endAsync();
    await expect.poll(() => storedValues(dataDir, 'flow', 'rate_lpm', ids[0]).length, { timeout: 30_000 }).toBe(1000);
    expect(storedValues(dataDir, 'flow', 'rate_lpm', ids[0]).slice(0, 3)).toEqual([0, 1, 2]);
    await expect.poll(() => service.journal.stats().pendingPoints, { timeout: 30_000 }).toBe(0);
  });

  it("stores a device's Last Will as a status point when its link drops", async () => {
    const client = await device(url, 'emb-device-2', {
      reconnectPeriod: 0,
      will: { topic: `boreholes/${ids[1]}/status`, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
    });
    await client.publishAsync(`boreholes/${ids[1]}/status`, JSON.stringify({ online: true, fw: '2.3.1' }), { qos: 1, retain: true });
    // No DISCONNECT: the socket just goes, as a GPRS link does.
    client.stream.destroy();
    await expect.poll(() => storedValues(dataDir, 'device', 'online', ids[1]), { timeout: 30_000 }).toEqual([1, 0]);
    await client.endAsync(true);
  });

  const mosquittoPub = hasBinary('mosquitto_pub');
  if (!mosquittoPub) {
    if (process.env.CI === 'true') throw new Error('mosquitto_pub is missing (apt-get install -y mosquitto-clients)');
    console.warn('!!! embedded broker: the mosquitto_pub test is SKIPPED: mosquitto_pub is not installed (apt-get install -y mosquitto-clients)');
  }
  it.skipIf(!mosquittoPub)('takes a reading from mosquitto_pub', async () => {
    // Spawned, not spawnSync: the broker answering it lives in this very process.
    const child = spawn('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', `boreholes/${ids[1]}/flow`, '-m', '{"rate_lpm":3}'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 10_000,
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, stderr).toBe(0);
    await expect.poll(() => storedValues(dataDir, 'flow', 'rate_lpm', ids[1]), { timeout: 30_000 }).toEqual([3]);
  });
});

describe('the service on embedded defaults, killed with SIGKILL in the middle of 5,000 QoS 1 readings', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('has every reading after a restart: nothing acknowledged was lost, the rest was sent again', async () => {
    const id = uniqueName('kill').toLowerCase().replace(/_/g, '-');
    const dir = tempDir('embedded-kill');
    const registryPath = join(dir, 'boreholes.yaml');
    writeFileSync(registryPath, registryYaml([id]));
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      BOREHOLES_FILE: registryPath,
      DATA_DIR: join(dir, 'data'),
      HTTP_PORT: String(httpPort),
      MQTT_EMBEDDED_PORT: String(mqttPort),
      LOG_LEVEL: 'warn',
    };
    delete env.MQTT_URL;
    delete env.INFLUX_URL;
    const start = (): ChildProcess => spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const ready = () => expect.poll(() => fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status, () => 0), { timeout: 60_000, interval: 100 }).toBe(200);

    child = start();
    await ready();
    const publisher = await device(`mqtt://127.0.0.1:${mqttPort}`, `${id}-device`);
    let acknowledged = 0;
    const messages = flowMessages('boreholes', id, 0, 5000);
    const publishing = publishAll(publisher, messages, 100);
    publisher.on('packetreceive', (packet) => {
      if (packet.cmd === 'puback') acknowledged += 1;
    });
    await expect.poll(() => acknowledged, { timeout: 60_000, interval: 5 }).toBeGreaterThan(1500);
    child.kill('SIGKILL');
    const acknowledgedBeforeKill = acknowledged;

    child = start();
    await publishing;
    await publisher.endAsync();
    await ready();
    const dataDir = join(dir, 'data');
    await expect.poll(() => storedValues(dataDir, 'flow', 'rate_lpm', id).length, { timeout: 60_000, interval: 200 }).toBe(5000);
    expect(acknowledgedBeforeKill).toBeLessThan(5000);
  });
});
