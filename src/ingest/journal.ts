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
 * The trailer's CRC covers the lines before it, and its point count must equal their number.
 *
 * Damage found when a segment is read back:
 * - after the last valid record, with no complete record in it (half a record, a zero-filled
 *   tail): what a crash or a power cut leaves. It is cut off (`onCorruption`, kind `torn_tail`).
 *   Those bytes were never a whole record, so there is nothing in them to keep.
 * - anything else (a record with a complete trailer whose CRC fails, damage with valid records
 *   after it): the disk changed bytes that had been written whole, so acknowledged readings may
 *   be in them. Every valid record, before and after the damage, is still sent; the segment is
 *   kept in `dir/quarantine/` for an operator (`onCorruption`, kind `damaged`), never deleted.
 *
 * Durability: `commit()` hands the bytes to the kernel with write(2), so a crash of the process
 * loses nothing acknowledged after it. The data reaches the disk at the next fdatasync, every
 * `fsyncIntervalMs` and at shutdown: a power cut can cost the readings acknowledged in that last
 * interval. `fsyncIntervalMs: 0` syncs at every commit, before any acknowledgement.
 *
 * A full disk: `commit()` throws and keeps nothing of the group (the messages must not be
 * acknowledged); the next commit tries again. Nothing else in here throws out of a timer.
 */
import { closeSync, fdatasyncSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

export interface CorruptionInfo {
  /** `torn_tail`: a record cut short at the end (crash, power cut), cut off. `damaged`: bytes of whole records changed; the segment is quarantined. */
  kind: 'torn_tail' | 'damaged';
  segment: string;
  /** Where the first damaged byte is. */
  offset: number;
  /** Bytes that belong to no valid record. */
  droppedBytes: number;
  /** Every damaged byte range, in order. */
  ranges: readonly SegmentDamage[];
  /** Valid records kept from the segment (before and after the damage). */
  keptRecords: number;
  /** `damaged` only: the copy an operator can inspect; null when it could not be made yet (it is moved there once the segment is sent). */
  quarantinedTo?: string | null;
}

export interface JournalOptions {
  dir: string;
  fsyncIntervalMs: number;
  /** A segment is closed once it grows past this. */
  segmentMaxBytes?: number;
  now: () => number;
  onCorruption?: (info: CorruptionInfo) => void;
  /** A background failure that nothing else reports (a failed sync, a segment that could not be deleted or quarantined). */
  onError?: (info: { operation: string; path?: string; err: unknown }) => void;
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

/** Damage found since the journal was opened. */
export interface JournalDamage {
  tornTails: number;
  damagedSegments: number;
  /** Bytes that belonged to no valid record, torn tails included. */
  droppedBytes: number;
}

export interface SegmentDamage {
  offset: number;
  length: number;
}

interface Record_ {
  /** The record's lines, a view into the segment's buffer (no copy). */
  body: Buffer;
  points: number;
}

interface ClosedSegment {
  id: number;
  /** Bytes of the file that belong to the journal (a failed write may have left more after them). */
  bytes: number;
  points: number;
  firstAtMs: number | null;
  /** Batches not yet handed out; null until the file is read. */
  queue: JournalBatch[] | null;
  loading: Promise<JournalBatch[]> | null;
  outstanding: number;
  /** Damage already reported (at recovery), so reading the segment again does not repeat it. */
  damageReported: boolean;
  /** Damaged, and the quarantine copy could not be made: move the file there instead of deleting it. */
  quarantineOnConfirm: boolean;
}

const SEGMENT_SUFFIX = '.seg';
const QUARANTINE_DIR = 'quarantine';
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
  private failedCommitCount = 0;
  /** A background sync failed: the next commit reports it rather than acknowledging on top of it. */
  private syncError: unknown = null;
  private readonly damageSeen: JournalDamage = { tornTails: 0, damagedSegments: 0, droppedBytes: 0 };

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
    this.activeFd = openSync(join(this.options.dir, segmentName(this.activeId)), 'w');
    this.dirDirty = true;
    if (this.options.fsyncIntervalMs > 0) {
      this.fsyncTimer = setInterval(() => this.backgroundSync(), this.options.fsyncIntervalMs);
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
   * Commits that failed since the journal was opened. Whoever appended records keeps this number
   * from before its first append: if it changed by the time its own `commit()` returns, a commit by
   * someone else (an alert written between two messages) took the group down with it, and the
   * messages must not be acknowledged.
   */
  get failedCommits(): number {
    return this.failedCommitCount;
  }

  /** Damage found in segments since the journal was opened. */
  get damage(): Readonly<JournalDamage> {
    return this.damageSeen;
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
    if (this.syncError !== null) {
      const cause = this.syncError;
      this.syncError = null;
      this.failedCommitCount += 1;
      throw new Error('the journal could not be synced to disk', { cause });
    }
    try {
      let written = 0;
      while (written < data.length) {
        written += writeSync(this.activeFd, data, written, data.length - written, this.activeBytes + written);
      }
    } catch (error) {
      this.failedCommitCount += 1;
      this.discardFailedWrite();
      throw error;
    }
    this.activeBytes += data.length;
    this.activePoints += points;
    this.activeFirstAtMs ??= firstAtMs;
    this.dirty = true;
    if (this.options.fsyncIntervalMs === 0) {
      try {
        this.sync();
      } catch (error) {
        // Written but maybe not on the disk: not acknowledged. The broker's copy comes again and
        // lands next to this one; duplicates collapse in the store.
        this.failedCommitCount += 1;
        throw error;
      }
    }
    if (this.activeBytes >= this.segmentMaxBytes) {
      try {
        this.rotate();
      } catch (error) {
        // The records are written; the segment grows a little past its size until a rotation works.
        this.options.onError?.({ operation: 'rotate', err: error });
      }
    }
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
        segment.loading ??= this.readBatches(segment, maxPoints);
        let batches: JournalBatch[];
        try {
          batches = await segment.loading;
        } catch (error) {
          // A failed read is tried again by the next call, not remembered.
          segment.loading = null;
          throw error;
        }
        segment.queue ??= batches;
        if (segment.queue.length === 0 && segment.outstanding === 0) {
          // Nothing valid in it (damage found while reading): no confirmation will come to remove it.
          await this.forget(segment);
          return this.nextBatch(maxPoints, lingerMs);
        }
      }
      const batch = segment.queue.shift();
      if (batch) {
        segment.outstanding += 1;
        return batch;
      }
    }
    if (this.activePoints >= maxPoints || (this.activePoints > 0 && (this.activeAgeMs() ?? 0) >= lingerMs)) {
      // On a full disk the new segment may not be creatable: the caller backs off and asks again.
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
    const segment = this.closed.find((s) => s.id === batch.segment);
    if (!segment) return;
    segment.outstanding -= 1;
    segment.points -= batch.points;
    if (segment.outstanding === 0 && segment.queue?.length === 0) await this.forget(segment);
  }

  /** Removes a segment that holds nothing more to send: deleted, or moved to quarantine when damaged. */
  private async forget(segment: ClosedSegment): Promise<void> {
    const index = this.closed.indexOf(segment);
    if (index === -1) return;
    this.closed.splice(index, 1);
    const path = join(this.options.dir, segmentName(segment.id));
    try {
      if (segment.quarantineOnConfirm) await this.moveToQuarantine(path, segment.id);
      else await unlink(path);
    } catch (error) {
      // Left where it is, the next start reads it again: its records are sent twice and stored
      // once. Better than losing a damaged segment or stopping the drain.
      this.options.onError?.({ operation: segment.quarantineOnConfirm ? 'quarantine' : 'delete segment', path, err: error });
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
    try {
      this.commit();
    } catch {
      // Nothing of that group was acknowledged (a full disk, say): the broker still has it.
    }
    this.syncError = null;
    try {
      this.sync();
    } finally {
      closeSync(this.activeFd);
      this.activeFd = null;
    }
  }

  /** The timer's sync: a throw there would end the process, so a failure waits for the next commit. */
  private backgroundSync(): void {
    try {
      this.sync();
    } catch (error) {
      // Reported once until a commit has passed it on, not at every tick of a disk that stays broken.
      if (this.syncError === null) this.options.onError?.({ operation: 'sync', err: error });
      this.syncError = error;
    }
  }

  private sync(): void {
    // fs calls throw Error objects (ErrnoException).
    let failure: Error | null = null;
    for (const fd of this.unsyncedFds.splice(0)) {
      try {
        fdatasyncSync(fd);
      } catch (error) {
        failure ??= error as Error;
      }
      try {
        closeSync(fd);
      } catch (error) {
        failure ??= error as Error;
      }
    }
    if (failure !== null) throw failure;
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

  /**
   * After a failed write, cuts off whatever part of the group reached the file. If even that
   * fails, the active segment is closed at its last good byte (readers never look past it) and a
   * new one started; if that fails too, the next write lands on the same offset and covers it.
   */
  private discardFailedWrite(): void {
    if (this.activeFd === null) return;
    try {
      ftruncateSync(this.activeFd, this.activeBytes);
      return;
    } catch (error) {
      this.options.onError?.({ operation: 'truncate after a failed write', err: error });
    }
    try {
      this.rotate();
    } catch {
      // See above: the next write covers it.
    }
  }

  /** Closes the active segment and starts the next; changes nothing when the new file cannot be created. */
  private rotate(): void {
    const nextId = this.activeId + 1;
    const nextFd = openSync(join(this.options.dir, segmentName(nextId)), 'w');
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
      damageReported: false,
      quarantineOnConfirm: false,
    });
    this.activeId = nextId;
    this.activeFd = nextFd;
    this.activeBytes = 0;
    this.activePoints = 0;
    this.activeFirstAtMs = null;
    this.dirDirty = true;
  }

  /** Scans a segment left by a previous run: a torn tail is cut off, a damaged segment quarantined. */
  private async recover(id: number): Promise<ClosedSegment | null> {
    const path = join(this.options.dir, segmentName(id));
    const data = await readFile(path);
    const parsed = parseSegment(data);
    let bytes = data.length;
    let quarantineOnConfirm = false;
    if (parsed.damaged.length > 0) {
      if (parsed.corrupt) {
        quarantineOnConfirm = (await this.reportDamage(id, parsed)) === null;
      } else {
        this.reportTornTail(path, parsed, data.length);
        try {
          await truncate(path, parsed.validBytes);
          bytes = parsed.validBytes;
        } catch (error) {
          // Readers skip the torn bytes anyway; the file is tidied at the next start.
          this.options.onError?.({ operation: 'truncate a torn tail', path, err: error });
        }
      }
    }
    if (parsed.records.length === 0) {
      try {
        if (quarantineOnConfirm) await this.moveToQuarantine(path, id);
        else await unlink(path);
      } catch (error) {
        // Found again at the next start; it holds nothing to send meanwhile.
        this.options.onError?.({ operation: quarantineOnConfirm ? 'quarantine' : 'delete segment', path, err: error });
      }
      return null;
    }
    const points = parsed.records.reduce((sum, r) => sum + r.points, 0);
    return {
      id,
      bytes,
      points,
      firstAtMs: parsed.firstAtMs,
      queue: null,
      loading: null,
      outstanding: 0,
      damageReported: true,
      quarantineOnConfirm,
    };
  }

  private async readBatches(segment: ClosedSegment, maxPoints: number): Promise<JournalBatch[]> {
    const { id } = segment;
    // Past `bytes` there can only be what a failed write left: not the journal's.
    const data = (await readFile(join(this.options.dir, segmentName(id)))).subarray(0, segment.bytes);
    const parsed = parseSegment(data);
    if (parsed.damaged.length > 0 && !segment.damageReported) {
      // Bytes written whole in this run read back different: the disk damaged them.
      segment.damageReported = true;
      segment.quarantineOnConfirm = (await this.reportDamage(id, { ...parsed, corrupt: true })) === null;
      segment.points = parsed.records.reduce((sum, r) => sum + r.points, 0);
    }
    const batches: JournalBatch[] = [];
    let parts: Buffer[] = [];
    let points = 0;
    // One copy per batch, straight from the file's bytes: no string is built for the bodies.
    for (const record of parsed.records) {
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

  private reportTornTail(path: string, parsed: ParsedSegment, size: number): void {
    this.damageSeen.tornTails += 1;
    this.damageSeen.droppedBytes += size - parsed.validBytes;
    this.options.onCorruption?.({
      kind: 'torn_tail',
      segment: path,
      offset: parsed.validBytes,
      droppedBytes: size - parsed.validBytes,
      ranges: parsed.damaged,
      keptRecords: parsed.records.length,
    });
  }

  /** Counts and reports a damaged segment after keeping a copy; returns the copy, or null when none could be made. */
  private async reportDamage(id: number, parsed: ParsedSegment): Promise<string | null> {
    const path = join(this.options.dir, segmentName(id));
    let quarantinedTo: string | null = null;
    try {
      quarantinedTo = await this.linkIntoQuarantine(path, id);
    } catch (error) {
      this.options.onError?.({ operation: 'quarantine', path, err: error });
    }
    const droppedBytes = parsed.damaged.reduce((sum, range) => sum + range.length, 0);
    this.damageSeen.damagedSegments += 1;
    this.damageSeen.droppedBytes += droppedBytes;
    this.options.onCorruption?.({
      kind: 'damaged',
      segment: path,
      offset: parsed.damaged[0]?.offset ?? 0,
      droppedBytes,
      ranges: parsed.damaged,
      keptRecords: parsed.records.length,
      quarantinedTo,
    });
    return quarantinedTo;
  }

  /**
   * A hard link: no space needed (the disk may be full), and the damaged bytes stay exactly as
   * found even once the segment itself is sent and deleted. The same file found again after a
   * restart is not linked twice.
   */
  private async linkIntoQuarantine(path: string, id: number): Promise<string> {
    const dir = join(this.options.dir, QUARANTINE_DIR);
    await mkdir(dir, { recursive: true });
    const { ino, dev } = await stat(path);
    for (const name of await readdir(dir)) {
      const existing = await stat(join(dir, name)).catch(() => null);
      if (existing && existing.ino === ino && existing.dev === dev) return join(dir, name);
    }
    const target = this.quarantinePath(id);
    await link(path, target);
    return target;
  }

  private async moveToQuarantine(path: string, id: number): Promise<void> {
    await mkdir(join(this.options.dir, QUARANTINE_DIR), { recursive: true });
    await rename(path, this.quarantinePath(id));
  }

  /** Segment numbers start again at 1 once the journal is empty, so the name carries the time too. */
  private quarantinePath(id: number): string {
    return join(this.options.dir, QUARANTINE_DIR, `${segmentName(id)}.${this.options.now()}.damaged`);
  }
}

const HASH = 0x23; // '#'
const NEWLINE = 0x0a;
const NUL = 0;
/** A line of ours is far shorter; bounds the search for a record's start inside damaged bytes. */
const MAX_RESYNC_BYTES = 4096;
/** Bounds the CRC work of that search in one segment, however damaged: start-up must not hang on it. */
const MAX_RESYNC_CRC_BYTES = 256 * 1024 * 1024;
const TRAILER = /^#([0-9a-f]{8}) ([1-9][0-9]*) ([0-9]+)$/;

export interface ParsedSegment {
  /** The valid records, in order, wherever they are in the segment. */
  records: Record_[];
  /** End of the last valid record. */
  validBytes: number;
  firstAtMs: number | null;
  /** Byte ranges that belong to no valid record, in order. */
  damaged: SegmentDamage[];
  /**
   * Whether the damage went beyond a torn write: valid records after it, or a complete trailer
   * inside it (a record that was written whole, then changed).
   */
  corrupt: boolean;
}

/**
 * Splits a segment into its valid records. A record is valid when its trailer is well formed, its
 * point count is the number of lines before it, and its CRC matches them. Damage does not stop the
 * scan: each later trailer finds its own record's start by counting its lines back, so what
 * follows a damaged record is kept. Line protocol never holds a NUL (control characters are
 * replaced), so when a record's first line reaches back into damage its start is looked for after
 * the last NUL first (a zero-filled block), then byte by byte (garbage).
 */
export function parseSegment(data: Buffer): ParsedSegment {
  const records: Record_[] = [];
  const damaged: SegmentDamage[] = [];
  let firstAtMs: number | null = null;
  let corrupt = false;
  let boundary = 0;
  let validBytes = 0;
  let lineStarts: number[] = [];
  let lineStart = 0;
  const budget = { bytes: MAX_RESYNC_CRC_BYTES };
  while (lineStart < data.length) {
    const lineEnd = data.indexOf(NEWLINE, lineStart);
    if (lineEnd === -1) break;
    if (data[lineStart] !== HASH) {
      lineStarts.push(lineStart);
    } else {
      const match = TRAILER.exec(data.toString('latin1', lineStart, lineEnd));
      const crc = match ? Number.parseInt(match[1] ?? '', 16) : NaN;
      const points = match ? Number(match[2]) : NaN;
      const start = match ? recordStart(data, lineStarts, lineStart, points, crc, budget) : null;
      if (start === null) {
        // A complete trailer line that validates nothing: a record written whole was changed.
        corrupt = true;
      } else {
        if (start > boundary) damaged.push({ offset: boundary, length: start - boundary });
        records.push({ body: data.subarray(start, lineStart), points });
        firstAtMs ??= Number(match?.[3]);
        boundary = lineEnd + 1;
        validBytes = boundary;
        lineStarts = [];
      }
    }
    lineStart = lineEnd + 1;
  }
  if (boundary < data.length) damaged.push({ offset: boundary, length: data.length - boundary });
  if (damaged.some((range) => range.offset + range.length < data.length)) corrupt = true;
  return { records, validBytes, firstAtMs, damaged, corrupt };
}

/** Where the record that ends at `trailerAt` starts, or null when its lines do not match its CRC. */
function recordStart(data: Buffer, lineStarts: readonly number[], trailerAt: number, points: number, crc: number, budget: { bytes: number }): number | null {
  const start = lineStarts[lineStarts.length - points];
  if (start === undefined) return null;
  if (crc32(data.subarray(start, trailerAt)) === crc) return start;
  // The first line may begin inside damage that has no newline of its own.
  const firstLineEnd = (points > 1 ? (lineStarts[lineStarts.length - points + 1] ?? trailerAt) : trailerAt) - 1;
  const nul = data.subarray(start, firstLineEnd).lastIndexOf(NUL);
  if (nul !== -1) {
    const candidate = start + nul + 1;
    budget.bytes -= trailerAt - candidate;
    if (candidate < firstLineEnd && crc32(data.subarray(candidate, trailerAt)) === crc) return candidate;
  }
  const lowest = Math.max(start + 1, firstLineEnd - MAX_RESYNC_BYTES);
  for (let candidate = firstLineEnd - 1; candidate >= lowest && budget.bytes > 0; candidate -= 1) {
    budget.bytes -= trailerAt - candidate;
    if (crc32(data.subarray(candidate, trailerAt)) === crc) return candidate;
  }
  return null;
}
