/**
 * The MQTT side of ingest: transport only. A fixed client id and a persistent session keep the
 * broker queueing QoS 1 messages while the service is away (with MQTT 5 that takes a non-zero
 * session expiry: Mosquitto ends a v5 session at disconnect without one).
 *
 * Acknowledgement: mqtt.js handles one message at a time and writes its PUBACK when
 * `handleMessage` calls back. The socket is corked while the messages of an event-loop turn are
 * handled; at the end of the turn they are committed to the journal in one write and only then is
 * the socket uncorked, releasing their PUBACKs together. If the commit fails the socket is
 * destroyed instead, so those PUBACKs never leave and the broker delivers the messages again.
 *
 * A journal that keeps failing (a full disk) would otherwise make that a loop: reconnect, receive
 * the same messages again, fail, drop. While it fails, each reconnection waits twice as long as
 * the one before (1 s to 30 s), and the first commit that works resets the wait.
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
  /**
   * Takes a message in; it is acknowledged only after the next `commit()` returns. `commit()`
   * says whether it wrote anything: only a write proves the journal works again.
   */
  handle(message: IncomingMessage): void;
  /** Makes the messages handled so far durable, or throws. */
  commit(): boolean;
  onConnectionChange?(connected: boolean): void;
  onCommitError?(error: unknown): void;
}

/** Long enough to cover a service outage of a month; the broker keeps queueing meanwhile. */
const SESSION_EXPIRY_SECONDS = 30 * 24 * 3600;
const MIN_RECONNECT_MS = 1000;
const MAX_RECONNECT_MS = 30_000;

export class MqttSource {
  private client: MqttClient | null = null;
  private stopping = false;
  private corked = false;
  /** Commits that failed in a row; 0 once one works. */
  private journalFailures = 0;

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
      // Stopping: no PUBACK on a stream being ended; the broker delivers it again to the next session.
      if (this.stopping) return;
      this.corkUntilIdle(client);
      this.options.handle({
        topic: packet.topic,
        payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
        retained: packet.retain,
      });
      callback();
    };
    client.on('connect', (connack) => {
      // Connecting again proves nothing about the journal: its backoff lasts until a commit works.
      if (this.journalFailures === 0) client.options.reconnectPeriod = MIN_RECONNECT_MS;
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
      // After a failed commit the wait was set before the connection was dropped (see below).
      if (this.journalFailures > 0) return;
      const next = Math.min(MAX_RECONNECT_MS, (client.options.reconnectPeriod ?? MIN_RECONNECT_MS) * 2);
      client.options.reconnectPeriod = next;
      log.warn({ retryInMs: next }, 'mqtt connection closed');
    });
    client.on('error', (error) => log.error({ err: error }, 'mqtt error'));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync(false);
    this.options.onConnectionChange?.(false);
  }

  /**
   * Corks the socket until the end of this event-loop turn, then commits and uncorks. One write
   * to the journal and one to the socket serve every message of the turn, instead of two syscalls
   * per message.
   */
  private corkUntilIdle(client: MqttClient): void {
    if (this.corked) return;
    const stream = client.stream;
    stream.cork();
    this.corked = true;
    setImmediate(() => {
      this.corked = false;
      let wrote: boolean;
      try {
        wrote = this.options.commit();
      } catch (error) {
        this.journalFailures += 1;
        // mqtt.js schedules the reconnection with this period when the stream closes.
        const retryInMs = Math.min(MAX_RECONNECT_MS, MIN_RECONNECT_MS * 2 ** Math.min(this.journalFailures - 1, 16));
        client.options.reconnectPeriod = retryInMs;
        this.options.onCommitError?.(error);
        this.options.log.error(
          { err: error, failures: this.journalFailures, retryInMs },
          'journal commit failed; dropping the connection so that nothing uncommitted is acknowledged',
        );
        stream.destroy();
        return;
      }
      if (this.journalFailures > 0 && wrote) {
        this.options.log.info({ failures: this.journalFailures }, 'journal commits work again; taking messages');
        this.journalFailures = 0;
        client.options.reconnectPeriod = MIN_RECONNECT_MS;
      }
      stream.uncork();
    });
  }
}

function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
