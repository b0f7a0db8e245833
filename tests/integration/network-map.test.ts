/**
 * The network page of a country in a real Chromium (issue 19): the service over the test's
 * Mosquitto and InfluxDB with a generated registry of 100,000 boreholes in 8 regions. The page
 * renders with its counts per region and a map of clusters adding up to 100,000; a tap on a
 * cluster zooms in (the URL changes, fewer boreholes); the search finds a borehole by a part of
 * its name typed without accents, and its link opens its page.
 *
 * Without Chromium the suite fails on CI (CI=true) and is skipped, loudly, elsewhere.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Registry } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { COUNTRY_REGIONS, countryRegistry, NAMED_BOREHOLE } from '../support/country-registry.js';
import { VIEWER_TOKEN, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  console.warn(`!!! network map browser suite SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
}
const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! network map browser suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const N = 100_000;
const SCREENSHOTS = tempDir('network-map-screenshots');

/** What the map shows: boreholes in clusters and points, and how many SVG elements it takes. */
interface MapFigures {
  boreholes: number;
  clusters: number;
  elements: number;
}

const mapFigures = (page: Page): Promise<MapFigures> =>
  page.evaluate<MapFigures>(`(() => {
    const svg = document.querySelector('figure.map svg');
    if (!svg) return { boreholes: 0, clusters: 0, elements: 0 };
    const clusters = [...svg.querySelectorAll('a.cluster')];
    const counted = clusters.reduce((sum, a) => sum + Number(a.getAttribute('data-count')), 0);
    return { boreholes: counted + svg.querySelectorAll('a.pt').length, clusters: clusters.length, elements: svg.querySelectorAll('*').length };
  })()`);

describe.skipIf(!haveChromium || serverSource === 'none')(`the network page of ${N.toLocaleString('en')} boreholes in Chromium`, () => {
  const unique = uniqueName('netmap').toLowerCase().replace(/_/g, '-');
  let registry: Registry;
  let service: RunningService;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    registry = countryRegistry(N);
    service = await startService({ config: testConfig({ ...serverEnv(unique), DATA_DIR: tempDir('netmap') }), registry, log: pino({ level: 'silent' }) });
    await waitUntil(isReady(service.app), 'the service to be ready', 240_000, 500);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  }, 600_000);

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'fr-FR', timezoneId: 'Africa/Bamako' });
    const page = await context.newPage();
    // A page of a country takes a second or two to gather on a loaded 2-core box.
    page.setDefaultTimeout(60_000);
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(service.url) && !request.url().startsWith('data:')) problems.push(`request to another host: ${request.url()}`);
    });
    await page.goto(`${service.url}/login`);
    await page.fill('#token', VIEWER_TOKEN);
    await Promise.all([page.waitForURL(`${service.url}/`), page.click('button[type=submit]')]);
    return page;
  };

  it('renders the counts per region and a map of clusters adding up to every borehole; a cluster zooms in', async () => {
    const page = await newPage();
    expect(await page.locator('h1').textContent()).toBe('Réseau de forages');
    expect(await page.locator('.page-head .meta').innerText()).toContain('100\u202f000 forages');
    // Eight regions, 12,500 boreholes each, each a link to its own view.
    const rows = page.locator('.region-counts tbody tr');
    expect(await rows.count()).toBe(COUNTRY_REGIONS.length);
    for (const region of COUNTRY_REGIONS) {
      const row = page.locator('.region-counts tbody tr', { has: page.locator('a', { hasText: region.name }) });
      expect(await row.locator('td').first().innerText()).toBe('12\u202f500');
    }
    const whole = await mapFigures(page);
    expect(whole.boreholes).toBe(N);
    expect(whole.clusters).toBeGreaterThan(COUNTRY_REGIONS.length);
    expect(whole.elements).toBeLessThanOrEqual(2000);
    // The list is a page of 100, with the way to the next.
    expect(await page.locator('.list-page tbody tr').count()).toBe(100);
    expect(await page.locator('a[rel=next]').innerText()).toBe('Suivants ›');
    await page.screenshot({ path: join(SCREENSHOTS, 'network-country.png'), fullPage: false });

    // The biggest cluster: a tap opens a closer view of its boreholes alone.
    const counts = await page.evaluate<number[]>(`[...document.querySelectorAll('a.cluster')].map((a) => Number(a.getAttribute('data-count')))`);
    const biggest = counts.indexOf(Math.max(...counts));
    const before = page.url();
    await Promise.all([page.waitForURL((url) => url.toString() !== before), page.locator('a.cluster').nth(biggest).click()]);
    expect(page.url()).toMatch(/\/\?(region=|bbox=)/);
    const zoomed = await mapFigures(page);
    expect(zoomed.boreholes).toBeGreaterThanOrEqual(counts[biggest] ?? 0);
    expect(zoomed.boreholes).toBeLessThan(N);
    expect(zoomed.elements).toBeLessThanOrEqual(2000);
    expect(await page.locator('.filter-note').innerText()).toMatch(/Seuls les forages (de la région|de la zone)/);
    await page.screenshot({ path: join(SCREENSHOTS, 'network-zoomed.png'), fullPage: false });
    // On a phone: nothing wider than the screen, the table of regions included.
    await page.goto(`${service.url}/`);
    await page.setViewportSize({ width: 390, height: 900 });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, 'network-country-phone.png'), fullPage: false });
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('finds a borehole by a part of its name typed without accents, and opens its page', async () => {
    const page = await newPage();
    await page.fill('#network-q', NAMED_BOREHOLE.search);
    await Promise.all([page.waitForURL(/\?q=keneba/), page.click('.network-search button[type=submit]')]);
    const link = page.locator('.region table.list a', { hasText: NAMED_BOREHOLE.name });
    expect(await link.count()).toBe(1);
    expect(await page.locator('.region table.list tbody tr').count()).toBe(1);
    expect((await mapFigures(page)).boreholes).toBe(1);
    await Promise.all([page.waitForURL(`${service.url}/boreholes/${NAMED_BOREHOLE.id}`), link.click()]);
    expect(await page.locator('h1').innerText()).toContain(NAMED_BOREHOLE.name);
    await page.context().close();
    expect(problems).toEqual([]);
  });
});
