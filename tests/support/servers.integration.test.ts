/**
 * The harness itself: its own Mosquitto and influxd (not the run's shared ones) start, serve, and
 * keep their data across a restart, which the recovery tests rely on.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasBinary, startInfluxd, startMosquitto, type InfluxServer, type MosquittoServer } from './servers.js';

const missing = ['mosquitto', 'influxd'].filter((name) => !hasBinary(name));
const failInsteadOfSkip = process.env.CI === 'true';
const skip = missing.length > 0 && !failInsteadOfSkip;
if (skip) {
  console.warn(`!!! SERVER HARNESS TESTS SKIPPED: not installed here: ${missing.join(', ')} (apt-get install -y mosquitto influxdb)`);
}

const TIMEOUT = { timeout: 60_000 };

// ---------------------------------------------------------------------------------------------
// MQTT helpers

let clientCounter = 0;

async function connect(url: string): Promise<MqttClient> {
  clientCounter += 1;
  // No reconnecting: a client that outlives its broker should fail the test, not retry quietly.
  return connectAsync(url, { clientId: `harness-${process.pid}-${clientCounter}`, reconnectPeriod: 0, connectTimeout: 5_000 });
}

interface Received {
  payload: string;
  retain: boolean;
}

/**
 * Subscribes (QoS 1) and resolves after the SUBACK with the first message still to come. The
 * listener is attached before subscribing because a retained message follows the SUBACK at once.
 */
async function subscribe(client: MqttClient, topic: string, timeoutMs = 5_000): Promise<{ next: Promise<Received> }> {
  const next = new Promise<Received>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message on ${topic} within ${timeoutMs} ms`)), timeoutMs);
    client.on('message', (messageTopic, payload, packet) => {
      if (messageTopic !== topic) return;
      clearTimeout(timer);
      resolve({ payload: payload.toString(), retain: packet.retain });
    });
  });
  // Handled here so that a test failing before it awaits `next` reports its own error, not this one.
  next.catch(() => undefined);
  await client.subscribeAsync(topic, { qos: 1 });
  return { next };
}

// ---------------------------------------------------------------------------------------------
// InfluxDB 1.x helpers

interface QueryResponse {
  results?: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[];
  error?: string;
}

async function influxQl(url: string, q: string, db?: string): Promise<QueryResponse> {
  const body = new URLSearchParams({ q, ...(db ? { db, epoch: 'ms' } : {}) });
  const response = await fetch(`${url}/query`, { method: 'POST', body });
  const json = (await response.json()) as QueryResponse;
  const error = json.error ?? json.results?.find((result) => result.error)?.error;
  if (!response.ok || error) throw new Error(`InfluxQL "${q}" failed: ${response.status} ${error ?? ''}`);
  return json;
}

async function writeLine(url: string, db: string, line: string): Promise<void> {
  const response = await fetch(`${url}/write?db=${encodeURIComponent(db)}&precision=ms`, { method: 'POST', body: line });
  if (response.status !== 204) throw new Error(`write failed: ${response.status} ${await response.text()}`);
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(skip)('test servers (mosquitto and influxd as child processes)', () => {
  let mosquitto: MosquittoServer | undefined;
  let influxd: InfluxServer | undefined;

  beforeAll(async () => {
    if (missing.length > 0) throw new Error(`CI=true but not installed: ${missing.join(', ')}; install with: apt-get install -y mosquitto influxdb`);
    [mosquitto, influxd] = await Promise.all([startMosquitto(), startInfluxd()]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([mosquitto?.stop(), influxd?.stop()]);
  });

  function servers(): { mosquitto: MosquittoServer; influxd: InfluxServer } {
    if (!mosquitto || !influxd) throw new Error('servers did not start');
    return { mosquitto, influxd };
  }

  it('delivers a QoS 1 message from a publisher to a subscriber', TIMEOUT, async () => {
    const { mosquitto } = servers();
    const subscriber = await connect(mosquitto.url);
    const publisher = await connect(mosquitto.url);
    try {
      const subscription = await subscribe(subscriber, 'harness/qos1');
      await publisher.publishAsync('harness/qos1', 'level=12.5', { qos: 1 });
      await expect(subscription.next).resolves.toEqual({ payload: 'level=12.5', retain: false });
    } finally {
      await Promise.all([subscriber.endAsync(), publisher.endAsync()]);
    }
  });

  it('keeps a retained message across a restart', TIMEOUT, async () => {
    const { mosquitto } = servers();
    const publisher = await connect(mosquitto.url);
    await publisher.publishAsync('harness/retained', 'still here', { qos: 1, retain: true });
    await publisher.endAsync();

    await mosquitto.restart();

    const subscriber = await connect(mosquitto.url);
    try {
      const subscription = await subscribe(subscriber, 'harness/retained');
      await expect(subscription.next).resolves.toEqual({ payload: 'still here', retain: true });
    } finally {
      await subscriber.endAsync();
    }
  });

  it('comes back on the same port after SIGKILL', TIMEOUT, async () => {
    const { mosquitto } = servers();
    await mosquitto.kill();
    await mosquitto.start();
    const client = await connect(mosquitto.url);
    await client.endAsync();
  });

  it('runs InfluxDB 1.x and answers /ping', TIMEOUT, async () => {
    const { influxd } = servers();
    expect(influxd.version).toMatch(/^1\./);
    const response = await fetch(`${influxd.url}/ping`);
    expect(response.status).toBe(204);
  });

  it('keeps a written point across a restart', TIMEOUT, async () => {
    const { influxd } = servers();
    const db = `harness_${process.pid}`;
    const ts = Date.UTC(2026, 0, 15, 8, 30);
    await influxQl(influxd.url, `CREATE DATABASE "${db}"`);
    await writeLine(influxd.url, db, `water_level,borehole=BH-1 depth_m=42.5 ${ts}`);

    await influxd.restart();

    const result = await influxQl(influxd.url, 'SELECT "depth_m" FROM "water_level" WHERE "borehole" = \'BH-1\'', db);
    expect(result.results?.[0]?.series?.[0]?.values).toEqual([[ts, 42.5]]);
  });
});
