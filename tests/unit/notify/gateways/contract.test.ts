/**
 * One contract, every SMS gateway adapter: each runs against a local fake of its provider that
 * checks authentication and request shape as the provider documents them.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SmsSendError, type OutgoingSms, type SendReceipt, type SmsGateway } from '../../../../src/notify/gateway.js';
import { AfricasTalkingGateway } from '../../../../src/notify/gateways/africas-talking.js';
import { OrangeGateway } from '../../../../src/notify/gateways/orange.js';
import { TwilioGateway } from '../../../../src/notify/gateways/twilio.js';
import { WebhookGateway } from '../../../../src/notify/gateways/webhook.js';
import {
  FakeAfricasTalking,
  FakeOrange,
  FakeTwilio,
  FakeWebhook,
  type FakeSmsProvider,
  type RecordedRequest,
} from '../../../support/fake-sms-providers.js';

/**
 * The hang test's timeout: short, so no test waits real seconds (production uses GATEWAY_TIMEOUT_MS).
 * Every other test gets a timeout it never reaches, so a slow first request cannot fail it.
 */
const HANG_TIMEOUT_MS = 150;
const TEST_TIMEOUT_MS = 5000;

const MESSAGE: OutgoingSms = {
  id: 'sms-2026-02-05-0001',
  to: '+22376000001',
  text: 'Forage de Khabou: panne pompe (marche a sec) 10:42. Repondre OK 17 pour confirmer.',
};

interface AdapterCase<F extends FakeSmsProvider = FakeSmsProvider> {
  name: string;
  createFake(): F;
  createGateway(fake: F, options: { timeoutMs: number; baseUrl?: string; badCredentials?: boolean }): SmsGateway;
  /** The secrets that must never appear in an error message. */
  secrets: string[];
  /** Asserts that the accepted request is exactly what the provider expects. */
  expectWire(request: RecordedRequest, message: OutgoingSms, fake: F): void;
  expectReceipt(receipt: SendReceipt): void;
  /**
   * The webhook contract (CONTRACT.md section 5) retries every non-2xx, so for it a refused number
   * or refused credentials stay retryable; the providers' own APIs say these are final.
   */
  retryableOn: { invalidNumber: boolean; badCredentials: boolean };
  /** Whether the provider takes our message id as an idempotency key (only the webhook does). */
  dropsDuplicateIds: boolean;
}

/** Types one case against its own fake; the list then holds them all. */
function adapterCase<F extends FakeSmsProvider>(c: AdapterCase<F>): AdapterCase {
  return c;
}

function form(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

const WEBHOOK_TOKEN = 'webhook-token-0123456789abcdef';
const ORANGE = { clientId: 'orange-client-id-0001', clientSecret: 'orange-client-secret-0001', senderAddress: 'tel:+2230000' };
const AT = { username: 'borehole-monitor', apiKey: 'atsk_0123456789abcdef0123456789abcdef', senderId: 'FORAGES' };
const TWILIO = { accountSid: `AC${'a1'.repeat(16)}`, authToken: 'twilio-auth-token-0123456789ab', from: '+15005550006' };

const CASES: AdapterCase[] = [
  adapterCase<FakeWebhook>({
    name: 'webhook',
    createFake: () => new FakeWebhook({ token: WEBHOOK_TOKEN }),
    createGateway: (fake, { timeoutMs, baseUrl, badCredentials }) =>
      new WebhookGateway({
        url: baseUrl ? `${baseUrl}/sms` : fake.endpoint,
        token: badCredentials ? 'not-the-token' : WEBHOOK_TOKEN,
        timeoutMs,
      }),
    secrets: [WEBHOOK_TOKEN, 'not-the-token'],
    expectWire(request, message) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/sms');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toBe(`Bearer ${WEBHOOK_TOKEN}`);
      expect(JSON.parse(request.body)).toStrictEqual({ id: message.id, to: message.to, text: message.text });
    },
    expectReceipt: (receipt) => expect(receipt).toStrictEqual({}),
    retryableOn: { invalidNumber: true, badCredentials: true },
    dropsDuplicateIds: true,
  }),
  adapterCase<FakeOrange>({
    name: 'orange',
    createFake: () => new FakeOrange(ORANGE),
    createGateway: (fake, { timeoutMs, baseUrl, badCredentials }) =>
      new OrangeGateway({
        clientId: ORANGE.clientId,
        clientSecret: badCredentials ? 'wrong-secret' : ORANGE.clientSecret,
        senderAddress: ORANGE.senderAddress,
        baseUrl: baseUrl ?? fake.url,
        timeoutMs,
      }),
    secrets: [ORANGE.clientSecret, 'wrong-secret'],
    expectWire(request, message, fake) {
      // The token came first, by the documented client-credentials request.
      const tokenRequest = fake.requests[0];
      expect(tokenRequest?.path).toBe('/oauth/v3/token');
      expect(tokenRequest?.headers.authorization).toBe(basic(ORANGE.clientId, ORANGE.clientSecret));
      expect(tokenRequest?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(tokenRequest?.headers.accept).toBe('application/json');
      expect(tokenRequest && form(tokenRequest.body)).toStrictEqual({ grant_type: 'client_credentials' });

      expect(request.method).toBe('POST');
      expect(request.path).toBe('/smsmessaging/v1/outbound/tel%3A%2B2230000/requests');
      expect(request.headers.authorization).toMatch(/^Bearer orange-fake-1-/);
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.accept).toBe('application/json');
      expect(JSON.parse(request.body)).toStrictEqual({
        outboundSMSMessageRequest: {
          address: `tel:${message.to}`,
          senderAddress: 'tel:+2230000',
          outboundSMSTextMessage: { message: message.text },
        },
      });
    },
    expectReceipt: (receipt) => expect(receipt.providerMessageId).toMatch(/^[0-9a-f-]{36}$/),
    retryableOn: { invalidNumber: false, badCredentials: false },
    dropsDuplicateIds: false,
  }),
  adapterCase<FakeAfricasTalking>({
    name: 'africastalking',
    createFake: () => new FakeAfricasTalking(AT),
    createGateway: (fake, { timeoutMs, baseUrl, badCredentials }) =>
      new AfricasTalkingGateway({
        username: AT.username,
        apiKey: badCredentials ? 'atsk_wrong' : AT.apiKey,
        senderId: AT.senderId,
        baseUrl: baseUrl ?? fake.url,
        timeoutMs,
      }),
    secrets: [AT.apiKey, 'atsk_wrong'],
    expectWire(request, message) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/version1/messaging');
      expect(request.headers.apikey).toBe(AT.apiKey);
      expect(request.headers.accept).toBe('application/json');
      expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(request.headers.authorization).toBeUndefined();
      expect(form(request.body)).toStrictEqual({ username: AT.username, to: message.to, message: message.text, from: AT.senderId });
    },
    expectReceipt: (receipt) => expect(receipt.providerMessageId).toMatch(/^ATXid_[0-9a-f]{32}$/),
    retryableOn: { invalidNumber: false, badCredentials: false },
    dropsDuplicateIds: false,
  }),
  adapterCase<FakeTwilio>({
    name: 'twilio',
    createFake: () => new FakeTwilio(TWILIO),
    createGateway: (fake, { timeoutMs, baseUrl, badCredentials }) =>
      new TwilioGateway({
        accountSid: TWILIO.accountSid,
        authToken: badCredentials ? 'wrong-auth-token' : TWILIO.authToken,
        from: TWILIO.from,
        baseUrl: baseUrl ?? fake.url,
        timeoutMs,
      }),
    secrets: [TWILIO.authToken, 'wrong-auth-token'],
    expectWire(request, message) {
      expect(request.method).toBe('POST');
      expect(request.path).toBe(`/2010-04-01/Accounts/${TWILIO.accountSid}/Messages.json`);
      expect(request.headers.authorization).toBe(basic(TWILIO.accountSid, TWILIO.authToken));
      expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(request.headers.accept).toBe('application/json');
      expect(form(request.body)).toStrictEqual({ To: message.to, From: TWILIO.from, Body: message.text });
    },
    expectReceipt: (receipt) => expect(receipt.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/),
    retryableOn: { invalidNumber: false, badCredentials: false },
    dropsDuplicateIds: false,
  }),
];

async function sendError(gateway: SmsGateway, message: OutgoingSms = MESSAGE): Promise<SmsSendError> {
  const error = await gateway.send(message).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(SmsSendError);
  return error as SmsSendError;
}

/** A loopback port with nothing listening: connections are refused at once. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function gatewayContract(c: AdapterCase): void {
  let fake: FakeSmsProvider;
  let gateway: SmsGateway;

  beforeAll(async () => {
    fake = await c.createFake().start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    gateway = c.createGateway(fake, { timeoutMs: TEST_TIMEOUT_MS });
  });

  it('delivers a message with exactly the fields and headers the provider expects', async () => {
    const receipt = await gateway.send(MESSAGE);

    expect(fake.accepted).toHaveLength(1);
    const accepted = fake.accepted[0];
    if (!accepted) throw new Error('nothing accepted');
    c.expectWire(accepted, MESSAGE, fake);
    c.expectReceipt(receipt);
  });

  it('reports throttling as retryable', async () => {
    fake.mode = 'throttle';
    const error = await sendError(gateway);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(429);
    expect(error.message).toMatch(/retryable$/);
    expect(fake.accepted).toHaveLength(0);
  });

  it(`reports an invalid number as ${c.retryableOn.invalidNumber ? 'retryable (every non-2xx is, by contract)' : 'permanent'}`, async () => {
    fake.mode = 'invalid-number';
    const error = await sendError(gateway);
    expect(error.retryable).toBe(c.retryableOn.invalidNumber);
    expect(error.message).toMatch(c.retryableOn.invalidNumber ? /retryable$/ : /invalid recipient number.*permanent$/);
    expect(error.message).not.toContain(MESSAGE.to);
  });

  it.each(['outage-500', 'outage-503'] as const)('reports an outage (%s) as retryable', async (mode) => {
    fake.mode = mode;
    const error = await sendError(gateway);
    expect(error.retryable).toBe(true);
    expect(error.status).toBe(Number(mode.slice(-3)));
  });

  it('gives up on a provider that never answers after the timeout, retryable', async () => {
    fake.mode = 'hang';
    const impatient = c.createGateway(fake, { timeoutMs: HANG_TIMEOUT_MS });
    const startedAt = performance.now();
    const error = await sendError(impatient);
    const elapsedMs = performance.now() - startedAt;

    expect(error.retryable).toBe(true);
    expect(error.message).toContain(`no answer within ${HANG_TIMEOUT_MS} ms`);
    expect(elapsedMs).toBeGreaterThanOrEqual(HANG_TIMEOUT_MS - 20);
    expect(elapsedMs).toBeLessThan(HANG_TIMEOUT_MS + 2000);
  });

  it(`reports rejected credentials as ${c.retryableOn.badCredentials ? 'retryable (every non-2xx is, by contract)' : 'permanent'}, without the secret`, async () => {
    const wrong = c.createGateway(fake, { timeoutMs: TEST_TIMEOUT_MS, badCredentials: true });
    const error = await sendError(wrong);

    expect(error.retryable).toBe(c.retryableOn.badCredentials);
    expect(error.status).toBe(401);
    for (const secret of c.secrets) expect(error.message).not.toContain(secret);
    expect(fake.accepted).toHaveLength(0);
  });

  it('reports a refused connection as a retryable network error', async () => {
    const unreachable = c.createGateway(fake, { timeoutMs: TEST_TIMEOUT_MS, baseUrl: await closedPortUrl() });
    const error = await sendError(unreachable);
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/network error ECONNREFUSED.*retryable$/);
  });

  if (c.dropsDuplicateIds) {
    it('sends the same id on every attempt, so the receiver delivers a retried message once', async () => {
      fake.mode = 'outage-503';
      await sendError(gateway);
      fake.mode = 'success';
      await gateway.send(MESSAGE);
      await gateway.send(MESSAGE); // our answer was lost, say: the dispatcher tries again

      const ids = fake.requests.map((request) => (JSON.parse(request.body) as { id: string }).id);
      expect(ids).toStrictEqual([MESSAGE.id, MESSAGE.id, MESSAGE.id]);
      expect(fake.accepted).toHaveLength(1);
    });
  }
}

describe.each(CASES)('$name gateway (contract)', (c) => {
  gatewayContract(c);
});
