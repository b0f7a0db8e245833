/**
 * The compose set-up's broker security against a real Mosquitto: deploy/mosquitto/mosquitto.conf
 * with only its listener and file paths rewritten for a test, deploy/mosquitto/acl as it is, and a
 * password file made by deploy/mosquitto/make-passwords.sh for two devices, the service and the
 * demo simulator. The service side is the service's own MQTT subscription (MqttSource).
 *
 * "Never delivered" is proven without waiting: the broker handles one connection's packets in
 * order and fans each message out to every subscriber before the next, so once a marker sent
 * after the forbidden message has arrived, the forbidden one would have arrived before it.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from '../../src/ingest/ingest.js';
import { MqttSource } from '../../src/ingest/mqtt-source.js';
import { parseCredentials } from '../../firmware-sim/credentials.js';
import { startSimulation } from '../../firmware-sim/runner.js';
import { testRegistry } from '../support/fixtures.js';
import { hasBinary, startMosquittoWithConfig, type MosquittoConfigContext, type MosquittoServer } from '../support/servers.js';
import { waitUntil } from '../support/wait.js';
import { ACL_EXPECTATIONS, SERVICE_USER, SIMULATOR_USER, environmentOf, loadCompose, readRootFile, rootPath } from '../unit/deploy/support.js';

const NOT_AUTHORIZED = 0x87;
/** MQTT 3.1.1 CONNACK return code 5: not authorized. */
const REFUSED_NOT_AUTHORIZED_V4 = 5;

const PASSWORDS = {
  [SERVICE_USER]: 'service-0123456789abcdef',
  [SIMULATOR_USER]: 'simulator-0123456789abcdef',
  khabou: 'khabou-0123456789abcdef',
  segala: 'segala-0123456789abcdef',
} as const;
type Account = keyof typeof PASSWORDS;

const missing = ['mosquitto', 'mosquitto_passwd', 'bash'].filter((name) => !hasBinary(name));
if (missing.length > 0) {
  const why = `the Mosquitto ACL suite needs ${missing.join(', ')} (apt-get install -y mosquitto)`;
  if (process.env.CI === 'true') throw new Error(why);
  console.warn(`!!! Mosquitto ACL suite SKIPPED: ${why}`);
}

/**
 * The compose configuration, with what only a container has replaced: the listener (a free port
 * on loopback) and the /mosquitto/... paths (the test's directory). The rewritten keys are returned
 * so the test can show nothing else was touched.
 */
function testConfig(context: MosquittoConfigContext, runAsRoot: boolean): { text: string; rewritten: string[] } {
  const rewritten: string[] = [];
  const lines = readRootFile('deploy', 'mosquitto', 'mosquitto.conf')
    .split('\n')
    .map((line) => {
      if (line.startsWith('#') || line.trim() === '') return line;
      const space = line.indexOf(' ');
      const key = space < 0 ? line : line.slice(0, space);
      const value = space < 0 ? '' : line.slice(space + 1);
      if (key === 'listener') {
        rewritten.push(key);
        return `listener ${context.port} ${context.host}`;
      }
      if (/^\/mosquitto\/(config|data)\//.test(value)) {
        rewritten.push(key);
        return `${key} ${value.replace(/^\/mosquitto\/(config|data)\//, `${context.dataDir}/`)}`;
      }
      return line;
    });
  // In the container Mosquitto drops to its own user, which owns these files. As root here with no
  // such user, it would drop to "nobody", who cannot read them.
  if (runAsRoot) lines.push('user root');
  return { text: `${lines.join('\n')}\n`, rewritten };
}

function userExists(name: string): boolean {
  return spawnSync('id', ['-u', name]).status === 0;
}

describe.skipIf(missing.length > 0)('the compose broker configuration on a real Mosquitto', () => {
  let broker: MosquittoServer;
  let rewritten: string[] = [];
  let service: MqttSource;
  const received: IncomingMessage[] = [];
  const clients: MqttClient[] = [];
  let clientCounter = 0;
  let markerCounter = 0;

  const payloads = () => received.map((m) => m.payload.toString());

  async function connect(account: Account | undefined, options: IClientOptions = {}): Promise<MqttClient> {
    clientCounter += 1;
    const client = await mqtt.connectAsync(broker.url, {
      clientId: `${account ?? 'anonymous'}-${clientCounter}`,
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
      ...(account === undefined ? {} : { username: account, password: PASSWORDS[account] }),
      ...options,
    });
    clients.push(client);
    return client;
  }

  /** The error of a connection attempt that must fail. */
  async function refusal(options: IClientOptions): Promise<{ code?: number; message: string }> {
    clientCounter += 1;
    try {
      const client = await mqtt.connectAsync(broker.url, { clientId: `refused-${clientCounter}`, clean: true, reconnectPeriod: 0, connectTimeout: 5_000, ...options });
      clients.push(client);
    } catch (error) {
      return error as { code?: number; message: string };
    }
    return expect.unreachable('the broker accepted the connection');
  }

  /** Sends a marker from a device's own flow topic and waits until the service has it. */
  async function markerFrom(client: MqttClient, id: string): Promise<void> {
    markerCounter += 1;
    const marker = `marker-${markerCounter}`;
    await client.publishAsync(`boreholes/${id}/flow`, marker, { qos: 1 });
    await expect.poll(() => payloads().includes(marker), { timeout: 10_000 }).toBe(true);
  }

  beforeAll(async () => {
    const runAsRoot = process.getuid?.() === 0 && !userExists('mosquitto');
    broker = await startMosquittoWithConfig(
      (context) => {
        const config = testConfig(context, runAsRoot);
        rewritten = config.rewritten;
        return config.text;
      },
      {
        prepare: ({ dataDir }) => {
          const devices = join(dataDir, 'devices.txt');
          writeFileSync(devices, `khabou:${PASSWORDS.khabou}\nsegala:${PASSWORDS.segala}\n`);
          const { MQTT_SERVICE_PASSWORD: _s, MQTT_SIMULATOR_PASSWORD: _p, ...env } = process.env;
          const made = spawnSync('bash', [rootPath('deploy', 'mosquitto', 'make-passwords.sh'), '--env-file', join(dataDir, 'no.env'), '--devices', devices, '--out', join(dataDir, 'passwd')], {
            encoding: 'utf8',
            env: { ...env, MQTT_SERVICE_PASSWORD: PASSWORDS[SERVICE_USER], MQTT_SIMULATOR_PASSWORD: PASSWORDS[SIMULATOR_USER] },
          });
          if (made.status !== 0) throw new Error(`make-passwords.sh failed: ${made.stderr}`);
          copyFileSync(rootPath('deploy', 'mosquitto', 'acl'), join(dataDir, 'acl'));
          // As in the container: the broker's own user owns its files (entrypoint.sh).
          if (process.getuid?.() === 0 && userExists('mosquitto')) {
            const owned = spawnSync('chown', ['-R', 'mosquitto:', dataDir], { encoding: 'utf8' });
            if (owned.status !== 0) throw new Error(`chown failed: ${owned.stderr}`);
          }
        },
      },
    );

    // The service's own subscription, logged in as docker-compose.yml logs it in.
    const serviceEnv = environmentOf(loadCompose().services.service ?? {});
    if (serviceEnv.MQTT_USERNAME !== SERVICE_USER) throw new Error(`docker-compose.yml logs the service in as ${String(serviceEnv.MQTT_USERNAME)}, not ${SERVICE_USER}`);
    service = new MqttSource({
      url: broker.url,
      clientId: 'borehole-ingest',
      protocolVersion: 5,
      username: serviceEnv.MQTT_USERNAME,
      password: PASSWORDS[SERVICE_USER],
      topicRoot: 'boreholes',
      log: pino({ level: 'silent' }),
      handle: (message) => received.push(message),
      commit: () => received.length > 0,
    });
    service.start();
    await waitUntil(() => service.connected, 'the service to connect', 10_000);
    // The subscription follows the connection: wait until a device's reading comes through.
    const probe = await connect('khabou');
    await waitUntil(async () => {
      await probe.publishAsync('boreholes/khabou/flow', 'probe', { qos: 1 });
      return payloads().includes('probe');
    }, "the service's subscription", 10_000);
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  });

  afterAll(async () => {
    await service?.stop();
    await broker?.stop();
  });

  it('runs the compose configuration with only its listener and file paths changed', () => {
    expect(rewritten.sort()).toEqual(['acl_file', 'listener', 'password_file', 'persistence_location']);
  });

  it('hands the service a reading a device publishes under its own id', async () => {
    const khabou = await connect('khabou');
    await khabou.publishAsync('boreholes/khabou/flow', '{"rate_lpm":55.2}', { qos: 1 });
    await expect.poll(() => received.some((m) => m.topic === 'boreholes/khabou/flow' && m.payload.toString() === '{"rate_lpm":55.2}'), { timeout: 10_000 }).toBe(true);
  });

  it.each(ACL_EXPECTATIONS.filter((e) => e.access === 'write'))('$username publishing on $topic: allowed $allowed ($why)', async ({ username, topic, allowed }) => {
    const client = await connect(username as Account);
    const payload = `${username} on ${topic} ${String(++markerCounter)}`;
    const outcome = await client.publishAsync(topic, payload, { qos: 1 }).then(
      () => 'acknowledged',
      (error: { code?: number }) => error.code,
    );
    // MQTT 5 tells the publisher: PUBACK with reason code 0x87 (not authorized).
    expect(outcome).toBe(allowed ? 'acknowledged' : NOT_AUTHORIZED);
    const sender = await connect('khabou');
    await markerFrom(sender, 'khabou');
    // The service hears only what the ACL lets through, and only on topics it subscribes to.
    const heard = payloads().includes(payload);
    expect(heard).toBe(allowed && /^boreholes\/[^/]+\/[^/]+$/.test(topic));
  });

  it('drops a reading for another borehole from an MQTT 3.1.1 device without telling it', async () => {
    const khabou = await connect('khabou', { protocolVersion: 4 });
    // MQTT 3.1.1 has no reason codes: the PUBACK comes, and the message is gone.
    await khabou.publishAsync('boreholes/segala/flow', 'forged-3.1.1', { qos: 1 });
    await markerFrom(khabou, 'khabou');
    expect(payloads()).not.toContain('forged-3.1.1');
  });

  it('delivers nothing to a device, whatever it subscribes to', async () => {
    const khabou = await connect('khabou');
    const heardByDevice: string[] = [];
    khabou.on('message', (_topic, payload) => heardByDevice.push(payload.toString()));
    // Mosquitto 2.0 grants the subscription and checks read access on each delivery.
    await khabou.subscribeAsync(['boreholes/#', 'boreholes/segala/#', 'boreholes/khabou/#'], { qos: 1 });
    const segala = await connect('segala');
    await segala.publishAsync('boreholes/segala/level', 'segala-secret', { qos: 1 });
    await segala.publishAsync('boreholes/segala/status', 'segala-status', { qos: 1, retain: true });
    await markerFrom(khabou, 'khabou');
    // Anything meant for the device was on its connection before this acknowledgement.
    await khabou.publishAsync('boreholes/khabou/pump', 'round trip', { qos: 1 });
    expect(payloads()).toEqual(expect.arrayContaining(['segala-secret', 'segala-status']));
    expect(heardByDevice).toEqual([]);
  });

  it('lets the firmware simulator play each borehole under its own account (--credentials)', async () => {
    const credentials = parseCredentials(`# devices.txt\nkhabou:${PASSWORDS.khabou}\nsegala:${PASSWORDS.segala}\n`);
    const nowMs = Date.now();
    const sim = await startSimulation({
      registry: testRegistry(['khabou', 'segala']),
      brokerUrl: broker.url,
      topicRoot: 'boreholes',
      startAtMs: nowMs - 10 * 60_000,
      untilMs: nowMs,
      speed: 'max',
      credentials,
      clientIdPrefix: 'acl-sim-',
    });
    const stats = await sim.done;
    expect(stats.failedMessages).toBe(0);
    for (const id of ['khabou', 'segala']) {
      await expect.poll(() => received.some((m) => m.topic === `boreholes/${id}/flow`), { timeout: 10_000 }).toBe(true);
    }
  });

  it('refuses a client without credentials', async () => {
    expect((await refusal({ protocolVersion: 5 })).code).toBe(NOT_AUTHORIZED);
    expect((await refusal({ protocolVersion: 4 })).code).toBe(REFUSED_NOT_AUTHORIZED_V4);
  });

  it('refuses a wrong password, and a device\'s password for the service\'s account', async () => {
    expect((await refusal({ protocolVersion: 5, username: 'khabou', password: 'wrong-password-000' })).code).toBe(NOT_AUTHORIZED);
    expect((await refusal({ protocolVersion: 5, username: SERVICE_USER, password: PASSWORDS.khabou })).code).toBe(NOT_AUTHORIZED);
    expect((await refusal({ protocolVersion: 4, username: 'segala', password: PASSWORDS.khabou })).code).toBe(REFUSED_NOT_AUTHORIZED_V4);
    // A username that is not in the password file at all.
    expect((await refusal({ protocolVersion: 5, username: 'kobokoto', password: PASSWORDS.khabou })).code).toBe(NOT_AUTHORIZED);
  });

  it('delivers a device\'s Last Will on its own status topic when its link drops', async () => {
    const khabou = await connect('khabou', {
      will: { topic: 'boreholes/khabou/status', payload: Buffer.from('{"online":false,"will":"link lost"}'), qos: 1, retain: true },
    });
    // A lost GPRS link: no DISCONNECT packet.
    khabou.stream.destroy();
    await expect.poll(() => received.some((m) => m.topic === 'boreholes/khabou/status' && m.payload.toString() === '{"online":false,"will":"link lost"}'), { timeout: 15_000 }).toBe(true);
  });

  it('drops a Last Will that a device sets on another borehole\'s status topic', async () => {
    // Disconnecting with reason code 0x04 has the broker publish the will at once, in order.
    const own = await connect('khabou', { will: { topic: 'boreholes/khabou/status', payload: Buffer.from('own-will'), qos: 1, retain: false } });
    await own.endAsync(false, { reasonCode: 0x04 });
    await expect.poll(() => payloads().includes('own-will'), { timeout: 10_000 }).toBe(true);

    const forger = await connect('khabou', { will: { topic: 'boreholes/segala/status', payload: Buffer.from('forged-will'), qos: 1, retain: true } });
    await forger.endAsync(false, { reasonCode: 0x04 });
    const sender = await connect('khabou');
    await markerFrom(sender, 'khabou');
    expect(payloads()).not.toContain('forged-will');
  });
});
