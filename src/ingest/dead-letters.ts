/**
 * A bounded log of rejected messages that an operator reads through the API. The newest `limit`
 * entries are kept in memory and on disk (two files of at most `limit` lines each, the older one
 * dropped when the newer fills), so the log survives a restart and never outgrows its bound.
 */
import { appendFileSync, existsSync, readFileSync, renameSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RejectReason } from './decode.js';

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

  constructor(
    private readonly dir: string,
    private readonly limit: number,
  ) {
    this.currentPath = join(dir, 'dead-letters.jsonl');
    this.previousPath = join(dir, 'dead-letters.previous.jsonl');
  }

  async open(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
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
