import { describe, expect, it } from 'vitest';
import { buildRegistry, registryFileSchema, type Borehole } from '../../../src/config/registry.js';
import { claimRepair, openIncident, reopenIncident, verifyIncident, type Incident } from '../../../src/incidents/incident.js';
import { resultsQuarter } from '../../../src/http/routes/reports.js';
import { PeriodError } from '../../../src/reports/periods.js';
import { buildResultsReport, parseQuarter, quarterDays, resultsCsv, resultsReport, type BoreholeQuarter, type ResultsRow } from '../../../src/reports/results-report.js';
import type { CriticalAlert } from '../../../src/reports/uptime.js';
import { registryEntry } from '../../support/fixtures.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (iso: string): number => Date.parse(iso);
const BAMAKO = 'Africa/Bamako';

// 2026-Q1 read on 10 February at noon: 1 January to 10 February included, 41 days.
const Q1 = parseQuarter('2026-Q1', BAMAKO);
const NOW = at('2026-02-10T12:00:00Z');

function boreholes(): Borehole[] {
  const file = registryFileSchema.parse({
    boreholes: [
      { ...registryEntry('khabou', 0), provider: 'FasoFundi' },
      { ...registryEntry('diamou', 1), provider: 'FasoFundi', rules: { results_threshold_pct: 90 } },
      { ...registryEntry('banamba', 2), region: 'Koulikoro' },
    ],
  });
  return [...buildRegistry(file).boreholes.values()];
}
const byId = (id: string): Borehole => boreholes().find((b) => b.id === id) as Borehole;

/** A message every 10 minutes over [from, to), except in the given local days (YYYY-MM-DD, Bamako = UTC). */
function messages(fromMs: number, toMs: number, silentDays: readonly string[] = []): number[] {
  const minutes: number[] = [];
  for (let t = fromMs; t < toMs; t += 10 * MINUTE) if (!silentDays.includes(new Date(t).toISOString().slice(0, 10))) minutes.push(t);
  return minutes;
}

const alert = (code: number, critical: string, resolved: string | null): CriticalAlert => ({ code, openedAtMs: at(critical), criticalAtMs: at(critical), resolvedAtMs: resolved === null ? null : at(resolved) });

function verified(boreholeId: string, opened: string, verifiedAt: string): Incident {
  const incident = openIncident({
    id: `inc-${boreholeId}-${opened}`,
    code: 1,
    boreholeId,
    cause: 'pump_fault',
    fault: 'dry_run',
    severity: 'critical',
    alertId: 'a',
    workOrder: true,
    manual: null,
    historical: false,
    atMs: at(opened),
    assignee: null,
    respondHours: 72,
    repairHours: 168,
    groupMs: MINUTE,
    snapshot: null,
  });
  return verifyIncident(claimRepair(incident, null, 'sms:+22379000003', at(verifiedAt) - HOUR), 'data', at(verifiedAt));
}

function khabou(): BoreholeQuarter {
  return {
    borehole: byId('khabou'),
    criticalAlerts: [
      // 3 h on 5 January: a down day.
      alert(1, '2026-01-05T10:00:00Z', '2026-01-05T13:00:00Z'),
      // 1 h 30 on 6 January and 30 min on the 7th: each day under 2 h, both functional.
      alert(2, '2026-01-06T22:30:00Z', '2026-01-07T00:30:00Z'),
      // Unresolved since 10:00 today, 2 h by noon: it reaches the 2 h, a down day.
      alert(3, '2026-02-10T10:00:00Z', null),
    ],
    // 20 January: not a single message.
    activeMinutes: messages(Q1.fromMs - DAY, NOW, ['2026-01-20']),
    volumeM3: 1234.56789,
    pumpingHours: 400,
  };
}

const rowOf = (rows: readonly ResultsRow[], id: string): ResultsRow | undefined => rows.find((row) => row.borehole === id);

describe('quarters', () => {
  it('reads YYYY-Qn as local days of the report zone, and refuses anything else saying the form', () => {
    expect(parseQuarter('2026-Q4', BAMAKO)).toEqual({ label: '2026-Q4', fromMs: at('2026-10-01T00:00:00Z'), toMs: at('2027-01-01T00:00:00Z'), tz: BAMAKO });
    expect(parseQuarter('2026-q1', 'Europe/Paris').fromMs).toBe(at('2025-12-31T23:00:00Z'));
    for (const bad of ['2026-Q5', '2026Q4', 'Q4-2026', '2026-Q0', '', '2026-04']) expect(() => parseQuarter(bad, BAMAKO)).toThrow(/YYYY-Qn/);
  });

  it('counts calendar days to today included while the quarter runs, and local days of 23 h when the clocks change', () => {
    expect(quarterDays(Q1, NOW)).toHaveLength(41);
    expect(quarterDays(Q1, at('2026-01-01T00:00:00Z'))).toHaveLength(1);
    expect(quarterDays(Q1, at('2026-07-01T00:00:00Z'))).toHaveLength(90);
    const paris = quarterDays(parseQuarter('2026-Q1', 'Europe/Paris'), at('2026-07-01T00:00:00Z'));
    expect(paris).toHaveLength(90);
    // 29 March 2026: summer time in Paris, a day of 23 hours.
    const short = paris.find(([start]) => start === at('2026-03-28T23:00:00Z'));
    expect(short && short[1] - short[0]).toBe(23 * HOUR);
  });

  it('defaults to this quarter and refuses one that has not begun, or an unknown zone', () => {
    expect(resultsQuarter(undefined, BAMAKO, NOW).label).toBe('2026-Q1');
    expect(() => resultsQuarter('2026-Q2', BAMAKO, NOW)).toThrow(/2026-Q2 has not begun/);
    expect(() => resultsQuarter('2026-Q1', 'Mars/Olympus', NOW)).toThrow(PeriodError);
  });
});

describe('results report (CONTRACT.md section 9)', () => {
  it('judges each day of a quarter under way: functional, down (2 h reached, today too), without data', () => {
    const report = resultsReport(Q1, NOW, [khabou()], []);
    expect(report).toMatchObject({ quarter: '2026-Q1', from: '2026-01-01T00:00:00.000Z', to: '2026-02-11T00:00:00.000Z', threshold_pct: 96 });
    // 41 days: 20 January without data, 5 January and today down, 38 functional; 100 × 38 / 40 = 95 % < 96 %.
    // Uptime as section 7 up to now: 972 h, 7 h down, the silence from 19 Jan 23:50 to 21 Jan 00:00 without data.
    const noData = 24 * HOUR + 10 * MINUTE;
    expect(rowOf(report.rows, 'khabou')).toEqual({
      provider: 'FasoFundi',
      borehole: 'khabou',
      days: 41,
      functional_days: 38,
      down_days: 2,
      no_data_days: 1,
      functional_pct: 95,
      uptime_pct: Math.round((10_000 * (972 * HOUR - noData - 7 * HOUR)) / (972 * HOUR - noData)) / 100,
      volume_m3: 1234.568,
      verified_repairs: 0,
      threshold_met: false,
    });
  });

  it("meets a borehole's own threshold, leaves it null without any data, and judges providers on the network-wide one", () => {
    const diamou: BoreholeQuarter = { ...khabou(), borehole: byId('diamou') };
    const banamba: BoreholeQuarter = { borehole: byId('banamba'), criticalAlerts: [], activeMinutes: [], volumeM3: 0, pumpingHours: 0 };
    const report = resultsReport(Q1, NOW, [banamba, diamou, khabou()], []);
    // Same days as khabou (95 %), but diamou's contract says 90 %.
    expect(rowOf(report.rows, 'diamou')).toMatchObject({ functional_pct: 95, threshold_met: true });
    expect(rowOf(report.rows, 'banamba')).toMatchObject({ provider: null, days: 41, no_data_days: 41, functional_days: 0, functional_pct: null, uptime_pct: null, threshold_met: null });
    // Provider rows first by name, the boreholes without one last.
    expect(report.rows.map((row) => row.borehole)).toEqual(['diamou', 'khabou', 'banamba']);
    // Two of three boreholes carry 96 %: the network-wide value, against which FasoFundi's 76 of 80 days (95 %) fall short.
    expect(report.threshold_pct).toBe(96);
    expect(report.providers).toEqual([
      { provider: 'FasoFundi', boreholes: 2, functional_days: 76, functional_pct: 95, threshold_met: false },
      { provider: null, boreholes: 1, functional_days: 0, functional_pct: null, threshold_met: null },
    ]);
  });

  it('takes the days of Africa/Bamako: a message at 23:59 is of that day; in Paris the same one is of the next', () => {
    // The only message at 23:59 UTC on 3 January, after 3 h down from 20:00 to 23:00 UTC.
    const lone = (tz: string) =>
      resultsReport(
        parseQuarter('2026-Q1', tz),
        at('2026-01-05T12:00:00Z'),
        [{ borehole: byId('khabou'), criticalAlerts: [alert(1, '2026-01-03T20:00:00Z', '2026-01-03T23:00:00Z')], activeMinutes: [at('2026-01-03T23:59:00Z')], volumeM3: 0, pumpingHours: 0 }],
        [],
      );
    // In Bamako (UTC) 3 January heard from the borehole and was 3 h down: a down day; 1 to 5 January, 5 days.
    expect(rowOf(lone(BAMAKO).rows, 'khabou')).toMatchObject({ days: 5, no_data_days: 4, down_days: 1, functional_days: 0 });
    // In Paris the message is of 4 January (00:59), a day without down time; the down 3 January had no message.
    const paris = lone('Europe/Paris');
    expect(rowOf(paris.rows, 'khabou')).toMatchObject({ days: 5, no_data_days: 4, down_days: 0, functional_days: 1 });
    expect(paris.from).toBe('2025-12-31T23:00:00.000Z');
  });

  it('counts the repairs verified within the quarter and not reopened since, whenever their fault began', () => {
    const relapsed = reopenIncident(verified('khabou', '2026-01-08T00:00:00Z', '2026-01-08T06:00:00Z'), 'relapse', at('2026-01-08T20:00:00Z'), 168);
    const incidents = [
      verified('khabou', '2025-12-30T00:00:00Z', '2026-01-02T00:00:00Z'),
      verified('khabou', '2026-02-10T09:00:00Z', '2026-02-10T11:00:00Z'),
      verified('khabou', '2025-12-20T00:00:00Z', '2025-12-22T00:00:00Z'),
      relapsed,
      verified('diamou', '2026-01-15T00:00:00Z', '2026-01-15T05:00:00Z'),
    ];
    const report = resultsReport(Q1, NOW, [khabou()], incidents);
    expect(rowOf(report.rows, 'khabou')?.verified_repairs).toBe(2);
  });

  it('a finished quarter counts all its days; the CSV has one line per borehole with the same columns', async () => {
    const q4 = parseQuarter('2025-Q4', BAMAKO);
    const asked: [number, number][] = [];
    const sources = {
      criticalAlertsBetween: () => [{ boreholeId: 'khabou', ...alert(9, '2025-11-03T08:00:00Z', '2025-11-03T20:00:00Z') }],
      telemetry: {
        activeMinutes: async (_id: string, fromMs: number, toMs: number) => messages(fromMs, toMs),
        totals: async (ids: readonly string[]) => new Map(ids.map((id) => [id, { volumeM3: 10.5, pumpingHours: 3, hasFlowData: true }])),
      },
      incidents: {
        between: (fromMs: number, toMs: number) => {
          asked.push([fromMs, toMs]);
          return [verified('khabou', '2025-11-03T08:00:00Z', '2025-11-03T20:00:00Z')];
        },
      },
      now: () => NOW,
    };
    const report = await buildResultsReport(sources, q4, [byId('khabou'), byId('diamou')]);
    expect(asked).toEqual([[q4.fromMs, q4.toMs]]);
    expect(report.to).toBe('2026-01-01T00:00:00.000Z');
    // 92 days, 3 November down 12 h.
    expect(rowOf(report.rows, 'khabou')).toMatchObject({ days: 92, down_days: 1, functional_days: 91, no_data_days: 0, functional_pct: 98.91, threshold_met: true, verified_repairs: 1, volume_m3: 10.5 });
    const lines = resultsCsv(report, 'semicolon').trimEnd().split('\r\n');
    expect(lines[0]).toBe('provider;borehole;days;functional_days;down_days;no_data_days;functional_pct;uptime_pct;volume_m3;verified_repairs;threshold_met');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe('FasoFundi;diamou;92;92;0;0;100;100;"10,5";0;true');
  });
});
