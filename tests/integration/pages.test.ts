/**
 * The pages in a real Chromium (Debian's `chromium`, driven by playwright-core, headless, no
 * sandbox, no background networking), against the service running over the test's Mosquitto and
 * InfluxDB: a week of history from the firmware simulator with a dry-run fault at Khabou, then a
 * district officer logs in, sees Khabou with an open alert, acknowledges it, and opens Khabou's
 * page where the charts are drawn from InfluxDB data.
 *
 * Screenshots of every page go to a temporary folder, or to docs/screenshots with
 * UPDATE_SCREENSHOTS=1. Without Chromium the suite fails on CI (CI=true) and is skipped, loudly,
 * elsewhere.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { startSimulation } from '../../firmware-sim/runner.js';
import { parseScenario } from '../../firmware-sim/scenarios.js';
import { EXAMPLE_REGISTRY_PATH } from '../../src/config/env.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, registryEntry, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';
import type { z } from 'zod';
import type { alertSchema } from '../../src/http/routes/alerts.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  console.warn(`!!! pages browser suite SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
}
const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! pages browser suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : tempDir('screenshots');

/** An alert as the API answers it: the type of the route's own schema. */
type AlertJson = z.infer<typeof alertSchema>;

/**
 * The example registry (Khabou and its four neighbours, Kayes) and three boreholes of Koulikoro:
 * Banamba simulated like the others, Kolokani heard once and then silent (offline after 6 s), and
 * Nossombougou never heard from.
 */
function pagesRegistry(): Registry {
  const example = registryFileSchema.parse(parseYaml(readFileSync(EXAMPLE_REGISTRY_PATH, 'utf8')));
  const koulikoro = (id: string, name: string, village: string, lat: number, lon: number, index: number, rules?: object) => ({
    ...registryEntry(id, index),
    name,
    village,
    commune: village,
    region: 'Koulikoro',
    location: { lat, lon },
    ...(rules ? { rules } : {}),
  });
  return buildRegistry(
    registryFileSchema.parse({
      ...example,
      boreholes: [
        ...example.boreholes,
        koulikoro('banamba', 'Forage de Banamba', 'Banamba', 13.5497, -7.4481, 11),
        koulikoro('kolokani', 'Forage de Kolokani', 'Kolokani', 13.5728, -8.0339, 12, { offline_minutes: 0.1 }),
        koulikoro('nossombougou', 'Forage de Nossombougou', 'Nossombougou', 13.2231, -7.9417, 13),
      ],
    }),
  );
}

describe.skipIf(!haveChromium || serverSource === 'none')('the pages in Chromium', () => {
  const unique = uniqueName('pages').toLowerCase().replace(/_/g, '-');
  const registry = pagesRegistry();
  let service: RunningService;
  let browser: Browser;
  let publisher: MqttClient;
  const problems: string[] = [];

  const api = async <T>(url: string): Promise<T> => {
    const response = await service.app.inject({ url, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<T>();
  };
  const khabouFault = async (): Promise<AlertJson | undefined> =>
    (await api<{ items: AlertJson[] }>('/api/alerts?borehole=khabou&state=unresolved')).items.find((alert) => alert.rule === 'pump_fault');

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const config = testConfig({
      ...serverEnv(unique),
      DATA_DIR: tempDir('pages'),
    });
    service = await startService({ config, registry, log: pino({ level: 'silent' }), tickIntervalMs: 200 });
    await waitUntil(isReady(service.app), 'the service to be ready');

    // Kolokani says one thing and falls silent.
    publisher = await connectPublisher(inject('mqttUrl'));
    await publisher.publishAsync(`${unique}/kolokani/level`, JSON.stringify({ ts: Date.now(), depth_m: 21.5 }), { qos: 1 });

    // A week of normal life, and the water table giving out at Khabou two hours ago.
    const nowMs = Date.now();
    const scenario = parseScenario(
      [
        'name: pages',
        'interval: 5m',
        'boreholes: [khabou, segala, kouniakary, diamou, marena, banamba]',
        'events:',
        '  - { at: 6d22h, borehole: khabou, type: dry_run }',
      ].join('\n'),
      'pages.yaml',
    );
    const sim = await startSimulation({
      registry,
      scenario,
      brokerUrl: inject('mqttUrl'),
      topicRoot: unique,
      startAtMs: nowMs - 7 * DAY_MS,
      untilMs: nowMs,
      speed: 'max',
      seed: 42,
    });
    expect((await sim.done).failedMessages).toBe(0);

    // expect.poll is for tests; hooks wait with waitUntil (tests/support/wait.ts).
    await waitUntil(async () => (await khabouFault())?.state === 'open', "Khabou's pump_fault alert", 60_000, 500);
    // The week is in InfluxDB: the readings route sees Khabou's hours.
    const hoursOfFlow = async () =>
      (await api<{ buckets: { flow_lpm_mean: number | null }[] }>('/api/boreholes/khabou/readings')).buckets.filter((b) => b.flow_lpm_mean !== null).length;
    await waitUntil(async () => (await hoursOfFlow()) > 6 * 24, "a week of Khabou's readings in InfluxDB", 60_000, 1000);
    const statusOf = async (id: string) => (await api<{ items: { id: string; status: string }[] }>('/api/boreholes?limit=1000')).items.find((b) => b.id === id)?.status;
    await waitUntil(async () => (await statusOf('kolokani')) === 'offline', 'Kolokani to be offline', 30_000);

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await publisher?.endAsync();
    await service?.stop();
  });

  const newPage = async (width: number): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'fr-FR', timezoneId: 'Africa/Bamako' });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
    page.on('request', (request) => {
      if (!request.url().startsWith(service.url) && !request.url().startsWith('data:')) problems.push(`request to another host: ${request.url()}`);
    });
    return page;
  };

  const logIn = async (page: Page, token: string): Promise<void> => {
    await page.goto(`${service.url}/`);
    await page.waitForURL(/\/login\?next=%2F$/);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${service.url}/`), page.click('button[type=submit]')]);
  };

  it('logs in, sees Khabou with an open alert, acknowledges it, and sees its charts drawn with data', async () => {
    const page = await newPage(1280);

    await page.goto(`${service.url}/login`);
    await page.screenshot({ path: join(SCREENSHOTS, 'login.png') });
    await logIn(page, OPERATOR_TOKEN);

    // The network: Khabou in alert with its pump fault, Kolokani offline, Nossombougou never heard.
    const khabouRow = page.locator('tr', { has: page.locator('a', { hasText: 'Forage de Khabou' }) });
    await expect.poll(() => khabouRow.innerText()).toMatch(/En alerte[\s\S]*Panne pompe/);
    expect(await page.locator('tr', { has: page.locator('a', { hasText: 'Forage de Kolokani' }) }).innerText()).toContain('Hors ligne');
    expect(await page.locator('tr', { has: page.locator('a', { hasText: 'Forage de Nossombougou' }) }).innerText()).toContain('Sans données');
    expect(await page.locator('.region h2').allInnerTexts()).toEqual([expect.stringContaining('Région de Kayes'), expect.stringContaining('Région de Koulikoro')]);
    await page.screenshot({ path: join(SCREENSHOTS, 'network.png'), fullPage: true });

    // The alerts: acknowledge Khabou's pump fault with its button.
    const fault = await khabouFault();
    expect(fault).toBeDefined();
    await page.click('nav a[href="/alerts"]');
    await page.waitForURL(`${service.url}/alerts`);
    const row = page.locator(`tr[data-code="${fault?.code ?? 0}"]`);
    expect(await row.innerText()).toMatch(/Forage de Khabou[\s\S]*Panne pompe : marche à sec[\s\S]*Critique[\s\S]*Ouverte/);
    await Promise.all([page.waitForURL(/done=ack/), row.locator('button', { hasText: 'Acquitter' }).click()]);
    expect(await page.locator('.flash').innerText()).toBe(`Alerte n° ${fault?.code ?? 0} acquittée.`);
    expect(await page.locator(`tr[data-code="${fault?.code ?? 0}"]`).innerText()).toContain('Acquittée');
    expect((await khabouFault())?.state).toBe('acknowledged');
    await page.screenshot({ path: join(SCREENSHOTS, 'alerts.png'), fullPage: true });

    // Khabou: four charts drawn from a week of data, the alert acknowledged, the committee.
    await page.goto(`${service.url}/boreholes/khabou`);
    await page.waitForSelector('html[data-charts="4"]');
    const points = await page.evaluate<number[][]>(
      'window.boreholeCharts.map((u) => u.data.slice(1).map((series) => series.filter((v) => v !== null && v !== undefined).length))',
    );
    expect(points).toHaveLength(4);
    // flow, level (max, mean, min), running minutes, current: each with more than 6 days of hours.
    for (const series of [points[0]?.[0], points[1]?.[1], points[2]?.[0], points[3]?.[0]]) expect(series).toBeGreaterThan(6 * 24);
    const inked = await page.evaluate<number[]>(
      `[...document.querySelectorAll('.chart canvas')].map((canvas) => {
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked += 1;
        return inked;
      })`,
    );
    expect(inked).toHaveLength(4);
    for (const count of inked) expect(count).toBeGreaterThan(2000);
    expect(await page.locator('.callout').innerText()).toMatch(/Critique Acquittée\nPanne pompe : marche à sec/);
    expect(await page.locator('.contacts').first().innerText()).toContain('+22376000001');
    await page.screenshot({ path: join(SCREENSHOTS, 'borehole.png'), fullPage: true });

    await page.context().close();
    expect(problems).toEqual([]);
  });

  it("prints the last week's uptime report: the network, a chart and a table per region, without the form", async () => {
    const page = await newPage(1280);
    await logIn(page, VIEWER_TOKEN);
    const day = (offsetDays: number) => new Date(Date.now() + offsetDays * DAY_MS).toISOString().slice(0, 10);
    await page.goto(`${service.url}/reports?from=${day(-7)}&to=${day(1)}`);
    expect(await page.locator('h1').textContent()).toBe('Rapport de disponibilité des forages');
    expect(await page.locator('.uptime-chart .bar').count()).toBe(registry.boreholes.size);
    // Khabou has been down for two hours: below 100 %, and named in its region's table.
    const khabouRow = page.locator('table.report tr', { hasText: 'Khabou' });
    expect(await khabouRow.locator('td.num').first().textContent()).toMatch(/^\d{2},\d %$|^\d{2} %$/);
    await page.screenshot({ path: join(SCREENSHOTS, 'report.png'), fullPage: true });
    await page.emulateMedia({ media: 'print' });
    expect(await page.locator('.period-form').isVisible()).toBe(false);
    expect(await page.locator('.report-region').first().isVisible()).toBe(true);
    const pdf = await page.pdf({ format: 'A4' });
    expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
    await page.setViewportSize({ width: 390, height: 900 });
    await page.emulateMedia({ media: 'screen' });
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('reads well on a phone, for a viewer who sees no buttons and no phone numbers', async () => {
    const page = await newPage(390);
    await logIn(page, VIEWER_TOKEN);
    await page.screenshot({ path: join(SCREENSHOTS, 'network-phone.png'), fullPage: true });
    // Nothing wider than the screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.goto(`${service.url}/boreholes/khabou`);
    await page.waitForSelector('html[data-charts="4"]');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(await page.locator('form[action$="/ack"]').count()).toBe(0);
    expect(await page.content()).not.toContain('+22376000001');
    await page.screenshot({ path: join(SCREENSHOTS, 'borehole-phone.png'), fullPage: true });
    await page.goto(`${service.url}/alerts`);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.context().close();
    expect(problems).toEqual([]);
  });
});
