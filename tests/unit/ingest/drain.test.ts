import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Drain, type LineWriter } from '../../../src/ingest/drain.js';
import { Journal } from '../../../src/ingest/journal.js';
import { StoreWriteError } from '../../../src/storage/influx.js';

const line = (i: number): string => `flow,borehole=khabou rate_lpm=${i} ${1_770_000_000_000 + i}`;

/** A store that keeps what it accepted, like InfluxDB: the same line twice is one point. */
class RecordingStore implements LineWriter {
  readonly points = new Set<string>();
  calls = 0;
  constructor(private readonly behaviour: (body: string, call: number) => StoreWriteError | null) {}
  writeLines(bytes: Buffer): Promise<void> {
    this.calls += 1;
    const body = bytes.toString('utf8');
    const error = this.behaviour(body, this.calls);
    if (error) return Promise.reject(error);
    for (const l of body.split('\n')) if (l !== '') this.points.add(l);
    return Promise.resolve();
  }
}

async function setUp(store: RecordingStore, refused: string[] = []) {
  const journal = new Journal({ dir: mkdtempSync(join(tmpdir(), 'drain-')), fsyncIntervalMs: 10, now: Date.now });
  await journal.open();
  const drain = new Drain({
    journal,
    writer: store,
    batchPoints: 4,
    concurrency: 2,
    lingerMs: 0,
    minBackoffMs: 1,
    maxBackoffMs: 5,
    now: Date.now,
    log: pino({ level: 'silent' }),
    events: { written: () => undefined, failed: () => undefined, refused: (l) => refused.push(l) },
  });
  drain.start();
  return { journal, drain };
}

describe('drain', () => {
  it('stores every journaled line and empties the journal', async () => {
    const store = new RecordingStore(() => null);
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 50; i += 1) {
      journal.append([line(i)], Date.now());
      journal.commit();
      drain.notify();
    }
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(store.points.size).toBe(50);
    await drain.stop(0);
    journal.close();
  });

  it('keeps retrying through a store outage and loses nothing', async () => {
    const store = new RecordingStore((_body, call) => (call <= 5 ? new StoreWriteError('connection refused', true) : null));
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 10; i += 1) journal.append([line(i)], Date.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => store.points.size).toBe(10);
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(store.calls).toBeGreaterThan(5);
    await drain.stop(0);
    journal.close();
  });

  it('isolates a line the store refuses as data and stores the rest of its batch', async () => {
    const bad = 'flow,borehole=khabou rate_lpm="text" 1770000000003';
    const store = new RecordingStore((body) => (body.includes('"text"') ? new StoreWriteError('field type conflict', false, 400) : null));
    const refused: string[] = [];
    const { journal, drain } = await setUp(store, refused);
    journal.append([line(0), line(1), line(2), bad, line(4)], Date.now());
    journal.commit();
    drain.notify();
    await expect.poll(() => journal.stats().pendingPoints).toBe(0);
    expect(refused).toEqual([bad]);
    expect([...store.points].sort()).toEqual([line(0), line(1), line(2), line(4)].sort());
    await drain.stop(0);
    journal.close();
  });

  it('on stop, sends what is pending before leaving', async () => {
    const store = new RecordingStore(() => null);
    const { journal, drain } = await setUp(store);
    for (let i = 0; i < 7; i += 1) journal.append([line(i)], Date.now());
    journal.commit();
    await drain.stop(5000);
    expect(store.points.size).toBe(7);
    journal.close();
  });
});
