import { describe, expect, it } from 'vitest';
import {
  parseAfricasTalkingInbound,
  parseTwilioInbound,
  parseWebhookInbound,
} from '../../../../src/notify/gateways/inbound.js';

describe('inbound SMS, webhook form', () => {
  it('reads from and text', () => {
    expect(parseWebhookInbound({ from: '+22376000001', text: 'OK 17' })).toStrictEqual({
      ok: true,
      sms: { from: '+22376000001', text: 'OK 17' },
    });
  });

  it('ignores extra fields and trims the number', () => {
    expect(parseWebhookInbound({ from: ' +22376000001 ', text: 'ETAT', receivedAt: '2026-02-05T10:42:00Z' })).toStrictEqual({
      ok: true,
      sms: { from: '+22376000001', text: 'ETAT' },
    });
  });

  it('keeps an empty text: still a message, the command parser decides', () => {
    expect(parseWebhookInbound({ from: '+22376000001', text: '' })).toMatchObject({ ok: true, sms: { text: '' } });
  });

  it('names every missing field', () => {
    expect(parseWebhookInbound({})).toStrictEqual({
      ok: false,
      error: 'malformed webhook inbound SMS: from: is missing; text: is missing',
    });
  });

  it("keeps the number as the gateway spelt it (the handler reads it) and the gateway's optional id", () => {
    expect(parseWebhookInbound({ from: '76 00 00 01', text: 'OK 17', id: 'gw-81' })).toStrictEqual({ ok: true, sms: { from: '76 00 00 01', text: 'OK 17', id: 'gw-81' } });
  });

  it('refuses a sender that is no phone number at all, saying so', () => {
    const result = parseWebhookInbound({ from: 'whatsapp:+22376000001', text: 'OK 17' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/^malformed webhook inbound SMS: from: must be a phone number/);
  });

  it.each([null, 'OK 17', 42, ['+22376000001', 'OK 17']])('refuses a body that is not an object (%j)', (body) => {
    expect(parseWebhookInbound(body)).toMatchObject({ ok: false, error: expect.stringMatching(/^malformed webhook inbound SMS: /) as unknown });
  });

  it('refuses a text that is not a string', () => {
    expect(parseWebhookInbound({ from: '+22376000001', text: 17 })).toMatchObject({
      ok: false,
      error: expect.stringContaining('text: ') as unknown,
    });
  });
});

describe('inbound SMS, Twilio', () => {
  // The shape of Twilio's incoming-message webhook (twilio.com/docs/messaging/guides/webhook-request).
  const fields = {
    ToCountry: 'ML',
    SmsMessageSid: 'SM0123456789abcdef0123456789abcdef',
    NumMedia: '0',
    SmsSid: 'SM0123456789abcdef0123456789abcdef',
    SmsStatus: 'received',
    Body: 'ok  17',
    To: '+22320000000',
    NumSegments: '1',
    MessageSid: 'SM0123456789abcdef0123456789abcdef',
    AccountSid: 'AC0123456789abcdef0123456789abcdef',
    From: '+22376000001',
    ApiVersion: '2010-04-01',
  };

  const sms = { from: '+22376000001', text: 'ok  17', id: 'SM0123456789abcdef0123456789abcdef' };

  it('reads From, Body and the MessageSid (the id of a redelivery) from the decoded form', () => {
    expect(parseTwilioInbound(fields)).toStrictEqual({ ok: true, sms });
  });

  it('reads the raw form body and URLSearchParams alike', () => {
    const raw = new URLSearchParams(fields).toString();
    expect(parseTwilioInbound(raw)).toStrictEqual({ ok: true, sms });
    expect(parseTwilioInbound(new URLSearchParams(raw))).toStrictEqual({ ok: true, sms });
  });

  it('decodes accents and plus signs as form encoding does', () => {
    expect(parseTwilioInbound('From=%2B22376000001&Body=R%C3%A9par%C3%A9+17+pompe')).toMatchObject({
      ok: true,
      sms: { from: '+22376000001', text: 'Réparé 17 pompe' },
    });
  });

  it('names the missing field, with Twilio’s spelling', () => {
    const { Body: _body, ...withoutBody } = fields;
    expect(parseTwilioInbound(withoutBody)).toStrictEqual({ ok: false, error: 'malformed Twilio inbound SMS: Body: is missing' });
  });
});

describe("inbound SMS, Africa's Talking", () => {
  // The fields of the incoming-message callback.
  const fields = {
    from: '+22366000002',
    to: '12345',
    text: 'REPARE 17 roulement change',
    date: '2026-02-05 10:55:01',
    id: '5a6e2b1c-5a2a-4b7f-9b1e-0d8c2f7d6e01',
    linkId: '',
  };

  it('reads from, text and id', () => {
    expect(parseAfricasTalkingInbound(fields)).toStrictEqual({
      ok: true,
      sms: { from: '+22366000002', text: 'REPARE 17 roulement change', id: '5a6e2b1c-5a2a-4b7f-9b1e-0d8c2f7d6e01' },
    });
  });

  it('takes an empty id for none', () => {
    expect(parseAfricasTalkingInbound({ ...fields, id: '' })).toStrictEqual({ ok: true, sms: { from: '+22366000002', text: 'REPARE 17 roulement change' } });
  });

  it('reads the raw form body', () => {
    expect(parseAfricasTalkingInbound(new URLSearchParams(fields).toString())).toMatchObject({ ok: true, sms: { from: '+22366000002' } });
  });

  it('takes the first value of a repeated field', () => {
    expect(parseAfricasTalkingInbound({ ...fields, text: ['ETAT', 'OK 17'] })).toMatchObject({ ok: true, sms: { text: 'ETAT' } });
  });

  it('names the missing field', () => {
    expect(parseAfricasTalkingInbound('to=12345&text=ETAT')).toStrictEqual({
      ok: false,
      error: "malformed Africa's Talking inbound SMS: from: is missing",
    });
  });
});
