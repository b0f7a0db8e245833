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
import { payloadPreview, topicPreview, type DeadLetterLog, type ReplayedMessage, type ReplayVerdict } from './dead-letters.js';
import { TOPIC_KINDS } from '../contract/topics.js';
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
  journal: Pick<Journal, 'append' | 'commit' | 'failedCommits'>;
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
  /** Readings appended since the last commit, by kind: counted as accepted once committed. */
  private uncommittedCounts = new Map<string, number>();
  /** The journal's failed commits when this group's first record was appended; null: none appended. */
  private failedCommitsAtFirstAppend: number | null = null;
  private deadLetterWritesFailing = false;
  /** When the last message with readings without `ts` of each series (`borehole/kind`) counts as received. */
  private readonly lastClocklessReceiptMs = new Map<string, number>();

  constructor(private readonly options: IngestOptions) {
    this.context = {
      topicRoot: options.topicRoot,
      isKnownBorehole: (id) => options.registry.boreholes.has(id),
    };
    this.encoder = new ReadingEncoder((id) => boreholeTags(options.registry, id));
  }

  /** The registry was reloaded: series keys are made again from the boreholes' new tags. */
  registryChanged(): void {
    this.encoder.forgetSeries();
  }

  /**
   * Readings without `ts` take their time from the receive time (decode.ts). Two messages of one
   * series received in the same millisecond (a device resending after a reconnect, a broker
   * handing over its queue) would then be one point, the second overwriting the first, though both
   * were acknowledged (seen in the soak, issue 13). So, for the readings without `ts`, the receive
   * clock of a series never stands still: a message received at or before the previous one of its
   * series (that had such readings) counts as received 1 ms after it, its clockless readings moved
   * on together (a batch keeps its spacing).
   */
  private keepClocklessApart(readings: Reading[], receivedAtMs: number): void {
    const isClockless = (reading: Reading) => (reading.values as { ts?: unknown }).ts === undefined;
    // Most devices have a clock: on the hot path, nothing is allocated for their messages.
    const first = readings.find(isClockless);
    if (!first) return;
    // A message is one topic: one borehole and kind, one series.
    const series = `${first.boreholeId}/${first.kind}`;
    const previous = this.lastClocklessReceiptMs.get(series);
    const receivedAs = previous !== undefined && receivedAtMs <= previous ? previous + 1 : receivedAtMs;
    if (receivedAs !== receivedAtMs) for (const reading of readings) if (isClockless(reading)) reading.tsMs += receivedAs - receivedAtMs;
    this.lastClocklessReceiptMs.set(series, receivedAs);
  }

  /** Decodes and appends; nothing is durable until `commit()`. Never throws on bad input. */
  handle(message: IncomingMessage): void {
    const { metrics, now } = this.options;
    const receivedAtMs = now();
    const { readings, rejections } = decodeMessage(message.topic, message.payload, receivedAtMs, this.context);
    this.keepClocklessApart(readings, receivedAtMs);
    // A label value per invented topic would be a series kept for ever: only the known kinds count apart.
    const last = message.topic.split('/').at(-1) ?? '';
    const kind = readings[0]?.kind ?? ((TOPIC_KINDS as readonly string[]).includes(last) ? last : 'unknown');
    metrics.messages.inc({ kind });

    for (const rejection of rejections) this.reject(message, rejection, receivedAtMs);
    if (readings.length === 0) return;

    // A status replayed from the retained store on (re)subscribe is the last known state, not a
    // new observation: storing it again would invent a point at the replay time.
    const toStore = message.retained ? readings.filter((r) => r.kind !== 'status') : readings;
    if (toStore.length > 0) {
      const lines = toStore.map((reading) => this.encoder.line(reading));
      this.failedCommitsAtFirstAppend ??= this.options.journal.failedCommits;
      this.options.journal.append(lines, receivedAtMs);
      this.uncommittedCounts.set(kind, (this.uncommittedCounts.get(kind) ?? 0) + toStore.length);
    }
    // The rules see what was stored: a retained status replayed on subscribe is not news.
    if (this.options.onAccepted) this.uncommitted.push(...toStore);
  }

  /**
   * Makes everything handled since the last commit durable. Throws when the journal cannot be
   * written; then none of those messages may be acknowledged (the broker delivers them again).
   */
  /** Returns whether anything of this turn was written: a turn of rejections alone proves nothing about the disk. */
  commit(): boolean {
    const readings = this.uncommitted;
    const counts = this.uncommittedCounts;
    const failedBefore = this.failedCommitsAtFirstAppend;
    this.uncommitted = [];
    this.uncommittedCounts = new Map();
    this.failedCommitsAtFirstAppend = null;
    const { journal, metrics, log } = this.options;
    journal.commit();
    // Something else committing between our append and now (alert points from an HTTP request
    // handled in the same turn) takes our records down with it when its commit fails: then
    // nothing of this group is on the journal, although our own commit found nothing to write.
    if (failedBefore !== null && journal.failedCommits !== failedBefore) {
      throw new Error('the journal lost this group in a failed commit');
    }
    for (const [kind, count] of counts) metrics.readings.inc({ kind }, count);
    const wrote = failedBefore !== null;
    if (readings.length === 0) return wrote;
    try {
      this.options.onAccepted?.(readings);
    } catch (error) {
      // The readings are durable and must be acknowledged: a failing listener (say, the rules'
      // SQLite on a full disk) is no reason to have the broker deliver them again.
      log.error({ err: error }, 'a listener of accepted readings failed');
    }
    return wrote;
  }

  /**
   * Judges kept messages again (the dead-letter replay, docs/ingest.md) on the path `handle`
   * takes: the same decoding, at each message's first receive time (a reading without `ts` keeps
   * the time it was received, `future_ts` is judged as it was then), the same journal and the same
   * listeners. A replayed message has no broker to acknowledge: its acknowledgement is the commit
   * made here before returning. It keeps out of the live group, whose PUBACKs wait for `commit()`;
   * a failure of this commit takes that group down too, as any failed commit does, and `commit()`
   * says so from `failedCommits`. Throws when the journal cannot be written: then nothing of the
   * replay was kept. Rejections are returned, not counted nor dead-lettered again: the letters
   * are the caller's to keep.
   */
  replay(messages: readonly ReplayedMessage[]): ReplayVerdict[] {
    const { journal, metrics, log, now } = this.options;
    const journaledAtMs = now();
    const accepted: Reading[] = [];
    const counts = new Map<string, number>();
    const verdicts = messages.map((message) => {
      const { readings, rejections } = decodeMessage(message.topic, message.payload, message.receivedAtMs, this.context);
      if (readings.length > 0) {
        // Journaled now, not at the first receive time: journal_oldest_age_seconds measures the backlog.
        journal.append(readings.map((reading) => this.encoder.line(reading)), journaledAtMs);
        accepted.push(...readings);
        for (const reading of readings) counts.set(reading.kind, (counts.get(reading.kind) ?? 0) + 1);
      }
      return { readings: readings.length, rejections };
    });
    if (accepted.length === 0) return verdicts;
    journal.commit();
    for (const [kind, count] of counts) metrics.readings.inc({ kind }, count);
    try {
      this.options.onAccepted?.(accepted);
    } catch (error) {
      log.error({ err: error }, 'a listener of accepted readings failed');
    }
    return verdicts;
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
    const topic = topicPreview(message.topic);
    log.warn({ topic, reason: rejection.reason, detail: rejection.detail, index: rejection.index }, 'message rejected');
    const persisted = deadLetters.add({
      received_at: new Date(receivedAtMs).toISOString(),
      topic,
      reason: rejection.reason,
      detail: rejection.detail,
      ...(rejection.index === undefined ? {} : { index: rejection.index }),
      payload: payloadPreview(message.payload),
      payload_bytes: message.payload.length,
    });
    metrics.deadLetters.set(deadLetters.size);
    // Said once when the dead-letter file stops taking entries (a full disk) and once when it
    // takes them again, not at every rejected message in between.
    if (!persisted && !this.deadLetterWritesFailing) {
      this.deadLetterWritesFailing = true;
      log.error({ err: deadLetters.lastWriteError }, 'dead letters cannot be written to disk; kept in memory only until the disk takes them again');
    } else if (persisted && this.deadLetterWritesFailing) {
      this.deadLetterWritesFailing = false;
      log.info('dead letters are written to disk again');
    }
  }
}
