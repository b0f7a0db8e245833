/**
 * The provisioned dashboards against a real InfluxDB holding two days of simulated boreholes: every
 * variable, panel and annotation query, interpolated as Grafana would (tests/support/grafana.ts),
 * must run without error and answer with data; and the panels a technician reads first must say
 * the right thing (which alerts are open, uptime per borehole, where the boreholes are).
 *
 * The readings come from the firmware simulator's model (a dry run at one borehole, then a repair);
 * they and the `registry`, `uptime` and `alert` points are encoded by the service's own writers
 * (src/storage/points.ts).
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { Firmware } from '../../firmware-sim/firmware.js';
import { parseScenario, scheduleEvents } from '../../firmware-sim/scenarios.js';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import type { Reading } from '../../src/domain/reading.js';
import { InfluxClient } from '../../src/storage/influx.js';
import { alertChangeLine, boreholeTags, ReadingEncoder, registryLine, uptimeLine } from '../../src/storage/points.js';
import { registryEntry, uniqueName } from '../support/fixtures.js';
import {
  allPanels,
  dashboardQueries,
  fieldProperty,
  hasData,
  interpolate,
  intervalForPanel,
  loadDashboards,
  renamedFields,
  resolveVariables,
  type Dashboard,
  type DashboardQuery,
  type QuerySeries,
  type VariableState,
} from '../support/grafana.js';
import { influxTargets } from '../support/influx.js';

const serverSource = inject('serverSource');
const targets = influxTargets('Grafana dashboard suite');
if (serverSource === 'none') console.warn('!!! Grafana dashboard suite SKIPPED: no InfluxDB (see tests/support/global-setup.ts)');

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/**
 * Two whole days ending at today's midnight (UTC, which is Bamako time), so that the daily uptime
 * records fall in the range and the registry, written "now" as the service does, falls outside it.
 */
const END = Math.floor(Date.now() / DAY) * DAY;
const START = END - 2 * DAY;
const RANGE = { fromMs: START, toMs: END };
const MAP = 'Carte des forages (liaison du boîtier)';

/** The wall-clock time of an instant in Bamako, as "HH:MM". */
const bamakoClock = new Intl.DateTimeFormat('en-GB', { timeZone: 'Africa/Bamako', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });

/** The queries docs/grafana.md offers technicians to copy: its ```sql blocks. */
const DOCUMENTED_QUERIES = [...readFileSync(new URL('../../docs/grafana.md', import.meta.url), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => (match[1] ?? '').trim());

const dashboards = new Map(loadDashboards().map(({ dashboard }) => [dashboard.uid ?? '', dashboard]));
function dashboard(uid: string): Dashboard {
  const found = dashboards.get(uid);
  if (!found) throw new Error(`no dashboard with uid ${uid}`);
  return found;
}

function findQuery(uid: string, panelTitle: string, refId = 'A'): DashboardQuery {
  const query = dashboardQueries(dashboard(uid)).find((candidate) => candidate.panel?.title === panelTitle && candidate.target?.refId === refId);
  if (!query) throw new Error(`no query ${refId} in panel "${panelTitle}" of ${uid}`);
  return query;
}

/** Rows of a table-format answer as objects: tags, then columns. */
function rows(series: readonly QuerySeries[]): Record<string, unknown>[] {
  return series.flatMap((one) => one.values.map((row) => ({ ...one.tags, ...Object.fromEntries(one.columns.map((column, index) => [column, row[index]])) })));
}

describe.skipIf(targets.length === 0).each(targets)('Grafana dashboards against $name', (target) => {
  const unique = uniqueName('grafana').toLowerCase().replace(/_/g, '-');
  const bucket = target.bucket(unique.replace(/-/g, '_'));
  // Regions with a space and an accent, as Malian ones have: the regex escaping must cope.
  const regionA = `Région A ${unique}`;
  const regionB = `Région B ${unique}`;
  const entry = (suffix: string, index: number, region: string, lat: number, lon: number, pump: { rated_flow_lpm: number; intake_depth_m: number }) => ({
    ...registryEntry(`${unique}-${suffix}`, index),
    name: `Forage ${suffix.toUpperCase()}`,
    village: `Village ${suffix.toUpperCase()}`,
    region,
    commune: `Commune ${suffix.toUpperCase()}`,
    location: { lat, lon },
    pump,
  });
  const registry = buildRegistry(
    registryFileSchema.parse({
      boreholes: [
        entry('a', 0, regionA, 14.45, -11.44, { rated_flow_lpm: 60, intake_depth_m: 55 }),
        entry('b', 1, regionA, 14.62, -11.28, { rated_flow_lpm: 45, intake_depth_m: 48 }),
        entry('c', 2, regionB, 13.1, -9.3, { rated_flow_lpm: 50, intake_depth_m: 40 }),
      ],
    }),
  );
  const boreholes = [...registry.boreholes.values()];
  const boreholeOf = (suffix: string) => {
    const found = registry.boreholes.get(`${unique}-${suffix}`);
    if (!found) throw new Error(`no borehole ${suffix}`);
    return found;
  };
  const [a, b, c] = [boreholeOf('a'), boreholeOf('b'), boreholeOf('c')];
  const ours = new Set<string>(boreholes.map((borehole) => borehole.id));
  let client: InfluxClient;

  const run = async (text: string): Promise<QuerySeries[]> => {
    const [first] = await client.query(text);
    return first ?? [];
  };

  /** Runs one dashboard query with the given variables, exactly as Grafana would send it. */
  const runQuery = async (uid: string, query: DashboardQuery, variables: ReadonlyMap<string, VariableState>): Promise<QuerySeries[]> => {
    const context = { ...RANGE, intervalMs: intervalForPanel(query.panel, START, END), dashboardTitle: dashboard(uid).title, variables };
    return run(interpolate(query.query, context));
  };

  beforeAll(async () => {
    client = new InfluxClient({ url: target.url, token: target.token, org: target.org, bucket }, pino({ level: 'silent' }));
    await client.connect();

    const tagsOf = (id: string) => boreholeTags(registry, id);
    const encoder = new ReadingEncoder(tagsOf);
    const lines: string[] = [];

    // A dry run at borehole A on the second morning, repaired in the afternoon.
    const scenario = parseScenario(`events:\n  - { at: 1d10h, borehole: ${a.id}, type: dry_run }\n  - { at: 1d14h, borehole: ${a.id}, type: repair }\n`, 'grafana-dashboards.yaml');
    const events = scheduleEvents(scenario.events, START);
    for (const borehole of boreholes) {
      const firmware = new Firmware({
        borehole,
        seed: 42,
        startAtMs: START,
        intervalMs: MINUTE,
        events,
        tsFormat: 'epoch_ms',
      });
      for (let atMs = START + MINUTE; atMs <= END; atMs += MINUTE) {
        const { readings } = firmware.tick(atMs, { transportUp: true, live: true });
        const batch: Reading[] = [
          { boreholeId: borehole.id, kind: 'flow', tsMs: atMs, values: readings.flow },
          { boreholeId: borehole.id, kind: 'pump', tsMs: atMs, values: readings.pump },
          { boreholeId: borehole.id, kind: 'level', tsMs: atMs, values: readings.level },
        ];
        // Devices send their status when they connect: here, once an hour.
        if (atMs % HOUR === 0) batch.push({ boreholeId: borehole.id, kind: 'status', tsMs: atMs, values: firmware.status(atMs) });
        for (const reading of batch) lines.push(encoder.line(reading));
      }
      // The service writes the registry at start-up and every midnight, stamped when it writes.
      lines.push(registryLine(borehole, Date.now() - MINUTE));
    }
    // C's device went off the network at the end: its last status, at END, says so (the broker's
    // will). Written after the hourly status of the same instant, it replaces its `online`.
    lines.push(encoder.line({ boreholeId: c.id, kind: 'status', tsMs: END, values: { online: false } }));

    const alert = (atMs: number, id: string, rule: string, severity: string, state: string, message: string): string =>
      alertChangeLine({ atMs, alert: { boreholeId: id, rule, severity, state, message } }, tagsOf(id));
    const day2 = START + DAY;
    lines.push(
      alert(day2 + 10 * HOUR + 3 * MINUTE, a.id, 'low_water', 'critical', 'open', 'Niveau d\'eau a la crepine de la pompe'),
      alert(day2 + 11 * HOUR, a.id, 'low_water', 'critical', 'acknowledged', 'Niveau d\'eau a la crepine de la pompe'),
      alert(day2 + 10 * HOUR + 5 * MINUTE, a.id, 'pump_fault', 'critical', 'open', 'Panne pompe (marche a sec)'),
      alert(day2 + 10 * HOUR + 40 * MINUTE, a.id, 'pump_fault', 'critical', 'acknowledged', 'Panne pompe (marche a sec)'),
      alert(day2 + 14 * HOUR + 10 * MINUTE, a.id, 'pump_fault', 'critical', 'resolved', 'Panne pompe (marche a sec)'),
      alert(START + 9 * HOUR, b.id, 'no_flow', 'critical', 'open', 'Pas de debit, pompe en marche'),
      alert(START + 9 * HOUR + 30 * MINUTE, b.id, 'no_flow', 'critical', 'resolved', 'Pas de debit, pompe en marche'),
      alert(START + 20 * HOUR, c.id, 'offline', 'warning', 'open', 'Hors ligne depuis 60 min'),
    );

    // Daily uptime records, at the start of each (Bamako) day. Hand-computed expectations below.
    const uptime = (id: string, atMs: number, period: string, fields: { total: number; down: number; noData: number; failures: number; volume: number; pumping: number }): string => {
      const observed = fields.total - fields.noData;
      const row = {
        ...tagsOf(id),
        hours_total: fields.total,
        hours_down: fields.down,
        hours_no_data: fields.noData,
        coverage_pct: (100 * observed) / fields.total,
        uptime_pct: observed > 0 ? (100 * (observed - fields.down)) / observed : null,
        failures: fields.failures,
        mttr_hours: null,
        volume_m3: fields.volume,
        pumping_hours: fields.pumping,
      };
      return uptimeLine(row, period, atMs);
    };
    lines.push(
      uptime(a.id, START, 'day', { total: 24, down: 0, noData: 0, failures: 0, volume: 19.5, pumping: 5.4 }),
      uptime(a.id, day2, 'day', { total: 24, down: 6, noData: 12, failures: 1, volume: 9.1, pumping: 2.6 }),
      uptime(b.id, START, 'day', { total: 24, down: 0, noData: 0, failures: 1, volume: 14.2, pumping: 5.3 }),
      uptime(b.id, day2, 'day', { total: 24, down: 0, noData: 0, failures: 0, volume: 14.9, pumping: 5.5 }),
      uptime(c.id, START, 'day', { total: 24, down: 0, noData: 24, failures: 0, volume: 0, pumping: 0 }),
      uptime(c.id, day2, 'day', { total: 24, down: 0, noData: 24, failures: 0, volume: 0, pumping: 0 }),
      // Neither a week record nor a day outside the range may count in the range's figures.
      uptime(a.id, START, 'week', { total: 168, down: 100, noData: 0, failures: 3, volume: 80, pumping: 30 }),
      uptime(a.id, START - DAY, 'day', { total: 24, down: 24, noData: 0, failures: 1, volume: 0, pumping: 0 }),
    );

    for (let from = 0; from < lines.length; from += 5000) {
      await client.writeLines(Buffer.from(lines.slice(from, from + 5000).join('\n')));
    }
  });

  describe.each([...dashboards.values()].map((one) => [one.title ?? one.uid ?? '?', one] as const))('%s', (_title, board) => {
    // Borehole A is the one with something to show: the dry run, its alerts and annotations.
    const selections = { borehole: a.id };

    it('its variables offer the simulated regions and boreholes', async () => {
      const states = await resolveVariables(board, run, RANGE, selections);
      for (const state of states.values()) {
        if (state.name === 'region') expect(state.options).toEqual(expect.arrayContaining([regionA, regionB]));
        if (state.name === 'borehole') expect(state.options).toEqual(expect.arrayContaining([...ours]));
      }
    });

    it('every variable, panel and annotation query runs and answers with data', async () => {
      const variables = await resolveVariables(board, run, RANGE, selections);
      const problems: string[] = [];
      for (const query of dashboardQueries(board)) {
        const text = interpolate(query.query, { ...RANGE, intervalMs: intervalForPanel(query.panel, START, END), dashboardTitle: board.title, variables });
        try {
          if (!hasData(await run(text))) problems.push(`${query.where}: no data for ${text}`);
        } catch (error) {
          problems.push(`${query.where}: ${(error as Error).message} in ${text}`);
        }
      }
      expect(problems).toEqual([]);
    });
  });

  /** The dashboard's variables with some selections made, as a technician would pick them. */
  const variablesOf = (uid: string, selections: Record<string, string | string[]> = {}): Promise<Map<string, VariableState>> =>
    resolveVariables(dashboard(uid), run, RANGE, { borehole: a.id, ...selections });

  it('open alerts list the last state of each alert not yet resolved, in every region or the chosen ones', async () => {
    const query = findQuery('boreholes-overview', 'Alertes ouvertes');
    const open = async (selections: Record<string, string | string[]>): Promise<string[]> =>
      rows(await runQuery('boreholes-overview', query, await variablesOf('boreholes-overview', selections)))
        .filter((row) => ours.has(String(row.borehole)))
        .map((row) => `${String(row.borehole)} ${String(row.rule)} ${String(row.state)} ${String(row.severity)}`)
        .sort();
    expect(await open({})).toEqual([`${a.id} low_water acknowledged critical`, `${c.id} offline open warning`]);
    expect(await open({ region: [regionB] })).toEqual([`${c.id} offline open warning`]);
    expect(await open({ region: [regionA, regionB] })).toHaveLength(2);
  });

  it('the map places the chosen regions\' boreholes at their registry coordinates', async () => {
    const query = findQuery('boreholes-overview', MAP);
    const placed = async (selections: Record<string, string | string[]>): Promise<Record<string, unknown>[]> =>
      rows(await runQuery('boreholes-overview', query, await variablesOf('boreholes-overview', selections))).filter((row) => ours.has(String(row.borehole)));
    expect((await placed({})).map((row) => row.borehole).sort()).toEqual([a.id, b.id, c.id]);
    const inRegionA = await placed({ region: [regionA] });
    expect(inRegionA.map((row) => [row.borehole, row.lat, row.lon, row.name])).toEqual([
      [a.id, a.location.lat, a.location.lon, a.name],
      [b.id, b.location.lat, b.location.lon, b.name],
    ]);
  });

  it('the map places every borehole with its device status, the colour field: online, or offline since its last status', async () => {
    const variables = await variablesOf('boreholes-overview');
    const placed = new Map(rows(await runQuery('boreholes-overview', findQuery('boreholes-overview', MAP, 'A'), variables)).map((row) => [String(row.borehole), row]));
    const status = rows(await runQuery('boreholes-overview', findQuery('boreholes-overview', MAP, 'B'), variables)).filter((row) => ours.has(String(row.borehole)));
    // Joined by borehole as the panel's transformation does: each marker has its place and its colour.
    const markers = status.map((row) => ({ borehole: row.borehole, online: row.online, lat: placed.get(String(row.borehole))?.lat }));
    expect(markers.sort((x, y) => String(x.borehole).localeCompare(String(y.borehole)))).toEqual([
      { borehole: a.id, online: 1, lat: a.location.lat },
      { borehole: b.id, online: 1, lat: b.location.lat },
      { borehole: c.id, online: 0, lat: c.location.lat },
    ]);
  });

  it('every daily panel counts Bamako days: each bucket starts at midnight in Bamako, one a day over the range', async () => {
    const daily = [...dashboards.values()].flatMap((board) =>
      dashboardQueries(board)
        .filter((query) => /time\(1d\)/.test(query.query))
        .map((query) => ({ board, query })),
    );
    expect(daily.length).toBeGreaterThanOrEqual(3);
    for (const { board, query } of daily) {
      expect(query.query, query.where).toMatch(/tz\('Africa\/Bamako'\)$/);
      const series = await runQuery(board.uid ?? '', query, await variablesOf(board.uid ?? ''));
      const starts = [...new Set(series.flatMap((one) => one.values.map((row) => Number(row[0]))))].sort((x, y) => x - y);
      expect(starts.length, query.where).toBeGreaterThanOrEqual(2);
      for (const start of starts) expect(bamakoClock.format(start), `${query.where}: bucket ${new Date(start).toISOString()}`).toBe('00:00');
      for (let index = 1; index < starts.length; index += 1) expect((starts[index] ?? 0) - (starts[index - 1] ?? 0), query.where).toBe(DAY);
      expect(starts[0], query.where).toBeGreaterThanOrEqual(START);
      expect(starts[starts.length - 1], query.where).toBeLessThanOrEqual(END);
    }
  });

  it('the server applies tz() to the buckets, so the Bamako days above are not an accident of UTC', async () => {
    // Bamako is UTC+0 all year, so its midnights are UTC midnights; Lagos (UTC+1) shows that the
    // server shifts buckets by the zone instead of ignoring the clause.
    const query = dashboardQueries(dashboard('borehole-detail')).find((candidate) => /time\(1d\)/.test(candidate.query));
    expect(query).toBeDefined();
    const lagos = { ...(query as DashboardQuery), query: (query as DashboardQuery).query.replace("tz('Africa/Bamako')", "tz('Africa/Lagos')") };
    const series = await runQuery('borehole-detail', lagos, await variablesOf('borehole-detail'));
    const starts = series.flatMap((one) => one.values.map((row) => Number(row[0]))).filter((start) => start >= START);
    expect(starts.length).toBeGreaterThan(0);
    for (const start of starts) expect(new Date(start).toISOString().slice(11, 16)).toBe('23:00');
  });

  it('every number a table shows has a unit or a meaning (value mapping)', async () => {
    const problems: string[] = [];
    for (const board of dashboards.values()) {
      const variables = await variablesOf(board.uid ?? '');
      for (const panel of allPanels(board).filter((candidate) => candidate.type === 'table')) {
        for (const query of dashboardQueries(board).filter((candidate) => candidate.panel === panel)) {
          for (const one of await runQuery(board.uid ?? '', query, variables)) {
            one.columns.forEach((column, index) => {
              if (column === 'time' || !one.values.some((row) => typeof row[index] === 'number')) return;
              const names = [column, renamedFields(panel)[column] ?? column];
              if (!fieldProperty(panel, names, 'unit') && !fieldProperty(panel, names, 'mappings')) problems.push(`${query.where}: column ${column} ("${names[1] ?? ''}") has numbers without a unit`);
            });
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('the status table has a row for every borehole, including one silent in the range', async () => {
    const variables = await variablesOf('boreholes-overview');
    const registry = rows(await runQuery('boreholes-overview', findQuery('boreholes-overview', 'État de chaque forage', 'A'), variables));
    expect(registry.filter((row) => ours.has(String(row.borehole))).map((row) => row.name)).toEqual([a.name, b.name, c.name]);
    const pump = rows(await runQuery('boreholes-overview', findQuery('boreholes-overview', 'État de chaque forage', 'B'), variables));
    // Every borehole reported until the end of the range: its last reading is the last minute.
    expect(pump.filter((row) => ours.has(String(row.borehole))).map((row) => row.time)).toEqual([END, END, END]);
  });

  it('uptime per borehole follows the report formula, and a borehole without any data has none', async () => {
    const variables = await variablesOf('boreholes-uptime');
    const byBorehole = async (refId: string): Promise<Map<string, Record<string, unknown>>> =>
      new Map(
        rows(await runQuery('boreholes-uptime', findQuery('boreholes-uptime', 'Disponibilité par forage', refId), variables))
          .filter((row) => ours.has(String(row.borehole)))
          .map((row) => [String(row.borehole), row]),
      );
    const uptime = await byBorehole('C');
    const totals = await byBorehole('B');
    // A: 48 h, 6 down, 12 without data: 100 x (48 - 6 - 12) / (48 - 12).
    expect(uptime.get(a.id)?.uptime_pct).toBeCloseTo((100 * 30) / 36, 6);
    expect(totals.get(a.id)).toMatchObject({ coverage_pct: 75, hours_down: 6, hours_no_data: 12, failures: 1 });
    expect(totals.get(a.id)?.volume_m3).toBeCloseTo(28.6, 6);
    expect(uptime.get(b.id)?.uptime_pct).toBe(100);
    expect(totals.get(b.id)).toMatchObject({ coverage_pct: 100, hours_down: 0, failures: 1 });
    // C sent nothing: no uptime at all rather than 0 %, and no coverage.
    expect(uptime.has(c.id)).toBe(false);
    expect(totals.get(c.id)).toMatchObject({ coverage_pct: 0, hours_no_data: 48 });
  });

  it('the borehole detail draws the intake depth from the registry, the dry run reaching it, and the fault', async () => {
    const variables = await variablesOf('borehole-detail');
    const level = await runQuery('borehole-detail', findQuery('borehole-detail', "Niveau d'eau et crépine de la pompe (m)", 'A'), variables);
    const intake = await runQuery('borehole-detail', findQuery('borehole-detail', "Niveau d'eau et crépine de la pompe (m)", 'B'), variables);
    expect(rows(intake).map((row) => row.pump_intake_m)).toEqual([-a.pump.intake_depth_m]);
    const levels = rows(level)
      .map((row) => row.water_level_m)
      .filter((value): value is number => typeof value === 'number');
    // Normal life keeps the water well above the intake; the dry run brings it down to it.
    expect(Math.min(...levels)).toBeLessThan(-a.pump.intake_depth_m + 1);
    expect(Math.max(...levels)).toBeGreaterThan(-0.8 * a.pump.intake_depth_m);

    const faults = rows(await runQuery('borehole-detail', findQuery('borehole-detail', 'Marche de la pompe et pannes', 'B'), variables)).map((row) => row.fault);
    expect(new Set(faults)).toEqual(new Set(['', 'dry_run']));

    const annotations = dashboardQueries(dashboard('borehole-detail')).find((query) => query.kind === 'annotation');
    expect(annotations).toBeDefined();
    const events = rows(await runQuery('borehole-detail', annotations as DashboardQuery, variables)).map((row) => `${String(row.rule)} ${String(row.state)}`);
    expect(events).toEqual(['low_water open', 'pump_fault open', 'pump_fault acknowledged', 'low_water acknowledged', 'pump_fault resolved']);
  });

  it('the queries docs/grafana.md offers to copy run and answer with data', async () => {
    expect(DOCUMENTED_QUERIES.length).toBeGreaterThanOrEqual(10);
    const variables = await variablesOf('borehole-detail');
    const problems: string[] = [];
    for (const query of DOCUMENTED_QUERIES) {
      const text = interpolate(query, { ...RANGE, intervalMs: intervalForPanel(undefined, START, END), variables });
      try {
        if (!hasData(await run(text))) problems.push(`no data for ${text}`);
      } catch (error) {
        problems.push(`${(error as Error).message} in ${text}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
