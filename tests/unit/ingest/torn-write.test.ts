/**
 * What a crash, a power cut or a failing disk leaves in a journal segment, and what the next
 * start makes of it: the damage is detected (reported and counted), every valid record is still
 * sent, the journal takes new records, and bytes that had been written whole are never deleted
 * without a copy an operator can inspect.
 */
import { existsSync, mkdtempSync as makeTempDir, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Journal, parseSegment, type CorruptionInfo } from '../../../src/ingest/journal.js';

const SEGMENT = '000000000001.seg';

/** Hundreds of directories a run: removed at the end. */
const made: string[] = [];
function mkdtempSync(prefix: string): string {
  const dir = makeTempDir(prefix);
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const line = (i: number): string => `flow,borehole=khabou,region=Kayes rate_lpm=${40 + (i % 17)} ${1_770_000_000_000 + i * 60_000}`;

/** Records of one to four lines; the last has two, so that a cut falls between its lines too. */
const RECORDS: string[][] = Array.from({ length: 10 }, (_, r) => Array.from({ length: 1 + (r % 4) }, (_, k) => line(r * 10 + k)));
const ALL_LINES = RECORDS.flat();

/** A segment holding RECORDS, written by the journal itself, and where each record ends. */
async function writtenSegment(): Promise<{ bytes: Buffer; ends: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'torn-src-'));
  const journal = new Journal({ dir, fsyncIntervalMs: 0, now: () => 1_770_000_000_000 });
  await journal.open();
  for (const record of RECORDS) {
    journal.append(record, 1_770_000_000_000);
    journal.commit();
  }
  journal.close();
  const bytes = readFileSync(join(dir, SEGMENT));
  const ends: number[] = [];
  for (let at = bytes.indexOf('\n#'); at !== -1; at = bytes.indexOf('\n#', at + 1)) ends.push(bytes.indexOf('\n', at + 1) + 1);
  expect(ends).toHaveLength(RECORDS.length);
  return { bytes, ends };
}

interface Outcome {
  lines: string[];
  reports: CorruptionInfo[];
  errors: string[];
  journal: Journal;
  dir: string;
}

/** Starts a journal on a directory holding `bytes` as its only segment and drains it. */
async function startOn(bytes: Buffer, dir = mkdtempSync(join(tmpdir(), 'torn-'))): Promise<Outcome> {
  writeFileSync(join(dir, SEGMENT), bytes);
  return reopen(dir);
}

async function reopen(dir: string, drain = true): Promise<Outcome> {
  const reports: CorruptionInfo[] = [];
  const errors: string[] = [];
  const journal = new Journal({
    dir,
    fsyncIntervalMs: 60_000,
    now: () => 1_770_000_000_000,
    onCorruption: (info) => reports.push(info),
    onError: (info) => errors.push(info.operation),
  });
  await journal.open();
  const lines: string[] = [];
  if (drain) {
    for (let batch = await journal.nextBatch(1000); batch; batch = await journal.nextBatch(1000)) {
      lines.push(...batch.body.toString().split('\n').filter((l) => l !== ''));
      await journal.confirm(batch);
    }
  }
  return { lines, reports, errors, journal, dir };
}

/**
 * After whatever it found, the journal takes a new record and hands it back. Every `sample`-th
 * call only (two syncs each): what recovery does is checked every time, this rarely needs to be.
 */
let stillWorksCalls = 0;
async function expectStillWorks(journal: Journal, sample = 1): Promise<void> {
  stillWorksCalls += 1;
  if (stillWorksCalls % sample !== 0) {
    journal.close();
    return;
  }
  journal.append(['flow,borehole=khabou rate_lpm=1 1770999999999'], 1);
  journal.commit();
  const batch = await journal.nextBatch(1000);
  expect(batch?.body.toString()).toBe('flow,borehole=khabou rate_lpm=1 1770999999999\n');
  if (batch) await journal.confirm(batch);
  expect(journal.stats().pendingPoints).toBe(0);
  journal.close();
}

const linesOf = (records: readonly (readonly string[])[]): string[] => records.flat();
const quarantined = (dir: string): string[] => (existsSync(join(dir, 'quarantine')) ? readdirSync(join(dir, 'quarantine')) : []);

describe('a torn write at the end of the journal', () => {
  it('is cut off wherever the last record was cut, and every record before it is sent', async () => {
    const { bytes, ends } = await writtenSegment();
    const lastStart = ends.at(-2) ?? 0;
    for (let cut = lastStart + 1; cut < bytes.length; cut += 1) {
      const { lines, reports, journal, dir } = await startOn(bytes.subarray(0, cut));
      expect(lines, `cut at ${cut}`).toEqual(linesOf(RECORDS.slice(0, -1)));
      expect(reports, `cut at ${cut}`).toEqual([expect.objectContaining({ kind: 'torn_tail', offset: lastStart, droppedBytes: cut - lastStart, keptRecords: RECORDS.length - 1 })]);
      expect(journal.damage).toEqual({ tornTails: 1, damagedSegments: 0, droppedBytes: cut - lastStart });
      // Half a record is nothing to keep: no quarantine.
      expect(quarantined(dir)).toEqual([]);
      await expectStillWorks(journal, 8);
    }
  }, 60_000);

  it('cuts nothing, and says nothing, when the cut falls between two records', async () => {
    const { bytes, ends } = await writtenSegment();
    for (const end of ends) {
      const { lines, reports, journal } = await startOn(bytes.subarray(0, end));
      expect(reports).toEqual([]);
      expect(lines).toEqual(linesOf(RECORDS.slice(0, ends.indexOf(end) + 1)));
      journal.close();
    }
  });

  it('truncates the segment file to its last whole record', async () => {
    const { bytes, ends } = await writtenSegment();
    const dir = mkdtempSync(join(tmpdir(), 'torn-'));
    writeFileSync(join(dir, SEGMENT), bytes.subarray(0, bytes.length - 7));
    const { journal } = await reopen(dir, false);
    expect(statSync(join(dir, SEGMENT)).size).toBe(ends.at(-2));
    journal.close();
  });

  it('loses no record but the changed one when any byte of the last record is changed', async () => {
    const { bytes, ends } = await writtenSegment();
    const lastStart = ends.at(-2) ?? 0;
    for (let at = lastStart; at < bytes.length; at += 1) {
      const flipped = Buffer.from(bytes);
      flipped[at] = (flipped[at] ?? 0) ^ 0xff;
      const { lines, reports, journal, dir } = await startOn(flipped);
      expect(lines, `byte ${at} flipped`).toEqual(linesOf(RECORDS.slice(0, -1)));
      expect(reports, `byte ${at} flipped`).toHaveLength(1);
      expect(reports[0]?.offset).toBe(lastStart);
      if (reports[0]?.kind === 'damaged') {
        // A record that had been written whole (its trailer is complete): kept for an operator.
        const copies = quarantined(dir);
        expect(copies).toHaveLength(1);
        expect(readFileSync(join(dir, 'quarantine', copies[0] ?? '')).equals(flipped)).toBe(true);
      }
      await expectStillWorks(journal, 8);
    }
  }, 60_000);

  it('cuts off garbage appended after the last record', async () => {
    const { bytes } = await writtenSegment();
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % 256;
    };
    for (const length of [1, 2, 17, 100, 4096, 70_000]) {
      const garbage = Buffer.from(Array.from({ length }, random));
      const { lines, reports, journal } = await startOn(Buffer.concat([bytes, garbage]));
      expect(lines, `${length} bytes of garbage`).toEqual(ALL_LINES);
      expect(reports, `${length} bytes of garbage`).toEqual([expect.objectContaining({ offset: bytes.length, droppedBytes: length })]);
      await expectStillWorks(journal);
    }
  });

  it('cuts off a zero-filled tail (a power cut on a file system that extended the file first)', async () => {
    const { bytes, ends } = await writtenSegment();
    const lastStart = ends.at(-2) ?? 0;
    // The size reached the disk, the last blocks did not: zeros from some point on.
    for (const zeroFrom of [bytes.length, lastStart, lastStart + 10, bytes.length - 1]) {
      const damaged = Buffer.concat([bytes.subarray(0, zeroFrom), Buffer.alloc(4096 - (zeroFrom % 4096))]);
      const { lines, reports, journal } = await startOn(damaged);
      const keep = RECORDS.filter((_, r) => (ends[r] ?? Infinity) <= zeroFrom);
      expect(lines, `zeros from ${zeroFrom}`).toEqual(linesOf(keep));
      expect(reports, `zeros from ${zeroFrom}`).toEqual([expect.objectContaining({ kind: 'torn_tail', offset: ends[keep.length - 1] ?? 0 })]);
      await expectStillWorks(journal);
    }
  });
});

describe('a damaged record in the middle of a segment', () => {
  it('keeps every other record, quarantines the segment as found, and reports it loudly', async () => {
    const { bytes, ends } = await writtenSegment();
    const victim = 5;
    const start = ends[victim - 1] ?? 0;
    const damaged = Buffer.from(bytes);
    damaged[start + 3] = (damaged[start + 3] ?? 0) ^ 0x01;
    const { lines, reports, journal, dir } = await startOn(damaged);

    expect(lines).toEqual(linesOf(RECORDS.filter((_, r) => r !== victim)));
    expect(reports).toEqual([
      expect.objectContaining({ kind: 'damaged', offset: start, droppedBytes: (ends[victim] ?? 0) - start, keptRecords: RECORDS.length - 1 }),
    ]);
    expect(journal.damage).toMatchObject({ tornTails: 0, damagedSegments: 1 });
    // Sent and confirmed: the segment is gone from the journal, its copy stays, byte for byte.
    expect(readdirSync(dir).filter((name) => name.endsWith('.seg'))).toEqual(['000000000002.seg']);
    const copies = quarantined(dir);
    expect(copies).toHaveLength(1);
    expect(reports[0]?.quarantinedTo).toBe(join(dir, 'quarantine', copies[0] ?? ''));
    expect(readFileSync(join(dir, 'quarantine', copies[0] ?? '')).equals(damaged)).toBe(true);
    await expectStillWorks(journal);
  });

  it('keeps the records around a zero-filled block and a block of garbage', async () => {
    const { bytes, ends } = await writtenSegment();
    const garbage = (length: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => 0x41 + (i % 26)));
    for (const [what, fill] of [['zeros', (n: number) => Buffer.alloc(n)], ['garbage without a newline', garbage]] as const) {
      // A block from inside record 3 to the very start of record 8: record 8's first line then
      // runs on from the block, with no newline of its own to start after.
      const from = (ends[2] ?? 0) + 20;
      const to = ends[7] ?? 0;
      const damaged = Buffer.concat([bytes.subarray(0, from), fill(to - from), bytes.subarray(to)]);
      const { lines, reports, journal, dir } = await startOn(damaged);
      // Records 3 to 7 lose bytes; record 8 is found inside the run-on line.
      expect(lines, what).toEqual(linesOf(RECORDS.filter((_, r) => r < 3 || r > 7)));
      expect(reports, what).toEqual([expect.objectContaining({ kind: 'damaged', offset: ends[2], droppedBytes: (ends[7] ?? 0) - (ends[2] ?? 0) })]);
      expect(quarantined(dir), what).toHaveLength(1);
      await expectStillWorks(journal);
    }
  });

  it('quarantines a segment found again after a crash only once', async () => {
    const { bytes, ends } = await writtenSegment();
    const damaged = Buffer.from(bytes);
    damaged[(ends[3] ?? 0) + 1] = 0x00;
    const dir = mkdtempSync(join(tmpdir(), 'torn-'));
    writeFileSync(join(dir, SEGMENT), damaged);
    // Crash before anything was sent: the next start finds the same damage.
    const first = await reopen(dir, false);
    first.journal.close();
    const second = await reopen(dir);
    expect(second.reports).toHaveLength(1);
    expect(quarantined(dir)).toHaveLength(1);
    expect(second.lines).toEqual(linesOf(RECORDS.filter((_, r) => r !== 4)));
    second.journal.close();
  });

  it('never deletes a damaged segment it could not quarantine: it is found again at the next start', async () => {
    const { bytes, ends } = await writtenSegment();
    const damaged = Buffer.from(bytes);
    damaged[(ends[3] ?? 0) + 1] = 0x00;
    const dir = mkdtempSync(join(tmpdir(), 'torn-'));
    // Where the quarantine should be, a file: neither a link nor a move into it can work.
    writeFileSync(join(dir, 'quarantine'), 'in the way');
    const first = await startOn(damaged, dir);
    expect(first.reports).toEqual([expect.objectContaining({ kind: 'damaged', quarantinedTo: null })]);
    expect(first.errors).toContain('quarantine');
    expect(readFileSync(join(dir, SEGMENT)).equals(damaged)).toBe(true);
    first.journal.close();

    const second = await reopen(dir);
    expect(second.reports).toHaveLength(1);
    expect(second.lines).toEqual(linesOf(RECORDS.filter((_, r) => r !== 4)));
    second.journal.close();
  });

  it('reports damage that appears in a segment while the service runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'torn-'));
    const reports: CorruptionInfo[] = [];
    const journal = new Journal({ dir, fsyncIntervalMs: 0, now: () => 5, onCorruption: (info) => reports.push(info), segmentMaxBytes: 1 });
    await journal.open();
    journal.append([line(1)], 1);
    journal.commit();
    journal.append([line(2)], 1);
    journal.commit();
    // Both segments are closed (one record each); the disk changes a byte of the first.
    const path = join(dir, SEGMENT);
    const data = readFileSync(path);
    data[2] = 0x21;
    writeFileSync(path, data);
    const batch = await journal.nextBatch(1000);
    expect(batch?.body.toString()).toBe(`${line(2)}\n`);
    expect(reports).toEqual([expect.objectContaining({ kind: 'damaged', segment: path, keptRecords: 0 })]);
    expect(quarantined(dir)).toHaveLength(1);
    journal.close();
  });
});

describe('parseSegment', () => {
  it('refuses a record whose point count does not match its lines', () => {
    const body = `${line(1)}\n${line(2)}\n`;
    const trailer = (points: number) => `#${crc32(body).toString(16).padStart(8, '0')} ${points} 5\n`;
    expect(parseSegment(Buffer.from(body + trailer(2))).records).toHaveLength(1);
    expect(parseSegment(Buffer.from(body + trailer(3))).records).toHaveLength(0);
    expect(parseSegment(Buffer.from(body + trailer(1))).records).toHaveLength(0);
  });

  it('gets through a segment full of well-formed trailers that validate nothing', () => {
    // Long records whose CRCs all fail make the search for a record's start as costly as it gets;
    // it is bounded, so start-up does not hang on such a segment.
    const record = `${'x'.repeat(99)}\n`.repeat(1000) + '#00000000 1000 5\n';
    const data = Buffer.from(record.repeat(40));
    const parsed = parseSegment(data);
    expect(parsed.records).toHaveLength(0);
    expect(parsed.damaged).toEqual([{ offset: 0, length: data.length }]);
    expect(parsed.corrupt).toBe(true);
  });
});
