/**
 * A bounded log of rejected messages that an operator reads through the API. The newest `limit`
 * entries are kept in memory and on disk (two files of at most `limit` lines each, the older one
 * dropped when the newer fills), so the log survives a restart and never outgrows its bound.
 *
 * The letters of a reason that a change elsewhere can cure (a borehole added to the registry) are
 * replayed through ingest (`replayDeadLetters`, docs/ingest.md "Replaying dead letters"): an
 * accepted letter leaves the log, one refused again stays once.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RejectReason, Rejection } from './decode.js';

/** How much of a rejected payload is kept: enough to see what was wrong, bounded. */
export const DEAD_LETTER_PAYLOAD_BYTES = 2048;

export interface DeadLetter {
  received_at: string;
  topic: string;
  reason: RejectReason;
  detail: string;
  /** Position in a batch when only that reading was rejected. */
  index?: number;
  /** The payload as text, cut to DEAD_LETTER_PAYLOAD_BYTES. */
  payload: string;
  payload_bytes: number;
}

export class DeadLetterLog {
  private entries: DeadLetter[] = [];
  private linesInCurrent = 0;
  /** A failed append may have left half a line: the next one starts on a line of its own. */
  private tornLine = false;
  private writeError: unknown = null;
  private readonly currentPath: string;
  private readonly previousPath: string;
  /** The whole log after a replay, complete once renamed here; see `rewrite`. */
  private readonly compactedPath: string;

  constructor(
    private readonly dir: string,
    private readonly limit: number,
  ) {
    this.currentPath = join(dir, 'dead-letters.jsonl');
    this.previousPath = join(dir, 'dead-letters.previous.jsonl');
    this.compactedPath = join(dir, 'dead-letters.compacted.jsonl');
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // A rewrite cut short by a crash: its file is the whole log, and it finishes now.
    if (existsSync(this.compactedPath)) this.finishRewrite();
    const previous = this.readFile(this.previousPath);
    const current = this.readFile(this.currentPath);
    this.linesInCurrent = current.length;
    this.entries = [...previous, ...current].slice(-this.limit);
  }

  /**
   * Keeps the entry; returns false when it could not be written to disk (a full disk, say). It
   * never throws: a rejected message is acknowledged whatever happens to its dead letter, and a
   * throw here would take the ingest path down with it. Such an entry is kept in memory only.
   */
  add(entry: DeadLetter): boolean {
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    try {
      if (this.linesInCurrent >= this.limit) {
        renameSync(this.currentPath, this.previousPath);
        this.linesInCurrent = 0;
        this.tornLine = false;
      }
      // The reader skips the empty line this may make.
      appendFileSync(this.currentPath, `${this.tornLine ? '\n' : ''}${JSON.stringify(entry)}\n`);
    } catch (error) {
      this.writeError = error;
      this.tornLine = true;
      return false;
    }
    this.tornLine = false;
    this.writeError = null;
    this.linesInCurrent += 1;
    return true;
  }

  /** Why the last write failed; null when it succeeded. */
  get lastWriteError(): unknown {
    return this.writeError;
  }

  /** Newest first. */
  newest(count: number, reason?: RejectReason): DeadLetter[] {
    const out: DeadLetter[] = [];
    for (let i = this.entries.length - 1; i >= 0 && out.length < count; i -= 1) {
      const entry = this.entries[i];
      if (entry && (reason === undefined || entry.reason === reason)) out.push(entry);
    }
    return out;
  }

  get size(): number {
    return this.entries.length;
  }

  /** Oldest first: a replay judges the letters in the order they were received. */
  oldest(count: number, filter: DeadLetterFilter): DeadLetter[] {
    const out: DeadLetter[] = [];
    for (const entry of this.entries) {
      if (out.length >= count) break;
      if (matchesFilter(entry, filter)) out.push(entry);
    }
    return out;
  }

  count(filter: DeadLetterFilter): number {
    return this.entries.reduce((n, entry) => (matchesFilter(entry, filter) ? n + 1 : n), 0);
  }

  /**
   * Puts each entry of `changes` (one of this log's own entries) in place of its replacements:
   * none to remove it, others to change its verdict. Returns false when the file could not be
   * rewritten; then the change holds in memory only, and the old entries come back at the next
   * start. Never throws, as `add` does not.
   */
  replace(changes: ReadonlyMap<DeadLetter, readonly DeadLetter[]>): boolean {
    if (changes.size === 0) return true;
    this.entries = this.entries.flatMap((entry) => changes.get(entry) ?? [entry]).slice(-this.limit);
    return this.rewrite();
  }

  /**
   * Writes the whole log to disk again, crash-safely with two files: the log goes whole to a
   * temporary file, renamed to `compactedPath` (from then on it is the log), then the current
   * file is removed and the compacted one becomes the previous one. A crash in between leaves
   * the compacted file, which `open` finishes with; it never leaves an entry twice.
   */
  private rewrite(): boolean {
    const temporary = `${this.compactedPath}.tmp`;
    try {
      const fd = openSync(temporary, 'w');
      try {
        writeSync(fd, this.entries.map((entry) => `${JSON.stringify(entry)}\n`).join(''));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, this.compactedPath);
    } catch (error) {
      rmSync(temporary, { force: true });
      this.writeError = error;
      return false;
    }
    try {
      this.finishRewrite();
    } catch (error) {
      // The compacted file is the log now; the next start finishes the rewrite with it.
      this.writeError = error;
      return false;
    }
    this.linesInCurrent = 0;
    this.tornLine = false;
    this.writeError = null;
    return true;
  }

  /** The current file goes first: until the rename, the compacted file is the whole log. */
  private finishRewrite(): void {
    rmSync(this.currentPath, { force: true });
    renameSync(this.compactedPath, this.previousPath);
  }

  private readFile(path: string): DeadLetter[] {
    if (!existsSync(path)) return [];
    const entries: DeadLetter[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line) as DeadLetter);
      } catch {
        // A line torn by a crash is skipped; the others are still worth reading.
      }
    }
    return entries;
  }
}

/** Topics are up to 64 KiB in MQTT; a dead letter keeps enough of one to tell what it was. */
const TOPIC_PREVIEW_CHARS = 200;

export function topicPreview(topic: string): string {
  return topic.length <= TOPIC_PREVIEW_CHARS ? topic : `${topic.slice(0, TOPIC_PREVIEW_CHARS)}… (${topic.length} characters)`;
}

export function payloadPreview(payload: Buffer): string {
  return payload.subarray(0, DEAD_LETTER_PAYLOAD_BYTES).toString('utf8');
}

/** The letters a replay takes: one reason, maybe one topic (exact) or one borehole. */
export interface DeadLetterFilter {
  reason: RejectReason;
  topic?: string | undefined;
  borehole?: string | undefined;
}

/** `{root}/{id}/{kind}`: the id is the second segment from the end, whatever the root. */
export const boreholeOfTopic = (topic: string): string | undefined => topic.split('/').at(-2);

export function matchesFilter(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    entry.reason === filter.reason &&
    (filter.topic === undefined || entry.topic === filter.topic) &&
    // A line edited by hand may hold anything: it matches no borehole rather than throw.
    (filter.borehole === undefined || (typeof entry.topic === 'string' && boreholeOfTopic(entry.topic) === filter.borehole))
  );
}

/**
 * The reasons whose letters a replay can turn into readings. A message refused for an unknown
 * borehole was valid but early: once the registry knows the borehole it is accepted. The others
 * judge the message itself (its topic, size, JSON, values, clock), which a replay judges again the
 * same way; a `store_rejected` letter is a line the time-series store refused after its reading
 * was accepted and judged by the rules, so ingest has nothing to add to it.
 */
export const REPLAYABLE_REASONS = ['unknown_borehole'] as const satisfies readonly RejectReason[];

/** Why letters of this reason are not replayed; null when they are. */
export function whyNotReplayable(reason: RejectReason): string | null {
  if ((REPLAYABLE_REASONS as readonly RejectReason[]).includes(reason)) return null;
  if (reason === 'store_rejected') {
    return 'store_rejected letters are lines the time-series store refused after their readings were accepted and judged: a replay through ingest cannot change the store\'s answer. Fix the store (a field type conflict, a retention period) and write the line by hand (docs/ingest.md)';
  }
  return `${reason} letters are refused for what the message itself holds, and a replay would judge it the same way: only the device can send it right. Replayable: ${REPLAYABLE_REASONS.join(', ')}`;
}

/** A kept message as ingest takes it again: at the time it was first received. */
export interface ReplayedMessage {
  topic: string;
  payload: Buffer;
  receivedAtMs: number;
}

/** What ingest made of a replayed message: the readings it accepted, and what it refused. */
export interface ReplayVerdict {
  readings: number;
  rejections: Rejection[];
}

/**
 * Why a letter cannot be replayed whatever the registry says: its payload was cut to
 * DEAD_LETTER_PAYLOAD_BYTES when it was kept (a longer batch), or its line was edited by hand
 * into something that is not a dead letter. Reported in `still_refused` under this name.
 */
export type UnreplayableReason = 'payload_truncated' | 'unreadable';

export function unreplayable(entry: DeadLetter): UnreplayableReason | null {
  if (typeof entry.payload !== 'string' || typeof entry.topic !== 'string' || !Number.isFinite(Date.parse(entry.received_at))) return 'unreadable';
  return entry.payload_bytes > DEAD_LETTER_PAYLOAD_BYTES ? 'payload_truncated' : null;
}

export function replayedMessage(entry: DeadLetter): ReplayedMessage {
  return { topic: entry.topic, payload: Buffer.from(entry.payload, 'utf8'), receivedAtMs: Date.parse(entry.received_at) };
}

/**
 * What a letter judged again leaves in the log: nothing when all its readings were accepted;
 * itself, unchanged, when it is refused as before (kept once, not added again); else the new
 * verdict, one letter per rejection as the live path makes them (a batch whose borehole is known
 * now but which holds an invalid reading: that reading's letter, with its index).
 */
export function settleLetter(entry: DeadLetter, verdict: ReplayVerdict): DeadLetter[] {
  const [only, ...more] = verdict.rejections;
  if (!only) return [];
  if (more.length === 0 && only.reason === entry.reason && only.index === entry.index) return [entry];
  return verdict.rejections.map((rejection) => ({
    received_at: entry.received_at,
    topic: entry.topic,
    reason: rejection.reason,
    detail: rejection.detail,
    ...(rejection.index === undefined ? {} : { index: rejection.index }),
    payload: entry.payload,
    payload_bytes: entry.payload_bytes,
  }));
}

export interface ReplayResult {
  /** Letters judged again. */
  replayed: number;
  /** Readings of theirs accepted and journaled. */
  acceptedReadings: number;
  /** Letters the replay leaves in the log, by the reason they now carry. */
  stillRefused: Record<string, number>;
  /** Letters of the filter still in the log. */
  remaining: number;
  /** False when the rewritten log could not be written to disk (see `DeadLetterLog.replace`). */
  persisted: boolean;
}

/**
 * Replays the oldest `limit` letters of `filter` through `judge` (ingest, which journals and
 * commits what it accepts), then settles each in the log. When `judge` throws (the journal cannot
 * be written) nothing has changed and the letters stay as they were.
 */
export function replayDeadLetters(
  log: DeadLetterLog,
  judge: (messages: readonly ReplayedMessage[]) => ReplayVerdict[],
  filter: DeadLetterFilter,
  limit: number,
): ReplayResult {
  const letters = log.oldest(limit, filter);
  const stillRefused: Record<string, number> = {};
  const refused = (reason: string): void => {
    stillRefused[reason] = (stillRefused[reason] ?? 0) + 1;
  };
  const replayable: DeadLetter[] = [];
  for (const letter of letters) {
    const why = unreplayable(letter);
    if (why) refused(why);
    else replayable.push(letter);
  }
  const verdicts = replayable.length === 0 ? [] : judge(replayable.map(replayedMessage));
  const changes = new Map<DeadLetter, DeadLetter[]>();
  let acceptedReadings = 0;
  replayable.forEach((letter, index) => {
    const verdict = verdicts[index];
    if (!verdict) {
      // A judge that answered fewer verdicts than it was given messages: the rest stay as they are.
      refused(letter.reason);
      return;
    }
    acceptedReadings += verdict.readings;
    const after = settleLetter(letter, verdict);
    for (const entry of after) refused(entry.reason);
    if (after.length !== 1 || after[0] !== letter) changes.set(letter, after);
  });
  const persisted = log.replace(changes);
  return { replayed: letters.length, acceptedReadings, stillRefused, remaining: log.count(filter), persisted };
}
