/**
 * SMS through the running service (CONTRACT.md section 5), over real Mosquitto and InfluxDB, with
 * the `webhook` gateway pointed at a local receiver of the contract's webhook: a `dry_run` fault
 * reaches every committee contact and the technician once; a failing webhook sees the same id
 * retried; messages pending at a restart are delivered exactly once; replies arrive at
 * `POST /api/sms/inbound`.
 *
 * The service runs on an injected clock (`Date.now() + skewMs`): a test moves it forward to make a
 * retry due instead of waiting out the dispatcher's backoff. Offline and escalation delays are set
 * far beyond those jumps so the rules stay quiet.
 */
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { FakeWebhook, type RecordedRequest, type Reply } from '../support/fake-sms-providers.js';
import { VIEWER_TOKEN, registryEntry, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';
import type { z } from 'zod';
import type { alertSchema } from '../../src/http/routes/alerts.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! sms integration suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

/** An alert as the API answers it: the type of the route's own schema. */
type AlertJson = z.infer<typeof alertSchema>;

interface WebhookSms {
  id: string;
  to: string;
  text: string;
}

/** The contract's webhook receiver, told to answer 503 to the next sends to a given number. */
class FlakyWebhook extends FakeWebhook {
  private readonly failures = new Map<string, number>();

  failNextTo(phone: string, times: number): void {
    this.failures.set(phone, times);
  }

  protected override handle(request: RecordedRequest): Reply | 'hang' {
    const to = parse(request)?.to;
    const left = to === undefined ? 0 : (this.failures.get(to) ?? 0);
    if (to !== undefined && left > 0) {
      this.failures.set(to, left - 1);
      return { status: 503, body: { error: 'unavailable' } };
    }
    return super.handle(request);
  }
}

function parse(request: RecordedRequest): WebhookSms | undefined {
  try {
    return JSON.parse(request.body) as WebhookSms;
  } catch {
    return undefined;
  }
}

const MINUTE_MS = 60_000;
const WEBHOOK_TOKEN = 'webhook-token-for-tests-0001';
const INBOUND_TOKEN = 'inbound-token-for-tests-0001';
const STRANGER = '+22370999999';

/** Every borehole has its own phones, so no phone reaches its hourly limit across tests. */
const PHONES = {
  all: { committee: ['+22376100001', '+22366100002', '+22365100003'], technician: '+22379100004' },
  flaky: { committee: ['+22376200001'], technician: '+22379200002' },
  restart: { committee: ['+22376300001', '+22366300002'], technician: '+22379300003' },
  inbound: { committee: ['+22376400001', '+22366400002'], technician: '+22379400003' },
  // Several phones: each answers at most REPLIES_PER_HOUR markers an hour.
  marker: { committee: ['+22376500001', '+22366500004', '+22365500005', '+22376500006'], technician: '+22379500002' },
  dedup: { committee: ['+22376600001'], technician: '+22379600002' },
} as const;
type Key = keyof typeof PHONES;
const NAMES: Record<Key, string> = {
  all: 'Forage de Kati',
  flaky: 'Forage de Bla',
  restart: 'Forage de Sikasso',
  inbound: 'Forage de Koro',
  marker: 'Forage de Nara',
  dedup: 'Forage de Kita',
};

describe.skipIf(serverSource === 'none')('SMS through the running service', () => {
  const unique = uniqueName('sms').toLowerCase().replace(/_/g, '-');
  const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
  const dataDir = tempDir('sms');
  const boreholeId = (key: Key): string => `${unique}-${key}`;
  const registry = buildRegistry(
    registryFileSchema.parse({
      boreholes: (Object.keys(PHONES) as Key[]).map((key, index) => ({
        ...registryEntry(boreholeId(key), index),
        name: NAMES[key],
        committee: { language: 'fr', contacts: PHONES[key].committee.map((phone, i) => ({ name: `Membre ${i + 1}`, phone })) },
        technician: { name: 'Technicien', phone: PHONES[key].technician },
      })),
      rules: { offline_minutes: 100_000, escalate_after_minutes: 100_000 },
    }),
  );
  const webhook = new FlakyWebhook({ token: WEBHOOK_TOKEN });
  let skewMs = 0;
  const now = (): number => Date.now() + skewMs;
  let service: RunningService;
  let publisher: MqttClient;

  const start = async (): Promise<RunningService> => {
    const config = testConfig({
      ...serverEnv(unique, bucket),
      DATA_DIR: dataDir,
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: webhook.endpoint,
      SMS_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      SMS_INBOUND_TOKEN: INBOUND_TOKEN,
    });
    const running = await startService({ config, registry, log: pino({ level: 'silent' }), now, tickIntervalMs: 200 });
    await waitUntil(isReady(running.app), 'the service to be ready');
    return running;
  };

  const alerts = async (key: Key): Promise<AlertJson[]> => {
    const response = await service.app.inject({ url: `/api/alerts?borehole=${boreholeId(key)}`, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    return response.json<{ items: AlertJson[] }>().items;
  };
  const alertById = async (key: Key, id: string): Promise<AlertJson | undefined> => (await alerts(key)).find((a) => a.id === id);

  /** Publishes a dry-run fault as a device does and waits for the alert it opens. */
  const dryRun = async (key: Key): Promise<{ alert: AlertJson; hhmm: string }> => {
    const faultAt = now() - 1000;
    await publisher.publishAsync(`${unique}/${boreholeId(key)}/pump`, JSON.stringify({ ts: faultAt, running: false, current_a: 0.4, fault: 'dry_run' }), { qos: 1 });
    await expect.poll(async () => (await alerts(key)).filter((a) => a.rule === 'pump_fault' && a.state === 'open'), { timeout: 10_000 }).toHaveLength(1);
    const alert = (await alerts(key)).find((a) => a.rule === 'pump_fault' && a.state === 'open');
    if (!alert) throw new Error('no alert');
    // Mali is UTC+0: the local time is the UTC time.
    return { alert, hhmm: new Date(faultAt).toISOString().slice(11, 16) };
  };

  const attempts = (phone: string): WebhookSms[] => webhook.requests.map(parse).filter((m): m is WebhookSms => m?.to === phone);
  const delivered = (phone: string): WebhookSms[] => webhook.accepted.map(parse).filter((m): m is WebhookSms => m?.to === phone);

  /** Posts a reply as the webhook gateway does; `null`: without an Authorization header. */
  const inbound = (body: unknown, token: string | null = INBOUND_TOKEN): Promise<Response> =>
    fetch(`${service.url}/api/sms/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(body),
    });

  let markers = 0;
  /**
   * Waits until the dispatcher has gone through everything due now: an ETAT from the marker
   * borehole's technician is answered after whatever was due before it (the outbox is sent in
   * order of due time), so a duplicate would already have reached the webhook.
   */
  const settle = async (): Promise<void> => {
    markers += 1;
    const phones = [PHONES.marker.technician, ...PHONES.marker.committee];
    const phone = phones[markers % phones.length] ?? PHONES.marker.technician;
    const before = delivered(phone).length;
    expect((await inbound({ from: phone, text: `ETAT ${markers}` })).status).toBe(200);
    await expect.poll(() => delivered(phone).length, { timeout: 10_000 }).toBe(before + 1);
  };

  beforeAll(async () => {
    await webhook.start();
    service = await start();
    publisher = await connectPublisher(inject('mqttUrl'));
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
    await webhook.close();
  });

  it('sends a dry-run alert to every committee contact and the technician once, as the contract JSON', async () => {
    const { alert, hhmm } = await dryRun('all');
    const phones: string[] = [...PHONES.all.committee, PHONES.all.technician];
    await expect.poll(() => phones.map((phone) => delivered(phone).length), { timeout: 10_000 }).toEqual(phones.map(() => 1));
    await settle();

    // The committee as in the contract's example; the technician also gets the work order's commands.
    const expected = `Forage de Kati: panne pompe (marche a sec) ${hhmm}. Repondre OK ${alert.code} pour confirmer.`;
    for (const phone of phones) {
      expect(attempts(phone), phone).toHaveLength(1);
      const [message] = delivered(phone);
      expect(message?.id).toMatch(/^\S+$/);
      if (phone === PHONES.all.technician) {
        expect(message?.text).toMatch(new RegExp(`^Forage de Kati: panne pompe \\(marche a sec\\) ${hhmm}\\. .*ARRIVE ${alert.code} .*REPARE ${alert.code}`));
      } else {
        expect(message?.text).toBe(expected);
      }
    }
    expect(new Set(phones.map((phone) => delivered(phone)[0]?.id)).size).toBe(phones.length);
    // The contract's request: POST, JSON, the bearer token, exactly {id, to, text}.
    const requests = webhook.accepted.filter((r) => phones.includes(parse(r)?.to ?? ''));
    for (const request of requests) {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toMatch(/^application\/json/);
      expect(request.headers.authorization).toBe(`Bearer ${WEBHOOK_TOKEN}`);
      expect(Object.keys(JSON.parse(request.body) as object).sort()).toEqual(['id', 'text', 'to']);
    }
  });

  it('retries a message the webhook refused twice with the same id, and delivers it once', async () => {
    const phone = PHONES.flaky.technician;
    webhook.failNextTo(phone, 2);
    const { alert } = await dryRun('flaky');
    await expect.poll(() => attempts(phone).length, { timeout: 10_000 }).toBe(1);
    // The committee is not held up.
    await expect.poll(() => delivered(PHONES.flaky.committee[0]).length, { timeout: 10_000 }).toBe(1);

    skewMs += MINUTE_MS; // past the first backoff
    await expect.poll(() => attempts(phone).length, { timeout: 10_000 }).toBe(2);
    skewMs += MINUTE_MS; // past the second
    await expect.poll(() => delivered(phone).length, { timeout: 10_000 }).toBe(1);
    skewMs += MINUTE_MS;
    await settle();

    const ids = attempts(phone).map((m) => m.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(1);
    expect(delivered(phone)[0]?.id).toBe(ids[0]);
    expect(delivered(phone)[0]?.text).toContain(`OK ${alert.code}`);

    const metrics = (await service.app.inject('/metrics')).body;
    expect(metrics).toMatch(/sms_send_failures_total\{kind="incident",retryable="true"\} 2/);
  });

  it('delivers each message pending at a restart exactly once afterwards', async () => {
    const phones = [...PHONES.restart.committee, PHONES.restart.technician];
    webhook.mode = 'outage-503';
    const { alert } = await dryRun('restart');
    await expect.poll(() => phones.map((phone) => attempts(phone).length > 0), { timeout: 10_000 }).toEqual(phones.map(() => true));

    await service.stop();
    const idsBefore = new Map(phones.map((phone) => [phone, new Set(attempts(phone).map((m) => m.id))]));
    for (const ids of idsBefore.values()) expect(ids.size).toBe(1);
    const mark = webhook.requests.length;
    expect(phones.flatMap((phone) => delivered(phone))).toEqual([]);

    webhook.mode = 'success';
    service = await start();
    skewMs += MINUTE_MS; // past the backoff of the failed attempts
    await expect.poll(() => phones.map((phone) => delivered(phone).length), { timeout: 15_000 }).toEqual(phones.map(() => 1));
    await settle();

    const after = webhook.requests.slice(mark).map(parse);
    for (const phone of phones) {
      const sent = after.filter((m) => m?.to === phone);
      expect(sent, phone).toHaveLength(1);
      expect(idsBefore.get(phone)?.has(sent[0]?.id ?? '')).toBe(true);
      expect(sent[0]?.text).toContain(`OK ${alert.code}`);
    }
  });

  it('acknowledges from POST /api/sms/inbound with the token, confirms by SMS, and ignores strangers and missing tokens', async () => {
    const [member, otherMember] = PHONES.inbound.committee;
    const { alert } = await dryRun('inbound');
    await expect.poll(() => delivered(member).length, { timeout: 10_000 }).toBe(1);

    // Without the token, or with a wrong one: 403 and nothing changes.
    for (const token of [null, 'not-the-token']) {
      const refused = await inbound({ from: member, text: `ok ${alert.code}` }, token);
      expect(refused.status, `token ${token}`).toBe(403);
    }
    expect((await alertById('inbound', alert.id))?.state).toBe('open');
    // From a number not in the registry: nothing changes, no answer.
    const stranger = await inbound({ from: STRANGER, text: `ok ${alert.code}` });
    expect(stranger.status).toBe(200);
    expect(await stranger.json()).toEqual({ outcome: 'ignored_unknown_number' });
    expect((await alertById('inbound', alert.id))?.state).toBe('open');

    const accepted = await inbound({ from: member, text: `ok ${alert.code}` });
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toEqual({ outcome: 'acknowledged' });
    const acknowledged = await alertById('inbound', alert.id);
    expect(acknowledged?.state).toBe('acknowledged');
    expect(acknowledged?.acknowledged_at).not.toBeNull();
    await expect.poll(() => delivered(member).map((m) => m.text), { timeout: 10_000 }).toEqual([
      expect.stringContaining(`OK ${alert.code} pour confirmer`),
      `OK ${alert.code} recu, merci. Forage de Koro: panne pompe.`,
    ]);
    await settle();

    expect(attempts(STRANGER)).toEqual([]);
    // One confirmation: the refused requests were not handled.
    expect(attempts(member).map((m) => m.text)).toEqual([
      expect.stringContaining(`OK ${alert.code} pour confirmer`),
      `OK ${alert.code} recu, merci. Forage de Koro: panne pompe.`,
    ]);
    // Only the sender hears the confirmation.
    expect(delivered(otherMember).map((m) => m.text)).toEqual([expect.stringContaining(`OK ${alert.code} pour confirmer`)]);
    expect(delivered(PHONES.inbound.technician)).toHaveLength(1);
  });

  // Issue 13: the gateway spells the technician's number its own way and, its first answer lost,
  // delivers the same REPARE again, once before and once after a restart of the service.
  it('records a REPARE delivered three times, in three spellings and across a restart, once, and confirms it once to the E.164 number', async () => {
    const technician = PHONES.dedup.technician;
    const { alert } = await dryRun('dedup');
    await expect.poll(() => delivered(technician).length, { timeout: 10_000 }).toBe(1);
    const sms = { text: `REPARE ${alert.code} pompe changee`, id: `gw-${unique}` };
    const first = await inbound({ ...sms, from: `00${technician.slice(1)}` });
    expect(await first.json()).toEqual({ outcome: 'repair_claimed' });
    const again = await inbound({ ...sms, from: technician.slice(1) });
    expect(await again.json()).toEqual({ outcome: 'duplicate' });
    await service.stop();
    service = await start();
    const afterRestart = await inbound({ ...sms, from: `+223 ${technician.slice(4, 6)} ${technician.slice(6)}` });
    expect(await afterRestart.json()).toEqual({ outcome: 'duplicate' });
    await settle();

    expect(attempts(technician).filter((m) => m.text.startsWith('REPARE')).map((m) => m.text)).toEqual([expect.stringMatching(new RegExp(`^REPARE ${alert.code} recu`))]);
    const maintenance = await service.app.inject({ url: `/api/boreholes/${boreholeId('dedup')}/maintenance`, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    // One visit (the API masks the number for a viewer).
    expect(maintenance.json<{ items: { by: string }[] }>().items.map((m) => m.by)).toEqual([expect.stringMatching(/^sms:\+/)]);
    // The claim moves the work order; the data, not the word, will close it (issue 15).
    expect((await alertById('dedup', alert.id))?.state).not.toBe('resolved');
    expect(service.incidents.byCode(alert.code)?.state).toBe('repair_claimed');
  });
});
