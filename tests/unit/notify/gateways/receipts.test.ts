/** Delivery receipts as each provider documents them, read into one shape (src/notify/gateways/receipts.ts). */
import { describe, expect, it } from 'vitest';
import { parseAfricasTalkingReceipt, parseOrangeReceipt, parseTwilioReceipt, parseWebhookReceipt } from '../../../../src/notify/gateways/receipts.js';

describe("Africa's Talking delivery reports", () => {
  it('Success is delivered; Failed and Rejected are undelivered with the reason; the rest is on the way', () => {
    expect(parseAfricasTalkingReceipt({ id: 'ATXid_1', status: 'Success', phoneNumber: '+22376000001', networkCode: '61001' })).toEqual({
      ok: true,
      receipt: { match: { providerMessageId: 'ATXid_1' }, delivery: 'delivered', detail: 'Success' },
    });
    expect(parseAfricasTalkingReceipt({ id: 'ATXid_1', status: 'Failed', failureReason: 'UserIsInactive' })).toMatchObject({ receipt: { delivery: 'undelivered', detail: 'Failed: UserIsInactive' } });
    expect(parseAfricasTalkingReceipt({ id: 'ATXid_1', status: 'Rejected', failureReason: 'InsufficientCredit' })).toMatchObject({ receipt: { delivery: 'undelivered' } });
    for (const status of ['Sent', 'Submitted', 'Buffered']) expect(parseAfricasTalkingReceipt({ id: 'ATXid_1', status })).toMatchObject({ receipt: { delivery: null } });
  });

  it('refuses a report without an id, saying which field', () => {
    expect(parseAfricasTalkingReceipt({ status: 'Success' })).toMatchObject({ ok: false, error: expect.stringContaining('id') as unknown });
    expect(parseAfricasTalkingReceipt({ id: '  ', status: 'Success' })).toMatchObject({ ok: false });
  });
});

describe('Twilio status callbacks', () => {
  it('delivered is delivered; undelivered and failed carry the error code; queued and sent are on the way', () => {
    expect(parseTwilioReceipt({ MessageSid: 'SM1', MessageStatus: 'delivered' })).toMatchObject({ receipt: { match: { providerMessageId: 'SM1' }, delivery: 'delivered' } });
    expect(parseTwilioReceipt({ MessageSid: 'SM1', MessageStatus: 'undelivered', ErrorCode: '30003' })).toMatchObject({ receipt: { delivery: 'undelivered', detail: 'undelivered: error 30003' } });
    expect(parseTwilioReceipt({ MessageSid: 'SM1', MessageStatus: 'failed', ErrorCode: '30007' })).toMatchObject({ receipt: { delivery: 'undelivered' } });
    for (const status of ['queued', 'sending', 'sent']) expect(parseTwilioReceipt({ MessageSid: 'SM1', MessageStatus: status })).toMatchObject({ receipt: { delivery: null } });
  });
});

describe('Orange deliveryInfoNotification', () => {
  const notification = (deliveryStatus: string, callbackData?: string) => ({ deliveryInfoNotification: { ...(callbackData === undefined ? {} : { callbackData }), deliveryInfo: { address: 'tel:+22376000001', deliveryStatus } } });

  it('DeliveredToTerminal is delivered, DeliveryImpossible undelivered, the others not final', () => {
    expect(parseOrangeReceipt(notification('DeliveredToTerminal', 'msg-1'))).toMatchObject({ receipt: { match: { messageId: 'msg-1' }, delivery: 'delivered' } });
    expect(parseOrangeReceipt(notification('DeliveryImpossible', 'msg-1'))).toMatchObject({ receipt: { delivery: 'undelivered', detail: 'DeliveryImpossible' } });
    for (const status of ['DeliveredToNetwork', 'MessageWaiting', 'DeliveryUncertain']) expect(parseOrangeReceipt(notification(status))).toMatchObject({ receipt: { delivery: null } });
  });

  it('without callbackData, it is matched by the recipient, in E.164', () => {
    expect(parseOrangeReceipt(notification('DeliveredToTerminal'))).toMatchObject({ receipt: { match: { recipient: '+22376000001' } } });
    expect(parseOrangeReceipt(notification('DeliveredToTerminal', ''))).toMatchObject({ receipt: { match: { recipient: '+22376000001' } } });
  });

  it('refuses a body that is not a notification', () => {
    expect(parseOrangeReceipt({ deliveryInfo: {} })).toMatchObject({ ok: false });
  });
});

describe('the webhook gateway', () => {
  it("names the service's own id; sent is on the way, failed and undelivered are undelivered", () => {
    expect(parseWebhookReceipt({ id: 'abc', status: 'delivered' })).toMatchObject({ receipt: { match: { messageId: 'abc' }, delivery: 'delivered' } });
    expect(parseWebhookReceipt({ id: 'abc', status: 'failed', error: 'absent subscriber' })).toMatchObject({ receipt: { delivery: 'undelivered', detail: 'failed: absent subscriber' } });
    expect(parseWebhookReceipt({ id: 'abc', status: 'sent' })).toMatchObject({ receipt: { delivery: null } });
    expect(parseWebhookReceipt({ id: 'abc', status: 'lost' })).toMatchObject({ ok: false });
  });
});
