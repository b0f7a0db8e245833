import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutgoingSms } from '../../../../src/notify/gateway.js';
import { GatewayError } from '../../../../src/notify/gateways/errors.js';
import { OrangeGateway } from '../../../../src/notify/gateways/orange.js';
import { FakeOrange } from '../../../support/fake-sms-providers.js';

const CREDENTIALS = { clientId: 'orange-client-id-0001', clientSecret: 'orange-client-secret-0001' };
const SENDER = 'tel:+2230000';
const HOUR_MS = 3_600_000;

const message = (n: number): OutgoingSms => ({ id: `sms-${n}`, to: '+22376000001', text: `Message ${n}` });

describe('Orange gateway', () => {
  let fake: FakeOrange;
  const clock = { nowMs: Date.UTC(2026, 1, 5, 10, 0, 0), now: () => clock.nowMs };

  function gateway(overrides: Partial<ConstructorParameters<typeof OrangeGateway>[0]> = {}): OrangeGateway {
    return new OrangeGateway({ ...CREDENTIALS, senderAddress: SENDER, baseUrl: fake.url, timeoutMs: 5000, clock, ...overrides });
  }

  const tokenRequests = () => fake.requests.filter((r) => r.path === '/oauth/v3/token').length;
  const smsRequests = () => fake.requests.filter((r) => r.path.startsWith('/smsmessaging/'));

  beforeAll(async () => {
    fake = await new FakeOrange({ ...CREDENTIALS, senderAddress: SENDER }).start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.reset();
    clock.nowMs = Date.UTC(2026, 1, 5, 10, 0, 0);
  });

  it('fetches one token and reuses it for later sends', async () => {
    const orange = gateway();
    await orange.send(message(1));
    await orange.send(message(2));
    await orange.send(message(3));

    expect(fake.tokensIssued).toBe(1);
    expect(fake.accepted).toHaveLength(3);
    const bearers = new Set(fake.accepted.map((r) => r.headers.authorization));
    expect(bearers.size).toBe(1);
  });

  it('shares one token request between sends that start together', async () => {
    const orange = gateway();
    await Promise.all([orange.send(message(1)), orange.send(message(2)), orange.send(message(3))]);
    expect(tokenRequests()).toBe(1);
    expect(fake.accepted).toHaveLength(3);
  });

  it('fetches a new token when the cached one is about to expire', async () => {
    const orange = gateway();
    await orange.send(message(1));

    clock.nowMs += HOUR_MS - 120_000; // still two minutes to go: reused
    await orange.send(message(2));
    expect(fake.tokensIssued).toBe(1);

    clock.nowMs += 90_000; // 30 s left: inside the refresh margin
    await orange.send(message(3));
    expect(fake.tokensIssued).toBe(2);
    expect(fake.accepted.at(-1)?.headers.authorization).toMatch(/^Bearer orange-fake-2-/);
  });

  it('fetches a new token once when Orange refuses the cached one, then sends', async () => {
    const orange = gateway();
    await orange.send(message(1));
    fake.revokeTokens(); // Orange answers 401 code 42 "Expired credentials" from now on

    const receipt = await orange.send(message(2));

    expect(receipt.providerMessageId).toBeDefined();
    expect(fake.tokensIssued).toBe(2);
    expect(smsRequests().map((r) => r.headers.authorization?.slice(0, 21))).toStrictEqual([
      'Bearer orange-fake-1-',
      'Bearer orange-fake-1-',
      'Bearer orange-fake-2-',
    ]);
  });

  it('gives up after one refresh when the new token is refused too: credentials, permanent', async () => {
    const orange = gateway();
    await orange.send(message(1));
    fake.respondNext({ status: 401, body: { code: 42, message: 'Expired credentials' } });
    fake.respondNext({ status: 200, body: { token_type: 'Bearer', access_token: 'never-accepted', expires_in: '3600' } });
    fake.respondNext({ status: 401, body: { code: 42, message: 'Expired credentials' } });

    const error = await orange.send(message(2)).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ retryable: false, reason: 'credentials', status: 401 });
    expect(smsRequests()).toHaveLength(3); // 1 earlier success + the refused send + one retry
  });

  it('reports a failing token endpoint as retryable and tries again on the next send', async () => {
    const orange = gateway();
    fake.tokenMode = 'outage-503';
    await expect(orange.send(message(1))).rejects.toMatchObject({ retryable: true, status: 503 });

    fake.tokenMode = 'success';
    await orange.send(message(2));
    expect(fake.accepted).toHaveLength(1);
  });

  it("treats Orange's code 53 (too many requests) as throttling even with 403", async () => {
    const orange = gateway();
    await orange.send(message(1));
    fake.respondNext({ status: 403, body: { code: 53, message: 'Too many requests', description: 'Rate limit exceeded' } });

    await expect(orange.send(message(2))).rejects.toMatchObject({ retryable: true, reason: 'throttled' });
  });

  it('reports a policy refusal (403 policyException) as permanent but not about the number', async () => {
    const orange = gateway();
    await orange.send(message(1));
    fake.respondNext({
      status: 403,
      body: { requestError: { policyException: { messageId: 'POL0001', text: 'A policy error occurred. %1', variables: ['Expired contract'] } } },
    });

    await expect(orange.send(message(2))).rejects.toMatchObject({ retryable: false, reason: 'rejected', providerCode: 'POL0001' });
  });

  it('accepts the sender address with or without the tel: prefix and sends a registered sender name', async () => {
    const orange = gateway({ senderAddress: '+2230000', senderName: 'FORAGES' });
    await orange.send(message(1));

    const sent = fake.accepted[0];
    expect(sent?.path).toBe('/smsmessaging/v1/outbound/tel%3A%2B2230000/requests');
    expect(JSON.parse(sent?.body ?? '{}')).toMatchObject({
      outboundSMSMessageRequest: { senderAddress: 'tel:+2230000', senderName: 'FORAGES' },
    });
  });
});
