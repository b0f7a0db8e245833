/**
 * Gateway choice and credentials from the environment, and the gateway they make. `SMS_PROVIDER`
 * names one gateway or a failover order (`orange,webhook`); each named provider needs its own
 * variables, and every missing or invalid one is reported at once, by name, never by value.
 *
 * | provider         | variables                                                                       |
 * |------------------|---------------------------------------------------------------------------------|
 * | `console`        | none (the default)                                                              |
 * | `webhook`        | `SMS_WEBHOOK_URL`, `SMS_WEBHOOK_TOKEN` (optional)                               |
 * | `orange`         | `ORANGE_CLIENT_ID`, `ORANGE_CLIENT_SECRET`, `ORANGE_SENDER` (`tel:+2230000`),    |
 * |                  | `ORANGE_SENDER_NAME` (optional), `ORANGE_BASE_URL` (default https://api.orange.com) |
 * | `africastalking` | `AT_USERNAME`, `AT_API_KEY`, `AT_SENDER_ID` (optional),                          |
 * |                  | `AT_BASE_URL` (default https://api.africastalking.com)                           |
 * | `twilio`         | `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_FROM`,                        |
 * |                  | `TWILIO_BASE_URL` (default https://api.twilio.com)                               |
 */
import { ConfigError } from '../../config/errors.js';
import type { SmsGateway } from '../gateway.js';
import { AfricasTalkingGateway, AFRICAS_TALKING_BASE_URL } from './africas-talking.js';
import { ConsoleGateway, type ConsoleGatewayLog } from './console.js';
import { FailoverGateway } from './failover.js';
import { OrangeGateway, ORANGE_BASE_URL } from './orange.js';
import { TwilioGateway, TWILIO_BASE_URL } from './twilio.js';
import { WebhookGateway } from './webhook.js';

export const SMS_GATEWAY_NAMES = ['console', 'webhook', 'orange', 'africastalking', 'twilio'] as const;
export type SmsGatewayName = (typeof SMS_GATEWAY_NAMES)[number];

export interface SmsGatewaySettings {
  /** In failover order; at least one. */
  providers: SmsGatewayName[];
  webhook?: { url: string; token: string | undefined };
  orange?: { clientId: string; clientSecret: string; senderAddress: string; senderName: string | undefined; baseUrl: string };
  africastalking?: { username: string; apiKey: string; senderId: string | undefined; baseUrl: string };
  twilio?: { accountSid: string; authToken: string; from: string; baseUrl: string };
}

const ALIASES: Record<string, SmsGatewayName> = { 'africas-talking': 'africastalking', africas_talking: 'africastalking' };

export function loadSmsGatewaySettings(env: Record<string, string | undefined>): SmsGatewaySettings {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };
  const required = (name: string, provider: string): string => {
    const found = value(name);
    if (found === undefined) problems.push(`${name}: is required when SMS_PROVIDER includes ${provider}`);
    return found ?? '';
  };
  const httpUrl = (name: string, fallback: string | undefined, provider: string): string => {
    const found = value(name) ?? fallback;
    if (found === undefined) {
      problems.push(`${name}: is required when SMS_PROVIDER includes ${provider}`);
      return '';
    }
    if (!URL.canParse(found) || !['http:', 'https:'].includes(new URL(found).protocol)) {
      problems.push(`${name}: must be a URL starting with http:// or https://`);
    }
    return found;
  };

  const providers: SmsGatewayName[] = [];
  for (const entry of (value('SMS_PROVIDER') ?? 'console').split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '')) {
    const name = ALIASES[entry] ?? entry;
    if (!(SMS_GATEWAY_NAMES as readonly string[]).includes(name)) {
      problems.push(`SMS_PROVIDER: unknown gateway "${entry}" (one of ${SMS_GATEWAY_NAMES.join(', ')}, comma-separated for failover)`);
    } else if (providers.includes(name as SmsGatewayName)) {
      problems.push(`SMS_PROVIDER: "${name}" is listed twice`);
    } else {
      providers.push(name as SmsGatewayName);
    }
  }
  if (providers.length === 0 && problems.length === 0) providers.push('console');

  const settings: SmsGatewaySettings = { providers };
  if (providers.includes('webhook')) {
    settings.webhook = { url: httpUrl('SMS_WEBHOOK_URL', undefined, 'webhook'), token: value('SMS_WEBHOOK_TOKEN') };
  }
  if (providers.includes('orange')) {
    const senderAddress = required('ORANGE_SENDER', 'orange');
    if (senderAddress !== '' && !/^(tel:)?\+\d{4,15}$/.test(senderAddress)) {
      problems.push('ORANGE_SENDER: must be the sender address Orange gave the account, such as tel:+2230000');
    }
    settings.orange = {
      clientId: required('ORANGE_CLIENT_ID', 'orange'),
      clientSecret: required('ORANGE_CLIENT_SECRET', 'orange'),
      senderAddress,
      senderName: value('ORANGE_SENDER_NAME'),
      baseUrl: httpUrl('ORANGE_BASE_URL', ORANGE_BASE_URL, 'orange'),
    };
  }
  if (providers.includes('africastalking')) {
    settings.africastalking = {
      username: required('AT_USERNAME', 'africastalking'),
      apiKey: required('AT_API_KEY', 'africastalking'),
      senderId: value('AT_SENDER_ID'),
      baseUrl: httpUrl('AT_BASE_URL', AFRICAS_TALKING_BASE_URL, 'africastalking'),
    };
  }
  if (providers.includes('twilio')) {
    settings.twilio = {
      accountSid: required('TWILIO_ACCOUNT_SID', 'twilio'),
      authToken: required('TWILIO_AUTH_TOKEN', 'twilio'),
      from: required('TWILIO_FROM', 'twilio'),
      baseUrl: httpUrl('TWILIO_BASE_URL', TWILIO_BASE_URL, 'twilio'),
    };
  }
  if (problems.length > 0) throw new ConfigError('environment', problems);
  return settings;
}

export interface SmsGatewayDeps {
  /** For the console gateway: a logger that redacts `to`. */
  log: ConsoleGatewayLog;
  /** Defaults to GATEWAY_TIMEOUT_MS in every adapter. */
  timeoutMs?: number;
  clock?: { now(): number };
}

/** One gateway, or a FailoverGateway over several in the configured order. */
export function createSmsGateway(settings: SmsGatewaySettings, deps: SmsGatewayDeps): SmsGateway {
  const timeout = deps.timeoutMs === undefined ? {} : { timeoutMs: deps.timeoutMs };
  const gateways = settings.providers.map((provider): SmsGateway => {
    switch (provider) {
      case 'console':
        return new ConsoleGateway(deps.log);
      case 'webhook':
        return new WebhookGateway({ ...need(settings.webhook, provider), ...timeout });
      case 'orange':
        return new OrangeGateway({ ...need(settings.orange, provider), ...timeout, ...(deps.clock ? { clock: deps.clock } : {}) });
      case 'africastalking':
        return new AfricasTalkingGateway({ ...need(settings.africastalking, provider), ...timeout });
      case 'twilio':
        return new TwilioGateway({ ...need(settings.twilio, provider), ...timeout });
    }
  });
  const [only] = gateways;
  return gateways.length === 1 && only !== undefined ? only : new FailoverGateway(gateways);
}

function need<T>(settings: T | undefined, provider: SmsGatewayName): T {
  if (settings === undefined) throw new Error(`SMS gateway ${provider} is listed without its settings`);
  return settings;
}
