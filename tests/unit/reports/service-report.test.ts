import { describe, expect, it } from 'vitest';
import { buildRegistry, registryFileSchema, type Borehole } from '../../../src/config/registry.js';
import { acknowledgeIncident, arriveOnSite, claimRepair, openIncident, reopenIncident, verifyIncident, waitForPart, type Incident } from '../../../src/incidents/incident.js';
import { buildUptimeReport, uptimeCsv } from '../../../src/reports/report.js';
import { buildServiceReport, median, nearestRank, serviceCsv, summarizeDurations, type ServiceRow } from '../../../src/reports/service-report.js';
import { registryEntry } from '../../support/fixtures.js';

const MINUTE = 60_000;
const at = (iso: string): number => Date.parse(iso);

// March 2026 in Bamako (UTC+0, no summer time); the report is read on 10 April.
const MARCH = { fromMs: at('2026-03-01T00:00:00Z'), toMs: at('2026-04-01T00:00:00Z') };
const NOW = at('2026-04-10T00:00:00Z');

const MOUSSA = { name: 'Moussa Keita', phone: '+22376111111' };
const AWA = { name: 'Awa Traoré', phone: '+22376222222' };

function registry(): Borehole[] {
  const file = registryFileSchema.parse({
    boreholes: [
      { ...registryEntry('khabou', 0), technician: MOUSSA, provider: 'FasoFundi', region: 'Kayes' },
      // The same technician under another spelling: one person, by phone, named as the first borehole names them.
      { ...registryEntry('diamou', 1), technician: { ...MOUSSA, name: 'M. Keita' }, provider: 'FasoFundi', region: 'Kayes' },
      { ...registryEntry('banamba', 2), technician: AWA, region: 'Koulikoro' },
      { ...registryEntry('segala', 3), technician: AWA, provider: 'Aqua Services', region: 'Kayes' },
    ],
  });
  return [...buildRegistry(file).boreholes.values()];
}

let nextCode = 1;
/** An incident opened at `opened`; `work` applies the transitions, each `minutes` after the opening. */
function incident(boreholeId: string, opened: string, options: { workOrder?: boolean; historical?: boolean; severity?: 'critical' | 'warning' } = {}): Incident {
  const code = nextCode++;
  return openIncident({
    id: `inc-${code}`,
    code,
    boreholeId,
    cause: 'pump_fault',
    fault: 'dry_run',
    severity: options.severity ?? 'critical',
    alertId: `alert-${code}`,
    workOrder: options.workOrder ?? true,
    manual: null,
    historical: options.historical ?? false,
    atMs: at(opened),
    assignee: MOUSSA,
    respondHours: 72,
    repairHours: 168,
    groupMs: MINUTE,
    snapshot: null,
  });
}
const after = (incident: Incident, minutes: number): number => incident.openedAtMs + minutes * MINUTE;

/** Acknowledged after 30 min, on site after 2 h, waiting 7 h for a part, repair claimed after 10 h, verified 1 h later. */
function fullRepair(opened: string): Incident {
  let i = incident('khabou', opened);
  i = acknowledgeIncident(i, 'sms:+22376000000', after(i, 30));
  i = arriveOnSite(i, 'sms:+22376111111', after(i, 120));
  i = waitForPart(i, 'roulement', 'sms:+22376111111', after(i, 180));
  i = claimRepair(i, null, 'sms:+22376111111', after(i, 600));
  return verifyIncident(i, 'data', after(i, 660));
}

/** Acknowledged after 90 min, claimed after 5 h, verified 30 min later, then the fault came back: a failed repair. */
function relapse(opened: string): Incident {
  let i = incident('khabou', opened);
  i = acknowledgeIncident(i, 'call:+22376000000', after(i, 90));
  i = claimRepair(i, 'pompe changée', 'sms:+22376111111', after(i, 300));
  i = verifyIncident(i, 'data', after(i, 330));
  return reopenIncident(i, 'relapse', after(i, 900), 168);
}

const rowOf = (rows: readonly ServiceRow[], scope: ServiceRow['scope'], key: string | null): ServiceRow | undefined => rows.find((row) => row.scope === scope && row.key === key);

describe('median and p90', () => {
  it('takes the mean of the two middle values of an even count, and the nearest rank for p90', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(median(ten)).toBe(5.5);
    expect(median([1, 2, 9])).toBe(2);
    // ⌈0.9 × 10⌉ = 9th value; ⌈0.9 × 11⌉ = 10th; a single value is its own p90.
    expect(nearestRank(ten, 90)).toBe(9);
    expect(nearestRank([...ten, 11], 90)).toBe(10);
    expect(nearestRank([42], 90)).toBe(42);
    expect(median([])).toBeNull();
  });

  it('reports durations in decimal minutes, whatever order they come in', () => {
    expect(summarizeDurations([3 * MINUTE, 90_000])).toEqual({ median: 2.25, p90: 3 });
    expect(summarizeDurations([])).toBeNull();
  });
});

describe('service report (CONTRACT.md section 9)', () => {
  const boreholes = registry();

  it('adds up the steps of each borehole: medians, p90s, verified and failed repairs, responses met', () => {
    const report = buildServiceReport([fullRepair('2026-03-02T08:00:00Z'), relapse('2026-03-10T00:00:00Z')], boreholes, MARCH, NOW);
    expect(report.from).toBe('2026-03-01T00:00:00.000Z');
    expect(report.to).toBe('2026-04-01T00:00:00.000Z');
    expect(rowOf(report.rows, 'borehole', 'khabou')).toEqual({
      scope: 'borehole',
      key: 'khabou',
      incidents: 2,
      // The relapse was verified once, then failed: it is a failed repair, not a verified one.
      verified_repairs: 1,
      failed_repairs: 1,
      time_to_ack: { median: 60, p90: 90 },
      time_to_arrive: { median: 120, p90: 120 },
      time_waiting_parts: { median: 420, p90: 420 },
      time_to_repair: { median: 450, p90: 600 },
      time_to_verify: { median: 45, p90: 60 },
      respond_met: 2,
      respond_missed: 0,
    });
  });

  it('counts a work order nobody acknowledged within respond_hours as missed, and one still within them in neither', () => {
    const silent = incident('diamou', '2026-03-15T06:00:00Z');
    const warning = acknowledgeIncident(incident('banamba', '2026-03-20T06:00:00Z', { workOrder: false, severity: 'warning' }), 'sms:+22376000000', at('2026-03-20T06:10:00Z'));
    const lateInMonth = incident('segala', '2026-03-31T20:00:00Z');
    const report = buildServiceReport([silent, warning, lateInMonth], boreholes, MARCH, at('2026-04-01T08:00:00Z'));
    // 72 h after 15 March 06:00 are long gone: missed. Nothing reached any step: every time is null.
    expect(rowOf(report.rows, 'borehole', 'diamou')).toMatchObject({ incidents: 1, respond_met: 0, respond_missed: 1, time_to_ack: null, time_to_repair: null, time_to_verify: null, verified_repairs: 0 });
    // A warning without a work order has no response target: in neither count, but its acknowledgement is timed.
    expect(rowOf(report.rows, 'borehole', 'banamba')).toMatchObject({ incidents: 1, respond_met: 0, respond_missed: 0, time_to_ack: { median: 10, p90: 10 } });
    // Opened 12 h before the report: it may still be answered in time.
    expect(rowOf(report.rows, 'borehole', 'segala')).toMatchObject({ incidents: 1, respond_met: 0, respond_missed: 0 });
  });

  it('counts the waiting for a part still under way up to now', () => {
    let waiting = incident('khabou', '2026-03-30T00:00:00Z');
    waiting = waitForPart(waiting, 'câble', 'sms:+22376111111', at('2026-03-30T02:00:00Z'));
    const report = buildServiceReport([waiting], boreholes, MARCH, at('2026-03-30T05:00:00Z'));
    expect(rowOf(report.rows, 'borehole', 'khabou')?.time_waiting_parts).toEqual({ median: 180, p90: 180 });
  });

  it('groups by technician (one phone, one person), provider (none: null, last) and region, with a row for every group even without incidents', () => {
    const incidents = [fullRepair('2026-03-02T08:00:00Z'), incident('diamou', '2026-03-15T06:00:00Z'), incident('banamba', '2026-03-16T06:00:00Z')];
    const { rows } = buildServiceReport(incidents, boreholes, MARCH, NOW);
    expect(rows.map((row) => `${row.scope}:${row.key ?? 'null'}:${row.incidents}`)).toEqual([
      'borehole:banamba:1',
      'borehole:diamou:1',
      'borehole:khabou:1',
      'borehole:segala:0',
      'technician:Awa Traoré (+22376222222):1',
      'technician:Moussa Keita (+22376111111):2',
      'provider:Aqua Services:0',
      'provider:FasoFundi:2',
      'provider:null:1',
      'region:Kayes:2',
      'region:Koulikoro:1',
    ]);
    expect(rowOf(rows, 'provider', 'FasoFundi')).toMatchObject({ verified_repairs: 1, respond_met: 1, respond_missed: 1 });
    expect(rowOf(rows, 'borehole', 'segala')).toEqual({
      scope: 'borehole',
      key: 'segala',
      incidents: 0,
      verified_repairs: 0,
      failed_repairs: 0,
      time_to_ack: null,
      time_to_arrive: null,
      time_waiting_parts: null,
      time_to_repair: null,
      time_to_verify: null,
      respond_met: 0,
      respond_missed: 0,
    });
  });

  it('counts the incidents opened in [from, to), historical ones too, and none of boreholes not asked for', () => {
    const incidents = [
      incident('khabou', '2026-02-28T23:59:00Z'),
      incident('khabou', '2026-03-01T00:00:00Z'),
      incident('khabou', '2026-03-12T00:00:00Z', { historical: true }),
      incident('khabou', '2026-04-01T00:00:00Z'),
      incident('unknown-borehole', '2026-03-05T00:00:00Z'),
    ];
    const { rows } = buildServiceReport(incidents, boreholes, MARCH, NOW);
    expect(rowOf(rows, 'borehole', 'khabou')?.incidents).toBe(2);
    // A region-limited reader: only its boreholes, and groups of those only.
    const koulikoro = buildServiceReport(incidents, boreholes.filter((b) => b.region === 'Koulikoro'), MARCH, NOW);
    expect(koulikoro.rows.map((row) => `${row.scope}:${row.key ?? 'null'}:${row.incidents}`)).toEqual(['borehole:banamba:0', 'technician:Awa Traoré (+22376222222):0', 'provider:null:0', 'region:Koulikoro:0']);
  });

  it('writes the CSV with one row per entry of rows, each duration as a median and a p90 column, empty where null', () => {
    const report = buildServiceReport([fullRepair('2026-03-02T08:00:00Z')], boreholes, MARCH, NOW);
    const lines = serviceCsv(report).trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'scope,key,incidents,verified_repairs,failed_repairs,time_to_ack_median,time_to_ack_p90,time_to_arrive_median,time_to_arrive_p90,time_waiting_parts_median,time_waiting_parts_p90,time_to_repair_median,time_to_repair_p90,time_to_verify_median,time_to_verify_p90,respond_met,respond_missed',
    );
    expect(lines).toHaveLength(1 + report.rows.length);
    expect(lines).toContain('borehole,khabou,1,1,0,30,30,120,120,420,420,600,600,60,60,1,0');
    expect(lines).toContain('provider,,0,0,0,,,,,,,,,,,0,0');
    // A French spreadsheet: `;` and the decimal comma.
    const half = buildServiceReport([acknowledgeIncident(incident('banamba', '2026-03-03T00:00:00Z'), 'x', at('2026-03-03T00:00:30Z'))], boreholes, MARCH, NOW);
    expect(serviceCsv(half, 'semicolon').split('\r\n')).toContain('borehole;banamba;1;0;0;"0,5";"0,5";;;;;;;;;1;0');
  });
});

describe('monthly report: the incident columns', () => {
  const boreholes = registry();
  const sources = (incidents: Incident[] | null) => ({
    criticalAlertsBetween: () => [],
    telemetry: { totals: async () => new Map(), activeMinutes: async () => [] },
    ...(incidents === null ? {} : { incidents: { between: () => incidents } }),
    now: () => NOW,
  });

  it('gives each borehole its incidents of the month, verified and failed repairs, and the median time to repair', async () => {
    const incidents = [fullRepair('2026-03-02T08:00:00Z'), relapse('2026-03-10T00:00:00Z'), incident('khabou', '2026-02-20T00:00:00Z')];
    const report = await buildUptimeReport(sources(incidents), { ...MARCH, tz: 'Africa/Bamako' }, boreholes);
    expect(report.boreholes.find((row) => row.borehole === 'khabou')).toMatchObject({ incidents: 2, verified_repairs: 1, failed_repairs: 1, median_time_to_repair_minutes: 450 });
    expect(report.boreholes.find((row) => row.borehole === 'segala')).toMatchObject({ incidents: 0, verified_repairs: 0, failed_repairs: 0, median_time_to_repair_minutes: null });
    // The section 7 columns are all still there, the incident ones after them.
    const header = uptimeCsv(report).split('\r\n')[0];
    expect(header).toBe(
      'borehole,name,village,commune,region,from,to,hours_total,hours_down,hours_no_data,uptime_pct,coverage_pct,failures,repairs,mttr_hours,volume_m3,pumping_hours,incidents,verified_repairs,failed_repairs,median_time_to_repair_minutes',
    );
    expect(uptimeCsv(report).split('\r\n').find((line) => line.startsWith('khabou,'))).toMatch(/,2,1,1,450$/);
  });

  it('leaves the columns empty for a report archived before them, and null without incidents', async () => {
    const report = await buildUptimeReport(sources(null), { ...MARCH, tz: 'Africa/Bamako' }, boreholes);
    expect(report.boreholes[0]).toMatchObject({ incidents: null, median_time_to_repair_minutes: null });
    const archived = { ...report, boreholes: report.boreholes.map(({ incidents: _a, verified_repairs: _b, failed_repairs: _c, median_time_to_repair_minutes: _d, ...row }) => row) };
    const line = uptimeCsv(archived as typeof report).split('\r\n')[1];
    expect(line).toMatch(/,,,,$/);
    expect(line).not.toContain('undefined');
  });
});
