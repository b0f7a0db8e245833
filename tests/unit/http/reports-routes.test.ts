import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import type { uptimeReportSchema } from '../../../src/reports/report.js';
import type { ResultsReport } from '../../../src/reports/results-report.js';
import { serviceMonthReport } from '../../../src/reports/scheduler.js';
import type { ServiceReport } from '../../../src/reports/service-report.js';
import { plusCode } from '../../../src/reports/wpdx.js';
import { bearer, seedNetwork, startHarness, TOKENS, type Harness } from './harness.js';
import type { z } from 'zod';

type Report = z.infer<typeof uptimeReportSchema>;
const SECTION_7_FIELDS = ['hours_total', 'hours_down', 'hours_no_data', 'uptime_pct', 'coverage_pct', 'failures', 'mttr_hours', 'volume_m3', 'pumping_hours'];

describe('uptime report routes', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    // At T0 (2026-02-05 10:00 Bamako): khabou has had a dry_run pump fault (critical) since 09:30.
    seedNetwork(h);
  });

  afterEach(async () => {
    await h.close();
  });

  const get = (url: string, token: string = TOKENS.viewer, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'GET', url, headers: { ...bearer(token), ...headers } });
  const rowOf = (report: Report, id: string) => report.boreholes.find((row) => row.borehole === id);

  it('reports a period up to now with the fields of section 7 for every borehole', async () => {
    const response = await get('/api/reports/uptime?from=2026-02-05&to=2026-02-06');
    expect(response.statusCode).toBe(200);
    const report = response.json<Report>();
    expect(report).toMatchObject({ from: '2026-02-05T00:00:00.000Z', to: '2026-02-06T00:00:00.000Z', tz: 'Africa/Bamako', complete: false });
    expect(report.boreholes.map((row) => row.borehole).sort()).toEqual(['banamba', 'diamou', 'khabou', 'kolokani', 'segala', 'zegoua']);
    for (const row of report.boreholes) expect(Object.keys(row)).toEqual(expect.arrayContaining(['borehole', ...SECTION_7_FIELDS]));
    // 10 h elapsed, down since 09:30: 100 × (10 − 0.5) / 10.
    expect(rowOf(report, 'khabou')).toMatchObject({ hours_total: 10, hours_down: 0.5, failures: 1, mttr_hours: null, uptime_pct: 95, coverage_pct: 100 });
    // Never heard from: no uptime to speak of, and no coverage.
    expect(rowOf(report, 'zegoua')).toMatchObject({ hours_no_data: 10, uptime_pct: null, coverage_pct: 0 });
  });

  it('reports last month by default, and in the time zone asked', async () => {
    const report = (await get('/api/reports/uptime')).json<Report>();
    expect(report).toMatchObject({ from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z', complete: true });
    expect(rowOf(report, 'segala')?.hours_total).toBe(744);
    const paris = (await get('/api/reports/uptime?from=2026-01-01&to=2026-02-01&tz=Europe/Paris')).json<Report>();
    expect(paris).toMatchObject({ from: '2025-12-31T23:00:00.000Z', to: '2026-01-31T23:00:00.000Z', tz: 'Europe/Paris' });
  });

  it('answers CSV for format=csv and for Accept: text/csv', async () => {
    for (const response of [await get('/api/reports/uptime?from=2026-02-01&to=2026-02-06&format=csv'), await get('/api/reports/uptime?from=2026-02-01&to=2026-02-06', TOKENS.viewer, { accept: 'text/csv' })]) {
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/csv/);
      expect(response.headers['content-disposition']).toContain('uptime-2026-02-01-2026-02-06.csv');
      // UTF-8 with a BOM, so that Excel does not read "Zégoua" in the Windows code page.
      const lines = response.body.trimEnd().split('\r\n');
      expect(lines[0]).toBe('\uFEFFborehole,name,village,commune,region,from,to,hours_total,hours_down,hours_no_data,uptime_pct,coverage_pct,failures,repairs,mttr_hours,volume_m3,pumping_hours,incidents,verified_repairs,failed_repairs,median_time_to_repair_minutes');
      expect(lines).toHaveLength(7);
      // The name with quotes and markup survives as one quoted cell.
      expect(lines.find((line) => line.startsWith('zegoua,'))).toContain('"Forage <b>de</b> ""Zégoua"" & Cie"');
    }
  });

  it.each([
    ['from=2026-02-30&to=2026-03-01', /from/],
    ['from=2026-03-01&to=2026-02-01', /after/],
    ['from=2026-02-01', /both/],
    ['from=2025-01-01&to=2026-06-01', /400 days/],
    ['from=2026-02-01&to=2026-03-01&tz=Mars/Olympus', /time zone/],
    // Found by the fuzz suite: without dates the zone was not checked, and the period became NaN.
    ['tz=x', /time zone/],
    ['from=01/02/2026&to=2026-03-01', /YYYY-MM-DD/],
  ])('refuses %s with a sentence that says why', async (query, why) => {
    const response = await get(`/api/reports/uptime?${query}`);
    expect(response.statusCode).toBe(400);
    expect(response.json<{ message: string }>().message).toMatch(why);
  });

  it('reports a period of 400 days, the longest allowed, whatever offline_minutes adds around it; refuses 401', async () => {
    // 2025-01-01 to 2026-02-05 (excluded): 400 days, complete at T0.
    const longest = await get('/api/reports/uptime?from=2025-01-01&to=2026-02-05');
    expect(longest.statusCode).toBe(200);
    expect(longest.json<Report>()).toMatchObject({ from: '2025-01-01T00:00:00.000Z', to: '2026-02-05T00:00:00.000Z', complete: true });
    expect(rowOf(longest.json<Report>(), 'segala')?.hours_total).toBe(9600);
    const tooLong = await get('/api/reports/uptime?from=2025-01-01&to=2026-02-06');
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json<{ error: string; message: string }>()).toEqual({
      error: 'invalid_period',
      message: 'a report covers at most 400 days; 2025-01-01 to 2026-02-06 is 401 days',
    });
  });

  it('needs a token, and gives a region-limited token only its region', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/api/reports/uptime' })).statusCode).toBe(401);
    const limited = (await get('/api/reports/uptime', TOKENS.koulikoroViewer)).json<Report>();
    expect(limited.boreholes.map((row) => row.borehole).sort()).toEqual(['banamba', 'kolokani']);
    const kayes = (await get('/api/reports/uptime?region=Kayes')).json<Report>();
    expect(kayes.boreholes.map((row) => row.borehole).sort()).toEqual(['diamou', 'khabou', 'segala']);
  });

  it('answers 503 when the time-series store does not', async () => {
    h.failingSeries.add('khabou');
    const response = await get('/api/reports/uptime?from=2026-02-01&to=2026-02-06');
    expect(response.statusCode).toBe(503);
    expect(response.json<{ error: string }>().error).toBe('store_unavailable');
  });

  it('lists archived reports and serves each as it was generated, to each token its rows', async () => {
    const report = (await get('/api/reports/uptime?from=2026-01-01&to=2026-02-01')).json<Report>();
    h.store.archiveReport({ kind: 'month', fromMs: Date.parse(report.from), toMs: Date.parse(report.to), tz: 'Africa/Bamako', generatedAtMs: h.clock.nowMs, body: JSON.stringify(report) });
    const list = (await get('/api/reports')).json<{ items: { kind: string; url: string; from: string }[] }>();
    expect(list.items).toEqual([expect.objectContaining({ kind: 'month', from: '2026-01-01T00:00:00.000Z', url: '/api/reports/archive/month/2026-01-01' })]);
    const archived = await get('/api/reports/archive/month/2026-01-01');
    expect(archived.json<Report>()).toEqual(report);
    expect((await get('/api/reports/archive/month/2026-01-01', TOKENS.koulikoroViewer)).json<Report>().boreholes).toHaveLength(2);
    expect((await get('/api/reports/archive/month/2026-01-01?format=csv')).body.trimEnd().split('\r\n')).toHaveLength(7);
    expect((await get('/api/reports/archive/week/2026-01-05')).statusCode).toBe(404);
    expect((await get('/api/reports/archive/month/2026-13-01')).statusCode).toBe(400);
  });

  describe('the archived service and results reports', () => {
    const TZ = 'Africa/Bamako';
    const february = { fromMs: Date.parse('2026-02-01T00:00:00Z'), toMs: Date.parse('2026-03-01T00:00:00Z'), tz: TZ };
    const q4 = { fromMs: Date.parse('2025-10-01T00:00:00Z'), toMs: Date.parse('2026-01-01T00:00:00Z') };

    beforeEach(async () => {
      // As the schedule archives them: the service report with the regions behind its rows, the results report as the API computes it.
      const service = serviceMonthReport(h.desk, [...h.registry.boreholes.values()], february, h.clock.nowMs);
      h.store.archiveReport({ kind: 'service-month', ...february, generatedAtMs: h.clock.nowMs, body: JSON.stringify(service) });
      const results = (await get('/api/reports/results?quarter=2025-Q4')).json<ResultsReport>();
      h.store.archiveReport({ kind: 'results-quarter', ...q4, tz: TZ, generatedAtMs: h.clock.nowMs, body: JSON.stringify(results) });
    });

    it('lists them with their kind and url', async () => {
      const list = (await get('/api/reports')).json<{ items: { kind: string; url: string }[] }>();
      expect(list.items.map((item) => [item.kind, item.url])).toEqual([
        ['service-month', '/api/reports/archive/service-month/2026-02-01'],
        ['results-quarter', '/api/reports/archive/results-quarter/2025-10-01'],
      ]);
    });

    it('serves the service report as it was generated, not as it stands now', async () => {
      const live = (await get('/api/reports/service?from=2026-02-01&to=2026-03-01')).json<ServiceReport>();
      const archived = await get('/api/reports/archive/service-month/2026-02-01');
      expect(archived.statusCode).toBe(200);
      // The regions it was archived with are the route's business, not the officer's.
      expect(archived.json<ServiceReport>()).toEqual(live);
      const khabou = live.rows.find((row) => row.scope === 'borehole' && row.key === 'khabou');
      expect(khabou?.incidents).toBe(1);
      // Acknowledged an hour later: the live report measures it, the archive keeps what was sent.
      h.clock.nowMs += 3_600_000;
      const [incident] = h.desk.between(february.fromMs, h.clock.nowMs);
      expect((await h.app.inject({ method: 'POST', url: `/api/incidents/${incident?.id ?? ''}/ack`, headers: bearer(TOKENS.operator), payload: {} })).statusCode).toBe(200);
      const after = (await get('/api/reports/service?from=2026-02-01&to=2026-03-01')).json<ServiceReport>();
      expect(after.rows.find((row) => row.key === 'khabou')?.time_to_ack).not.toBeNull();
      expect((await get('/api/reports/archive/service-month/2026-02-01')).json<ServiceReport>().rows.find((row) => row.key === 'khabou')?.time_to_ack).toBeNull();
    });

    it("gives a region-limited token its boreholes and region, and no technician or provider row that sums up other regions' boreholes", async () => {
      const limited = (await get('/api/reports/archive/service-month/2026-02-01', TOKENS.koulikoroViewer)).json<ServiceReport>();
      expect(limited.rows.map((row) => `${row.scope} ${row.key ?? ''}`)).toEqual(['borehole banamba', 'borehole kolokani', 'region Koulikoro']);
      // Those rows are what the token would be told of its region today.
      const live = (await get('/api/reports/service?from=2026-02-01&to=2026-03-01', TOKENS.koulikoroViewer)).json<ServiceReport>();
      expect(limited.rows).toEqual(live.rows.filter((row) => row.scope === 'borehole' || row.scope === 'region'));
    });

    it("serves the results report, to a region-limited token its boreholes with its providers' totals summed again", async () => {
      const whole = (await get('/api/reports/archive/results-quarter/2025-10-01')).json<ResultsReport>();
      expect(whole).toEqual((await get('/api/reports/results?quarter=2025-Q4')).json<ResultsReport>());
      expect(whole.providers[0]?.boreholes).toBe(6);
      const limited = (await get('/api/reports/archive/results-quarter/2025-10-01', TOKENS.koulikoroViewer)).json<ResultsReport>();
      expect(limited.rows.map((row) => row.borehole)).toEqual(['banamba', 'kolokani']);
      // The same totals as a report of the region alone: none of Kayes' days in them.
      expect(limited).toEqual((await get('/api/reports/results?quarter=2025-Q4', TOKENS.koulikoroViewer)).json<ResultsReport>());
    });

    it('answers 404 for a period not archived', async () => {
      for (const url of ['/api/reports/archive/service-month/2026-01-01', '/api/reports/archive/results-quarter/2026-01-01', '/api/reports/archive/results-quarter/2025-11-01']) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(404);
        expect(response.json<{ error: string }>().error).toBe('not_found');
      }
      expect((await get('/api/reports/archive/service-quarter/2025-10-01')).statusCode).toBe(400);
    });

    it('answers CSV in both dialects, to each token its rows', async () => {
      const service = await get('/api/reports/archive/service-month/2026-02-01?format=csv&sep=semicolon');
      expect(service.headers['content-disposition']).toContain('service-month-2026-02-01.csv');
      const lines = service.body.trimEnd().split('\r\n');
      expect(lines[0]).toMatch(/^\uFEFFscope;key;incidents;verified_repairs;failed_repairs;time_to_ack_median;time_to_ack_p90;/);
      // Six boreholes, one technician, boreholes without a provider, three regions.
      expect(lines).toHaveLength(12);
      expect((await get('/api/reports/archive/service-month/2026-02-01?format=csv', TOKENS.koulikoroViewer)).body.trimEnd().split('\r\n')).toHaveLength(4);
      const results = await get('/api/reports/archive/results-quarter/2025-10-01', TOKENS.koulikoroViewer, { accept: 'text/csv' });
      expect(results.headers['content-disposition']).toContain('results-quarter-2025-10-01.csv');
      expect(results.body.trimEnd().split('\r\n')).toEqual([
        expect.stringMatching(/^\uFEFFprovider,borehole,days,functional_days,/),
        expect.stringMatching(/^,banamba,92,/),
        expect.stringMatching(/^,kolokani,92,/),
      ]);
    });

    it('lists them on the report page in French, each downloadable with the page cookie', async () => {
      const page = (url: string, token: string = TOKENS.viewer) => h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', cookie: `${TOKEN_COOKIE}=${token}` } });
      const text = (await page('/reports')).body;
      expect(text).toContain('Interventions de février 2026');
      expect(text).toContain('Résultats T4 2025');
      expect(text).toContain('href="/reports/archive/service-month/2026-02-01?sep=semicolon"');
      expect(text).toContain('href="/reports/archive/results-quarter/2025-10-01"');
      const csv = await page('/reports/archive/service-month/2026-02-01?sep=semicolon', TOKENS.koulikoroViewer);
      expect(csv.headers['content-disposition']).toContain('interventions-mois-2026-02-01.csv');
      expect(csv.body.trimEnd().split('\r\n')).toHaveLength(4);
      expect((await page('/reports/archive/results-quarter/2026-01-01')).statusCode).toBe(404);
    });
  });

  it('exports the live status in WPdx columns', async () => {
    const response = await get('/api/reports/wpdx');
    const body = response.json<{ report_date: string; items: Record<string, unknown>[] }>();
    const byId = new Map(body.items.map((item) => [item.orig_id, item]));
    // A dry-running pump: no water, and WPdx's "dry".
    expect(byId.get('khabou')).toMatchObject({ wpdx_id: plusCode(14.4469, -11.4445), lat_deg: 14.4469, lon_deg: -11.4445, status_id: 'No', status_clean: 'Non-Functional, dry', clean_adm1: 'Kayes' });
    expect(byId.get('segala')).toMatchObject({ status_id: 'Yes', status_clean: 'Functional' });
    // A low_water warning: water still flows, the borehole needs attention.
    expect(byId.get('kolokani')).toMatchObject({ status_id: 'Yes', status_clean: 'Functional, needs repair' });
    // Silent devices say nothing of the water.
    expect(byId.get('diamou')).toMatchObject({ status_id: 'Unknown' });
    expect(byId.get('zegoua')).toMatchObject({ status_id: 'Unknown' });
    const csv = await get('/api/reports/wpdx?format=csv');
    expect(csv.body.split('\r\n')[0]).toBe('\uFEFFwpdx_id,report_date,lat_deg,lon_deg,status_id,status_clean,water_source_clean,water_tech_clean,management_clean,clean_adm1,clean_adm3,water_point_name,village,orig_id,source');
  });

  describe('the report page', () => {
    const page = (url: string, token: string = TOKENS.viewer) => h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', cookie: `${TOKEN_COOKIE}=${token}` } });

    it('shows the network, a chart and a table per region, in French', async () => {
      const response = await page('/reports?from=2026-02-01&to=2026-02-06');
      expect(response.statusCode).toBe(200);
      const text = response.body;
      expect(text).toContain('Rapport de disponibilité des forages');
      expect(text).toContain('Région de Kayes');
      expect(text).toContain('Région de Koulikoro');
      expect(text).toContain('class="uptime-chart"');
      expect(text).toContain('période en cours');
      // Markup in a name is text.
      expect(text).toContain('Forage &lt;b&gt;de&lt;/b&gt;');
      expect(text).toContain('href="/reports/uptime.csv?from=2026-02-01&amp;to=2026-02-06"');
    });

    it('refuses a bad period with a page, and sends to login without a token', async () => {
      expect((await page('/reports?from=2026-02-31&to=2026-03-01')).statusCode).toBe(400);
      const anonymous = await h.app.inject({ method: 'GET', url: '/reports', headers: { accept: 'text/html' } });
      expect(anonymous.statusCode).toBe(303);
      expect(anonymous.headers.location).toMatch(/^\/login/);
    });

    it('downloads the table and the WPdx export with the page cookie, limited to the token regions', async () => {
      const csv = await page('/reports/uptime.csv?from=2026-02-01&to=2026-02-06', TOKENS.koulikoroViewer);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.body.trimEnd().split('\r\n')).toHaveLength(3);
      const wpdx = await page('/reports/wpdx.csv');
      expect(wpdx.body.trimEnd().split('\r\n')).toHaveLength(7);
    });
  });
});
