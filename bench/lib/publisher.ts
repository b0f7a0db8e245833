/**
 * Devices for benchmarks, as few sockets as possible: a pool of MQTT connections that publishes
 * QoS 1 messages round robin with a bounded number unacknowledged (as the firmware holds what it
 * cannot send), and reports each PUBACK. Thousands of sockets would measure the client, not the
 * service (firmware-sim/load.ts pools for the same reason).
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface PoolOptions {
  url: string;
  connections: number;
  /** Unacknowledged messages per connection. */
  windowPerConnection: number;
  clientIdPrefix: string;
}

/** `performance.now()` and `Date.now()` when the message was handed to the connection, and at its PUBACK. */
export interface Ack {
  sentAtPerfMs: number;
  sentAtWallMs: number;
  atPerfMs: number;
  atWallMs: number;
}

export class PublisherPool {
  acked = 0;
  failed = 0;
  private inFlight = 0;
  private next = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly idle: (() => void)[] = [];

  private constructor(
    private readonly clients: MqttClient[],
    private readonly window: number,
  ) {}

  static async connect(options: PoolOptions): Promise<PublisherPool> {
    const clients = await Promise.all(
      Array.from({ length: options.connections }, (_, index) =>
        mqtt.connectAsync(options.url, { clientId: `${options.clientIdPrefix}-${process.pid}-${index}`, clean: true, protocolVersion: 4, reconnectPeriod: 1000 }),
      ),
    );
    return new PublisherPool(clients, options.connections * options.windowPerConnection);
  }

  /**
   * Resolves once the message is handed to a connection (after waiting for room in the window);
   * `onAck` runs at its PUBACK. A publish error is counted, not retried: the benchmark expects in
   * the store only what the broker acknowledged.
   */
  async publish(topic: string, payload: string, onAck?: (ack: Ack) => void, retain = false): Promise<void> {
    while (this.inFlight >= this.window) await new Promise<void>((done) => this.waiting.push(done));
    const client = this.clients[this.next % this.clients.length] as MqttClient;
    this.next += 1;
    this.inFlight += 1;
    const sentAtPerfMs = performance.now();
    const sentAtWallMs = Date.now();
    client.publish(topic, payload, { qos: 1, retain }, (error) => {
      this.inFlight -= 1;
      if (error) this.failed += 1;
      else {
        this.acked += 1;
        onAck?.({ sentAtPerfMs, sentAtWallMs, atPerfMs: performance.now(), atWallMs: Date.now() });
      }
      this.waiting.shift()?.();
      if (this.inFlight === 0) for (const done of this.idle.splice(0)) done();
    });
  }

  /** Every message handed over so far acknowledged (or failed). */
  async settled(): Promise<void> {
    if (this.inFlight > 0) await new Promise<void>((done) => this.idle.push(done));
  }

  async end(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.endAsync()));
  }
}

/**
 * Publishes what `message(n)` makes at `rate` messages a second until `signal` aborts, in ticks of
 * 10 ms (behind schedule, it catches up as fast as the window allows). Resolves with the count
 * handed over.
 */
export async function publishAtRate(pool: PublisherPool, rate: number, signal: AbortSignal, message: (n: number) => { topic: string; payload: string; onAck?: (ack: Ack) => void }): Promise<number> {
  const startedAt = performance.now();
  let sent = 0;
  while (!signal.aborted) {
    const due = Math.floor(((performance.now() - startedAt) / 1000) * rate);
    while (sent < due && !signal.aborted) {
      const { topic, payload, onAck } = message(sent);
      await pool.publish(topic, payload, onAck);
      sent += 1;
    }
    await new Promise((done) => setTimeout(done, 10));
  }
  return sent;
}
