import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../../src/config/errors.js';
import { AfricasTalkingGateway } from '../../../../src/notify/gateways/africas-talking.js';
import { createSmsGateway, loadSmsGatewaySettings } from '../../../../src/notify/gateways/config.js';
import { ConsoleGateway } from '../../../../src/notify/gateways/console.js';
import { FailoverGateway } from '../../../../src/notify/gateways/failover.js';

const log = { info: () => undefined };

function problems(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadSmsGatewaySettings(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('SMS gateway configuration', () => {
  it('defaults to the console gateway', () => {
    const settings = loadSmsGatewaySettings({});
    expect(settings).toStrictEqual({ providers: ['console'] });
    expect(createSmsGateway(settings, { log })).toBeInstanceOf(ConsoleGateway);
  });

  it('builds a failover in the configured order', () => {
    const settings = loadSmsGatewaySettings({
      SMS_PROVIDER: 'orange, webhook',
      ORANGE_CLIENT_ID: 'id',
      ORANGE_CLIENT_SECRET: 'secret',
      ORANGE_SENDER: 'tel:+2230000',
      SMS_WEBHOOK_URL: 'https://gateway.example.org/sms',
    });
    const gateway = createSmsGateway(settings, { log });
    expect(gateway).toBeInstanceOf(FailoverGateway);
    expect(gateway.name).toBe('orange>webhook');
    expect(settings.orange?.baseUrl).toBe('https://api.orange.com');
  });

  it("accepts africas-talking as a spelling of africastalking, with the sandbox URL", () => {
    const settings = loadSmsGatewaySettings({
      SMS_PROVIDER: 'africas-talking',
      AT_USERNAME: 'sandbox',
      AT_API_KEY: 'key',
      AT_BASE_URL: 'https://api.sandbox.africastalking.com',
    });
    expect(createSmsGateway(settings, { log })).toBeInstanceOf(AfricasTalkingGateway);
  });

  it('lists every missing variable at once, by name and never by value', () => {
    const found = problems({ SMS_PROVIDER: 'twilio,orange,webhook', TWILIO_AUTH_TOKEN: 'super-secret-token', ORANGE_SENDER: '2230000' });
    expect(found).toStrictEqual([
      'SMS_WEBHOOK_URL: is required when SMS_PROVIDER includes webhook',
      'ORANGE_SENDER: must be the sender address Orange gave the account, such as tel:+2230000',
      'ORANGE_CLIENT_ID: is required when SMS_PROVIDER includes orange',
      'ORANGE_CLIENT_SECRET: is required when SMS_PROVIDER includes orange',
      'TWILIO_ACCOUNT_SID: is required when SMS_PROVIDER includes twilio',
      'TWILIO_FROM: is required when SMS_PROVIDER includes twilio',
    ]);
    expect(found.join('\n')).not.toContain('super-secret-token');
  });

  it('refuses unknown and repeated gateways and a base URL that is not http(s)', () => {
    expect(problems({ SMS_PROVIDER: 'orange,sms-pigeon,orange', ORANGE_CLIENT_ID: 'id', ORANGE_CLIENT_SECRET: 's', ORANGE_SENDER: '+2230000', ORANGE_BASE_URL: 'ftp://x' })).toStrictEqual([
      'SMS_PROVIDER: unknown gateway "sms-pigeon" (one of console, webhook, orange, africastalking, twilio, comma-separated for failover)',
      'SMS_PROVIDER: "orange" is listed twice',
      'ORANGE_BASE_URL: must be a URL starting with http:// or https://',
    ]);
  });
});
