/**
 * Findings S4 and S6 of docs/security.md: logs are read by more people than the tokens are given
 * to, copied into tickets and kept for years. No secret (API tokens, SMS_INBOUND_TOKEN, the SMS
 * providers' credentials, INFLUX_TOKEN) may appear in a log line or an error message, and phone
 * numbers appear masked (`+22376****01`). Each test captures the real logger's output.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { ConfigError } from '../../../src/config/errors.js';
import { AfricasTalkingGateway } from '../../../src/notify/gateways/africas-talking.js';
import { SMS_GATEWAY_NAMES } from '../../../src/notify/gateways/config.js';
import { ConsoleGateway } from '../../../src/notify/gateways/console.js';
import { TwilioGateway } from '../../../src/notify/gateways/twilio.js';
import { configSecrets, maskPhone } from '../../../src/observability/logger.js';
import { bearer, seedNetwork, TOKENS } from '../http/harness.js';
import { markedEnvironment } from '../notify/gateways/marked-environment.js';
import { captureLog, INBOUND_TOKEN, PHONES, startSmsHarness, type SmsHarness } from './support.js';

const SECRETS = {
  apiViewer: TOKENS.viewer,
  apiOperator: TOKENS.operator,
  inbound: INBOUND_TOKEN,
  influx: 'influx-token-0123456789abcdefABCDEF',
  twilio: 'f0e1d2c3b4a5968778695a4b3c2d1e0f',
  africasTalking: 'atsk_9f8e7d6c5b4a39281706f5e4d3c2b1a0',
  webhook: 'webhook-token-0123456789abcdef',
  mqttPassword: 'mqtt-password-0123456789',
} as const;

/** An environment holding every secret, as a deployment would. */
const ENV = {
  API_TOKENS: `viewer:${SECRETS.apiViewer},operator:${SECRETS.apiOperator}`,
  SMS_INBOUND_TOKEN: SECRETS.inbound,
  INFLUX_URL: 'http://127.0.0.1:8086',
  INFLUX_TOKEN: SECRETS.influx,
  MQTT_URL: 'mqtt://127.0.0.1:1883',
  MQTT_PASSWORD: SECRETS.mqttPassword,
  SMS_PROVIDER: 'twilio,africastalking,webhook',
  TWILIO_ACCOUNT_SID: 'AC00000000000000000000000000000000',
  TWILIO_AUTH_TOKEN: SECRETS.twilio,
  TWILIO_FROM: '+15005550006',
  AT_USERNAME: 'sandbox',
  AT_API_KEY: SECRETS.africasTalking,
  SMS_WEBHOOK_URL: 'https://sms-gateway.example.org/send',
  SMS_WEBHOOK_TOKEN: SECRETS.webhook,
};

function expectNoSecret(text: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    expect(text, `${name} leaked`).not.toContain(secret);
    // A recognisable piece of it is a leak too.
    expect(text, `part of ${name} leaked`).not.toContain(secret.slice(-12));
  }
}

describe('S4 secrets never reach a log line, an answer or an error message', () => {
  let h: SmsHarness;
  const captured = captureLog({ secrets: configSecrets(loadConfig(ENV)) });

  afterEach(async () => {
    await h.close();
  });

  it('keeps every secret out of the log and the answers through failed and successful authentication, 4xx and 5xx', async () => {
    h = await startSmsHarness({
      log: captured.log,
      // A failure whose message quotes the configuration, as a driver's error may (a URL with its token).
      deadLetters: {
        newest: () => {
          throw new Error(`GET http://127.0.0.1:8086/query?u=boreholes&p=${SECRETS.influx} failed: Authorization: Bearer ${SECRETS.apiOperator}`);
        },
        size: 0,
      },
    });
    seedNetwork(h);
    const answers = [
      await h.app.inject({ url: '/api/boreholes', headers: bearer(`${SECRETS.apiViewer}x`) }),
      await h.app.inject({ url: '/api/boreholes', headers: { authorization: `Token ${SECRETS.apiViewer}` } }),
      await h.app.inject({ url: '/api/boreholes', headers: bearer(SECRETS.apiViewer) }),
      await h.app.inject({ url: `/api/alerts?state=${SECRETS.apiOperator}`, headers: bearer(SECRETS.apiViewer) }),
      await h.app.inject({ method: 'POST', url: '/api/alerts/1/ack', headers: bearer(SECRETS.apiViewer) }),
      await h.app.inject({ url: '/api/dead-letters', headers: bearer(SECRETS.apiOperator) }),
      await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(`${SECRETS.inbound.slice(0, -1)}`), payload: { from: PHONES.unknown, text: 'x' } }),
      await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(SECRETS.inbound), payload: { from: PHONES.unknown, text: `OK 1 ${SECRETS.apiOperator}` } }),
      await h.app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost:80' }, payload: `token=${SECRETS.apiViewer}zz` }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([401, 401, 200, 400, 403, 500, 403, 200, 401]);
    // The 500 was logged (with its error), so the log was really looked at.
    expect(captured.text()).toContain('request failed');
    expectNoSecret(captured.text());
    for (const answer of answers) expectNoSecret(`${JSON.stringify(answer.headers)}\n${answer.body}`);
  });

  it('names the variable but never echoes the value when the configuration is refused at start-up', () => {
    const broken: Record<string, string> = {
      API_TOKENS: `superuser:${SECRETS.apiOperator},viewer:${SECRETS.apiViewer}`,
      INFLUX_URL: `influx://admin:${SECRETS.influx}@db`,
      MQTT_URL: `http://device:${SECRETS.mqttPassword}@broker`,
      SMS_PUBLIC_URL: `${SECRETS.inbound}`,
      SMS_PROVIDER: 'webhook,twilio',
      SMS_WEBHOOK_URL: `ftp://gateway/?token=${SECRETS.webhook}`,
      TWILIO_BASE_URL: `${SECRETS.twilio}`,
      INFLUX_BUCKET: `a/b/${SECRETS.africasTalking}`,
      LOG_LEVEL: SECRETS.apiViewer,
      HTTP_PORT: SECRETS.influx,
    };
    let error: unknown;
    try {
      loadConfig(broken);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const name of ['API_TOKENS', 'INFLUX_URL', 'MQTT_URL', 'SMS_PUBLIC_URL', 'SMS_WEBHOOK_URL', 'TWILIO_BASE_URL', 'INFLUX_BUCKET', 'LOG_LEVEL', 'HTTP_PORT']) {
      expect(message).toContain(name);
    }
    expectNoSecret(message);
  });
});

describe('S4 every SMS gateway\'s declared secrets stay out of the log, the next gateway\'s too', () => {
  it('hides each setting a gateway declares secret wherever a line carries it, and only those', () => {
    // Every variable of every registered gateway set to a value of its own, all gateways at once.
    const { env, marked } = markedEnvironment();
    const config = loadConfig({ ...env, SMS_PROVIDER: SMS_GATEWAY_NAMES.join(',') });
    const captured = captureLog({ secrets: configSecrets(config) });
    // Deeper than the field-name redaction reaches, in an error text, in a message: only the
    // secrets the gateways declared can keep these lines clean.
    captured.log.info({ config }, 'configuration loaded');
    captured.log.error({ err: new Error(`provider answered 400: ${JSON.stringify(env)}`) }, 'sms failed');
    captured.log.warn({ detail: Object.values(env).join(' ') }, `retrying with ${new URLSearchParams(env).toString()}`);
    const text = captured.text();
    // Named like a credential is a credential, whatever its declaration says.
    const secret = (v: (typeof marked)[number]): boolean => v.secret || /TOKEN|SECRET|KEY|PASSWORD/.test(v.env);
    expect(marked.filter(secret).length).toBeGreaterThan(0);
    for (const variable of marked.filter(secret)) {
      expect(text, `${variable.env} (${variable.gateway}) leaked`).not.toContain(variable.tag);
      expect(text, `${variable.env} (${variable.gateway}) leaked`).not.toContain(variable.value);
    }
    // The other settings are there in full: the lines above really carried every value.
    const plain = marked.filter((v) => !secret(v) && v.value.includes(v.tag));
    expect(plain.length).toBeGreaterThan(0);
    for (const variable of plain) expect(text, variable.env).toContain(variable.value);
  });
});

describe('S4 an SMS provider echoing our credentials in its error does not put them in the outbox or the log', () => {
  let server: Server;
  let baseUrl = '';

  beforeAll(async () => {
    // Answers every request with a refusal quoting what it received, as a misbehaving proxy might.
    server = createServer((request, response) => {
      // Each credential early in the text, so that the adapters' length cap cannot hide a leak.
      const quoted = request.url?.includes('Accounts')
        ? `token ${SECRETS.twilio} Authorization: ${request.headers.authorization ?? ''}`
        : `apiKey: ${String(request.headers.apikey ?? '')}`;
      response.writeHead(400, { 'content-type': request.url?.includes('Accounts') ? 'application/json' : 'text/plain' });
      response.end(request.url?.includes('Accounts') ? JSON.stringify({ code: 21604, message: `Bad request (${quoted})`, status: 400 }) : `Bad request (${quoted})`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it.each([
    ['Twilio', () => new TwilioGateway({ accountSid: ENV.TWILIO_ACCOUNT_SID, authToken: SECRETS.twilio, from: ENV.TWILIO_FROM, baseUrl, timeoutMs: 5000 })],
    ["Africa's Talking", () => new AfricasTalkingGateway({ username: 'sandbox', apiKey: SECRETS.africasTalking, baseUrl, timeoutMs: 5000 })],
  ])('%s: the error message keeps the reason and drops the credentials', async (_name, gateway) => {
    const error = await gateway()
      .send({ id: 'sms-1', to: PHONES.khabouCommittee, text: 'test' })
      .then(
        () => null,
        (caught: unknown) => caught as Error,
      );
    expect(error?.message).toContain('Bad request');
    expectNoSecret(error?.message ?? '');
    expect(error?.message).not.toContain(Buffer.from(`${ENV.TWILIO_ACCOUNT_SID}:${SECRETS.twilio}`).toString('base64').slice(0, 16));
    // The message is what the dispatcher logs and stores; even a logger given no secrets keeps it clean.
    const bare = captureLog();
    bare.log.error({ err: error, reason: error?.message }, 'sms failed for good');
    expectNoSecret(bare.text());
  });

  it('cuts Bearer and Basic credentials out of any log line, even with no secret configured', () => {
    const bare = captureLog();
    bare.log.warn({ detail: `upstream said: Authorization: Bearer ${SECRETS.webhook}` }, `retrying after Basic ${Buffer.from(`u:${SECRETS.mqttPassword}`).toString('base64')}`);
    expect(bare.text()).toContain('Bearer [redacted]');
    expectNoSecret(bare.text());
    expect(bare.text()).not.toContain(Buffer.from(`u:${SECRETS.mqttPassword}`).toString('base64'));
  });
});

describe('S6 phone numbers are masked in logs as +22376****01', () => {
  it('keeps the country and network prefix and the last two digits', () => {
    expect(maskPhone('+22376000001')).toBe('+22376****01');
    expect(maskPhone('+15005550006')).toBe('+15005****06');
    expect(maskPhone('+447700900123')).toBe('+44770*****23');
    expect(maskPhone('+2231234')).toBe('+2****34');
    expect(maskPhone('not a number')).toBe('[redacted]');
  });

  it('masks numbers in every field and message: SMS logged by the console gateway, replies, actors, errors', async () => {
    const captured = captureLog();
    const h = await startSmsHarness({ log: captured.log });
    try {
      seedNetwork(h);
      await new ConsoleGateway(captured.log.child({ component: 'sms' })).send({ id: 'sms-1', to: PHONES.khabouCommittee, text: 'Forage de Khabou: panne pompe 10:42. Repondre OK 17 pour confirmer.' });
      captured.log.info({ recipient: PHONES.technician, actor: `sms:${PHONES.segalaCommittee}` }, `reply from ${PHONES.unknown}`);
      captured.log.error({ err: new Error(`The 'To' number ${PHONES.khabouCommittee} is not a valid phone number`) }, 'sms failed');
      await h.app.inject({ method: 'POST', url: '/api/sms/inbound', headers: bearer(INBOUND_TOKEN), payload: { from: PHONES.unknown, text: 'ETAT' } });
    } finally {
      await h.close();
    }
    const text = captured.text();
    for (const phone of Object.values(PHONES)) {
      expect(text).not.toContain(phone);
      expect(text).not.toContain(phone.slice(-8));
    }
    // Masked, not blanked: an operator can still tell whose phone it was.
    expect(text).toContain('"to":"+22376****01"');
    expect(text).toContain('sms:+22376****11');
    expect(text).toContain('+22376****99');
    // The SMS text itself is the product's output and stays readable.
    expect(text).toContain('Repondre OK 17 pour confirmer.');
  });
});
