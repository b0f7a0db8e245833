import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Period, PeriodKind } from '../../../src/reports/periods.js';
import type { UptimeReport } from '../../../src/reports/report.js';
import { ReportScheduler } from '../../../src/reports/scheduler.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';

const at = (iso: string): number => Date.parse(iso);
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

describe('scheduled uptime reports', () => {
  let store: SqliteStore;
  let clock: { nowMs: number };
  let built: { kind: PeriodKind; from: string }[];
  let registryWrites: number;
  let failNext: boolean;
  let scheduler: ReportScheduler;

  const report = (period: Period): UptimeReport => ({
    from: new Date(period.fromMs).toISOString(),
    to: new Date(period.toMs).toISOString(),
    tz: period.tz,
    generated_at: new Date(clock.nowMs).toISOString(),
    complete: true,
    boreholes: [],
  });

  const make = (tz = 'Africa/Bamako') =>
    new ReportScheduler({
      tz,
      now: () => clock.nowMs,
      log: pino({ level: 'silent' }),
      archive: store,
      build: async (period) => {
        if (failNext) {
          failNext = false;
          throw new Error('connect ECONNREFUSED');
        }
        return report(period);
      },
      writeUptime: (_report, kind, period) => built.push({ kind, from: day(period.fromMs) }),
      writeRegistry: () => {
        registryWrites += 1;
      },
    });

  beforeEach(() => {
    store = new SqliteStore(':memory:');
    // A Thursday in February 2026, mid-morning in Bamako.
    clock = { nowMs: at('2026-02-05T10:00:00Z') };
    built = [];
    registryWrites = 0;
    failNext = false;
    scheduler = make();
  });

  afterEach(async () => {
    await scheduler.stop();
    store.close();
  });

  it('on a first start reports the last 7 days, last week and last month, and archives the week and month', async () => {
    await scheduler.runDue();
    expect(built.filter((b) => b.kind === 'day').map((b) => b.from)).toEqual(['2026-01-29', '2026-01-30', '2026-01-31', '2026-02-01', '2026-02-02', '2026-02-03', '2026-02-04']);
    expect(built.filter((b) => b.kind !== 'day')).toEqual([
      { kind: 'week', from: '2026-01-26' },
      { kind: 'month', from: '2026-01-01' },
    ]);
    expect(store.listArchivedReports(10).map((r) => `${r.kind} ${day(r.fromMs)}`)).toEqual(['week 2026-01-26', 'month 2026-01-01']);
    expect(registryWrites).toBe(1);
  });

  it('catches up from its watermark after days down: every missed day once, nothing twice', async () => {
    await scheduler.runDue();
    built = [];
    // Down from Thursday morning until the next Tuesday: node-cron would not run the missed nights.
    clock.nowMs = at('2026-02-10T08:00:00Z');
    await make().runDue();
    expect(built).toEqual([
      { kind: 'day', from: '2026-02-05' },
      { kind: 'day', from: '2026-02-06' },
      { kind: 'day', from: '2026-02-07' },
      { kind: 'day', from: '2026-02-08' },
      { kind: 'day', from: '2026-02-09' },
      { kind: 'week', from: '2026-02-02' },
    ]);
    built = [];
    await make().runDue();
    expect(built).toEqual([]);
  });

  it('keeps the first archived report of a period: running again changes nothing', async () => {
    await scheduler.runDue();
    const first = store.archivedReport('month', at('2026-01-01T00:00:00Z'), 'Africa/Bamako');
    store.setReportWatermark('month', at('2026-01-01T00:00:00Z'));
    clock.nowMs += 3_600_000;
    await make().runDue();
    expect(store.archivedReport('month', at('2026-01-01T00:00:00Z'), 'Africa/Bamako')).toEqual(first);
    expect(store.listArchivedReports(10)).toHaveLength(2);
  });

  it('does not move the watermark past a period that failed, and tries it again', async () => {
    failNext = true;
    await scheduler.runDue();
    expect(built).toEqual([]);
    expect(store.reportWatermark('day')).toBeNull();
    await scheduler.runDue();
    expect(built.filter((b) => b.kind === 'day')).toHaveLength(7);
  });

  it('runs every night at 00:05 in the report time zone', async () => {
    // node-cron reads the real clock: the next run is judged against it.
    const localClock = (ms: number, timeZone: string) => new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(ms);
    for (const [tz, instance] of [['Africa/Bamako', scheduler], ['Asia/Kolkata', make('Asia/Kolkata')]] as const) {
      instance.start();
      const next = instance.nextRun?.getTime() ?? 0;
      expect(localClock(next, tz)).toBe('00:05');
      expect(next - Date.now()).toBeGreaterThan(0);
      expect(next - Date.now()).toBeLessThanOrEqual(86_400_000);
      await instance.stop();
    }
  });
});
