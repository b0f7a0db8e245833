/**
 * Finding S8 of docs/security.md: no request can make the service fetch an arbitrary URL
 * (server-side request forgery). The only outbound URLs are the configured ones (SMS gateway,
 * InfluxDB, broker); nothing that arrives (an SMS body, a Twilio StatusCallback or MediaUrl, a
 * device's fault code that becomes an alert message, an API parameter or note) ever becomes a URL.
 * A local "trap" listener stands for an internal address an attacker would like the service to
 * reach; every fetch the service makes is recorded (the real fetch runs).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SmsDispatcher } from '../../../src/notify/dispatcher.js';
import { twilioSignature } from '../../../src/notify/gateways/inbound.js';
import { WebhookGateway } from '../../../src/notify/gateways/webhook.js';
import { FakeWebhook } from '../../support/fake-sms-providers.js';
import { alertOf, bearer, pump, seedNetwork, T0_MS, TOKENS } from '../http/harness.js';
import { captureLog, form, INBOUND_TOKEN, PHONES, PUBLIC_URL, startSmsHarness, TWILIO_AUTH_TOKEN, type SmsHarness } from './support.js';

interface Trap {
  server: Server;
  url: string;
  hits: string[];
}

async function startTrap(handler?: (url: string) => { status: number; location?: string }): Promise<Trap> {
  const hits: string[] = [];
  const server = createServer((request, response) => {
    hits.push(`${request.method ?? ''} ${request.url ?? ''}`);
    const answer = handler?.(request.url ?? '') ?? { status: 200 };
    response.writeHead(answer.status, answer.location ? { location: answer.location } : {});
    response.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, hits, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const closeTrap = (trap: Trap) => new Promise<void>((resolve) => trap.server.close(() => resolve()));

describe('S8 no input becomes an outbound URL', () => {
  let trap: Trap;
  let gateway: FakeWebhook;
  let h: SmsHarness;
  let dispatcher: SmsDispatcher;
  const fetched: string[] = [];

  beforeAll(async () => {
    trap = await startTrap();
    gateway = await new FakeWebhook().start();
  });

  afterAll(async () => {
    await closeTrap(trap);
    await gateway.close();
  });

  beforeEach(async () => {
    fetched.length = 0;
    const realFetch = globalThis.fetch;
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      fetched.push(input instanceof Request ? input.url : String(input));
      return realFetch(input, init);
    });
    const log = captureLog({}, 'silent').log;
    let outbox: SmsDispatcher | null = null;
    h = await startSmsHarness({}, {}, (to, text, replyTo) => outbox?.enqueueReply(to, text, replyTo));
    dispatcher = new SmsDispatcher({
      store: h.store,
      gateway: new WebhookGateway({ url: gateway.endpoint, timeoutMs: 5000 }),
      registry: h.registry,
      timeZone: 'Africa/Bamako',
      now: () => h.clock.nowMs,
      log,
      pollIntervalMs: 3_600_000,
    });
    outbox = dispatcher;
    dispatcher.start();
  });

  afterEach(async () => {
    await dispatcher.stop();
    await h.close();
    vi.restoreAllMocks();
  });

  it('fetches nothing but the configured gateway, whatever URLs arrive in readings, SMS, webhooks and API calls', async () => {
    // A device reporting a "fault code" that is a URL: it becomes an alert and SMS text, never a request.
    h.feed(pump('khabou', T0_MS, `${trap.url}/fault?x=1`));
    seedNetwork(h);
    const alert = alertOf(h, 'khabou', 'pump_fault');
    expect(alert.message).toContain(trap.url);

    const webhook = (from: string, text: string) =>
      h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(INBOUND_TOKEN), payload: { from, text } });
    expect((await webhook(PHONES.khabouCommittee, `ETAT ${trap.url}/etat`)).statusCode).toBe(200);
    expect((await webhook(PHONES.khabouCommittee, `OK ${alert.code} ${trap.url}/ok`)).statusCode).toBe(200);
    expect((await webhook(PHONES.technician, `REPARE ${alert.code} voir ${trap.url}/repare`)).statusCode).toBe(200);

    // Twilio's callbacks name URLs of their own (status callback, media): never followed.
    const fields = {
      From: PHONES.khabouCommittee,
      Body: `ETAT ${trap.url}/body`,
      MessageSid: 'SM0123456789abcdef0123456789abcdef',
      NumMedia: '1',
      MediaUrl0: `${trap.url}/media`,
      MediaContentType0: 'image/jpeg',
      StatusCallback: `${trap.url}/status`,
    };
    const twilio = await h.app.inject({
      method: 'POST',
      url: '/api/sms/inbound/twilio',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(TWILIO_AUTH_TOKEN, `${PUBLIC_URL}/api/sms/inbound/twilio`, fields) },
      payload: form(fields),
    });
    expect(twilio.statusCode).toBe(200);
    const africasTalking = await h.app.inject({
      method: 'POST',
      url: `/api/sms/inbound/africastalking?token=${INBOUND_TOKEN}&callbackUrl=${encodeURIComponent(trap.url)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: form({ from: PHONES.segalaCommittee, text: `ETAT ${trap.url}/at`, linkId: `${trap.url}/link` }),
    });
    expect(africasTalking.statusCode).toBe(200);

    // API parameters and notes carrying URLs.
    const encoded = encodeURIComponent(`${trap.url}/api`);
    for (const url of [`/api/boreholes/khabou/readings?from=${encoded}`, `/api/alerts?borehole=${encoded}`, `/api/boreholes/${encoded}`, `/api/dead-letters?reason=${encoded}`]) {
      await h.app.inject({ url, headers: bearer(TOKENS.operator) });
    }
    await h.app.inject({ method: 'POST', url: '/api/boreholes/segala/maintenance', headers: bearer(TOKENS.operator), payload: { note: `${trap.url}/note` } });
    await h.app.inject({ method: 'POST', url: `/login?next=${encoded}`, headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80' }, payload: form({ token: TOKENS.viewer, next: `${trap.url}/next` }) });

    await dispatcher.wake();

    // The alerts and replies did go out, all of them to the configured gateway.
    expect(gateway.accepted.length).toBeGreaterThanOrEqual(5);
    expect(fetched.length).toBe(gateway.requests.length);
    expect(new Set(fetched)).toEqual(new Set([gateway.endpoint]));
    expect(trap.hits).toEqual([]);
  });

  it('does not follow a redirect from the configured gateway to another address', async () => {
    const redirecting = await startTrap(() => ({ status: 307, location: `${trap.url}/redirected` }));
    try {
      const sent = new WebhookGateway({ url: `${redirecting.url}/sms`, timeoutMs: 5000 }).send({ id: 'sms-1', to: PHONES.khabouCommittee, text: 'test' });
      await expect(sent).rejects.toMatchObject({ retryable: true, status: 307 });
      expect(redirecting.hits).toEqual(['POST /sms']);
      expect(trap.hits).toEqual([]);
    } finally {
      await closeTrap(redirecting);
    }
  });
});

describe('S8 the code that can reach the network is only where the configuration says', () => {
  /** Every TypeScript file under src/. */
  function sources(dir: string): string[] {
    return readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
    });
  }

  it('finds outbound calls only in the SMS gateways, the InfluxDB client and the MQTT client', () => {
    const root = join(import.meta.dirname, '../../..');
    const outbound = /\bfetch\(|\bhttps?\.(?:request|get)\(|new WebSocket\(|\bnet\.connect\(|\bcreateConnection\(|new InfluxDB\(|\bmqtt\.connect\(|from 'undici'|from 'axios'/;
    const callers = sources(join(root, 'src'))
      .filter((path) => outbound.test(readFileSync(path, 'utf8')))
      .map((path) => relative(root, path))
      .sort();
    // A new caller must be reviewed (where does its URL come from?) and added here and to docs/security.md.
    expect(callers).toEqual(['src/ingest/mqtt-source.ts', 'src/notify/gateways/http.ts', 'src/storage/influx.ts']);
  });
});
