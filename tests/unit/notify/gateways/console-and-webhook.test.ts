import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/observability/logger.js';
import type { OutgoingSms } from '../../../../src/notify/gateway.js';
import { ConsoleGateway } from '../../../../src/notify/gateways/console.js';
import { WebhookGateway } from '../../../../src/notify/gateways/webhook.js';
import { FakeWebhook } from '../../../support/fake-sms-providers.js';

const MESSAGE: OutgoingSms = { id: 'sms-1', to: '+22376000001', text: 'Forage de Khabou: panne pompe (marche a sec) 10:42. Repondre OK 17 pour confirmer.' };

describe('console gateway', () => {
  it('writes the message to the log with the number redacted, and counts it as sent', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const gateway = new ConsoleGateway(createLogger('info', sink).child({ component: 'sms' }));

    await expect(gateway.send(MESSAGE)).resolves.toStrictEqual({});

    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(entry).toMatchObject({ component: 'sms', smsId: 'sms-1', to: '+22376****01', text: MESSAGE.text });
    expect(lines[0]).not.toContain('76000001');
    expect(gateway.name).toBe('console');
  });
});

describe('webhook gateway', () => {
  let fake: FakeWebhook;

  beforeAll(async () => {
    fake = await new FakeWebhook().start();
  });
  afterAll(async () => {
    await fake.close();
  });
  beforeEach(() => fake.reset());

  it.each([undefined, ''])('sends no Authorization header when SMS_WEBHOOK_TOKEN is %j', async (token) => {
    await new WebhookGateway({ url: fake.endpoint, token, timeoutMs: 5000 }).send(MESSAGE);
    expect(fake.accepted[0]?.headers.authorization).toBeUndefined();
  });

  it.each([200, 201, 202, 204])('takes any 2xx (%i) as delivered', async (status) => {
    fake.respondNext({ status });
    await expect(new WebhookGateway({ url: fake.endpoint, timeoutMs: 5000 }).send(MESSAGE)).resolves.toStrictEqual({});
  });

  it.each([301, 400, 404, 409, 410, 422])('retries any other status (%i), as the contract says', async (status) => {
    fake.respondNext({ status, body: { error: 'no' } });
    await expect(new WebhookGateway({ url: fake.endpoint, timeoutMs: 5000 }).send(MESSAGE)).rejects.toMatchObject({
      retryable: true,
      status,
    });
  });

  it('keeps a secret in the webhook URL out of the error message', async () => {
    fake.mode = 'outage-503';
    const error: unknown = await new WebhookGateway({ url: `${fake.endpoint}?key=url-secret-123`, timeoutMs: 5000 })
      .send(MESSAGE)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ retryable: true, status: 503 });
    expect((error as Error).message).not.toContain('url-secret-123');
  });
});
