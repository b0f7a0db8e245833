/**
 * The embedded MQTT broker: what runs when `MQTT_URL` is unset (CONTRACT.md section 8). aedes 1
 * (MQTT 3.1.1) on a plain TCP listener, usable by real devices, `mosquitto_pub` and the simulator.
 *
 * Acknowledgement. aedes keeps sessions and queues in memory, so a subscriber inside the process
 * would acknowledge messages the broker could lose in a crash. Instead the service takes each
 * message in aedes' `authorizePublish` hook, which aedes runs before it writes the PUBACK of a
 * QoS 1 publish (lib/handlers/publish.js: authorizePublish, then enqueuePublish writes the PUBACK).
 * The hook hands the message to ingest and holds its callback; at the end of the event-loop turn
 * the messages of the turn are committed to the journal in one write (group commit, as
 * mqtt-source.ts does with an external broker) and only then are the callbacks released, so the
 * device's PUBACK leaves once the journal has its message. If the commit throws, every held
 * callback gets an error: aedes then closes those clients without a PUBACK, and the devices send
 * the messages again when they reconnect.
 *
 * Wills. aedes 1 passes a will through `authorizePublish` too (lib/client.js, `close`), with the
 * departed client, so the device's `{"online":false}` is journaled like any message before the
 * broker publishes it. The wills of clients that the broker itself drops while the service
 * stops are not taken: the devices did not lose their link, the service went away.
 *
 * Only topics the service would subscribe to (`{root}/+/+`) are ingested; everything else is
 * brokered as usual, so a technician's `mosquitto_sub` sees the traffic too. `$SYS` stays
 * reserved to the broker.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { guardSocket } from './packet-guard.js';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { ConfigError } from '../config/errors.js';
import type { IncomingMessage } from './ingest.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  topicRoot: string;
  log: Logger;
  /** Takes a message in; it is acknowledged only after the next `commit()` returns. */
  handle(message: IncomingMessage): void;
  /** Makes the messages handled so far durable, or throws. */
  commit(): boolean | void;
  onCommitError?(error: unknown): void;
  /** The broker started or stopped listening. */
  onListeningChange?(listening: boolean): void;
  /** A client announced a packet over MAX_PACKET_BYTES and was disconnected before sending it. */
  onOversizePacket?(announcedBytes: number): void;
}

/**
 * The largest packet a device may send: the contract's 256 KiB payload, plus room for the topic
 * and MQTT 5 properties. Beyond it the connection is cut before the packet is read.
 */
export const MAX_PACKET_BYTES = 256 * 1024 + 64 * 1024;

type AuthorizeCallback = (error?: Error | null) => void;

export class EmbeddedBroker {
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private held: AuthorizeCallback[] = [];
  private commitScheduled = false;
  private stopping = false;

  constructor(private readonly options: EmbeddedBrokerOptions) {}

  /** Listening for devices: the broker's part of `/readyz`. */
  get connected(): boolean {
    return !this.stopping && (this.server?.listening ?? false);
  }

  /** `mqtt://host:port` of the listener (the actual port when 0 was asked). */
  get url(): string {
    const address = this.server?.address();
    const port = address !== null && typeof address === 'object' ? address.port : this.options.port;
    return `mqtt://${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${port}`;
  }

  /** Listens; a port that is taken stops start-up with a ConfigError that says what to do. */
  async start(): Promise<void> {
    const { host, port, log } = this.options;
    const broker = await Aedes.createBroker({
      authorizePublish: (client, packet, callback) => this.authorizePublish(client, packet, callback),
    });
    broker.on('clientError', (client: Client, error: Error) => log.debug({ clientId: client.id, err: error }, 'mqtt client error'));
    broker.on('connectionError', (client: Client, error: Error) => log.debug({ clientId: client.id, err: error }, 'mqtt connection error'));
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      broker.handle(
        guardSocket(socket, MAX_PACKET_BYTES, (error) => {
          log.warn({ announcedBytes: error.announcedBytes, limitBytes: error.limitBytes, remote: socket.remoteAddress }, 'mqtt packet over the size limit; connection closed');
          this.options.onOversizePacket?.(error.announcedBytes);
        }),
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      const code = (error as NodeJS.ErrnoException).code;
      throw new ConfigError('environment', [
        code === 'EADDRINUSE'
          ? `MQTT_EMBEDDED_PORT: the embedded MQTT broker cannot listen on ${host}:${port}, the port is in use (another broker? set MQTT_URL to use that one, or MQTT_EMBEDDED_PORT to a free port)`
          : `MQTT_EMBEDDED_HOST, MQTT_EMBEDDED_PORT: the embedded MQTT broker cannot listen on ${host}:${port}: ${(error as Error).message}`,
      ]);
    }
    server.on('error', (error) => log.error({ err: error }, 'embedded mqtt broker listener error'));
    this.broker = broker;
    this.server = server;
    log.info({ url: this.url }, 'embedded mqtt broker listening');
    this.options.onListeningChange?.(true);
  }

  /** Stops listening, drops every client (their wills are not taken), and closes the broker. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { server, broker } = this;
    this.server = null;
    this.broker = null;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    // A connection that never sent CONNECT is no client of aedes' yet: it would hold the listener
    // open until aedes' connect timeout (30 s), past any clean stop.
    for (const socket of this.sockets) socket.destroy();
    await closed;
    this.options.onListeningChange?.(false);
  }

  private authorizePublish(_client: Client | null, packet: PublishPacket, callback: AuthorizeCallback): void {
    if (packet.topic.startsWith('$SYS')) {
      callback(new Error('$SYS topics are reserved to the broker'));
      return;
    }
    if (!this.isIngested(packet.topic)) {
      callback(null);
      return;
    }
    if (this.stopping) {
      // A will published because the service is closing the connection, or a message that
      // arrived in the last instant: not journaled, so not acknowledged (the device resends).
      callback(new Error('the service is stopping'));
      return;
    }
    this.options.handle({
      topic: packet.topic,
      payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
      // A live publish, even one with the retain flag: not a replay from the retained store.
      retained: false,
    });
    this.held.push(callback);
    this.scheduleCommit();
  }

  /** `{root}/+/+`: what the service subscribes to on an external broker. */
  private isIngested(topic: string): boolean {
    const prefix = `${this.options.topicRoot}/`;
    return topic.startsWith(prefix) && topic.slice(prefix.length).split('/').length === 2;
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    setImmediate(() => {
      this.commitScheduled = false;
      const callbacks = this.held;
      this.held = [];
      try {
        this.options.commit();
      } catch (error) {
        this.options.onCommitError?.(error);
        this.options.log.error({ err: error, messages: callbacks.length }, 'journal commit failed; closing those clients so that nothing uncommitted is acknowledged');
        const refusal = new Error('the service could not journal the message');
        for (const callback of callbacks) callback(refusal);
        return;
      }
      for (const callback of callbacks) callback(null);
    });
  }
}
