/**
 * The durable journal between MQTT and the time-series store.
 *
 * `@influxdata/influxdb-client` keeps failed writes only in memory, so a message is acknowledged
 * to the broker once it is here, and only what the store confirmed is ever forgotten.
 *
 * Layout: numbered segment files under `dir`. New records go to the active (highest) segment with
 * one positional write(2) each; closed segments are read back by the drain in batches and deleted
 * once every batch in them is confirmed. A record is one accepted MQTT message:
 *
 *     <line protocol, one line per point>\n ... #<crc32 hex> <points> <receivedAtMs>\n
 *
 * The trailer's CRC covers the lines before it, so a torn write at the end of a segment (power
 * cut, disk full) is detected on start-up and cut off.
 *
 * Durability: `commit()` hands the bytes to the kernel with write(2), so a crash of the process
 * loses nothing acknowledged after it. The data reaches the disk at the next fdatasync, every
 * `fsyncIntervalMs` and at shutdown: a power cut can cost the readings acknowledged in that last
 * interval. `fsyncIntervalMs: 0` syncs at every commit, before any acknowledgement.
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface JournalOptions {
  dir: string;
  fsyncIntervalMs: number;
  /** A segment is closed once it grows past this. */
  segmentMaxBytes?: number;
  now: () => number;
  onCorruption?: (info: { segment: string; offset: number; droppedBytes: number }) => void;
}

export interface JournalBatch {
  readonly segment: number;
  /** Line protocol (UTF-8), trailers stripped, ready for the store. */
  readonly body: Buffer;
  readonly points: number;
}

export interface JournalStats {
  pendingPoints: number;
  pendingBytes: number;
  segments: number;
  /** Receive time of the oldest record not yet confirmed by the store; null when empty. */
  oldestAtMs: number | null;
}

interface Record_ {
  /** The record's lines, a view into the segment's buffer (no copy). */
  body: Buffer;
  points: number;
}

interface ClosedSegment {
  id: number;
  bytes: number;
  points: number;
  firstAtMs: number | null;
  /** Batches not yet handed out; null until the file is read. */
  queue: JournalBatch[] | null;
  loading: Promise<JournalBatch[]> | null;
  outstanding: number;
}

const SEGMENT_SUFFIX = '.seg';
const DEFAULT_SEGMENT_MAX_BYTES = 8 * 1024 * 1024;

const segmentName = (id: number): string => `${String(id).padStart(12, '0')}${SEGMENT_SUFFIX}`;

export class Journal {
  private readonly closed: ClosedSegment[] = [];
  private activeId = 0;
  private activeFd: number | null = null;
  private activeBytes = 0;
  private activePoints = 0;
  private activeFirstAtMs: number | null = null;
  private uncommitted: string[] = [];
  private uncommittedPoints = 0;
  private uncommittedFirstAtMs: number | null = null;
  private dirty = false;
  private dirDirty = false;
  private fsyncTimer: NodeJS.Timeout | null = null;
  /** Closed segments' descriptors, kept open until the next sync so rotation costs no fsync. */
  private unsyncedFds: number[] = [];
  private readonly segmentMaxBytes: number;

  constructor(private readonly options: JournalOptions) {
    this.segmentMaxBytes = options.segmentMaxBytes ?? DEFAULT_SEGMENT_MAX_BYTES;
  }

  /** Recovers what a previous run left, then opens a fresh active segment. */
  async open(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    const ids = (await readdir(this.options.dir))
      .filter((name) => name.endsWith(SEGMENT_SUFFIX))
      .map((name) => Number.parseInt(name, 10))
      .filter((id) => Number.isSafeInteger(id))
      .sort((a, b) => a - b);
    for (const id of ids) {
      const segment = await this.recover(id);
      if (segment) this.closed.push(segment);
    }
    this.activeId = (ids.at(-1) ?? 0) + 1;
    this.openActive();
    if (this.options.fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.sync(), this.options.fsyncIntervalMs);
      this.fsyncTimer.unref();
    }
  }

  /**
   * Adds one record (one accepted message) to the group being committed. Nothing is durable, and
   * nothing may be acknowledged, until `commit()` has returned.
   */
  append(lines: readonly string[], receivedAtMs: number): void {
    if (this.activeFd === null) throw new Error('journal is not open');
    if (lines.length === 0) return;
    const body = `${lines.join('\n')}\n`;
    this.uncommitted.push(`${body}#${crc32(body).toString(16).padStart(8, '0')} ${lines.length} ${receivedAtMs}\n`);
    this.uncommittedPoints += lines.length;
    this.uncommittedFirstAtMs ??= receivedAtMs;
  }

  /**
   * Writes every appended record with one positional write(2): a group commit, so the cost of
   * the syscall is shared by all the messages of an event-loop turn. When this returns, the
   * records survive a crash of the process. When it throws (disk full, I/O error) none of them
   * was kept, and the messages they came from must not be acknowledged.
   */
  commit(): void {
    if (this.uncommitted.length === 0) return;
    if (this.activeFd === null) throw new Error('journal is not open');
    const data = Buffer.from(this.uncommitted.join(''));
    const points = this.uncommittedPoints;
    const firstAtMs = this.uncommittedFirstAtMs;
    this.uncommitted = [];
    this.uncommittedPoints = 0;
    this.uncommittedFirstAtMs = null;
    try {
      let written = 0;
      while (written < data.length) {
        written += writeSync(this.activeFd, data, written, data.length - written, this.activeBytes + written);
      }
    } catch (error) {
      // Cut off whatever part of the group did reach the file, so the next group starts clean.
      try {
        ftruncateSync(this.activeFd, this.activeBytes);
      } catch {
        this.rotate();
      }
      throw error;
    }
    this.activeBytes += data.length;
    this.activePoints += points;
    this.activeFirstAtMs ??= firstAtMs;
    this.dirty = true;
    if (this.options.fsyncIntervalMs === 0) this.sync();
    if (this.activeBytes >= this.segmentMaxBytes) this.rotate();
  }

  /**
   * The next batch to send, oldest first, or null when none is ready. Records wait in the active
   * segment until it holds a full batch or its oldest record is `lingerMs` old, so that a busy
   * stream goes out in large batches and a quiet one without delay.
   */
  async nextBatch(maxPoints: number, lingerMs = 0): Promise<JournalBatch | null> {
    for (const segment of this.closed) {
      if (segment.queue === null) {
        // Concurrent callers share one read, so no batch is handed out twice.
        segment.loading ??= this.readBatches(segment.id, maxPoints);
        const batches = await segment.loading;
        segment.queue ??= batches;
      }
      const batch = segment.queue.shift();
      if (batch) {
        segment.outstanding += 1;
        return batch;
      }
    }
    if (this.activePoints >= maxPoints || (this.activePoints > 0 && (this.activeAgeMs() ?? 0) >= lingerMs)) {
      this.rotate();
      return this.nextBatch(maxPoints, lingerMs);
    }
    return null;
  }

  /** How long the oldest record of the active segment has waited; null when it is empty. */
  activeAgeMs(): number | null {
    return this.activeFirstAtMs === null ? null : this.options.now() - this.activeFirstAtMs;
  }

  /** The store confirmed the batch: forget it, and delete its segment once all are confirmed. */
  async confirm(batch: JournalBatch): Promise<void> {
    const index = this.closed.findIndex((s) => s.id === batch.segment);
    const segment = this.closed[index];
    if (!segment) return;
    segment.outstanding -= 1;
    segment.points -= batch.points;
    if (segment.outstanding === 0 && segment.queue?.length === 0) {
      this.closed.splice(index, 1);
      await unlink(join(this.options.dir, segmentName(segment.id)));
    }
  }

  /** Hands a batch back (the store failed): it is sent again before anything newer in its segment. */
  release(batch: JournalBatch): void {
    const segment = this.closed.find((s) => s.id === batch.segment);
    if (!segment) return;
    segment.outstanding -= 1;
    segment.queue?.unshift(batch);
  }

  stats(): JournalStats {
    let pendingPoints = this.activePoints;
    let pendingBytes = this.activeBytes;
    let oldestAtMs: number | null = null;
    for (const segment of this.closed) {
      pendingPoints += segment.points;
      pendingBytes += segment.bytes;
      if (segment.firstAtMs !== null) oldestAtMs = Math.min(oldestAtMs ?? Infinity, segment.firstAtMs);
    }
    if (this.activeFirstAtMs !== null) oldestAtMs = Math.min(oldestAtMs ?? Infinity, this.activeFirstAtMs);
    return { pendingPoints, pendingBytes, segments: this.closed.length + 1, oldestAtMs };
  }

  /** Flushes to disk and closes; what is still pending is sent by the next run. */
  close(): void {
    if (this.fsyncTimer) clearInterval(this.fsyncTimer);
    this.fsyncTimer = null;
    if (this.activeFd === null) return;
    this.commit();
    this.sync();
    closeSync(this.activeFd);
    this.activeFd = null;
  }

  private sync(): void {
    for (const fd of this.unsyncedFds.splice(0)) {
      fdatasyncSync(fd);
      closeSync(fd);
    }
    if (this.activeFd === null) return;
    if (this.dirty) {
      fdatasyncSync(this.activeFd);
      this.dirty = false;
    }
    if (this.dirDirty) {
      // A new segment's directory entry must reach the disk too, or its data is unreachable.
      const dirFd = openSync(this.options.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
      this.dirDirty = false;
    }
  }

  private openActive(): void {
    this.activeFd = openSync(join(this.options.dir, segmentName(this.activeId)), 'w');
    this.activeBytes = 0;
    this.activePoints = 0;
    this.activeFirstAtMs = null;
    this.dirDirty = true;
  }

  private rotate(): void {
    if (this.activeFd !== null) {
      if (this.options.fsyncIntervalMs === 0) closeSync(this.activeFd);
      else this.unsyncedFds.push(this.activeFd);
    }
    this.closed.push({
      id: this.activeId,
      bytes: this.activeBytes,
      points: this.activePoints,
      firstAtMs: this.activeFirstAtMs,
      queue: null,
      loading: null,
      outstanding: 0,
    });
    this.activeId += 1;
    this.openActive();
  }

  /** Scans a segment left by a previous run, cutting off a torn or corrupt tail. */
  private async recover(id: number): Promise<ClosedSegment | null> {
    const path = join(this.options.dir, segmentName(id));
    const { records, validBytes, firstAtMs } = parseSegment(await readFile(path));
    const { size } = await stat(path);
    if (validBytes < size) {
      this.options.onCorruption?.({ segment: path, offset: validBytes, droppedBytes: size - validBytes });
      await truncate(path, validBytes);
    }
    if (records.length === 0) {
      await unlink(path);
      return null;
    }
    const points = records.reduce((sum, r) => sum + r.points, 0);
    return { id, bytes: validBytes, points, firstAtMs, queue: null, loading: null, outstanding: 0 };
  }

  private async readBatches(id: number, maxPoints: number): Promise<JournalBatch[]> {
    const { records } = parseSegment(await readFile(join(this.options.dir, segmentName(id))));
    const batches: JournalBatch[] = [];
    let parts: Buffer[] = [];
    let points = 0;
    // One copy per batch, straight from the file's bytes: no string is built for the bodies.
    for (const record of records) {
      if (points > 0 && points + record.points > maxPoints) {
        batches.push({ segment: id, body: Buffer.concat(parts), points });
        parts = [];
        points = 0;
      }
      parts.push(record.body);
      points += record.points;
    }
    if (points > 0) batches.push({ segment: id, body: Buffer.concat(parts), points });
    return batches;
  }
}

const HASH = 0x23; // '#'
const NEWLINE = 0x0a;

/**
 * Splits a segment into records, stopping at the first record whose trailer is missing or whose
 * CRC does not match: everything after a torn write is unusable.
 */
export function parseSegment(data: Buffer): { records: Record_[]; validBytes: number; firstAtMs: number | null } {
  const records: Record_[] = [];
  let firstAtMs: number | null = null;
  let recordStart = 0;
  let lineStart = 0;
  while (lineStart < data.length) {
    const lineEnd = data.indexOf(NEWLINE, lineStart);
    if (lineEnd === -1) break;
    if (data[lineStart] === HASH) {
      const [crcHex, pointsText, atText] = data.toString('latin1', lineStart + 1, lineEnd).split(' ');
      const body = data.subarray(recordStart, lineStart);
      const points = Number(pointsText);
      if (crcHex === undefined || Number.parseInt(crcHex, 16) !== crc32(body) || !Number.isSafeInteger(points)) break;
      records.push({ body, points });
      firstAtMs ??= Number(atText);
      recordStart = lineEnd + 1;
    }
    lineStart = lineEnd + 1;
  }
  return { records, validBytes: recordStart, firstAtMs };
}
