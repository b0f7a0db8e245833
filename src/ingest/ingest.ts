/**
 * What happens to one MQTT message between the broker and its acknowledgement: decode, reject
 * what is invalid (counted, logged once, dead-lettered), journal what is valid, then tell the
 * listeners (the rules). Synchronous on purpose: mqtt.js handles one message at a time and sends
 * the PUBACK only when this returns, so a journaled message is the only one ever acknowledged.
 */
import type { Logger } from 'pino';
import type { Registry } from '../config/registry.js';
import type { Reading } from '../domain/reading.js';
import type { Metrics } from '../observability/metrics.js';
import { toLine } from '../storage/line-protocol.js';
import { readingToPoint } from '../storage/points.js';
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
  journal: Pick<Journal, 'append'>;
  deadLetters: DeadLetterLog;
  metrics: Metrics;
  now: () => number;
  log: Logger;
  /** Called after the readings are journaled; must not throw. */
  onAccepted?: ReadingsListener;
}

export class Ingest {
  private readonly context: DecodeContext;

  constructor(private readonly options: IngestOptions) {
    this.context = {
      topicRoot: options.topicRoot,
      isKnownBorehole: (id) => options.registry.boreholes.has(id),
    };
  }

  /** Throws only when the journal cannot take the readings; then the message must not be acked. */
  handle(message: IncomingMessage): void {
    const { metrics, now, registry } = this.options;
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
      const lines = toStore.map((reading) => {
        const borehole = registry.boreholes.get(reading.boreholeId);
        return toLine(
          readingToPoint(reading, {
            borehole: reading.boreholeId,
            region: borehole?.region ?? '',
            commune: borehole?.commune ?? '',
          }),
        );
      });
      this.options.journal.append(lines, receivedAtMs);
      metrics.readings.inc({ kind }, toStore.length);
    }
    this.options.onAccepted?.(readings);
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
