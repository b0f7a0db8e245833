/**
 * The repair loop through the running service (issue 15, CONTRACT.md section 9), over real
 * Mosquitto and InfluxDB, SMS out through the `webhook` gateway to a local receiver and in through
 * `POST /api/sms/inbound`: Khabou's dry run (the pump's fault and the level below the intake,
 * seconds apart) is one incident and one SMS per person, not two; ARRIVE, PIECE and REPARE move
 * the work order; the technician's word does not close it, pumping does; the same fault soon
 * after reopens it as a failed repair.
 *
 * `verify_minutes` is a quarter of a minute here so that the "normal pumping" the simulator would
 * send for half an hour is published for twenty seconds.
 */
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { FakeWebhook } from '../support/fake-sms-providers.js';
import { registryEntry, tempDir, testConfig, uniqueName, VIEWER_TOKEN } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! incidents integration suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const WEBHOOK_TOKEN = 'webhook-token-for-incidents-01';
const INBOUND_TOKEN = 'inbound-token-for-incidents-01';
const COMMITTEE = ['+22376700001', '+22366700002'];
const TECHNICIAN = '+22379700003';

interface ServiceRow {
  scope: string;
  key: string | null;
  incidents: number;
  verified_repairs: number;
  failed_repairs: number;
  respond_met: number;
  respond_missed: number;
  time_to_arrive: { median: number; p90: number } | null;
  time_to_repair: { median: number; p90: number } | null;
  time_waiting_parts: { median: number; p90: number } | null;
}

interface WebhookSms {
  id: string;
  to: string;
  text: string;
}

describe.skipIf(serverSource === 'none')('incidents through the running service', () => {
  const unique = uniqueName('incidents').toLowerCase().replace(/_/g, '-');
  const bucket = inject('influxBucket') || unique.replace(/-/g, '_');
  const boreholeId = `${unique}-khabou`;
  const registry = buildRegistry(
    registryFileSchema.parse({
      boreholes: [
        {
          ...registryEntry(boreholeId, 0),
          name: 'Forage de Khabou',
          committee: { language: 'fr', contacts: COMMITTEE.map((phone, i) => ({ name: `Membre ${i + 1}`, phone })) },
          technician: { name: 'Technicien de Kayes', phone: TECHNICIAN },
        },
      ],
      rules: { offline_minutes: 100_000, escalate_after_minutes: 100_000, clear_minutes: 0.05, verify_minutes: 0.25 },
    }),
  );
  const webhook = new FakeWebhook({ token: WEBHOOK_TOKEN });
  let service: RunningService;
  let publisher: MqttClient;
  const dataDir = tempDir('incidents');

  const start = async (): Promise<RunningService> => {
    const config = testConfig({
      ...serverEnv(unique, bucket),
      DATA_DIR: dataDir,
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: webhook.endpoint,
      SMS_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      SMS_INBOUND_TOKEN: INBOUND_TOKEN,
    });
    const running = await startService({ config, registry, log: pino({ level: process.env.TEST_LOG ?? 'silent' }), tickIntervalMs: 200 });
    await waitUntil(isReady(running.app), 'the service to be ready');
    return running;
  };

  const delivered = (phone: string): WebhookSms[] =>
    webhook.accepted.map((request) => JSON.parse(request.body) as WebhookSms).filter((message) => message.to === phone);
  const publish = (topic: 'pump' | 'flow' | 'level', payload: Record<string, unknown>): Promise<unknown> =>
    publisher.publishAsync(`${unique}/${boreholeId}/${topic}`, JSON.stringify({ ts: Date.now(), ...payload }), { qos: 1 });
  const sms = async (from: string, text: string): Promise<string> => {
    const response = await fetch(`${service.url}/api/sms/inbound`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${INBOUND_TOKEN}` },
      body: JSON.stringify({ from, text }),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { outcome: string }).outcome;
  };
  const incident = () => service.incidents.list({ boreholeIds: [boreholeId], limit: 10, offset: 0 }).incidents;

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

  it('tells each person once of the dry run, moves the work order by SMS, verifies it from pumping, and reopens it on a relapse', async () => {
    await publish('pump', { running: false, current_a: 0.4, fault: 'dry_run' });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await publish('level', { depth_m: 56 });
    await expect.poll(() => incident()[0]?.alertIds.length, { timeout: 10_000 }).toBe(2);
    const phones = [...COMMITTEE, TECHNICIAN];
    await expect.poll(() => phones.map((phone) => delivered(phone).length), { timeout: 10_000 }).toEqual([1, 1, 1]);
    const [opened] = incident();
    expect(opened).toMatchObject({ cause: 'pump_fault', state: 'reported', workOrder: true });
    const code = opened?.code ?? -1;
    expect(delivered(COMMITTEE[0] ?? '')[0]?.text).toContain(`OK ${code}`);
    // Another second: the two alerts stay one incident, nobody hears of it twice.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(phones.map((phone) => delivered(phone).length)).toEqual([1, 1, 1]);

    expect(await sms(TECHNICIAN, `ARRIVE ${code}`)).toBe('on_site');
    expect(await sms(TECHNICIAN, `PIECE ${code} roulement`)).toBe('waiting_parts');
    expect(await sms(TECHNICIAN, `REPARE ${code} pompe changee`)).toBe('repair_claimed');
    expect(incident()[0]).toMatchObject({ state: 'repair_claimed', parts: [expect.objectContaining({ part: 'roulement' })] });

    // The water comes back: the pump runs with flow, the level above the intake.
    for (let i = 0; i < 12; i += 1) {
      await publish('pump', { running: true, current_a: 4.1, fault: null });
      await publish('flow', { rate_lpm: 42 });
      await publish('level', { depth_m: 30 });
      await new Promise((resolve) => setTimeout(resolve, 2000));
      if (incident()[0]?.state === 'verified') break;
    }
    await expect.poll(() => incident()[0]?.state, { timeout: 10_000 }).toBe('verified');
    expect(incident()[0]?.verifiedBy).toBe('data');
    await expect.poll(() => delivered(COMMITTEE[0] ?? '').at(-1)?.text ?? '', { timeout: 10_000 }).toMatch(/revenue/i);

    // The same fault again, soon after: the repair did not hold.
    await publish('pump', { running: false, current_a: 0.4, fault: 'dry_run' });
    await expect.poll(() => incident()[0]?.state, { timeout: 10_000 }).toBe('reopened');
    expect(incident()).toHaveLength(1);
    expect(incident()[0]).toMatchObject({ code, failedRepairs: 1 });

    // The service report tells the same story, in minutes (section 9).
    const story = incident()[0];
    if (!story) throw new Error('no incident');
    // Today in Bamako (UTC+0), from its midnight to the next.
    const day = new Date(story.openedAtMs).toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + 86_400_000).toISOString().slice(0, 10);
    const response = await service.app.inject({ url: `/api/reports/service?from=${day}&to=${next}`, headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(response.statusCode).toBe(200);
    const row = response.json<{ rows: ServiceRow[] }>().rows.find((r) => r.scope === 'borehole' && r.key === boreholeId);
    const minutes = (from: number, to: number | null): number => Math.round(((to ?? NaN) - from) / 600) / 100;
    expect(row).toMatchObject({ incidents: 1, verified_repairs: 0, failed_repairs: 1, respond_met: 1, respond_missed: 0 });
    expect(row?.time_to_arrive?.median).toBeCloseTo(minutes(story.openedAtMs, story.onSiteAtMs), 1);
    expect(row?.time_to_repair?.median).toBeCloseTo(minutes(story.openedAtMs, story.repairClaimedAtMs), 1);
    expect(row?.time_waiting_parts?.median).toBeCloseTo(story.waitingPartsMs / 60_000, 1);
  });
});
