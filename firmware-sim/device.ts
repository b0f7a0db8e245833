/**
 * The network side of a simulated device: one mqtt.js client per borehole, as a real telemetry
 * unit has. A stable client id and a persistent session (`clean: false`) let the broker keep
 * the session across reconnections; QoS 1 for everything; the Last Will `{"online":false}`,
 * retained on the status topic, tells the service when the device vanishes without a goodbye.
 * Transport only: what to send and when is the firmware's and the runner's business.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DEFAULT_TOPIC_ROOT } from '../src/contract/topics.js';

/** The Last Will of every device (CONTRACT.md section 1). */
export const OFFLINE_STATUS_PAYLOAD = JSON.stringify({ online: false });

export interface MqttTransportOptions {
  url: string;
  clientId: string;
  /** The device's status topic, where the broker publishes the will. */
  willTopic: string;
  protocolVersion?: 4 | 5;
  username?: string;
  password?: string;
  /** How long `connect()` waits for the broker before it gives up. */
  connectTimeoutMs?: number;
  /** Between attempts to reach a broker that went away. Default 1 s. */
  reconnectPeriodMs?: number;
}

/** Mosquitto ends an MQTT 5 session at disconnect unless it is given an expiry: a month. */
const SESSION_EXPIRY_SECONDS = 30 * 24 * 3600;
const RECONNECT_PERIOD_MS = 1000;

/** A client id that stays the same for a borehole run after run, distinct per topic root. */
export function deviceClientId(boreholeId: string, topicRoot: string, prefix?: string): string {
  if (prefix !== undefined) return `${prefix}${boreholeId}`;
  if (topicRoot === DEFAULT_TOPIC_ROOT) return `bhsim-${boreholeId}`;
  return `bhsim-${topicRoot.replace(/[^A-Za-z0-9_-]+/g, '-')}-${boreholeId}`;
}

export class MqttDeviceTransport {
  private client: MqttClient | null = null;
  private readonly connectListeners: (() => void)[] = [];
  private readonly pending = new Set<(error: Error) => void>();
  private lastError: Error | null = null;

  constructor(private readonly options: MqttTransportOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Called on every connection, the first and each automatic reconnection. */
  onConnect(listener: () => void): void {
    this.connectListeners.push(listener);
  }

  /**
   * Connects (again, after `cut`). mqtt.js keeps reconnecting by itself afterwards, resending
   * what the broker had not acknowledged, as a device does when GPRS comes back.
   */
  async connect(): Promise<void> {
    const { url, clientId, willTopic, protocolVersion = 4, username, password, connectTimeoutMs = 30_000, reconnectPeriodMs = RECONNECT_PERIOD_MS } = this.options;
    const clientOptions: IClientOptions = {
      clientId,
      clean: false,
      protocolVersion,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: reconnectPeriodMs,
      will: { topic: willTopic, payload: Buffer.from(OFFLINE_STATUS_PAYLOAD), qos: 1, retain: true },
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS } } : {}),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.on('error', (error) => {
      // Connection errors are retried by mqtt.js; keep the last one to explain a timeout.
      this.lastError = error;
    });
    client.on('connect', () => {
      for (const listener of this.connectListeners) listener();
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.removeListener('connect', onConnect);
        client.end(true);
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new Error(`cannot reach the MQTT broker at ${url} within ${connectTimeoutMs / 1000} s${why}`));
      }, connectTimeoutMs);
      const onConnect = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('connect', onConnect);
    });
  }

  /** Resolves when the broker acknowledges the message (PUBACK). */
  publish(topic: string, payload: string, retain: boolean): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('not connected'));
    return new Promise<void>((resolve, reject) => {
      this.pending.add(reject);
      client.publish(topic, payload, { qos: 1, retain }, (error) => {
        this.pending.delete(reject);
        if (error) reject(error);
        else resolve();
      });
    });
  }

  /**
   * Drops the connection the way a lost GPRS link does: no DISCONNECT packet, so the broker
   * publishes the will. Call `connect()` to come back.
   */
  async cut(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    await client.endAsync(true);
    // mqtt.js forgets what it had in flight when forced; say so instead of waiting forever.
    for (const reject of this.pending) reject(new Error('connection cut before the broker acknowledged'));
    this.pending.clear();
  }

  /** A clean goodbye: DISCONNECT, so the broker does not publish the will. */
  async close(timeoutMs = 5000): Promise<void> {
    const client = this.client;
    this.client = null;
    if (!client) return;
    const closed = client.endAsync(false);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([closed, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') await client.endAsync(true);
  }
}
