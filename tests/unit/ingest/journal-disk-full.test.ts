/**
 * The journal, ingest and the dead-letter log on a real file system that is full (a small tmpfs):
 * a failed commit keeps nothing of its group and the next one works once space returns; a group
 * taken down by someone else's failed commit is not acknowledged; a dead letter that cannot be
 * written is kept in memory and costs no other entry.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadLetterLog, type DeadLetter } from '../../../src/ingest/dead-letters.js';
import { Ingest } from '../../../src/ingest/ingest.js';
import { Journal } from '../../../src/ingest/journal.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { testRegistry } from '../../support/fixtures.js';
import { fillUp, mountTmpfs, tmpfsSupport, type Tmpfs } from '../../support/tmpfs.js';

const support = tmpfsSupport();
if (!support.ok) {
  if (process.env.CI === 'true') throw new Error(`the full-disk journal tests need a tmpfs: ${support.reason}`);
  console.warn(`!!! full-disk journal tests SKIPPED: ${support.reason}`);
}

const line = (i: number): string => `flow,borehole=khabou,region=Kayes rate_lpm=${40 + (i % 17)} ${1_770_000_000_000 + i * 60_000}`;
const NOW = 1_770_000_000_000;

async function drain(journal: Journal): Promise<string[]> {
  const lines: string[] = [];
  for (let batch = await journal.nextBatch(100_000); batch; batch = await journal.nextBatch(100_000)) {
    lines.push(...batch.body.toString().split('\n').filter((l) => l !== ''));
    await journal.confirm(batch);
  }
  return lines;
}

describe.skipIf(!support.ok)('on a full disk', () => {
  const disks: Tmpfs[] = [];
  const disk = (): Tmpfs => {
    const mounted = mountTmpfs(256 * 1024, 'journal-full');
    disks.push(mounted);
    return mounted;
  };
  afterEach(() => {
    for (const mounted of disks.splice(0)) mounted.unmount();
  });

  it('a commit keeps nothing of its group, even the part that fitted, and the next one works once space returns', async () => {
    const { dir } = disk();
    const journal = new Journal({ dir: join(dir, 'journal'), fsyncIntervalMs: 60_000, now: () => NOW });
    await journal.open();
    journal.append([line(0)], NOW);
    journal.commit();
    const segment = join(dir, 'journal', '000000000001.seg');
    const goodSize = statSync(segment).size;
    const filler = fillUp(dir);

    // More than the rest of the block the first record is in: part of it is written, then ENOSPC.
    for (let i = 1; i <= 80; i += 1) journal.append([line(i)], NOW);
    expect(() => journal.commit()).toThrow(/ENOSPC/);
    expect(journal.failedCommits).toBe(1);
    expect(statSync(segment).size).toBe(goodSize);
    expect(journal.stats().pendingPoints).toBe(1);

    filler.remove();
    journal.append([line(100)], NOW);
    journal.commit();
    expect(await drain(journal)).toEqual([line(0), line(100)]);
    journal.close();
  });

  it('ingest does not let a group go when a commit by someone else lost it', async () => {
    const { dir } = disk();
    const journal = new Journal({ dir: join(dir, 'journal'), fsyncIntervalMs: 60_000, now: () => NOW });
    await journal.open();
    const deadLetters = new DeadLetterLog(join(dir, 'dead-letters'), 10);
    await deadLetters.open();
    const metrics = createMetrics({ journalStats: () => journal.stats(), now: () => NOW });
    const accepted: number[] = [];
    const ingest = new Ingest({
      topicRoot: 'boreholes',
      registry: testRegistry(['khabou']),
      journal,
      deadLetters,
      metrics,
      now: () => NOW,
      log: pino({ level: 'silent' }),
      onAccepted: (readings) => accepted.push(readings.length),
    });
    const message = (i: number) => ({ topic: 'boreholes/khabou/flow', payload: Buffer.from(JSON.stringify({ ts: NOW - i * 1000, rate_lpm: 40 })), retained: false });
    const readingsCounted = async () => (await metrics.readings.get()).values.find((v) => v.labels.kind === 'flow')?.value ?? 0;

    const filler = fillUp(dir);
    ingest.handle(message(1));
    // Alert points, say, committed by an HTTP request handled in the same turn: the disk is full.
    journal.append(['alerts,borehole=khabou state="open" 1770000000000'], NOW);
    expect(() => journal.commit()).toThrow(/ENOSPC/);
    filler.remove();
    // Ingest's own commit finds nothing left to write, yet its message is not on the journal.
    expect(() => ingest.commit()).toThrow(/lost this group/);
    expect(accepted).toEqual([]);
    expect(await readingsCounted()).toBe(0);

    // The broker delivers it again; now it is journaled, counted and told.
    ingest.handle(message(1));
    ingest.commit();
    expect(accepted).toEqual([1]);
    expect(await readingsCounted()).toBe(1);
    expect(await drain(journal)).toHaveLength(1);
    journal.close();
  });

  it('ingest acknowledges readings it journaled even when a listener of them fails', async () => {
    const { dir } = disk();
    const journal = new Journal({ dir: join(dir, 'journal'), fsyncIntervalMs: 60_000, now: () => NOW });
    await journal.open();
    const deadLetters = new DeadLetterLog(join(dir, 'dead-letters'), 10);
    await deadLetters.open();
    const errors: string[] = [];
    const ingest = new Ingest({
      topicRoot: 'boreholes',
      registry: testRegistry(['khabou']),
      journal,
      deadLetters,
      metrics: createMetrics({ journalStats: () => journal.stats(), now: () => NOW }),
      now: () => NOW,
      log: pino({ level: 'error' }, { write: (text: string) => void errors.push((JSON.parse(text) as { msg: string }).msg) }),
      onAccepted: () => {
        throw new Error('SQLITE_FULL: database or disk is full');
      },
    });
    ingest.handle({ topic: 'boreholes/khabou/flow', payload: Buffer.from(JSON.stringify({ ts: NOW, rate_lpm: 40 })), retained: false });
    expect(() => ingest.commit()).not.toThrow();
    expect(errors).toEqual(['a listener of accepted readings failed']);
    expect(await drain(journal)).toHaveLength(1);
    journal.close();
  });

  it('a dead letter that cannot be written is kept in memory, and the half line it left costs no later entry', async () => {
    const { dir } = disk();
    const logDir = join(dir, 'dead-letters');
    mkdirSync(logDir);
    const entry = (n: number): DeadLetter => ({
      received_at: new Date(NOW + n).toISOString(),
      topic: 'boreholes/khabou/flow',
      reason: 'bad_json',
      detail: `dead letter ${n}`,
      payload: 'x'.repeat(2000),
      payload_bytes: 2000,
    });
    const log = new DeadLetterLog(logDir, 100);
    await log.open();
    expect(log.add(entry(1))).toBe(true);
    const filler = fillUp(dir);
    // Bigger than what is left of the file's block: half of it is written, then ENOSPC.
    expect(log.add(entry(2))).toBe(false);
    expect(String(log.lastWriteError)).toMatch(/ENOSPC/);
    expect(log.newest(10).map((d) => d.detail)).toEqual(['dead letter 2', 'dead letter 1']);
    filler.remove();
    expect(log.add(entry(3))).toBe(true);
    expect(log.lastWriteError).toBeNull();

    // The torn half of entry 2 is there, between two whole entries.
    expect(readFileSync(join(logDir, 'dead-letters.jsonl'), 'utf8')).toContain(entry(2).received_at);
    const reopened = new DeadLetterLog(logDir, 100);
    await reopened.open();
    expect(reopened.newest(10).map((d) => d.detail)).toEqual(['dead letter 3', 'dead letter 1']);
  });
});
