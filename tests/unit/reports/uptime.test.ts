import { describe, expect, it } from 'vitest';
import { dataGaps, mergeIntervals, subtract, uptimeFigures, type CriticalAlert, type UptimeInput } from '../../../src/reports/uptime.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (iso: string): number => Date.parse(iso);

// January 2026 in Bamako (UTC+0): 31 days, 744 hours.
const JAN = { fromMs: at('2026-01-01T00:00:00Z'), toMs: at('2026-02-01T00:00:00Z') };

/** A message every minute over [from, to), except inside the given silences. */
function minutesExcept(fromMs: number, toMs: number, silences: readonly (readonly [string, string])[] = []): number[] {
  const holes = silences.map(([start, end]) => [at(start), at(end)] as const);
  const minutes: number[] = [];
  for (let t = fromMs; t < toMs; t += MINUTE) if (!holes.some(([start, end]) => t > start && t < end)) minutes.push(t);
  return minutes;
}

function alert(code: number, opened: string, resolved: string | null, critical = opened): CriticalAlert {
  return { code, openedAtMs: at(opened), criticalAtMs: at(critical), resolvedAtMs: resolved === null ? null : at(resolved) };
}

function january(overrides: Partial<UptimeInput> = {}): UptimeInput {
  return {
    ...JAN,
    nowMs: at('2026-02-10T00:00:00Z'),
    offlineMinutes: 60,
    criticalAlerts: [],
    activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR),
    volumeM3: 1234.5678,
    pumpingHours: 300.25,
    ...overrides,
  };
}

describe('uptime figures (CONTRACT.md section 7), hand-computed', () => {
  it('a month of 31 days without a fault is 744 hours, all of them up', () => {
    expect(uptimeFigures(january())).toEqual({
      hours_total: 744,
      hours_down: 0,
      hours_no_data: 0,
      uptime_pct: 100,
      coverage_pct: 100,
      failures: 0,
      repairs: 0,
      mttr_hours: null,
      volume_m3: 1234.568,
      pumping_hours: 300.25,
    });
  });

  it('clips alerts that span the period boundaries, and counts as failures only those that began inside', () => {
    const figures = uptimeFigures(
      january({
        criticalAlerts: [
          // 4 h before the period, 6 h inside it.
          alert(1, '2025-12-31T20:00:00Z', '2026-01-01T06:00:00Z'),
          // 2 h inside the period, 3 h after it; open to resolved 5 h.
          alert(2, '2026-01-31T22:00:00Z', '2026-02-01T03:00:00Z'),
        ],
      }),
    );
    expect(figures.hours_down).toBe(8);
    expect(figures.failures).toBe(1);
    expect(figures.mttr_hours).toBe(5);
    // 100 × (744 − 8) / 744
    expect(figures.uptime_pct).toBe(98.92);
  });

  it('merges two overlapping alerts: 10:00–14:00 and 12:00–16:00 are 6 hours down, not 8', () => {
    const figures = uptimeFigures(
      january({
        criticalAlerts: [alert(3, '2026-01-10T10:00:00Z', '2026-01-10T14:00:00Z'), alert(4, '2026-01-10T12:00:00Z', '2026-01-10T16:00:00Z')],
      }),
    );
    expect(figures.hours_down).toBe(6);
    expect(figures.failures).toBe(2);
    expect(figures.mttr_hours).toBe(4);
  });

  it('keeps a 6-hour gap during a fault as downtime, and a gap outside faults as no data', () => {
    const figures = uptimeFigures(
      january({
        criticalAlerts: [alert(5, '2026-01-05T08:00:00Z', '2026-01-05T20:00:00Z')],
        activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR, [
          ['2026-01-05T10:00:00Z', '2026-01-05T16:00:00Z'],
          ['2026-01-20T00:00:00Z', '2026-01-20T06:00:00Z'],
        ]),
      }),
    );
    expect(figures.hours_down).toBe(12);
    expect(figures.hours_no_data).toBe(6);
    // 100 × (744 − 6 − 12) / (744 − 6) and 100 × (744 − 6) / 744
    expect(figures.uptime_pct).toBe(98.37);
    expect(figures.coverage_pct).toBe(99.19);
  });

  it('a borehole with no data at all has no uptime and no coverage', () => {
    const figures = uptimeFigures(january({ activeMinutes: [], volumeM3: 0, pumpingHours: 0 }));
    expect(figures).toMatchObject({ hours_total: 744, hours_down: 0, hours_no_data: 744, uptime_pct: null, coverage_pct: 0, failures: 0 });
  });

  it('judges a silence across the start of the period by its whole length', () => {
    // Silent from 23:30 the day before to 00:45: 75 min > 60, of which 45 min inside the period.
    const long = uptimeFigures(january({ activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR, [['2025-12-31T23:30:00Z', '2026-01-01T00:45:00Z']]) }));
    expect(long.hours_no_data).toBe(0.75);
    // Silent from 23:30 to 00:15: 45 min, shorter than offline_minutes, not a gap.
    const short = uptimeFigures(january({ activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR, [['2025-12-31T23:30:00Z', '2026-01-01T00:15:00Z']]) }));
    expect(short.hours_no_data).toBe(0);
  });

  it('judges a silence across the end of the period by what came after it', () => {
    // Silent from 23:00 on the last day to 00:30 the next: 90 min, of which 1 h inside.
    const figures = uptimeFigures(january({ activeMinutes: minutesExcept(JAN.fromMs, JAN.toMs + 2 * HOUR, [['2026-01-31T23:00:00Z', '2026-02-01T00:30:00Z']]) }));
    expect(figures.hours_no_data).toBe(1);
  });

  it('reports a month not yet over up to now, and an unresolved alert as down until now', () => {
    const nowMs = at('2026-01-11T00:00:00Z');
    const figures = uptimeFigures(
      january({
        nowMs,
        criticalAlerts: [alert(6, '2026-01-10T18:00:00Z', null)],
        activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, nowMs),
      }),
    );
    expect(figures).toMatchObject({ hours_total: 240, hours_down: 6, hours_no_data: 0, failures: 1, mttr_hours: null });
    expect(figures.uptime_pct).toBe(97.5);
  });

  it('counts a low_water warning as down only from when it reached the intake', () => {
    const figures = uptimeFigures(january({ criticalAlerts: [alert(7, '2026-01-15T10:00:00Z', '2026-01-15T13:00:00Z', '2026-01-15T12:00:00Z')] }));
    expect(figures.hours_down).toBe(1);
    expect(figures.failures).toBe(1);
    // Open to resolved, as section 7 says: 3 h.
    expect(figures.mttr_hours).toBe(3);
  });

  it('reads an offline_minutes below one as one minute, the resolution of the data', () => {
    // Steady data every minute is no gap; a missing minute (12:00, then 12:02) is a 2-minute gap.
    const minutes = minutesExcept(JAN.fromMs - HOUR, JAN.toMs + HOUR, [['2026-01-03T12:00:00Z', '2026-01-03T12:02:00Z']]);
    expect(uptimeFigures(january({ offlineMinutes: 0.5 })).hours_no_data).toBe(0);
    expect(uptimeFigures(january({ offlineMinutes: 0.5, activeMinutes: minutes })).hours_no_data).toBeCloseTo(2 / 60, 3);
  });
});

describe('interval arithmetic', () => {
  it('merges touching and nested intervals and drops empty ones', () => {
    expect(mergeIntervals([[5, 8], [1, 3], [3, 4], [6, 7], [9, 9]])).toEqual([[1, 4], [5, 8]]);
  });

  it('subtracts intervals that cut, cover or miss', () => {
    expect(subtract([[0, 10], [20, 30]], [[2, 4], [8, 22], [40, 50]])).toEqual([[0, 2], [4, 8], [22, 30]]);
    expect(subtract([[0, 10]], [[0, 10]])).toEqual([]);
  });

  it('finds no gap in steady data and one gap per long silence', () => {
    const input = { ...JAN, nowMs: JAN.toMs + 2 * HOUR, offlineMinutes: 60 };
    expect(dataGaps({ ...input, activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR) })).toEqual([]);
    expect(dataGaps({ ...input, activeMinutes: minutesExcept(JAN.fromMs - 2 * HOUR, JAN.toMs + 2 * HOUR, [['2026-01-02T00:00:00Z', '2026-01-02T02:00:00Z']]) })).toEqual([
      [at('2026-01-02T00:00:00Z'), at('2026-01-02T02:00:00Z')],
    ]);
  });
});
