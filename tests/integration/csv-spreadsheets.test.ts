/**
 * Every CSV download of a running service, read back by LibreOffice Calc (headless) as ministry
 * staff open it: boreholes and villages with accents, a few days of readings so that the reports
 * hold decimals, then each file converted by `soffice --convert-to fods` (flat XML, typed cells)
 * and compared with the JSON the API gives for the same thing.
 *
 * Headless LibreOffice shows no import dialog and detects nothing: without filter options 7.4
 * reads any CSV as Windows-1252 split on commas ("default for ascii import (from API without
 * options)" in sc/source/ui/docshell/docsh.cxx), so the BOM is shown as "ï»¿" and "Ségou" as
 * "SÃ©gou" whatever the file holds. Each opener below therefore gives the options that the person
 * it stands for ends up with (docs/reports.md, "Opening the CSV files"):
 * - LibreOffice's Text Import dialog on a fresh profile: comma, semicolon and tab all ticked (the
 *   officecfg defaults), UTF-8 (what it preselects on a BOM), numbers read in the UI language;
 * - Excel opening a .csv: only the Windows list separator (`;` in French, `,` in English),
 *   numbers read in the Windows locale, UTF-8 only with a BOM, else the ANSI code page (1252).
 *   Excel itself is not here: this is its documented behaviour, with LibreOffice doing the reading.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { TOKEN_COOKIE } from '../../src/http/pages/routes.js';
import { UPTIME_CSV_COLUMNS } from '../../src/reports/report.js';
import { WPDX_COLUMNS } from '../../src/reports/wpdx.js';
import { startService, type RunningService } from '../../src/service.js';
import { registryEntry, tempDir, testConfig, uniqueName, VIEWER_TOKEN } from '../support/fixtures.js';
import { connectPublisher, publishAll, type Message } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { waitUntil } from '../support/wait.js';

/** LibreOffice's soffice (Debian's libreoffice-calc, which scripts/test.sh installs). */
function findSoffice(): string | undefined {
  const candidates = [process.env.SOFFICE_PATH, ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'soffice')), '/usr/bin/soffice'];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not this one
    }
  }
  if (process.env.CI === 'true') throw new Error('CI=true but LibreOffice is not installed (CSV spreadsheet suite); install it with: apt-get install -y --no-install-recommends libreoffice-calc');
  console.warn('!!! CSV spreadsheet suite SKIPPED: soffice not installed (apt-get install libreoffice-calc)');
  return undefined;
}

const SOFFICE = findSoffice();
const serverSource = inject('serverSource');
const SOFFICE_TIMEOUT_MS = 240_000;
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

// --- LibreOffice ---------------------------------------------------------------------------

/** RTL_TEXTENCODING_* numbers of the CSV filter options. */
const UTF8 = 76;
const WINDOWS_1252 = 1;

interface Opener {
  who: string;
  /** Field separators as character codes, the first token of the CSV filter options. */
  separators: string;
  /** LCID of the locale numbers are read in. */
  language: number;
  charset(bytes: Buffer): number;
}

const startsWithBom = (bytes: Buffer): boolean => bytes.subarray(0, 3).equals(BOM);
const OPENERS = {
  libreofficeFr: { who: 'LibreOffice in French', separators: '44/59/9', language: 1036, charset: () => UTF8 },
  libreofficeEn: { who: 'LibreOffice in English', separators: '44/59/9', language: 1033, charset: () => UTF8 },
  excelFr: { who: 'Excel in French', separators: '59', language: 1036, charset: (bytes) => (startsWithBom(bytes) ? UTF8 : WINDOWS_1252) },
  excelEn: { who: 'Excel in English', separators: '44', language: 1033, charset: (bytes) => (startsWithBom(bytes) ? UTF8 : WINDOWS_1252) },
} satisfies Record<string, Opener>;
type OpenerName = keyof typeof OPENERS;

interface Cell {
  /** office:value-type (`string`, `float`, `date`…), or `empty`. */
  type: string;
  text: string;
  value: number | null;
}
type Sheet = Cell[][];

const decodeXml = (text: string): string =>
  text
    .replace(/<text:s(?: text:c="(\d+)")?\/>/g, (_m, count: string | undefined) => ' '.repeat(Number(count ?? 1)))
    .replace(/<text:tab\/>/g, '\t')
    .replace(/<text:line-break\/>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The first sheet of a flat ODS file, trailing empty cells dropped. */
function readFods(xml: string): Sheet {
  const table = /<table:table [^>]*>([\s\S]*?)<\/table:table>/.exec(xml)?.[1] ?? '';
  const rows: Sheet = [];
  for (const [, rowXml = ''] of table.matchAll(/<table:table-row[^>]*?(?:\/>|>([\s\S]*?)<\/table:table-row>)/g)) {
    const cells: Cell[] = [];
    for (const [, attrs = '', body = ''] of rowXml.matchAll(/<table:table-cell((?:\s[^>]*?)?)(?:\/>|>([\s\S]*?)<\/table:table-cell>)/g)) {
      const repeat = Number(/table:number-columns-repeated="(\d+)"/.exec(attrs)?.[1] ?? 1);
      const type = /office:value-type="([^"]+)"/.exec(attrs)?.[1] ?? 'empty';
      const value = /office:value="([^"]+)"/.exec(attrs)?.[1];
      const text = [...body.matchAll(/<text:p>([\s\S]*?)<\/text:p>|<text:p\/>/g)].map((p) => decodeXml(p[1] ?? '')).join('\n');
      for (let i = 0; i < Math.min(repeat, 100); i += 1) cells.push({ type, text, value: value === undefined ? null : Number(value) });
    }
    while (cells.length > 0 && cells.at(-1)?.type === 'empty') cells.pop();
    rows.push(cells);
  }
  while (rows.length > 0 && rows.at(-1)?.length === 0) rows.pop();
  return rows;
}

/**
 * Converts `files` (name → bytes) as `opener` opens them, with a profile of its own so that no
 * other soffice on this machine shares it; on a timeout, kills the process group it started.
 */
async function openAs(soffice: string, workDir: string, opener: Opener, files: ReadonlyMap<string, Buffer>): Promise<Map<string, Sheet>> {
  const sheets = new Map<string, Sheet>();
  const byCharset = new Map<number, string[]>();
  for (const [name, bytes] of files) byCharset.set(opener.charset(bytes), [...(byCharset.get(opener.charset(bytes)) ?? []), name]);
  for (const [charset, names] of byCharset) {
    const dir = join(workDir, `${opener.who.replace(/\W+/g, '-')}-${charset}`);
    mkdirSync(join(dir, 'out'), { recursive: true });
    const paths = names.map((name) => {
      const path = join(dir, name);
      writeFileSync(path, files.get(name) ?? Buffer.alloc(0));
      return path;
    });
    // Separators, text delimiter, character set, first line, column formats (standard), language,
    // quoted field as text (no), detect special numbers (no): the dialog's defaults.
    const options = `${opener.separators},34,${charset},1,,${opener.language},false,false`;
    const args = ['--headless', '--norestore', '--nologo', `-env:UserInstallation=file://${join(workDir, 'profile')}`, `--infilter=Text - txt - csv (StarCalc):${options}`, '--convert-to', 'fods', '--outdir', join(dir, 'out'), ...paths];
    await run(soffice, args);
    for (const name of names) {
      const out = join(dir, 'out', name.replace(/\.csv$/, '.fods'));
      if (!existsSync(out)) throw new Error(`soffice wrote no ${out} (${opener.who})`);
      sheets.set(name, readFods(readFileSync(out, 'utf8')));
    }
  }
  return sheets;
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // Its own process group: soffice starts oosplash and soffice.bin, which a timeout ends with it.
    const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      reject(new Error(`soffice took longer than ${SOFFICE_TIMEOUT_MS} ms:\n${output}`));
    }, SOFFICE_TIMEOUT_MS);
    child.on('error', (error) => (clearTimeout(timer), reject(error)));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`soffice exited with ${code}:\n${output}`));
    });
  });
}

// --- the service and its data --------------------------------------------------------------

const unique = uniqueName('csv').toLowerCase().replace(/_/g, '-');
const ids = { segou: `${unique}-segou`, khabou: `${unique}-khabou`, diema: `${unique}-diema` };
const NAMES: Record<string, { name: string; village: string; commune: string }> = {
  [ids.segou]: { name: 'Forage de Ségou', village: 'Kéniéba', commune: 'Kéniéba' },
  // Both separators and quotes in one name: one cell all the same.
  [ids.khabou]: { name: 'Puits "Khabou", quartier; nord', village: 'Khabou', commune: 'Kayes' },
  [ids.diema]: { name: 'Forage de Diéma', village: 'Diéma', commune: 'Diéma' },
};

/** Two whole days before yesterday (UTC, which is Bamako's time): over, and not in the future. */
const FROM_MS = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
const TO_MS = FROM_MS + 2 * DAY;
const SILENCE: [number, number] = [FROM_MS + 26 * 60 * MINUTE, FROM_MS + 29 * 60 * MINUTE];
const date = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const PERIOD = `from=${date(FROM_MS)}&to=${date(TO_MS)}`;

/** Ségou every 5 minutes with a 3-hour silence (coverage 93.75 %), Khabou every 10; Diéma never. */
function readings(topicRoot: string): Message[] {
  const messages: Message[] = [];
  for (const [id, stepMinutes, rateLpm] of [[ids.segou, 5, 55.5], [ids.khabou, 10, 31.25]] as const) {
    const flow: object[] = [];
    const pump: object[] = [];
    let total = 1000;
    for (let ts = FROM_MS; ts < TO_MS; ts += stepMinutes * MINUTE) {
      if (ts > SILENCE[0] && ts < SILENCE[1] && id === ids.segou) continue;
      total += (rateLpm * stepMinutes) / 1000;
      flow.push({ ts, rate_lpm: rateLpm, total_m3: Number(total.toFixed(4)) });
      pump.push({ ts, running: true, current_a: 5.2, fault: null });
    }
    messages.push({ topic: `${topicRoot}/${id}/flow`, payload: JSON.stringify(flow) }, { topic: `${topicRoot}/${id}/pump`, payload: JSON.stringify(pump) });
  }
  return messages;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

type Row = Record<string, string | number | boolean | null>;

interface Download {
  /** What it is, for messages; also the file name. */
  name: string;
  path: string;
  separator: 'comma' | 'semicolon';
  bytes: Buffer;
  headers: Headers;
  columns: readonly string[];
  /** The same rows as the API's JSON, in the same order; `report_date` is "now" and differs. */
  rows: Row[];
}

describe.skipIf(SOFFICE === undefined)('the CSV downloads, opened in spreadsheets as the ministry opens them', () => {
  const workDir = tempDir('csv-spreadsheets');
  const downloads: Download[] = [];
  const sheets = new Map<OpenerName, Map<string, Sheet>>();
  let service: RunningService;
  let pageHrefs: string[] = [];

  const http = async (path: string, kind: 'api' | 'page'): Promise<Response> => {
    const headers: Record<string, string> = kind === 'api' ? { authorization: `Bearer ${VIEWER_TOKEN}` } : { cookie: `${TOKEN_COOKIE}=${VIEWER_TOKEN}`, accept: 'text/html' };
    const response = await fetch(`${service.url}${path}`, { headers });
    if (response.status !== 200) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response;
  };
  const json = async <T,>(path: string): Promise<T> => (await (await http(path, 'api')).json()) as T;

  beforeAll(async () => {
    const soffice = SOFFICE as string;
    const registry = buildRegistry(
      registryFileSchema.parse({ boreholes: Object.values(ids).map((id, index) => ({ ...registryEntry(id, index), ...NAMES[id], region: 'Kayes' })) }),
    );
    // Real Mosquitto and InfluxDB when the run has them, else the embedded broker and store.
    const port = serverSource === 'none' ? await freePort() : 0;
    const env = serverSource === 'none' ? { MQTT_TOPIC_ROOT: unique, MQTT_EMBEDDED_PORT: String(port) } : serverEnv(unique);
    service = await startService({ config: testConfig({ ...env, DATA_DIR: join(workDir, 'data') }), registry, log: pino({ level: 'silent' }), reportStartDelayMs: 0 });
    const publisher = await connectPublisher(serverSource === 'none' ? `mqtt://127.0.0.1:${port}` : inject('mqttUrl'));
    try {
      await publishAll(publisher, readings(unique));
    } finally {
      await publisher.endAsync();
    }

    type Buckets = { buckets: Row[] };
    const readingsPath = `/api/boreholes/${ids.segou}/readings?${PERIOD}&every=1h`;
    await waitUntil(async () => (await json<Buckets>(readingsPath)).buckets.length === 46 && (await json<Buckets>(`/api/boreholes/${ids.khabou}/readings?${PERIOD}&every=1h`)).buckets.length === 48, 'the readings stored', 60_000, 500);
    type Report = { from: string; to: string; boreholes: Row[] };
    const reportRows = (report: Report): Row[] => report.boreholes.map((row) => ({ ...row, from: report.from, to: report.to }));
    await waitUntil(async () => (await json<{ items: unknown[] }>('/api/reports')).items.length > 0, 'an archived report', 60_000, 500);
    // An uptime archive (the incident reports are archived beside them since issue 15).
    const archiveUrl = (await json<{ items: { kind: string; url: string }[] }>('/api/reports')).items.find((item) => item.kind === 'week' || item.kind === 'month')?.url ?? '';

    const uptime = reportRows(await json<Report>(`/api/reports/uptime?${PERIOD}`));
    const wpdx = (await json<{ items: Row[] }>('/api/reports/wpdx')).items;
    const buckets = (await json<Buckets>(readingsPath)).buckets;
    const archived = reportRows(await json<Report>(archiveUrl));
    const readingColumns = Object.keys(buckets[0] ?? {});

    const join2 = (path: string, query: string) => `${path}${path.includes('?') ? '&' : '?'}${query}`;
    const api: [string, string, readonly string[], Row[]][] = [
      ['api-uptime', `/api/reports/uptime?${PERIOD}&format=csv`, UPTIME_CSV_COLUMNS, uptime],
      ['api-wpdx', '/api/reports/wpdx?format=csv', WPDX_COLUMNS, wpdx],
      ['api-readings', join2(readingsPath, 'format=csv'), readingColumns, buckets],
      ['api-archive', join2(archiveUrl, 'format=csv'), UPTIME_CSV_COLUMNS, archived],
    ];
    for (const [name, path, columns, rows] of api) {
      for (const separator of ['comma', 'semicolon'] as const) {
        const url = separator === 'comma' ? path : join2(path, 'sep=semicolon');
        const response = await http(url, 'api');
        downloads.push({ name: `${name}-${separator}.csv`, path: url, separator, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers, columns, rows });
      }
    }
    // The report page's own links, as a clerk clicks them.
    const page = await (await http(`/reports?${PERIOD}`, 'page')).text();
    // The uptime and WPdx links; the section-9 reports' CSV (service, results) are checked by
    // tests/unit/http/csv.test.ts and tests/unit/reports, not yet opened in LibreOffice here.
    pageHrefs = [...page.matchAll(/href="(\/reports\/(?:uptime|wpdx)\.csv[^"]*)"/g)].map((match) => (match[1] ?? '').replaceAll('&amp;', '&'));
    for (const [index, href] of pageHrefs.entries()) {
      const response = await http(href, 'page');
      const isUptime = href.startsWith('/reports/uptime.csv');
      const separator = href.includes('sep=semicolon') ? 'semicolon' : 'comma';
      downloads.push({ name: `page-${index}-${isUptime ? 'uptime' : 'wpdx'}-${separator}.csv`, path: href, separator, bytes: Buffer.from(await response.arrayBuffer()), headers: response.headers, columns: isUptime ? UPTIME_CSV_COLUMNS : WPDX_COLUMNS, rows: isUptime ? uptime : wpdx });
    }

    const files = new Map(downloads.map((download) => [download.name, download.bytes]));
    // What the service sent before the BOM: the same bytes without it (the comma files are otherwise unchanged).
    for (const download of downloads.filter((d) => d.separator === 'comma' && d.name.startsWith('api-'))) files.set(`old-${download.name}`, download.bytes.subarray(3));
    for (const name of Object.keys(OPENERS) as OpenerName[]) sheets.set(name, await openAs(soffice, workDir, OPENERS[name], files));
  }, 900_000);

  afterAll(async () => {
    await service?.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const sheetOf = (opener: OpenerName, name: string): Sheet => {
    const sheet = sheets.get(opener)?.get(name);
    if (!sheet) throw new Error(`no sheet for ${name} as ${opener}`);
    return sheet;
  };

  /** Every header in its own column; every cell as the JSON has it: numbers as numbers, names intact. */
  function expectSameTable(sheet: Sheet, download: Download, who: string): void {
    const what = `${download.path} in ${who}`;
    expect(sheet[0]?.map((cell) => cell.text), what).toEqual([...download.columns]);
    expect(sheet.length - 1, what).toBe(download.rows.length);
    for (const [index, row] of download.rows.entries()) {
      const cells = sheet[index + 1] ?? [];
      for (const [column, name] of download.columns.entries()) {
        const expected = row[name];
        const cell = cells[column] ?? { type: 'empty', text: '', value: null };
        const where = `${what}, row ${index + 1}, ${name}`;
        if (expected === null || expected === undefined || expected === '') expect(cell.type, where).toBe('empty');
        else if (typeof expected === 'number') {
          expect(cell.type, `${where}: ${cell.text}`).toBe('float');
          expect(cell.value, where).toBeCloseTo(expected, 9);
        } else if (name === 'report_date') expect(cell.type, where).toBe('string');
        else expect({ type: cell.type, text: cell.text }, where).toEqual({ type: 'string', text: String(expected) });
      }
    }
  }

  it('downloads every CSV the service has: four from the API in both dialects, and the four links of the report page', () => {
    expect(downloads.map((d) => d.name.replace(/^page-\d-/, 'page-'))).toEqual([
      'api-uptime-comma.csv', 'api-uptime-semicolon.csv', 'api-wpdx-comma.csv', 'api-wpdx-semicolon.csv',
      'api-readings-comma.csv', 'api-readings-semicolon.csv', 'api-archive-comma.csv', 'api-archive-semicolon.csv',
      'page-uptime-semicolon.csv', 'page-uptime-comma.csv', 'page-wpdx-semicolon.csv', 'page-wpdx-comma.csv',
    ]);
    // The data are there: accents, decimals, and a borehole never heard from.
    const uptime = downloads[0]?.rows ?? [];
    const segou = uptime.find((row) => row.borehole === ids.segou);
    expect(segou).toMatchObject({ name: 'Forage de Ségou', village: 'Kéniéba' });
    expect(Number.isInteger(segou?.coverage_pct), 'a coverage with decimals (the 3-hour silence)').toBe(false);
    expect(uptime.find((row) => row.borehole === ids.diema)).toMatchObject({ uptime_pct: null });
  });

  it('sends each as UTF-8 with a BOM, text/csv; charset=utf-8, as an attachment with its name', () => {
    for (const download of downloads) {
      expect(download.bytes.subarray(0, 3), download.path).toEqual(BOM);
      expect(download.headers.get('content-type'), download.path).toBe('text/csv; charset=utf-8');
      expect(download.headers.get('content-disposition'), download.path).toMatch(/^attachment; filename="[\w.-]+\.csv"$/);
    }
  });

  it('opens each semicolon file in LibreOffice and Excel in French: one column per field, accents intact, decimals as numbers', () => {
    for (const download of downloads.filter((d) => d.separator === 'semicolon')) {
      for (const opener of ['libreofficeFr', 'excelFr'] as const) expectSameTable(sheetOf(opener, download.name), download, OPENERS[opener].who);
    }
  });

  it('opens each comma file the same way in LibreOffice and Excel in English', () => {
    for (const download of downloads.filter((d) => d.separator === 'comma')) {
      for (const opener of ['libreofficeEn', 'excelEn'] as const) expectSameTable(sheetOf(opener, download.name), download, OPENERS[opener].who);
    }
  });

  it('links French users to the semicolon files, since a comma file is one column in French Excel and its decimals text in French LibreOffice', () => {
    expect(pageHrefs[0]).toBe(`/reports/uptime.csv?${PERIOD}&sep=semicolon`);
    const comma = downloads.find((d) => d.name === 'api-uptime-comma.csv') as Download;
    const excel = sheetOf('excelFr', comma.name);
    expect(excel[0]?.map((cell) => cell.text)).toEqual([UPTIME_CSV_COLUMNS.join(',')]);
    const line = excel.find((row) => row[0]?.text.startsWith(`${ids.segou},`));
    expect(line).toHaveLength(1);
    const libreoffice = sheetOf('libreofficeFr', comma.name);
    const coverage = UPTIME_CSV_COLUMNS.indexOf('coverage_pct');
    const segou = libreoffice.find((row) => row[0]?.text === ids.segou);
    const expected = comma.rows.find((row) => row.borehole === ids.segou)?.coverage_pct;
    expect(segou?.[coverage]).toMatchObject({ type: 'string', text: String(expected) });
  });

  it('needs the BOM: without it (the files sent before), Excel reads the accents in the Windows code page', () => {
    const old = sheetOf('excelEn', 'old-api-uptime-comma.csv');
    const segou = old.find((row) => row[0]?.text === ids.segou);
    expect(segou?.[1]?.text).toBe('Forage de SÃ©gou');
    expect(segou?.[2]?.text).toBe('KÃ©niÃ©ba');
    // With it, the same file reads right (the test above, for every file).
    expect(sheetOf('excelEn', 'api-uptime-comma.csv').find((row) => row[0]?.text === ids.segou)?.[1]?.text).toBe('Forage de Ségou');
  });
});
