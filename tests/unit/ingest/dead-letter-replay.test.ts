/**
 * The dead-letter replay's parts: what a letter judged again leaves in the log, which letters can
 * be replayed at all, the log rewritten within its bounds (and after a crash in the middle),
 * ingest's replay path (first receive time, its own commit, nothing dead-lettered twice), and the
 * rules engine fed readings it has already judged.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../../src/domain/reading.js';
import {
  DEAD_LETTER_PAYLOAD_BYTES,
  DeadLetterLog,
  REPLAYABLE_REASONS,
  replayDeadLetters,
  settleLetter,
  unreplayable,
  whyNotReplayable,
  type DeadLetter,
  type ReplayedMessage,
} from '../../../src/ingest/dead-letters.js';
import { REJECT_REASONS } from '../../../src/ingest/decode.js';
import { Ingest } from '../../../src/ingest/ingest.js';
import { createMetrics } from '../../../src/observability/metrics.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { testRegistry } from '../../support/fixtures.js';

const T0_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
const MINUTE_MS = 60_000;

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dead-letter-replay-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function letter(n: number, overrides: Partial<DeadLetter> = {}): DeadLetter {
  const payload = JSON.stringify({ ts: T0_MS + n * MINUTE_MS, rate_lpm: n });
  return {
    received_at: new Date(T0_MS + n * MINUTE_MS + 1000).toISOString(),
    topic: `boreholes/bh-${n % 2 === 0 ? 'even' : 'odd'}/flow`,
    reason: 'unknown_borehole',
    detail: 'borehole is not in the registry',
    payload,
    payload_bytes: Buffer.byteLength(payload),
    ...overrides,
  };
}

async function openLog(dir: string, limit = 100): Promise<DeadLetterLog> {
  const log = new DeadLetterLog(dir, limit);
  await log.open();
  return log;
}

const lines = (path: string): string[] => (existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((line) => line !== '') : []);

describe('what a letter judged again leaves in the log', () => {
  it('leaves nothing of a letter whose readings were all accepted', () => {
    expect(settleLetter(letter(1), { readings: 1, rejections: [] })).toEqual([]);
  });

  it('keeps the very same letter, once, when it is refused for the same reason again', () => {
    const kept = letter(1);
    const after = settleLetter(kept, { readings: 0, rejections: [{ reason: 'unknown_borehole', detail: 'still not there' }] });
    expect(after).toHaveLength(1);
    expect(after[0]).toBe(kept);
  });

  it('puts the new verdict in its place, one letter per refused reading of a batch, with its index', () => {
    const batch = letter(1, { topic: 'boreholes/bh-odd/level' });
    const after = settleLetter(batch, {
      readings: 1,
      rejections: [
        { reason: 'invalid_reading', detail: 'depth_m: too small', index: 1 },
        { reason: 'future_ts', detail: 'ts ahead', index: 2 },
      ],
    });
    expect(after).toEqual([
      { ...batch, reason: 'invalid_reading', detail: 'depth_m: too small', index: 1 },
      { ...batch, reason: 'future_ts', detail: 'ts ahead', index: 2 },
    ]);
  });
});

describe('which letters a replay can cure', () => {
  it('replays unknown_borehole and refuses every other reason with a sentence that says why', () => {
    expect(REPLAYABLE_REASONS).toEqual(['unknown_borehole']);
    expect(whyNotReplayable('unknown_borehole')).toBeNull();
    expect(whyNotReplayable('store_rejected')).toMatch(/time-series store refused/);
    for (const reason of REJECT_REASONS.filter((r) => r !== 'unknown_borehole' && r !== 'store_rejected')) {
      expect(whyNotReplayable(reason)).toMatch(new RegExp(`^${reason} letters .*Replayable: unknown_borehole$`));
    }
  });

  it('cannot replay a payload that was kept cut to its first 2 KiB, nor a line edited into nonsense', () => {
    expect(unreplayable(letter(1))).toBeNull();
    expect(unreplayable(letter(1, { payload: 'x'.repeat(DEAD_LETTER_PAYLOAD_BYTES), payload_bytes: DEAD_LETTER_PAYLOAD_BYTES }))).toBeNull();
    expect(unreplayable(letter(1, { payload: 'x'.repeat(DEAD_LETTER_PAYLOAD_BYTES), payload_bytes: DEAD_LETTER_PAYLOAD_BYTES + 1 }))).toBe('payload_truncated');
    expect(unreplayable(letter(1, { received_at: 'yesterday' }))).toBe('unreadable');
  });
});

describe('the dead-letter log after a replay', () => {
  it('drops the accepted letters and keeps the others in order, on disk too, within its bound', async () => {
    const dir = tempDir();
    const log = await openLog(dir, 5);
    const added = [1, 2, 3, 4, 5].map((n) => letter(n));
    for (const entry of added) log.add(entry);
    const [first, second, third] = added as [DeadLetter, DeadLetter, DeadLetter];
    const replacement = { ...third, reason: 'invalid_reading' as const, index: 0 };
    expect(log.replace(new Map([[first, []], [second, []], [third, [replacement]]]))).toBe(true);
    const expected = [replacement, ...added.slice(3)];
    expect(log.oldest(10, { reason: 'unknown_borehole' })).toEqual(added.slice(3));
    expect(log.size).toBe(3);
    // Read back as a restart would: nothing twice, nothing lost.
    expect((await openLog(dir, 5)).newest(10).reverse()).toEqual(expected);
    // New letters are appended, and the bound holds as before.
    for (const n of [6, 7, 8]) log.add(letter(n));
    expect(log.size).toBe(5);
    expect((await openLog(dir, 5)).newest(10).reverse()).toEqual(log.newest(10).reverse());
    expect(lines(join(dir, 'dead-letters.previous.jsonl')).length + lines(join(dir, 'dead-letters.jsonl')).length).toBeLessThanOrEqual(10);
  });

  it('finishes a rewrite that a crash cut short, without an entry twice', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    for (const n of [1, 2, 3]) log.add(letter(n));
    // A crash after the compacted file was complete: the old files are still there beside it.
    writeFileSync(join(dir, 'dead-letters.compacted.jsonl'), `${JSON.stringify(letter(3))}\n`);
    const reopened = await openLog(dir);
    expect(reopened.newest(10)).toEqual([letter(3)]);
    expect(existsSync(join(dir, 'dead-letters.compacted.jsonl'))).toBe(false);
    reopened.add(letter(4));
    expect((await openLog(dir)).newest(10).reverse()).toEqual([letter(3), letter(4)]);
  });

  it('replays the oldest letters of the filter first, never hands over one it cannot replay, and says what remains', async () => {
    const log = await openLog(tempDir());
    const truncated = letter(0, { payload: '[{"ts":1', payload_bytes: DEAD_LETTER_PAYLOAD_BYTES + 10 });
    log.add(truncated);
    for (const n of [1, 2, 3, 4, 5, 6]) log.add(letter(n));
    log.add(letter(7, { reason: 'bad_json' }));
    const judged: ReplayedMessage[] = [];
    const result = replayDeadLetters(
      log,
      (messages) => {
        judged.push(...messages);
        return messages.map(() => ({ readings: 1, rejections: [] }));
      },
      { reason: 'unknown_borehole', borehole: 'bh-even' },
      2,
    );
    // bh-even: 0 (cut), 2, 4, 6; the two oldest taken, the cut one kept.
    expect(judged.map((m) => m.topic)).toEqual(['boreholes/bh-even/flow']);
    expect(judged[0]).toEqual({ topic: 'boreholes/bh-even/flow', payload: Buffer.from(letter(2).payload), receivedAtMs: Date.parse(letter(2).received_at) });
    expect(result).toEqual({ replayed: 2, acceptedReadings: 1, stillRefused: { payload_truncated: 1 }, remaining: 3, persisted: true });
    expect(log.oldest(10, { reason: 'unknown_borehole', topic: 'boreholes/bh-even/flow' })).toEqual([truncated, letter(4), letter(6)]);
  });

  it('changes nothing, in memory or on disk, when the journal cannot take the readings', async () => {
    const dir = tempDir();
    const log = await openLog(dir);
    for (const n of [1, 2]) log.add(letter(n));
    const before = readFileSync(join(dir, 'dead-letters.jsonl'), 'utf8');
    expect(() =>
      replayDeadLetters(
        log,
        () => {
          throw new Error('ENOSPC: no space left on device');
        },
        { reason: 'unknown_borehole' },
        10,
      ),
    ).toThrow(/ENOSPC/);
    expect(log.oldest(10, { reason: 'unknown_borehole' })).toEqual([letter(1), letter(2)]);
    expect(readFileSync(join(dir, 'dead-letters.jsonl'), 'utf8')).toBe(before);
  });
});

describe("ingest's replay path", () => {
  function harness(options: { failCommit?: boolean } = {}) {
    const appended: { lines: readonly string[]; receivedAtMs: number }[] = [];
    let failedCommits = 0;
    let pending: { lines: readonly string[]; receivedAtMs: number }[] = [];
    const journal = {
      append: (lines: readonly string[], receivedAtMs: number) => void pending.push({ lines, receivedAtMs }),
      commit: () => {
        const group = pending;
        pending = [];
        if (group.length > 0 && options.failCommit) {
          failedCommits += 1;
          throw new Error('ENOSPC: no space left on device');
        }
        appended.push(...group);
      },
      get failedCommits() {
        return failedCommits;
      },
    };
    const accepted: Reading[][] = [];
    const dir = tempDir();
    const deadLetters = new DeadLetterLog(dir, 100);
    const metrics = createMetrics({ journalStats: () => ({ pendingPoints: 0, pendingBytes: 0, segments: 0, oldestAtMs: null }), now: () => T0_MS });
    const ingest = new Ingest({
      topicRoot: 'boreholes',
      registry: testRegistry(['khabou']),
      journal,
      deadLetters,
      metrics,
      now: () => T0_MS + 60 * MINUTE_MS,
      log: pino({ level: 'silent' }),
      onAccepted: (readings) => void accepted.push([...readings]),
    });
    return { ingest, appended, accepted, deadLetters, metrics };
  }
  const message = (topic: string, body: unknown, receivedAtMs: number): ReplayedMessage => ({ topic, payload: Buffer.from(JSON.stringify(body)), receivedAtMs });

  it('decodes at the first receive time, commits at once, tells the rules, and dead-letters nothing again', async () => {
    const { ingest, appended, accepted, deadLetters, metrics } = harness();
    await deadLetters.open();
    const receivedAtMs = T0_MS + 5 * MINUTE_MS;
    const verdicts = ingest.replay([
      // No `ts`: stamped with the time it was first received, not the replay's.
      message('boreholes/khabou/flow', { rate_lpm: 12 }, receivedAtMs),
      // 9 minutes ahead of its first receive time (but before the replay): as refused then, refused now.
      message('boreholes/khabou/level', [{ ts: receivedAtMs - MINUTE_MS, depth_m: 20 }, { ts: receivedAtMs + 11 * MINUTE_MS, depth_m: 21 }], receivedAtMs),
      message('boreholes/nowhere/flow', { rate_lpm: 1 }, receivedAtMs),
    ]);
    expect(verdicts.map((v) => [v.readings, v.rejections.map((r) => `${r.reason}${r.index === undefined ? '' : `@${r.index}`}`)])).toEqual([
      [1, []],
      [1, ['future_ts@1']],
      [0, ['unknown_borehole']],
    ]);
    expect(appended).toHaveLength(2);
    // Journaled at the replay's time: the backlog's age is the journal's, not the letters'.
    expect(appended.every((record) => record.receivedAtMs === T0_MS + 60 * MINUTE_MS)).toBe(true);
    expect(accepted).toEqual([[
      { boreholeId: 'khabou', kind: 'flow', tsMs: receivedAtMs, values: { rate_lpm: 12 } },
      { boreholeId: 'khabou', kind: 'level', tsMs: receivedAtMs - MINUTE_MS, values: { ts: receivedAtMs - MINUTE_MS, depth_m: 20 } },
    ]]);
    expect(deadLetters.size).toBe(0);
    const text = await metrics.registry.metrics();
    expect(text).not.toMatch(/^ingest_rejected_total\{[^}]*\} [1-9]/m);
    expect(text).toMatch(/^ingest_readings_total\{kind="flow"\} 1$/m);
  });

  it('throws when the journal cannot be written, tells nobody, and the live group handled before it is not acknowledged either', () => {
    const { ingest, accepted } = harness({ failCommit: true });
    ingest.handle({ topic: 'boreholes/khabou/pump', payload: Buffer.from(JSON.stringify({ ts: T0_MS, running: true })), retained: false });
    expect(() => ingest.replay([message('boreholes/khabou/flow', { rate_lpm: 12 }, T0_MS)])).toThrow(/ENOSPC/);
    expect(accepted).toEqual([]);
    // The live message's record went down with the replay's commit: its PUBACK must not leave.
    expect(() => ingest.commit()).toThrow(/lost this group/);
  });
});

describe('the rules engine fed readings it has already judged (a replay done twice)', () => {
  it('opens one pump_fault, and judges the second delivery as late, opening nothing', () => {
    const store = new SqliteStore(':memory:');
    const clock = { nowMs: T0_MS + 30 * MINUTE_MS };
    const opened: string[] = [];
    const engine = new RulesEngine({ registry: testRegistry(['khabou']), store, now: () => clock.nowMs, log: pino({ level: 'silent' }), writeAlertPoints: () => {}, holdOlderThanMs: Number.MAX_SAFE_INTEGER });
    engine.onChange((change) => opened.push(`${change.kind}/${change.alert.rule}`));
    const readings: Reading[] = [
      { boreholeId: 'khabou', kind: 'pump', tsMs: T0_MS, values: { running: true, fault: null } },
      { boreholeId: 'khabou', kind: 'pump', tsMs: T0_MS + MINUTE_MS, values: { running: false, fault: 'overload' } },
      { boreholeId: 'khabou', kind: 'flow', tsMs: T0_MS, values: { rate_lpm: 40 } },
    ];
    engine.accept(readings);
    expect(opened).toEqual(['opened/pump_fault']);
    const lateBefore = engine.lateReadingCount;
    clock.nowMs += MINUTE_MS;
    engine.accept(readings);
    expect(opened).toEqual(['opened/pump_fault']);
    expect(store.listAlerts({ state: 'unresolved', limit: 10, offset: 0 }).alerts).toHaveLength(1);
    // The pump reading older than the newest pump one is late; the newest of each topic (same
    // time, same values) folds in again and changes nothing.
    expect(engine.lateReadingCount - lateBefore).toBe(1);
    store.close();
  });
});
