/**
 * The CSV downloads as spreadsheets will read them: the writer's two dialects (comma, and
 * semicolon with a decimal comma for French spreadsheets), its quoting and formula guard, the
 * BOM and the file name; then every download route with `sep=semicolon`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attachment, csvSeparatorOf, toCsv } from '../../../src/http/csv.js';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import { bearer, seedNetwork, startHarness, TOKENS, type Harness } from './harness.js';

const COLUMNS = ['name', 'uptime_pct', 'failures', 'lat', 'ok'] as const;
const row = (name: string | null, uptime: number | null, failures = 0, lat = 14.4469, ok: boolean | null = true) => ({ name, uptime_pct: uptime, failures, lat, ok });

describe('the CSV writer', () => {
  it('writes the comma dialect by default: a header, CRLF lines, empty cells for null', () => {
    expect(toCsv(COLUMNS, [row('Forage de Ségou', 98.5, 2, -11.4445), row(null, null, 0, 0, null)])).toBe(
      'name,uptime_pct,failures,lat,ok\r\nForage de Ségou,98.5,2,-11.4445,true\r\n,,0,0,\r\n',
    );
  });

  it('writes the semicolon dialect with a decimal comma, quoted so that a reader splitting on commas too keeps it whole', () => {
    expect(toCsv(COLUMNS, [row('Kéniéba', 98.5, 2, -11.4445), row('Khabou', 100, 0, 14)], 'semicolon')).toBe(
      'name;uptime_pct;failures;lat;ok\r\nKéniéba;"98,5";2;"-11,4445";true\r\nKhabou;100;0;14;true\r\n',
    );
  });

  it('quotes a cell holding either separator, a tab, a quote or a line break, in both dialects', () => {
    const names = ['Khabou, puits 2', 'Puits A; B', 'col\tonne', 'Forage "Ségala"', 'ligne 1\r\nligne 2', 'saut\nde ligne'];
    const quoted = ['"Khabou, puits 2"', '"Puits A; B"', '"col\tonne"', '"Forage ""Ségala"""', '"ligne 1\r\nligne 2"', '"saut\nde ligne"'];
    for (const separator of ['comma', 'semicolon'] as const) {
      const lines = toCsv(['name'], names.map((name) => ({ name })), separator);
      expect(lines).toBe(`name\r\n${quoted.join('\r\n')}\r\n`);
    }
  });

  it('leaves a cell without anything to quote as it is: no quotes around plain names, dates or integers', () => {
    expect(toCsv(['a', 'b', 'c'], [{ a: 'Ségou', b: '2026-01-10T00:00:00.000Z', c: 1000 }], 'semicolon')).toBe('a;b;c\r\nSégou;2026-01-10T00:00:00.000Z;1000\r\n');
  });

  it('keeps a registry name from running as a formula, and a negative number a number', () => {
    for (const separator of ['comma', 'semicolon'] as const) {
      const csv = toCsv(['name', 'lon'], [{ name: '=HYPERLINK("http://x")', lon: -5.5 }, { name: '+223 76', lon: -5 }, { name: '-Khabou', lon: 0 }, { name: '@SUM(A1)', lon: 1 }], separator);
      const lines = csv.trimEnd().split('\r\n');
      expect(lines.slice(1).map((line) => line.replace(/^"/, '').slice(0, 2))).toEqual(["'=", "'+", "'-", "'@"]);
      expect(lines[1]).toBe(separator === 'comma' ? `"'=HYPERLINK(""http://x"")",-5.5` : `"'=HYPERLINK(""http://x"")";"-5,5"`);
      expect(lines[2]?.endsWith(separator === 'comma' ? ',-5' : ';-5')).toBe(true);
    }
  });

  it('reads `sep` from a page query: absent is comma, unknown is refused', () => {
    expect(csvSeparatorOf(undefined)).toBe('comma');
    expect(csvSeparatorOf('semicolon')).toBe('semicolon');
    expect(csvSeparatorOf('comma')).toBe('comma');
    expect(csvSeparatorOf(';')).toBeNull();
  });
});

describe('the download file name', () => {
  it('is a plain quoted filename when it is ASCII', () => {
    expect(attachment('uptime-2026-01-01-2026-02-01.csv')).toBe('attachment; filename="uptime-2026-01-01-2026-02-01.csv"');
  });

  it('adds filename* in UTF-8 with an ASCII fallback when it carries accents', () => {
    expect(attachment('disponibilité-Kéniéba (1).csv')).toBe(
      `attachment; filename="disponibilite-Kenieba (1).csv"; filename*=UTF-8''disponibilit%C3%A9-K%C3%A9ni%C3%A9ba%20%281%29.csv`,
    );
    expect(attachment('a"b\\c.csv')).toBe(`attachment; filename="a_b_c.csv"; filename*=UTF-8''a%22b%5Cc.csv`);
  });
});

describe('the CSV downloads', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    seedNetwork(h);
  });

  afterEach(async () => {
    await h.close();
  });

  const get = (url: string) => h.app.inject({ method: 'GET', url, headers: bearer(TOKENS.viewer) });
  const page = (url: string) => h.app.inject({ method: 'GET', url, headers: { accept: 'text/html', cookie: `${TOKEN_COOKIE}=${TOKENS.viewer}` } });

  const downloads: [string, string][] = [
    ['/api/reports/uptime?from=2026-02-01&to=2026-02-06&format=csv', 'uptime-2026-02-01-2026-02-06.csv'],
    ['/api/reports/wpdx?format=csv', 'wpdx-2026-02-05.csv'],
    ['/api/boreholes/khabou/readings?from=2026-02-04T07:00:00Z&to=2026-02-04T10:00:00Z&format=csv', 'khabou-2026-02-04-2026-02-04-1h.csv'],
    ['/reports/uptime.csv?from=2026-02-01&to=2026-02-06', 'disponibilite-2026-02-01-2026-02-06.csv'],
    ['/reports/wpdx.csv', 'wpdx-2026-02-05.csv'],
  ];

  it.each(downloads)('%s: UTF-8 with a BOM, text/csv, an attachment; with sep=semicolon the same cells in the French dialect', async (url, filename) => {
    const fetch = url.startsWith('/api/') ? get : page;
    const comma = await fetch(url);
    expect(comma.statusCode).toBe(200);
    expect(comma.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(comma.headers['content-disposition']).toBe(`attachment; filename="${filename}"`);
    expect(comma.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const semicolon = await fetch(`${url}${url.includes('?') ? '&' : '?'}sep=semicolon`);
    expect(semicolon.statusCode).toBe(200);
    expect(semicolon.headers['content-disposition']).toBe(comma.headers['content-disposition']);
    expect(semicolon.rawPayload.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const header = (body: string) => body.slice(1).split('\r\n')[0] ?? '';
    expect(header(semicolon.body)).toBe(header(comma.body).replaceAll(',', ';'));
    expect(semicolon.body.split('\r\n')).toHaveLength(comma.body.split('\r\n').length);
  });

  it('writes decimals with a comma in the French dialect, and accents as UTF-8', async () => {
    const semicolon = (await get('/api/reports/wpdx?format=csv&sep=semicolon')).body;
    const segala = semicolon.split('\r\n').find((line) => line.includes(';segala;'));
    expect(segala).toContain(';"14,6167";"-11,2833";Yes;Functional;');
    expect(segala).toContain(';Forage de Ségala;Ségala;segala;');
    const readings = (await get('/api/boreholes/khabou/readings?from=2026-02-04T07:00:00Z&to=2026-02-04T10:00:00Z&format=csv&sep=semicolon')).body;
    expect(readings.split('\r\n')[2]).toBe('2026-02-04T08:00:00.000Z;55;24;28;31;1;"6,1";"3,3"');
  });

  it('refuses an unknown sep: 400 with the parameter named on the API, in plain text on a page download', async () => {
    const api = await get('/api/reports/uptime?from=2026-02-01&to=2026-02-06&format=csv&sep=tab');
    expect(api.statusCode).toBe(400);
    expect(api.json<{ message: string }>().message).toContain('sep');
    const download = await page('/reports/wpdx.csv?sep=%3B');
    expect(download.statusCode).toBe(400);
    expect(download.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it('leaves JSON answers alone whatever sep says', async () => {
    const json = await get('/api/reports/wpdx?sep=semicolon');
    expect(json.headers['content-type']).toMatch(/^application\/json/);
    expect(json.json<{ items: { lat_deg: number }[] }>().items[0]?.lat_deg).toEqual(expect.any(Number));
  });

  it('links the report page to the French dialect first, and to the comma files', async () => {
    const text = (await page('/reports?from=2026-02-01&to=2026-02-06')).body;
    const hrefs = [...text.matchAll(/href="(\/reports\/[a-z]+\.csv[^"]*)"/g)].map((match) => match[1]?.replaceAll('&amp;', '&'));
    expect(hrefs).toEqual([
      '/reports/uptime.csv?from=2026-02-01&to=2026-02-06&sep=semicolon',
      '/reports/uptime.csv?from=2026-02-01&to=2026-02-06',
      '/reports/wpdx.csv?sep=semicolon',
      '/reports/wpdx.csv',
      '/reports/service.csv?from=2026-02-01&to=2026-02-06&sep=semicolon',
      '/reports/service.csv?from=2026-02-01&to=2026-02-06',
      '/reports/results.csv?quarter=2026-Q1&sep=semicolon',
      '/reports/results.csv?quarter=2026-Q1',
    ]);
    expect(text).toContain('pour Excel ou LibreOffice en français');
  });
});
