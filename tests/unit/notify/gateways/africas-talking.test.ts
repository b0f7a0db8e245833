import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OutgoingSms } from '../../../../src/notify/gateway.js';
import { AfricasTalkingGateway } from '../../../../src/notify/gateways/africas-talking.js';
import { FakeAfricasTalking } from '../../../support/fake-sms-providers.js';

const ACCOUNT = { username: 'borehole-monitor', apiKey: 'atsk_0123456789abcdef0123456789abcdef' };
const MESSAGE: OutgoingSms = { id: 'sms-1', to: '+22376000001', text: 'Forage de Khabou: eau revenue 11:05.' };

function recipientAnswer(statusCode: number, status: string) {
  return {
    status: 201,
    body: {
      SMSMessageData: {
        Message: 'Sent to 0/1 Total Cost: 0',
        Recipients: [{ statusCode, number: MESSAGE.to, status, cost: '0', messageId: 'None' }],
      },
    },
  };
}

describe("Africa's Talking gateway", () => {
  let fake: FakeAfricasTalking;
  const gateway = (senderId?: string) =>
    new AfricasTalkingGateway({ ...ACCOUNT, senderId, baseUrl: fake.url, timeoutMs: 5000 });

  beforeAll(async () => {
    fake = await new FakeAfricasTalking(ACCOUNT).start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it('leaves out from when no sender id is configured, so the account default is used', async () => {
    await gateway().send(MESSAGE);
    expect(Object.fromEntries(new URLSearchParams(fake.accepted[0]?.body))).toStrictEqual({
      username: ACCOUNT.username,
      to: MESSAGE.to,
      message: MESSAGE.text,
    });
  });

  it.each([
    [403, 'InvalidPhoneNumber', 'recipient'],
    [404, 'UnsupportedNumberType', 'recipient'],
    [406, 'UserInBlacklist', 'recipient'],
    [409, 'DoNotDisturbRejection', 'recipient'],
    [402, 'InvalidSenderId', 'rejected'],
    [401, 'RiskHold', 'rejected'],
    [407, 'CouldNotRoute', 'rejected'],
  ])('reports recipient status %i %s as permanent (%s)', async (statusCode, status, reason) => {
    fake.respondNext(recipientAnswer(statusCode, status));
    await expect(gateway().send(MESSAGE)).rejects.toMatchObject({ retryable: false, reason, providerCode: statusCode });
  });

  it.each([
    [405, 'InsufficientBalance', 'account'],
    [500, 'InternalServerError', 'unavailable'],
    [501, 'GatewayError', 'unavailable'],
    [502, 'RejectedByGateway', 'unavailable'],
  ])('reports recipient status %i %s as retryable (%s)', async (statusCode, status, reason) => {
    fake.respondNext(recipientAnswer(statusCode, status));
    await expect(gateway().send(MESSAGE)).rejects.toMatchObject({ retryable: true, reason, providerCode: statusCode });
  });

  it('accepts the queued and processed statuses (100, 102) as well as sent (101)', async () => {
    for (const statusCode of [100, 102]) {
      fake.respondNext({
        status: 201,
        body: { SMSMessageData: { Message: 'Sent to 1/1', Recipients: [{ statusCode, status: 'Success', number: MESSAGE.to, messageId: 'ATXid_x' }] } },
      });
      await expect(gateway().send(MESSAGE)).resolves.toStrictEqual({ providerMessageId: 'ATXid_x' });
    }
  });

  it('reports a missing form field (HTTP 400) as a permanent refusal, quoting the reason', async () => {
    fake.respondNext({ status: 400, body: "Request is missing required form field 'to'" });
    await expect(gateway().send(MESSAGE)).rejects.toMatchObject({
      retryable: false,
      reason: 'rejected',
      message: expect.stringContaining("missing required form field 'to'") as unknown,
    });
  });

  it('reports an answer it cannot read as retryable', async () => {
    fake.respondNext({ status: 201, contentType: 'application/xml', body: '<AfricasTalkingResponse/>' });
    await expect(gateway().send(MESSAGE)).rejects.toMatchObject({ retryable: true, reason: 'unavailable' });
  });
});
