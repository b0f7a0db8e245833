/**
 * What happens to an MQTT message between the broker and its acknowledgement: decode, reject what
 * is invalid (counted, logged once, dead-lettered), append what is valid to the journal. The
 * messages of one event-loop turn are then committed together (`commit()`), and only after that
 * are their PUBACKs released and the listeners (the rules) told.
 */
import type { Logger } from 'pino';
import type { Registry } from '../config/registry.js';
import type { Reading } from '../domain/reading.js';
import type { Metrics } from '../observability/metrics.js';
import { ReadingEncoder, boreholeTags } from '../storage/points.js';
import { decodeMessage, type DecodeContext, type Rejection } from './decode.js';
import { payloadPreview, type DeadLetterLog } from './dead-letters.js';
import type { Journal } from './journal.js';

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /** Set when the broker replays a retained message on subscribe rather than a live publish. */
  retained: boolean;
}

export type ReadingsListener = (readings: readonly Reading[]) => void;

export interface IngestOptions {
  topicRoot: string;
  registry: Registry;
  journal: Pick<Journal, 'append' | 'commit'>;
  deadLetters: DeadLetterLog;
  metrics: Metrics;
  now: () => number;
  log: Logger;
  /** Called with the readings of each commit, once they are durable; must not throw. */
  onAccepted?: ReadingsListener;
}

export class Ingest {
  private readonly context: DecodeContext;
  private readonly encoder: ReadingEncoder;
  private uncommitted: Reading[] = [];

  constructor(private readonly options: IngestOptions) {
    this.context = {
      topicRoot: options.topicRoot,
      isKnownBorehole: (id) => options.registry.boreholes.has(id),
    };
    this.encoder = new ReadingEncoder((id) => boreholeTags(options.registry, id));
  }

  /** Decodes and appends; nothing is durable until `commit()`. Never throws on bad input. */
  handle(message: IncomingMessage): void {
    const { metrics, now } = this.options;
    const receivedAtMs = now();
    const { readings, rejections } = decodeMessage(message.topic, message.payload, receivedAtMs, this.context);
    const kind = readings[0]?.kind ?? message.topic.split('/').at(-1) ?? 'unknown';
    metrics.messages.inc({ kind });

    for (const rejection of rejections) this.reject(message, rejection, receivedAtMs);
    if (readings.length === 0) return;

    // A status replayed from the retained store on (re)subscribe is the last known state, not a
    // new observation: storing it again would invent a point at the replay time.
    const toStore = message.retained ? readings.filter((r) => r.kind !== 'status') : readings;
    if (toStore.length > 0) {
      const lines = toStore.map((reading) => this.encoder.line(reading));
      this.options.journal.append(lines, receivedAtMs);
      metrics.readings.inc({ kind }, toStore.length);
    }
    // The rules see what was stored: a retained status replayed on subscribe is not news.
    if (this.options.onAccepted) this.uncommitted.push(...toStore);
  }

  /**
   * Makes everything handled since the last commit durable. Throws when the journal cannot be
   * written; then none of those messages may be acknowledged (the broker delivers them again).
   */
  commit(): void {
    const readings = this.uncommitted;
    this.uncommitted = [];
    this.options.journal.commit();
    if (readings.length > 0) this.options.onAccepted?.(readings);
  }

  /** Records a reading that the store itself refused for good (say, a field type conflict). */
  refusedByStore(line: string, reason: string): void {
    this.reject(
      { topic: '(time-series store)', payload: Buffer.from(line), retained: false },
      { reason: 'store_rejected', detail: reason.slice(0, 500) },
      this.options.now(),
    );
  }

  private reject(
    message: IncomingMessage,
    rejection: Rejection,
    receivedAtMs: number,
  ): void {
    const { metrics, deadLetters, log } = this.options;
    metrics.rejected.inc({ reason: rejection.reason });
    log.warn({ topic: message.topic, reason: rejection.reason, detail: rejection.detail, index: rejection.index }, 'message rejected');
    deadLetters.add({
      received_at: new Date(receivedAtMs).toISOString(),
      topic: message.topic,
      reason: rejection.reason,
      detail: rejection.detail,
      ...(rejection.index === undefined ? {} : { index: rejection.index }),
      payload: payloadPreview(message.payload),
      payload_bytes: message.payload.length,
    });
    metrics.deadLetters.set(deadLetters.size);
  }
}
