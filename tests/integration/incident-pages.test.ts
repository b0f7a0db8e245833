/**
 * The incident page and the work-order board in a real Chromium (as tests/integration/pages.test.ts),
 * against the running service with its incident desk: three faults reported by people, one
 * acknowledged in time, one left past its (deliberately short) response target, one in another
 * region. A district officer opens the board and sees the late one first, filters it by region
 * and technician, opens the late incident, reads the SMS the service sent with their delivery
 * state, and moves the work order with a button.
 *
 * Needs `incidents` wired in src/service.ts (the desk behind AppDeps.incidents): without it the
 * board does not exist and the suite says so in its first assertion.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import type { IncidentJson } from '../../src/http/routes/incidents.js';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, registryEntry, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (process.env.CI === 'true') throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  console.warn(`!!! incident pages browser suite SKIPPED: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
}
const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! incident pages browser suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : tempDir('screenshots');

/** A response target of under two seconds: the test can watch it pass. */
const SHORT_RESPOND_HOURS = 0.0005;

function boardRegistry() {
  const entry = (id: string, index: number, name: string, region: string, technician: string, serviceLevel?: object) => ({
    ...registryEntry(id, index),
    name,
    village: name.replace(/^Forage de /, ''),
    commune: name.replace(/^Forage de /, ''),
    region,
    technician: { name: technician, phone: `+2237900${String(index).padStart(4, '0')}` },
    ...(serviceLevel ? { service_level: serviceLevel } : {}),
  });
  return buildRegistry(
    registryFileSchema.parse({
      boreholes: [
        entry('khabou', 1, 'Forage de Khabou', 'Kayes', 'Moussa Diarra', { respond_hours: SHORT_RESPOND_HOURS }),
        entry('segala', 2, 'Forage de Ségala', 'Kayes', 'Awa Traoré', { respond_hours: SHORT_RESPOND_HOURS }),
        entry('banamba', 3, 'Forage de Banamba', 'Koulikoro', 'Oumar Keïta'),
      ],
    }),
  );
}

describe.skipIf(!haveChromium || serverSource === 'none')('the incident pages in Chromium', () => {
  const unique = uniqueName('incident-pages').toLowerCase().replace(/_/g, '-');
  let service: RunningService;
  let browser: Browser;
  const problems: string[] = [];
  /** By borehole: Khabou acknowledged in time, Ségala late, Banamba within its 72 h. */
  const reported: Record<string, IncidentJson> = {};

  const api = async <T>(method: 'GET' | 'POST', url: string, payload?: object): Promise<{ status: number; body: T }> => {
    const response = await service.app.inject({ method, url, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, ...(payload ? { payload } : {}) });
    return { status: response.statusCode, body: response.json<T>() };
  };

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const config = testConfig({ ...serverEnv(unique), DATA_DIR: tempDir('incident-pages') });
    service = await startService({ config, registry: boardRegistry(), log: pino({ level: 'silent' }), tickIntervalMs: 200 });
    await waitUntil(isReady(service.app), 'the service to be ready');

    for (const [borehole, text] of [
      ['khabou', 'la pompe ne donne plus'],
      ['segala', "l'eau est sale"],
      ['banamba', 'le robinet est cassé'],
    ] as const) {
      const created = await api<IncidentJson>('POST', `/api/boreholes/${borehole}/incidents`, { text });
      expect(created.status, `POST /api/boreholes/${borehole}/incidents (is incidents wired in service.ts?)`).toBe(201);
      reported[borehole] = created.body;
    }
    expect((await api<IncidentJson>('POST', `/api/incidents/${reported.khabou?.id ?? ''}/ack`)).body.state).toBe('acknowledged');
    // Ségala's response target passes with nobody having answered.
    await waitUntil(() => Date.now() > Date.parse(reported.segala?.respond_by ?? '') + 200, "Ségala's response target to pass", 10_000);
    // The console gateway takes each SMS: they leave « en attente ».
    await waitUntil(
      async () => {
        const { body } = await api<{ items: { state: string }[] }>('GET', '/api/sms?limit=500');
        return body.items.length > 0 && body.items.every((message) => message.state !== 'pending');
      },
      'the SMS to be sent',
      20_000,
      200,
    );

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await service?.stop();
  });

  const newPage = async (width: number): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'fr-FR', timezoneId: 'Africa/Bamako' });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.message}`));
    return page;
  };

  const logIn = async (page: Page, token: string): Promise<void> => {
    await page.goto(`${service.url}/login?next=%2Fwork-orders`);
    await page.fill('#token', token);
    await Promise.all([page.waitForURL(`${service.url}/work-orders`), page.click('button[type=submit]')]);
  };

  const boardCodes = async (page: Page): Promise<number[]> => {
    const rows = page.locator('tr.work-order-row');
    const codes: number[] = [];
    for (let index = 0; index < (await rows.count()); index += 1) codes.push(Number(await rows.nth(index).getAttribute('data-code')));
    return codes;
  };

  it('shows the late work order first, in red, and filters by region and technician', async () => {
    const page = await newPage(1280);
    await logIn(page, OPERATOR_TOKEN);
    expect(await page.locator('nav a[href="/work-orders"]').innerText()).toBe('Interventions');

    // Khabou's response target came before Ségala's, but Khabou was answered: Ségala is the one to chase.
    expect(await boardCodes(page)).toEqual([reported.segala?.code, reported.khabou?.code, reported.banamba?.code]);
    const late = page.locator(`tr[data-code="${reported.segala?.code ?? 0}"]`);
    expect(await late.innerText()).toMatch(/Forage de Ségala[\s\S]*« l'eau est sale »[\s\S]*Signalée[\s\S]*Awa Traoré[\s\S]*En retard/);
    // « En retard » is drawn in red (the critical badge), not just written.
    const red = await page.evaluate<string>(`getComputedStyle(document.querySelector('tr[data-code="${reported.segala?.code ?? 0}"] .overdue')).backgroundColor`);
    expect(red).toMatch(/^rgb\((\d+), (\d+), (\d+)\)$/);
    const [r, g, b] = (red.match(/\d+/g) ?? []).map(Number);
    expect((r ?? 0) > 150 && (g ?? 255) < 100 && (b ?? 255) < 100, red).toBe(true);
    expect(await page.locator(`tr[data-code="${reported.khabou?.code ?? 0}"]`).innerText()).not.toContain('En retard');
    expect(await page.locator('.overdue-count').innerText()).toBe('1 en retard');
    await page.screenshot({ path: join(SCREENSHOTS, 'work-orders.png'), fullPage: true });

    await page.selectOption('#f-region', 'Koulikoro');
    await Promise.all([page.waitForURL(/region=Koulikoro/), page.click('form.filters button[type=submit]')]);
    expect(await boardCodes(page)).toEqual([reported.banamba?.code]);

    await page.selectOption('#f-region', '');
    await page.selectOption('#f-technician', 'Awa Traoré');
    await Promise.all([page.waitForURL(/technician=Awa/), page.click('form.filters button[type=submit]')]);
    expect(await boardCodes(page)).toEqual([reported.segala?.code]);

    await page.selectOption('#f-technician', '');
    await page.selectOption('#f-state', 'acknowledged');
    await Promise.all([page.waitForURL(/state=acknowledged/), page.click('form.filters button[type=submit]')]);
    expect(await boardCodes(page)).toEqual([reported.khabou?.code]);

    await page.context().close();
    expect(problems).toEqual([]);
  });

  it("opens the late incident from the board, reads its SMS with their delivery state, and moves it with « Sur place »", async () => {
    const page = await newPage(1280);
    await logIn(page, OPERATOR_TOKEN);
    const code = reported.segala?.code ?? 0;
    await Promise.all([page.waitForURL(/\/incidents\//), page.click(`tr[data-code="${code}"] a[href^="/incidents/"]`)]);
    expect(await page.locator('h1').innerText()).toMatch(new RegExp(`Intervention n° ${code} — Forage de Ségala\\s+Signalée`));

    // The committee and the technician were each told once, and the page says what became of each SMS.
    const smsRows = page.locator('tr[data-kind="sms"]');
    expect(await smsRows.count()).toBeGreaterThanOrEqual(2);
    for (const text of await smsRows.allInnerTexts()) expect(text).toMatch(/SMS à [\s\S]*« Forage de S[eé]gala[\s\S]*(envoyé|remis|échec)/);
    expect(await page.locator('tr[data-kind="sms"]', { hasText: 'Awa Traoré' }).count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('.target-respond').innerText()).toContain('En retard');
    await page.screenshot({ path: join(SCREENSHOTS, 'incident.png'), fullPage: true });

    await Promise.all([page.waitForURL(/done=incident-arrive/), page.click('form.action-arrive button')]);
    expect(await page.locator('.flash').innerText()).toBe(`Intervention n° ${code} : technicien sur place.`);
    expect(await page.locator('h1 .incident-state').innerText()).toBe('Technicien sur place');
    expect(await page.locator('tr[data-kind="change"][data-change="on_site"]').innerText()).toContain('opérateur (operator)');
    expect((await api<IncidentJson>('GET', `/api/incidents/${code}`)).body.state).toBe('on_site');

    await page.fill('form.action-parts input[name="part"]', 'joint de clapet');
    await Promise.all([page.waitForURL(/done=incident-parts/), page.click('form.action-parts button')]);
    expect(await page.locator('.parts').innerText()).toContain('joint de clapet');

    // The borehole page names its open work order and links to it.
    await page.goto(`${service.url}/boreholes/segala`);
    const open = page.locator('.open-incident');
    expect(await open.innerText()).toMatch(new RegExp(`Intervention n° ${code}[\\s\\S]*En attente de pièce[\\s\\S]*Awa Traoré`));
    await Promise.all([page.waitForURL(/\/incidents\//), open.locator('a').click()]);

    await page.context().close();
    expect(problems).toEqual([]);
  });

  it('shows a viewer on a phone the same story, without buttons or phone numbers', async () => {
    const page = await newPage(390);
    await logIn(page, VIEWER_TOKEN);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.goto(`${service.url}/incidents/${reported.banamba?.code ?? 0}`);
    expect(await page.locator('tr[data-kind="sms"]').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('form[action^="/incidents/"]').count()).toBe(0);
    expect(await page.locator('main').innerText()).not.toMatch(/\+223\d/);
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.screenshot({ path: join(SCREENSHOTS, 'incident-phone.png'), fullPage: true });
    await page.context().close();
    expect(problems).toEqual([]);
  });
});
