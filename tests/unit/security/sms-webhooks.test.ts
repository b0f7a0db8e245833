/**
 * Findings S1 and S2 of docs/security.md: the SMS reply webhooks are reachable from the internet,
 * so only a request carrying the gateway's secret may act. Twilio's form posts must carry a valid
 * X-Twilio-Signature over the exact URL and parameters; the webhook and Africa's Talking routes
 * need SMS_INBOUND_TOKEN, compared in constant time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { twilioSignature } from '../../../src/notify/gateways/inbound.js';
import { seedNetwork, alertOf } from '../http/harness.js';
import { form, INBOUND_TOKEN, PHONES, PUBLIC_URL, startSmsHarness, TWILIO_AUTH_TOKEN, type SmsHarness } from './support.js';

// Pass-through spy: the real comparison runs, the test sees how it was called.
const timing = vi.hoisted(() => ({ calls: [] as [number, number][] }));
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      timing.calls.push([a.byteLength, b.byteLength]);
      return actual.timingSafeEqual(a, b);
    },
  };
});

let h: SmsHarness;

beforeEach(async () => {
  h = await startSmsHarness();
  seedNetwork(h);
  timing.calls.length = 0;
});

afterEach(async () => {
  await h.close();
});

const TWILIO_PATH = '/api/sms/inbound/twilio';

function twilioFields(body: string, from: string = PHONES.khabouCommittee): Record<string, string> {
  return { From: from, To: '+15005550006', Body: body, MessageSid: 'SM0123456789abcdef0123456789abcdef', AccountSid: 'AC0123456789abcdef0123456789abcdef' };
}

const postTwilio = (fields: Record<string, string>, signature: string | undefined, path = TWILIO_PATH) =>
  h.app.inject({
    method: 'POST',
    url: path,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-twilio-signature': signature }) },
    payload: form(fields),
  });

describe('S1 Twilio replies are acted on only with a valid X-Twilio-Signature', () => {
  it('accepts a request signed with TWILIO_AUTH_TOKEN over SMS_PUBLIC_URL and the path (the control)', async () => {
    const code = alertOf(h, 'khabou', 'pump_fault').code;
    const fields = twilioFields(`OK ${code}`);
    const response = await postTwilio(fields, twilioSignature(TWILIO_AUTH_TOKEN, `${PUBLIC_URL}${TWILIO_PATH}`, fields));
    expect(response.statusCode).toBe(200);
    expect(h.handled.map((sms) => sms.outcome)).toEqual(['acknowledged']);
  });

  it.each([
    ['without a signature', () => undefined],
    ['with an empty signature', () => ''],
    ['signed with another auth token', (fields: Record<string, string>) => twilioSignature('another-auth-token-0123456789', `${PUBLIC_URL}${TWILIO_PATH}`, fields)],
    ['signed for another URL', (fields: Record<string, string>) => twilioSignature(TWILIO_AUTH_TOKEN, `https://evil.example${TWILIO_PATH}`, fields)],
    ['signed over other parameters', (fields: Record<string, string>) => twilioSignature(TWILIO_AUTH_TOKEN, `${PUBLIC_URL}${TWILIO_PATH}`, { ...fields, Body: 'ETAT' })],
  ])('refuses a request %s with 403 and acts on nothing', async (_name, sign) => {
    const alert = alertOf(h, 'khabou', 'pump_fault');
    const fields = twilioFields(`OK ${alert.code}`);
    const response = await postTwilio(fields, sign(fields));
    expect(response.statusCode).toBe(403);
    expect(response.json()).toEqual({ error: 'forbidden', message: 'the X-Twilio-Signature does not match' });
    expect(h.handled).toEqual([]);
    expect(h.store.alertById(alert.id)?.state).toBe('open');
  });

  it('refuses a captured request replayed with a changed parameter (another sender, body or extra field)', async () => {
    const alert = alertOf(h, 'khabou', 'pump_fault');
    const original = twilioFields('ETAT');
    const signature = twilioSignature(TWILIO_AUTH_TOKEN, `${PUBLIC_URL}${TWILIO_PATH}`, original);
    expect((await postTwilio(original, signature)).statusCode).toBe(200);
    const replays = [
      { ...original, Body: `REPARE ${alert.code}` },
      { ...original, From: PHONES.technician },
      { ...original, Body: `OK ${alert.code}`, NumMedia: '0' },
    ];
    for (const replay of replays) expect((await postTwilio(replay, signature)).statusCode).toBe(403);
    // A signed URL does not sign another path, nor the same path with a query added.
    expect((await postTwilio(original, signature, `${TWILIO_PATH}?x=1`)).statusCode).toBe(403);
    expect(h.handled.map((sms) => sms.text)).toEqual(['ETAT']);
    expect(h.store.alertById(alert.id)?.state).toBe('open');
  });

  it('keeps the route closed (403) when TWILIO_AUTH_TOKEN is not configured, whatever the signature', async () => {
    await h.close();
    h = await startSmsHarness({}, { twilioAuthToken: undefined });
    const fields = twilioFields('ETAT');
    for (const token of ['', TWILIO_AUTH_TOKEN]) {
      expect((await postTwilio(fields, twilioSignature(token || 'x', `${PUBLIC_URL}${TWILIO_PATH}`, fields))).statusCode).toBe(403);
    }
    expect(h.handled).toEqual([]);
  });
});

describe('S2 the webhook and Africa’s Talking replies need SMS_INBOUND_TOKEN', () => {
  const postWebhook = (authorization: string | undefined, body: object) =>
    h.app.inject({
      method: 'POST',
      url: '/api/sms/inbound',
      headers: authorization === undefined ? {} : { authorization },
      payload: body,
    });
  const postAfricasTalking = (query: string, fields: Record<string, string>) =>
    h.app.inject({ method: 'POST', url: `/api/sms/inbound/africastalking${query}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(fields) });

  it('acts on a webhook reply with the right bearer token (the control)', async () => {
    const response = await postWebhook(`Bearer ${INBOUND_TOKEN}`, { from: PHONES.khabouCommittee, text: 'ETAT' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ outcome: 'status' });
  });

  it.each([
    ['no Authorization header', undefined],
    ['an empty bearer', 'Bearer '],
    ['a wrong token', 'Bearer not-the-inbound-token-0123456789'],
    ['the token with a character more', `Bearer ${INBOUND_TOKEN}x`],
    ['the token less its last character', `Bearer ${INBOUND_TOKEN.slice(0, -1)}`],
    ['the token in another scheme', `Basic ${INBOUND_TOKEN}`],
    ['an API token instead', 'Bearer operator-token-for-http-tests-01'],
  ])('refuses a webhook reply with %s (403) and acts on nothing', async (_name, authorization) => {
    const alert = alertOf(h, 'khabou', 'pump_fault');
    const response = await postWebhook(authorization, { from: PHONES.khabouCommittee, text: `OK ${alert.code}` });
    expect(response.statusCode).toBe(403);
    expect(response.body).not.toContain(INBOUND_TOKEN);
    expect(h.handled).toEqual([]);
    expect(h.store.alertById(alert.id)?.state).toBe('open');
  });

  it('acts on an Africa’s Talking callback with the token in its URL (the control)', async () => {
    const response = await postAfricasTalking(`?token=${INBOUND_TOKEN}`, { from: PHONES.khabouCommittee, text: 'ETAT', to: '12345', id: 'ATXid_1' });
    expect(response.statusCode).toBe(200);
  });

  it.each([
    ['no token', ''],
    ['an empty token', '?token='],
    ['a wrong token', '?token=not-the-inbound-token-0123456789'],
    ['the token as another parameter', `?key=${INBOUND_TOKEN}`],
    ['the token twice (an array, not a string)', `?token=${INBOUND_TOKEN}&token=${INBOUND_TOKEN}`],
  ])('refuses an Africa’s Talking callback with %s (403) and acts on nothing', async (_name, query) => {
    const alert = alertOf(h, 'khabou', 'pump_fault');
    const response = await postAfricasTalking(query, { from: PHONES.khabouCommittee, text: `OK ${alert.code}` });
    expect(response.statusCode).toBe(403);
    expect(h.handled).toEqual([]);
    expect(h.store.alertById(alert.id)?.state).toBe('open');
  });

  it('keeps both routes closed when SMS_INBOUND_TOKEN is unset, even to an empty token', async () => {
    await h.close();
    h = await startSmsHarness({}, { inboundToken: undefined });
    expect((await postWebhook('Bearer ', { from: PHONES.khabouCommittee, text: 'ETAT' })).statusCode).toBe(403);
    expect((await postWebhook(`Bearer ${INBOUND_TOKEN}`, { from: PHONES.khabouCommittee, text: 'ETAT' })).statusCode).toBe(403);
    expect((await postAfricasTalking('?token=', { from: PHONES.khabouCommittee, text: 'ETAT' })).statusCode).toBe(403);
    expect(h.handled).toEqual([]);
  });

  it('compares the token in constant time: equal-length digests, whatever the length presented', async () => {
    for (const presented of ['x', INBOUND_TOKEN.slice(0, 8), `${INBOUND_TOKEN}-and-much-longer-than-the-real-one`]) {
      timing.calls.length = 0;
      expect((await postWebhook(`Bearer ${presented}`, { from: PHONES.khabouCommittee, text: 'ETAT' })).statusCode).toBe(403);
      expect((await postAfricasTalking(`?token=${presented}`, { from: PHONES.khabouCommittee, text: 'ETAT' })).statusCode).toBe(403);
      // One timingSafeEqual per check, over SHA-256 digests: nothing depends on where the strings differ.
      expect(timing.calls).toEqual([
        [32, 32],
        [32, 32],
      ]);
    }
  });
});
