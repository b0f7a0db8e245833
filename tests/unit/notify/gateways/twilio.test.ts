import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutgoingSms } from '../../../../src/notify/gateway.js';
import { isRecipientFailure } from '../../../../src/notify/gateways/errors.js';
import { twilioSignature, verifyTwilioSignature } from '../../../../src/notify/gateways/inbound.js';
import { TwilioGateway } from '../../../../src/notify/gateways/twilio.js';
import { FakeTwilio } from '../../../support/fake-sms-providers.js';

/**
 * The worked example of Twilio's request-validation documentation (twilio.com/docs/usage/security,
 * also in twilio-php's docs/usage/validation.rst): auth token 12345, this URL and these parameters
 * give this signature.
 */
const DOCUMENTED = {
  authToken: '12345',
  url: 'https://mycompany.com/myapp.php?foo=1&bar=2',
  params: { CallSid: 'CA1234567890ABCDE', Caller: '+14158675309', Digits: '1234', From: '+14158675309', To: '+18005551212' },
  signature: 'RSOYDt4T1cUTdK1PDd93/VVr8B8=',
};

describe('X-Twilio-Signature verification', () => {
  it("accepts Twilio's documented example", () => {
    expect(twilioSignature(DOCUMENTED.authToken, DOCUMENTED.url, DOCUMENTED.params)).toBe(DOCUMENTED.signature);
    expect(verifyTwilioSignature(DOCUMENTED.authToken, DOCUMENTED.url, DOCUMENTED.params, DOCUMENTED.signature)).toBe(true);
  });

  it('does not depend on the order the parameters arrive in', () => {
    const reversed = Object.fromEntries(Object.entries(DOCUMENTED.params).reverse());
    expect(verifyTwilioSignature(DOCUMENTED.authToken, DOCUMENTED.url, reversed, DOCUMENTED.signature)).toBe(true);
  });

  it('rejects a tampered body', () => {
    const tampered = { ...DOCUMENTED.params, Digits: '1235' };
    expect(verifyTwilioSignature(DOCUMENTED.authToken, DOCUMENTED.url, tampered, DOCUMENTED.signature)).toBe(false);
  });

  it('rejects an added parameter', () => {
    const added = { ...DOCUMENTED.params, Body: 'OK 17' };
    expect(verifyTwilioSignature(DOCUMENTED.authToken, DOCUMENTED.url, added, DOCUMENTED.signature)).toBe(false);
  });

  it('rejects another URL, another token, a missing or a malformed header', () => {
    const { authToken, url, params, signature } = DOCUMENTED;
    expect(verifyTwilioSignature(authToken, 'https://mycompany.com/myapp.php?foo=1&bar=3', params, signature)).toBe(false);
    expect(verifyTwilioSignature('54321', url, params, signature)).toBe(false);
    expect(verifyTwilioSignature(authToken, url, params, undefined)).toBe(false);
    expect(verifyTwilioSignature(authToken, url, params, '')).toBe(false);
    expect(verifyTwilioSignature(authToken, url, params, 'not base64 at all')).toBe(false);
    expect(verifyTwilioSignature('', url, params, signature)).toBe(false);
  });

  it('accepts the URL with or without its default port, as a proxy may show it either way', () => {
    const { authToken, params, signature } = DOCUMENTED;
    expect(verifyTwilioSignature(authToken, 'https://mycompany.com:443/myapp.php?foo=1&bar=2', params, signature)).toBe(true);
    const signedWithPort = twilioSignature(authToken, 'https://mycompany.com:443/sms', params);
    expect(verifyTwilioSignature(authToken, 'https://mycompany.com/sms', params, signedWithPort)).toBe(true);
    expect(verifyTwilioSignature(authToken, 'https://mycompany.com:8443/sms', params, signedWithPort)).toBe(false);
  });

  it('signs a repeated parameter with each of its values, sorted', () => {
    const url = 'https://example.org/sms';
    const expected = twilioSignature('tok', url, { A: 'x', B: ['1', '2'] });
    expect(verifyTwilioSignature('tok', url, { B: ['2', '1'], A: 'x' }, expected)).toBe(true);
    expect(verifyTwilioSignature('tok', url, { B: ['1'], A: 'x' }, expected)).toBe(false);
  });
});

describe('Twilio gateway', () => {
  const ACCOUNT = { accountSid: `AC${'b2'.repeat(16)}`, authToken: 'twilio-auth-token-0123456789ab' };
  const MESSAGE: OutgoingSms = { id: 'sms-1', to: '+22376000001', text: 'ETAT: Forage de Khabou ok' };
  let fake: FakeTwilio;

  const gateway = (from = '+15005550006') => new TwilioGateway({ ...ACCOUNT, from, baseUrl: fake.url, timeoutMs: 5000 });

  beforeAll(async () => {
    fake = await new FakeTwilio(ACCOUNT).start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('sends through a Messaging Service when TWILIO_FROM is a Messaging Service SID', async () => {
    const service = `MG${'c3'.repeat(16)}`;
    await gateway(service).send(MESSAGE);
    expect(Object.fromEntries(new URLSearchParams(fake.accepted[0]?.body))).toStrictEqual({
      To: MESSAGE.to,
      Body: MESSAGE.text,
      MessagingServiceSid: service,
    });
  });

  it('sends from an alphanumeric sender id as From', async () => {
    await gateway('FORAGES').send(MESSAGE);
    expect(new URLSearchParams(fake.accepted[0]?.body).get('From')).toBe('FORAGES');
  });

  it.each([
    [21610, 'Attempt to send to unsubscribed recipient'],
    [21614, "'To' number is not a valid mobile number"],
    [21612, "The 'To' phone number is not currently reachable via SMS"],
  ])('reports error %i as a permanent failure about the recipient', async (code, text) => {
    fake.respondNext({ status: 400, body: { code, message: text, more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 } });
    const error = await gateway().send(MESSAGE).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: false, reason: 'recipient', providerCode: code });
    expect(isRecipientFailure(error)).toBe(true);
  });

  it('reports a refused region (21408) as permanent but not about the number, masking numbers in the text', async () => {
    fake.respondNext({
      status: 400,
      body: { code: 21408, message: 'Permission to send an SMS has not been enabled for the region indicated by the \'To\' number: +22376000001', status: 400 },
    });
    const error = await gateway().send(MESSAGE).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: false, reason: 'rejected', providerCode: 21408 });
    expect(isRecipientFailure(error)).toBe(false);
    expect((error as Error).message).not.toContain('22376000001');
    expect((error as Error).message).toContain('[number]');
  });
});
