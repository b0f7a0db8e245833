/**
 * The MQTT side of ingest: transport only. A fixed client id and a persistent session keep the
 * broker queueing QoS 1 messages while the service is away (with MQTT 5 that takes a non-zero
 * session expiry: Mosquitto ends a v5 session at disconnect without one). mqtt.js sends the
 * PUBACK only after `handleMessage` calls back, and handles one message at a time, so a message
 * is acknowledged exactly when the handler has accepted it.
 */
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { subscriptionFor } from '../contract/topics.js';
import type { IncomingMessage } from './ingest.js';

export interface MqttSourceOptions {
  url: string;
  clientId: string;
  protocolVersion: 4 | 5;
  username?: string | undefined;
  password?: string | undefined;
  topicRoot: string;
  log: Logger;
  /** Accepts a message or throws; a message is acknowledged only when this returns. */
  handle(message: IncomingMessage): void;
  onConnectionChange?(connected: boolean): void;
  onHandleError?(error: unknown): void;
}

/** Long enough to cover a service outage of a month; the broker keeps queueing meanwhile. */
const SESSION_EXPIRY_SECONDS = 30 * 24 * 3600;
const MIN_RECONNECT_MS = 1000;
const MAX_RECONNECT_MS = 30_000;

export class MqttSource {
  private client: MqttClient | null = null;
  private stopping = false;
  private retryTimers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: MqttSourceOptions) {}

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connects in the background and keeps reconnecting, with backoff, until stopped. */
  start(): void {
    const { url, clientId, protocolVersion, username, password, log, topicRoot } = this.options;
    const clientOptions: IClientOptions = {
      clientId,
      clean: false,
      protocolVersion,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: MIN_RECONNECT_MS,
      // Subscribing again on every connect is ours to do (below), whatever the session state.
      resubscribe: false,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS } } : {}),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
    };
    const client = mqtt.connect(url, clientOptions);
    this.client = client;
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void) => {
      this.deliver(
        { topic: packet.topic, payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload, retained: packet.retain },
        callback,
        0,
      );
    };
    client.on('connect', (connack) => {
      client.options.reconnectPeriod = MIN_RECONNECT_MS;
      log.info({ url: redactUrl(url), sessionPresent: connack.sessionPresent, protocolVersion }, 'mqtt connected');
      this.options.onConnectionChange?.(true);
      // Re-subscribing keeps the session's queue (MQTT 3.1.1 §3.8.4) and repairs a session the
      // broker lost; the retained status replay it triggers is not stored again.
      client.subscribe(subscriptionFor(topicRoot), { qos: 1 }, (error, granted) => {
        if (error) log.error({ err: error }, 'mqtt subscribe failed');
        else if (granted?.some((g) => g.qos > 1)) log.error({ granted }, 'mqtt subscription refused');
      });
    });
    client.on('close', () => {
      if (this.stopping) return;
      this.options.onConnectionChange?.(false);
      const next = Math.min(MAX_RECONNECT_MS, (client.options.reconnectPeriod ?? MIN_RECONNECT_MS) * 2);
      client.options.reconnectPeriod = next;
      log.warn({ retryInMs: next }, 'mqtt connection closed');
    });
    client.on('error', (error) => log.error({ err: error }, 'mqtt error'));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.retryTimers) clearTimeout(timer);
    this.retryTimers.clear();
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(false);
    this.options.onConnectionChange?.(false);
  }

  /** Hands a message over; on failure retries the same message (unacked) with backoff. */
  private deliver(message: IncomingMessage, callback: (error?: Error) => void, attempt: number): void {
    if (this.stopping) return;
    try {
      this.options.handle(message);
    } catch (error) {
      this.options.onHandleError?.(error);
      if (attempt === 0) this.options.log.error({ err: error, topic: message.topic }, 'message could not be accepted; holding it unacknowledged');
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.deliver(message, callback, attempt + 1);
      }, Math.min(10_000, 100 * 2 ** attempt));
      this.retryTimers.add(timer);
      return;
    }
    callback();
  }
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
