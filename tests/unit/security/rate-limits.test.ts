/**
 * Finding S5 of docs/security.md: secrets are guessed at the speed of the network unless failures
 * are limited. Ten wrong secrets a minute from one address, counted across the API tokens, the
 * page cookie and the SMS webhooks' secrets, then 429 for that address only. The clock is the
 * app's injected one.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { twilioSignature } from '../../../src/notify/gateways/inbound.js';
import { bearer, seedNetwork, T0_MS, TOKENS } from '../http/harness.js';
import { form, INBOUND_TOKEN, PHONES, PUBLIC_URL, startSmsHarness, TWILIO_AUTH_TOKEN, type SmsHarness } from './support.js';

const clock = { nowMs: T0_MS };
let h: SmsHarness;

beforeEach(async () => {
  clock.nowMs = T0_MS;
  h = await startSmsHarness({ now: () => clock.nowMs });
  seedNetwork(h);
  clock.nowMs = T0_MS;
});

afterEach(async () => {
  await h.close();
});

const api = (token: string | undefined, ip: string) =>
  h.app.inject({ url: '/api/boreholes', headers: token === undefined ? {} : bearer(token), remoteAddress: ip });
const webhook = (token: string | undefined, ip: string) =>
  h.app.inject({
    method: 'POST',
    url: '/api/sms/inbound',
    headers: token === undefined ? {} : bearer(token),
    payload: { from: PHONES.khabouCommittee, text: 'ETAT' },
    remoteAddress: ip,
  });
const africasTalking = (token: string, ip: string) =>
  h.app.inject({
    method: 'POST',
    url: `/api/sms/inbound/africastalking?token=${encodeURIComponent(token)}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: form({ from: PHONES.khabouCommittee, text: 'ETAT' }),
    remoteAddress: ip,
  });
const twilio = (authToken: string, ip: string) => {
  const fields = { From: PHONES.khabouCommittee, Body: 'ETAT', MessageSid: 'SM0123456789abcdef0123456789abcdef' };
  return h.app.inject({
    method: 'POST',
    url: '/api/sms/inbound/twilio',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(authToken, `${PUBLIC_URL}/api/sms/inbound/twilio`, fields) },
    payload: form(fields),
    remoteAddress: ip,
  });
};

async function failTimes(times: number, attempt: (n: number) => Promise<{ statusCode: number }>): Promise<void> {
  for (let n = 0; n < times; n += 1) {
    clock.nowMs += 1000;
    const { statusCode } = await attempt(n);
    expect([401, 403]).toContain(statusCode);
  }
}

describe('S5 failed authentications are limited per address', () => {
  it('blocks only the guessing address: another address keeps working with its own budget', async () => {
    await failTimes(10, (n) => api(`wrong-api-token-guess-${n}`, '10.1.0.1'));
    expect((await api(TOKENS.viewer, '10.1.0.1')).statusCode).toBe(429);
    expect((await api(TOKENS.viewer, '10.1.0.2')).statusCode).toBe(200);
    // The neighbour's nine failures do not block it, and its own tenth does.
    await failTimes(9, (n) => api(`wrong-api-token-guess-${n}`, '10.1.0.2'));
    expect((await api(TOKENS.viewer, '10.1.0.2')).statusCode).toBe(200);
    await failTimes(1, () => api('one-more-wrong-api-token', '10.1.0.2'));
    expect((await api(TOKENS.viewer, '10.1.0.2')).statusCode).toBe(429);
  });

  it('does not forgive failures on a success: a guesser cannot reset its count with a token it owns', async () => {
    for (let round = 0; round < 3; round += 1) {
      await failTimes(3, (n) => api(`wrong-api-token-guess-${round}-${n}`, '10.1.0.3'));
      expect((await api(TOKENS.viewer, '10.1.0.3')).statusCode).toBe(200);
    }
    await failTimes(1, () => api('the-tenth-wrong-api-token', '10.1.0.3'));
    const blocked = await api(TOKENS.viewer, '10.1.0.3');
    expect(blocked.statusCode).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('does not let a success from one address unblock another', async () => {
    await failTimes(10, (n) => api(`wrong-api-token-guess-${n}`, '10.1.0.4'));
    expect((await api(TOKENS.operator, '10.1.0.5')).statusCode).toBe(200);
    expect((await api(TOKENS.operator, '10.1.0.4')).statusCode).toBe(429);
  });

  it.each([
    ['the webhook bearer token', (n: number, ip: string) => webhook(`wrong-inbound-token-${n}`, ip)],
    ["the Africa's Talking URL token", (n: number, ip: string) => africasTalking(`wrong-inbound-token-${n}`, ip)],
    ['the Twilio signature', (n: number, ip: string) => twilio(`wrong-twilio-auth-token-${n}`, ip)],
  ])('limits wrong SMS secrets too (%s): 429 with Retry-After, even for the right secret, and nothing handled', async (_name, wrong) => {
    await failTimes(10, (n) => wrong(n, '10.2.0.1'));
    const answers = [await webhook(INBOUND_TOKEN, '10.2.0.1'), await africasTalking(INBOUND_TOKEN, '10.2.0.1'), await twilio(TWILIO_AUTH_TOKEN, '10.2.0.1')];
    for (const answer of answers) {
      expect(answer.statusCode).toBe(429);
      expect(answer.headers['retry-after']).toBe('51');
    }
    expect(h.handled).toEqual([]);
    // The gateway's own address is not affected.
    expect((await webhook(INBOUND_TOKEN, '10.2.0.2')).statusCode).toBe(200);
    // Once the oldest failure is a minute old, the address may try again.
    clock.nowMs += 51_000;
    expect((await webhook(INBOUND_TOKEN, '10.2.0.1')).statusCode).toBe(200);
  });

  it('shares one budget between the API and the SMS webhooks: a guesser cannot double it by switching', async () => {
    await failTimes(5, (n) => api(`wrong-api-token-guess-${n}`, '10.2.0.3'));
    await failTimes(5, (n) => webhook(`wrong-inbound-token-${n}`, '10.2.0.3'));
    expect((await api(TOKENS.viewer, '10.2.0.3')).statusCode).toBe(429);
    expect((await webhook(INBOUND_TOKEN, '10.2.0.3')).statusCode).toBe(429);
  });

  it('does not count a request without any secret (a health check, a misconfigured gateway)', async () => {
    for (let n = 0; n < 20; n += 1) {
      expect((await webhook(undefined, '10.2.0.4')).statusCode).toBe(403);
      expect((await api(undefined, '10.2.0.4')).statusCode).toBe(401);
    }
    expect((await webhook(INBOUND_TOKEN, '10.2.0.4')).statusCode).toBe(200);
  });
});
