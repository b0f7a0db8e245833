/**
 * Missed calls (CONTRACT.md section 9): each provider's form acknowledges through
 * `calls.missedCall`, each is answered so that the call is rejected (it costs the caller
 * nothing), and only a request carrying the SMS webhooks' secret may act.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { twilioSignature } from '../../../src/notify/gateways/inbound.js';
import type { MissedCallOutcome } from '../../../src/http/routes/calls.js';
import { startHarness, type Harness } from './harness.js';

const INBOUND_TOKEN = 'sms-inbound-token-for-call-tests-01';
const TWILIO_AUTH_TOKEN = 'twilio-auth-token-for-call-tests-0001';
const PUBLIC_URL = 'https://forages.example.org';
const CALLER = '+22376000001';

const AT_REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>';
const TWILIO_REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>';

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

describe('missed calls', () => {
  let h: Harness;
  /** The numbers the desk was asked about, as the provider spelled them. */
  const calls: string[] = [];
  let outcome: MissedCallOutcome = 'acknowledged';

  beforeAll(async () => {
    h = await startHarness({
      smsInbound: { inboundToken: INBOUND_TOKEN, twilioAuthToken: TWILIO_AUTH_TOKEN, publicUrl: PUBLIC_URL, handle: () => 'ignored' },
      calls: {
        missedCall: (fromRaw) => {
          calls.push(fromRaw);
          return outcome;
        },
      },
    });
  });

  afterAll(async () => {
    await h.close();
  });

  beforeEach(() => {
    calls.length = 0;
    outcome = 'acknowledged';
  });

  describe('the webhook form', () => {
    /** `null`: no Authorization header at all. */
    const post = (body: unknown, token: string | null = INBOUND_TOKEN) =>
      h.app.inject({ method: 'POST', url: '/api/calls/inbound', headers: token === null ? {} : { authorization: `Bearer ${token}` }, payload: body as object });

    it('acknowledges with the number as the gateway sent it, and says what came of it', async () => {
      const response = await post({ from: ' 00223 76 00 00 01 ' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ outcome: 'acknowledged' });
      expect(calls).toEqual(['00223 76 00 00 01']);
      outcome = 'ignored_unknown_number';
      expect((await post({ from: '+22370000099' })).json()).toEqual({ outcome: 'ignored_unknown_number' });
    });

    it.each([
      ['without a token', null],
      ['with a wrong token', 'not-the-sms-inbound-token-000000'],
      ['with an API token', 'operator-token-for-http-tests-01'],
    ])('refuses a call %s with 403, as /api/sms/inbound does, and acknowledges nothing', async (_name, token) => {
      const response = await post({ from: CALLER }, token);
      expect(response.statusCode).toBe(403);
      expect(response.json<{ error: string }>().error).toBe('forbidden');
      expect(calls).toEqual([]);
    });

    it('refuses a form without a phone number with 400', async () => {
      for (const body of [{}, { from: 'Khabou' }, { from: 42 }]) {
        const response = await post(body);
        expect(response.statusCode, JSON.stringify(body)).toBe(400);
        expect(response.json<{ message: string }>().message).toContain('from');
      }
      expect(calls).toEqual([]);
    });
  });

  describe("Africa's Talking voice callback", () => {
    const post = (fields: Record<string, string>, token = INBOUND_TOKEN) =>
      h.app.inject({
        method: 'POST',
        url: `/api/calls/inbound/africastalking?token=${encodeURIComponent(token)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: form(fields),
      });
    const ringing = { isActive: '1', sessionId: 'ATVId_0123456789', direction: 'Inbound', callerNumber: CALLER, destinationNumber: '+22320000000' };

    it('rejects the ringing call with <Reject/> (not billed) and acknowledges for the caller', async () => {
      const response = await post(ringing);
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe(AT_REJECT);
      expect(calls).toEqual([CALLER]);
    });

    it('rejects a call even when nothing is open for the caller, or the number is unknown', async () => {
      outcome = 'nothing_open';
      expect((await post(ringing)).body).toBe(AT_REJECT);
      outcome = 'ignored_unknown_number';
      expect((await post({ ...ringing, callerNumber: '+22370000099' })).body).toBe(AT_REJECT);
      expect(calls).toEqual([CALLER, '+22370000099']);
    });

    it('does nothing on the end-of-call notification (isActive=0): one call acknowledges once', async () => {
      const response = await post({ ...ringing, isActive: '0', durationInSeconds: '0', currencyCode: 'XOF', amount: '0' });
      expect(response.statusCode).toBe(200);
      expect(response.body).not.toContain('<Reject');
      expect(calls).toEqual([]);
    });

    it('rejects a call without a usable number and acknowledges nothing', async () => {
      const response = await post({ ...ringing, callerNumber: '' });
      expect(response.body).toBe(AT_REJECT);
      expect(calls).toEqual([]);
    });

    it('refuses a callback with a wrong token in its URL with 403', async () => {
      const response = await post(ringing, 'not-the-sms-inbound-token-000000');
      expect(response.statusCode).toBe(403);
      expect(calls).toEqual([]);
    });
  });

  describe('Twilio voice webhook', () => {
    const PATH = '/api/calls/inbound/twilio';
    const fields = { CallSid: 'CA0123456789abcdef0123456789abcdef', AccountSid: 'AC0123456789abcdef0123456789abcdef', From: CALLER, To: '+15005550006', CallStatus: 'ringing', Direction: 'inbound' };
    const post = (body: Record<string, string>, signature: string | undefined) =>
      h.app.inject({
        method: 'POST',
        url: PATH,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-twilio-signature': signature }) },
        payload: form(body),
      });
    const sign = (body: Record<string, string>, url = `${PUBLIC_URL}${PATH}`, token = TWILIO_AUTH_TOKEN) => twilioSignature(token, url, body);

    it('answers a signed call with <Reject reason="busy"/> as TwiML and acknowledges for the caller', async () => {
      const response = await post(fields, sign(fields));
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/xml/);
      expect(response.body).toBe(TWILIO_REJECT);
      expect(calls).toEqual([CALLER]);
    });

    it.each([
      ['without a signature', () => undefined],
      ['signed with another auth token', () => sign(fields, `${PUBLIC_URL}${PATH}`, 'another-auth-token-0123456789')],
      ['signed for another URL', () => sign(fields, `https://evil.example${PATH}`)],
      ['signed over another caller', () => sign({ ...fields, From: '+22376000011' })],
    ])('refuses a call %s with 403 and acknowledges nothing', async (_name, signature) => {
      const response = await post(fields, signature());
      expect(response.statusCode).toBe(403);
      expect(response.json()).toEqual({ error: 'forbidden', message: 'the X-Twilio-Signature does not match' });
      expect(calls).toEqual([]);
    });

    it('changes nothing on a status callback sent here (the call is over)', async () => {
      const completed = { ...fields, CallStatus: 'completed' };
      const response = await post(completed, sign(completed));
      expect(response.statusCode).toBe(200);
      expect(calls).toEqual([]);
    });

    it('rejects an anonymous call and acknowledges nothing', async () => {
      const anonymous = { ...fields, From: 'anonymous' };
      const response = await post(anonymous, sign(anonymous));
      expect(response.body).toBe(TWILIO_REJECT);
      expect(calls).toEqual([]);
    });
  });
});

describe('missed calls without SMS_INBOUND_TOKEN', () => {
  it('refuses the webhook and Africa’s Talking forms: no secret, no way in', async () => {
    const calls: string[] = [];
    const h = await startHarness({
      smsInbound: { inboundToken: undefined, twilioAuthToken: undefined, publicUrl: undefined, handle: () => 'ignored' },
      calls: { missedCall: (from) => (calls.push(from), 'acknowledged') },
    });
    try {
      expect((await h.app.inject({ method: 'POST', url: '/api/calls/inbound', headers: { authorization: 'Bearer ' }, payload: { from: CALLER } })).statusCode).toBe(403);
      const at = await h.app.inject({ method: 'POST', url: '/api/calls/inbound/africastalking?token=', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form({ isActive: '1', callerNumber: CALLER }) });
      expect(at.statusCode).toBe(403);
      expect(calls).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
