import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SmsSendError, type OutgoingSms, type SendReceipt, type SmsGateway } from '../../../../src/notify/gateway.js';
import { GatewayError, type FailureReason } from '../../../../src/notify/gateways/errors.js';
import { FailoverGateway } from '../../../../src/notify/gateways/failover.js';
import { OrangeGateway } from '../../../../src/notify/gateways/orange.js';
import { WebhookGateway } from '../../../../src/notify/gateways/webhook.js';
import { FakeOrange, FakeWebhook } from '../../../support/fake-sms-providers.js';

const MESSAGE: OutgoingSms = { id: 'sms-1', to: '+22376000001', text: 'Forage de Khabou: panne pompe 10:42. Repondre OK 17.' };

/** A gateway that answers from a script and remembers what it was asked. */
class ScriptedGateway implements SmsGateway {
  readonly calls: OutgoingSms[] = [];

  constructor(
    readonly name: string,
    private readonly outcome: SendReceipt | FailureReason | Error,
  ) {}

  async send(message: OutgoingSms): Promise<SendReceipt> {
    this.calls.push(message);
    if (this.outcome instanceof Error) throw this.outcome;
    if (typeof this.outcome === 'string') throw new GatewayError(this.name, this.outcome, `scripted ${this.outcome}`);
    return this.outcome;
  }
}

describe('failover gateway', () => {
  it('is named after its gateways in order', () => {
    const failover = new FailoverGateway([new ScriptedGateway('orange', {}), new ScriptedGateway('webhook', {})]);
    expect(failover.name).toBe('orange>webhook');
  });

  it('sends through the first gateway only when it accepts', async () => {
    const first = new ScriptedGateway('orange', { providerMessageId: 'o-1' });
    const second = new ScriptedGateway('webhook', {});
    const receipt = await new FailoverGateway([first, second]).send(MESSAGE);

    expect(receipt).toStrictEqual({ providerMessageId: 'o-1', gateway: 'orange' });
    expect(first.calls).toStrictEqual([MESSAGE]);
    expect(second.calls).toHaveLength(0);
  });

  it.each<FailureReason>(['timeout', 'throttled', 'unavailable', 'network', 'account', 'credentials', 'rejected'])(
    'moves on to the next gateway after a %s failure',
    async (reason) => {
      const first = new ScriptedGateway('orange', reason);
      const second = new ScriptedGateway('webhook', {});
      const receipt = await new FailoverGateway([first, second]).send(MESSAGE);

      expect(receipt.gateway).toBe('webhook');
      expect(second.calls).toStrictEqual([MESSAGE]); // the same id, so a receiver can deduplicate
    },
  );

  it('stops at a failure about the number: no other gateway is tried', async () => {
    const first = new ScriptedGateway('orange', 'recipient');
    const second = new ScriptedGateway('webhook', {});
    const failover = new FailoverGateway([first, second]);

    await expect(failover.send(MESSAGE)).rejects.toMatchObject({ retryable: false, reason: 'recipient', gateway: 'orange' });
    expect(second.calls).toHaveLength(0);
  });

  it('fails retryable when every gateway failed and one of the failures was retryable', async () => {
    const failover = new FailoverGateway([
      new ScriptedGateway('orange', 'credentials'),
      new ScriptedGateway('twilio', 'throttled'),
      new ScriptedGateway('webhook', 'rejected'),
    ]);
    const error = await failover.send(MESSAGE).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(SmsSendError);
    expect(error).toMatchObject({ retryable: true });
    expect((error as Error).message).toMatch(/^orange>twilio>webhook: every gateway failed, retryable: orange: .*; twilio: .*; webhook: /);
  });

  it('fails permanently when every gateway failed permanently', async () => {
    const failover = new FailoverGateway([new ScriptedGateway('orange', 'credentials'), new ScriptedGateway('webhook', 'rejected')]);
    await expect(failover.send(MESSAGE)).rejects.toMatchObject({ retryable: false });
  });

  it('counts an unexpected exception from a gateway as retryable and moves on', async () => {
    const first = new ScriptedGateway('orange', new TypeError('boom'));
    const second = new ScriptedGateway('webhook', {});
    await expect(new FailoverGateway([first, second]).send(MESSAGE)).resolves.toMatchObject({ gateway: 'webhook' });

    const alone = new FailoverGateway([new ScriptedGateway('orange', new TypeError('boom'))]);
    await expect(alone.send(MESSAGE)).rejects.toMatchObject({ retryable: true });
  });

  it('refuses an empty list', () => {
    expect(() => new FailoverGateway([])).toThrow(/at least one gateway/);
  });

  describe('over real adapters', () => {
    const CREDENTIALS = { clientId: 'orange-client-id-0001', clientSecret: 'orange-client-secret-0001', senderAddress: 'tel:+2230000' };
    let orangeFake: FakeOrange;
    let webhookFake: FakeWebhook;
    let failover: FailoverGateway;

    beforeAll(async () => {
      orangeFake = await new FakeOrange(CREDENTIALS).start();
      webhookFake = await new FakeWebhook().start();
    });
    afterAll(async () => {
      await orangeFake.close();
      await webhookFake.close();
    });
    beforeEach(() => {
      orangeFake.reset();
      webhookFake.reset();
      failover = new FailoverGateway([
        new OrangeGateway({ ...CREDENTIALS, baseUrl: orangeFake.url, timeoutMs: 5000 }),
        new WebhookGateway({ url: webhookFake.endpoint, timeoutMs: 5000 }),
      ]);
    });

    it('delivers through the webhook while Orange is down', async () => {
      orangeFake.mode = 'outage-503';
      await expect(failover.send(MESSAGE)).resolves.toStrictEqual({ gateway: 'webhook' });
      expect(webhookFake.accepted).toHaveLength(1);
    });

    it('does not fall back to the webhook for a number Orange says is invalid', async () => {
      orangeFake.mode = 'invalid-number';
      await expect(failover.send(MESSAGE)).rejects.toMatchObject({ retryable: false, reason: 'recipient' });
      expect(webhookFake.requests).toHaveLength(0);
    });

    it('is retryable when Orange is throttling and the webhook is down', async () => {
      orangeFake.mode = 'throttle';
      webhookFake.mode = 'outage-500';
      await expect(failover.send(MESSAGE)).rejects.toMatchObject({ retryable: true });
    });
  });
});
