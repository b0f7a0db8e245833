/**
 * SMS in sight (issue 16), through the running service and a faithful Africa's Talking fake: an SMS
 * that failed for good is listed (failures first) by `GET /api/sms` and on the French `/sms` page,
 * numbers masked for viewers; an operator sends it again from the page (same id), and the
 * provider's delivery report, posted to `/api/sms/receipts/africastalking`, marks it delivered;
 * a report of non-delivery makes it failed again, with the provider's reason.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import type { smsSchema } from '../../src/http/routes/sms.js';
import { startService, type RunningService } from '../../src/service.js';
import { FakeAfricasTalking } from '../support/fake-sms-providers.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, registryEntry, tempDir, testConfig } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { freePort } from '../support/servers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
if (!existsSync(CHROMIUM) && process.env.CI === 'true') throw new Error(`the SMS page test needs Chromium at ${CHROMIUM}: apt-get install -y chromium`);
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url)) : tempDir('screenshots');

const INBOUND_TOKEN = 'inbound-token-for-sms-tests-01';
type SmsJson = z.infer<typeof smsSchema>;

describe('SMS in sight: failures found, retried from the page, delivery receipts', () => {
  let provider: FakeAfricasTalking;
  let service: RunningService;
  let publisher: MqttClient;
  let browser: Browser | undefined;

  beforeAll(async () => {
    provider = await new FakeAfricasTalking({ username: 'sandbox-user', apiKey: 'at-key-for-tests-0001' }).start();
    const port = await freePort();
    const entry = registryEntry('sis-khabou', 0);
    const registry = buildRegistry(
      registryFileSchema.parse({ boreholes: [{ ...entry, name: 'Forage de Khabou', committee: { language: 'fr', contacts: [{ name: 'Présidente', phone: '+22376000101' }] } }] }),
    );
    const config = testConfig({
      DATA_DIR: tempDir('sms-in-sight'),
      MQTT_EMBEDDED_PORT: String(port),
      SMS_PROVIDER: 'africastalking',
      AT_USERNAME: 'sandbox-user',
      AT_API_KEY: 'at-key-for-tests-0001',
      AT_BASE_URL: provider.url,
      SMS_INBOUND_TOKEN: INBOUND_TOKEN,
    });
    service = await startService({ config, registry, log: pino({ level: 'silent' }) });
    publisher = await connectPublisher(`mqtt://127.0.0.1:${port}`);
    if (existsSync(CHROMIUM)) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  });

  afterAll(async () => {
    await browser?.close();
    await publisher?.endAsync();
    await service?.stop();
    await provider?.close();
  });

  const api = async (path: string, token = OPERATOR_TOKEN) => (await service.app.inject({ url: path, headers: { authorization: `Bearer ${token}` } })).json<{ total: number; items: SmsJson[] }>();
  const receipt = (fields: Record<string, string>) =>
    service.app.inject({
      method: 'POST',
      url: `/api/sms/receipts/africastalking?token=${INBOUND_TOKEN}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });

  it('lists a message that failed for good, failures first, numbers masked for a viewer', async () => {
    // The provider refuses the committee's number: a final answer, not retried.
    provider.mode = 'invalid-number';
    await publisher.publishAsync('boreholes/sis-khabou/pump', JSON.stringify({ ts: Date.now(), running: false, current_a: 0, voltage_v: 230, fault: 'overload' }), { qos: 1 });
    await expect.poll(async () => (await api('/api/sms?state=failed')).total, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    const failed = (await api('/api/sms?state=failed')).items;
    expect(failed.map((sms) => sms.to).sort()).toEqual(['+22376000101', '+22379000003']);
    expect(failed[0]).toMatchObject({ state: 'failed', kind: 'incident', attempts: 1, last_error: expect.stringContaining('invalid recipient number') as unknown });
    const masked = (await api('/api/sms?state=failed', VIEWER_TOKEN)).items;
    expect(masked.every((sms) => sms.to === '+•••')).toBe(true);
    const forOne = await api(`/api/sms?to=${encodeURIComponent('76 00 01 01')}`);
    expect(forOne.items.map((sms) => sms.to)).toEqual(['+22376000101']);
    expect(await metric('sms_failed_messages')).toBe(2);
  });

  it('an operator finds the failure on /sms and sends it again from there, under the same id', async (context) => {
    if (!browser) return context.skip();
    const [first] = (await api('/api/sms?state=failed&to=%2B22376000101')).items;
    expect(first).toBeDefined();
    provider.mode = 'success';
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'fr-FR' })).newPage();
    await page.goto(`${service.url}/login?next=%2Fsms`);
    await page.fill('#token', OPERATOR_TOKEN);
    await Promise.all([page.waitForURL(`${service.url}/sms`), page.click('button[type=submit]')]);
    // Failures first, each with the provider's reason and a button.
    const rows = page.locator('tr.sms-row');
    await expect.poll(() => rows.first().getAttribute('class')).toContain('sms-row-failed');
    expect(await page.locator('tr.sms-row-failed .sms-state').first().textContent()).toBe('échec');
    expect(await page.locator('tr.sms-row-failed').first().textContent()).toContain('invalid recipient number');
    await page.screenshot({ path: join(SCREENSHOTS, 'sms-failures.png'), fullPage: true });

    await Promise.all([page.waitForURL(/done=retry/), page.locator(`tr[data-id="${first?.id ?? ''}"] button`).click()]);
    expect(await page.locator('.flash').textContent()).toContain('SMS remis en file');
    await expect.poll(async () => (await api('/api/sms?to=%2B22376000101')).items.find((sms) => sms.id === first?.id)?.state, { timeout: 15_000 }).toBe('sent');
    // The same message went out: the provider got its text once more, and the outbox has no new row.
    expect(provider.accepted.length).toBe(1);
    expect((await api('/api/sms?to=%2B22376000101')).total).toBe(1);
    await page.reload();
    await page.screenshot({ path: join(SCREENSHOTS, 'sms-retried.png'), fullPage: true });
  });

  it("records Africa's Talking delivery reports: delivered, then a failure with its reason; unmatched ones change nothing", async () => {
    const sent = (await api('/api/sms?state=sent')).items;
    const message = sent[0];
    expect(message?.provider_message_id).toMatch(/^ATXid_/);
    // On the way: nothing changes.
    expect((await receipt({ id: message?.provider_message_id ?? '', status: 'Buffered', phoneNumber: message?.to ?? '' })).json()).toEqual({ outcome: 'not_final' });
    expect((await api('/api/sms?state=sent')).total).toBe(sent.length);
    expect((await receipt({ id: message?.provider_message_id ?? '', status: 'Success', phoneNumber: message?.to ?? '', networkCode: '61001' })).json()).toEqual({ outcome: 'recorded' });
    const delivered = (await api('/api/sms?state=delivered')).items;
    expect(delivered).toEqual([expect.objectContaining({ id: message?.id, state: 'delivered', delivery_detail: 'Success', delivered_at: expect.any(String) as unknown })]);

    // The provider later says it could not deliver after all: failed, with its reason, retryable.
    await receipt({ id: message?.provider_message_id ?? '', status: 'Failed', failureReason: 'UserIsInactive', phoneNumber: message?.to ?? '' });
    expect((await api('/api/sms?state=failed')).items.find((sms) => sms.id === message?.id)).toMatchObject({ delivery_detail: 'Failed: UserIsInactive' });
    expect((await receipt({ id: 'ATXid_nobody', status: 'Success' })).json()).toEqual({ outcome: 'unmatched' });
    // Without the token: refused, nothing read.
    const refused = await service.app.inject({ method: 'POST', url: '/api/sms/receipts/africastalking?token=wrong', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'id=x&status=Success' });
    expect(refused.statusCode).toBe(403);
  });

  it('refuses a retry of a message that has not failed, and a viewer’s retry', async () => {
    const delivered = (await api('/api/sms')).items.find((sms) => sms.state === 'sent' || sms.state === 'delivered');
    if (delivered) {
      const conflict = await service.app.inject({ method: 'POST', url: `/api/sms/${delivered.id}/retry`, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
      expect(conflict.statusCode).toBe(409);
    }
    const failed = (await api('/api/sms?state=failed')).items[0];
    const viewer = await service.app.inject({ method: 'POST', url: `/api/sms/${failed?.id ?? 'x'}/retry`, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(viewer.statusCode).toBe(403);
    const missing = await service.app.inject({ method: 'POST', url: '/api/sms/nope/retry', headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    expect(missing.statusCode).toBe(404);
  });

  async function metric(name: string): Promise<number> {
    const text = (await service.app.inject('/metrics')).body;
    return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  }
});
