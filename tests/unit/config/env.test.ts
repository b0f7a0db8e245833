import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/env.js';
import { ConfigError } from '../../../src/config/errors.js';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../config/boreholes.example.yaml', import.meta.url));

const VIEWER_TOKEN = 'viewer-token-0123456789';
const OPERATOR_TOKEN = 'operator-token-0123456789';

/** The ConfigError that loadConfig throws for `env`; fails the test if it accepts it. */
function errorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  expect.unreachable('the environment was accepted');
}

describe('environment configuration', () => {
  it('runs on the contract defaults with nothing set', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080, trustProxy: false });
    expect(config.reportTz).toBe('Africa/Bamako');
    expect(config.logLevel).toBe('info');
    expect(config.sms.gateways.providers).toEqual(['console']);
    expect(config.sms.perHourLimit).toBe(6);
    expect(config.dataDir).toBe('./data');
    expect(config.influx.bucket).toBe('boreholes');
    expect(config.influx.url).toBeUndefined();
    expect(config.mqtt.url).toBeUndefined();
    expect(config.mqtt.topicRoot).toBe('boreholes');
    expect(config.apiTokens).toEqual([]);
  });

  it('defaults BOREHOLES_FILE to the example registry shipped with the project', () => {
    const config = loadConfig({});
    expect(resolve(config.boreholesFile)).toBe(resolve(EXAMPLE_PATH));
    expect(existsSync(config.boreholesFile)).toBe(true);
  });

  it('speaks MQTT 3.1.1 to the embedded broker and MQTT 5 to an external one', () => {
    expect(loadConfig({}).mqtt.protocolVersion).toBe(4);
    expect(loadConfig({ MQTT_URL: 'mqtt://broker.local:1883' }).mqtt.protocolVersion).toBe(5);
    expect(loadConfig({ MQTT_URL: 'mqtt://broker.local:1883', MQTT_PROTOCOL_VERSION: '4' }).mqtt.protocolVersion).toBe(4);
  });

  it('takes the values that are set', () => {
    const config = loadConfig({
      HTTP_HOST: '0.0.0.0',
      HTTP_PORT: '9090',
      REPORT_TZ: 'Africa/Dakar',
      LOG_LEVEL: 'debug',
      INFLUX_URL: 'http://influx:8086',
      INFLUX_BUCKET: 'boreholes/autogen',
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: 'https://sms.example.org/send',
    });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 9090, trustProxy: false });
    expect(config.reportTz).toBe('Africa/Dakar');
    expect(config.logLevel).toBe('debug');
    expect(config.influx.url).toBe('http://influx:8086');
    expect(config.influx.bucket).toBe('boreholes/autogen');
    expect(config.sms.gateways).toMatchObject({ providers: ['webhook'], webhook: { url: 'https://sms.example.org/send' } });
  });

  it('reports every invalid value at once, each naming its variable', () => {
    const error = errorOf({
      HTTP_PORT: 'eighty',
      REPORT_TZ: 'Mali/Kayes',
      API_TOKENS: 'guest:guest-token-0123456789',
      MQTT_URL: 'http://broker.local:1883',
      SMS_PROVIDER: 'webhook',
    });
    const variables = error.problems.map((problem) => problem.split(':')[0]);
    expect(variables.sort()).toEqual(['API_TOKENS', 'HTTP_PORT', 'MQTT_URL', 'REPORT_TZ', 'SMS_WEBHOOK_URL']);
    for (const name of variables) expect(error.message).toContain(name);
  });

  it('refuses a port out of range', () => {
    expect(errorOf({ HTTP_PORT: '70000' }).problems).toEqual([expect.stringMatching(/^HTTP_PORT: /)]);
  });

  it('refuses an MQTT_URL with an http:// scheme, saying which schemes work', () => {
    const [problem] = errorOf({ MQTT_URL: 'http://broker.local:1883' }).problems;
    expect(problem).toMatch(/^MQTT_URL: /);
    expect(problem).toContain('mqtt://');
  });

  it('requires SMS_WEBHOOK_URL when SMS_PROVIDER=webhook', () => {
    expect(errorOf({ SMS_PROVIDER: 'webhook' }).problems).toEqual([expect.stringMatching(/^SMS_WEBHOOK_URL: /)]);
    expect(errorOf({ SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: '' }).problems).toEqual([
      expect.stringMatching(/^SMS_WEBHOOK_URL: /),
    ]);
  });

  it('parses API_TOKENS as comma-separated role:token pairs', () => {
    const config = loadConfig({ API_TOKENS: `viewer:${VIEWER_TOKEN}, operator:${OPERATOR_TOKEN}` });
    expect(config.apiTokens).toEqual([
      { role: 'viewer', token: VIEWER_TOKEN },
      { role: 'operator', token: OPERATOR_TOKEN },
    ]);
  });

  it('keeps a colon inside a token as part of the token', () => {
    const config = loadConfig({ API_TOKENS: 'admin:abc:def-0123456789-xyz' });
    expect(config.apiTokens).toEqual([{ role: 'admin', token: 'abc:def-0123456789-xyz' }]);
  });

  it.each([
    ['an unknown role', 'root:s3cret-root-token-0123456789', 's3cret-root-token-0123456789'],
    ['a token shorter than 16 characters', 'viewer:tiny-s3cret', 'tiny-s3cret'],
    ['an entry without a role', 's3cret-bare-token-0123456789', 's3cret-bare-token-0123456789'],
    ['a bad second entry', `viewer:${VIEWER_TOKEN},operator:op-s3cret`, 'op-s3cret'],
  ])('never puts the token text in an API_TOKENS error (%s)', (_case, value, secret) => {
    const error = errorOf({ API_TOKENS: value });
    expect(error.problems).toEqual([expect.stringMatching(/^API_TOKENS: /)]);
    expect(error.message).not.toContain(secret);
    for (const problem of error.problems) expect(problem).not.toContain(secret);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      MQTT_URL: '',
      INFLUX_URL: '',
      INFLUX_BUCKET: '',
      BOREHOLES_FILE: '',
      DATA_DIR: '',
      HTTP_HOST: '',
      HTTP_PORT: '',
      SMS_PROVIDER: '',
      SMS_WEBHOOK_URL: '',
      API_TOKENS: '',
      REPORT_TZ: '',
      LOG_LEVEL: '',
    });
    expect(config).toEqual(loadConfig({}));
    expect(config.mqtt.url).toBeUndefined();
    expect(config.mqtt.protocolVersion).toBe(4);
  });

  it('refuses an SMS inbound token shorter than an API token, naming the variable', () => {
    expect(() => loadConfig({ SMS_INBOUND_TOKEN: 'short' })).toThrow(/SMS_INBOUND_TOKEN.*16 characters/);
  });

  it('treats an empty credential or SMS token as unset, not as an empty secret', () => {
    // What `FOO=` in an env file or `${FOO:-}` in compose produces: an optional secret left blank.
    const config = loadConfig({
      MQTT_USERNAME: '',
      MQTT_PASSWORD: '',
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: 'https://sms.example.org/send',
      SMS_WEBHOOK_TOKEN: '',
      SMS_INBOUND_TOKEN: '',
    });
    expect(config.mqtt.username).toBeUndefined();
    expect(config.mqtt.password).toBeUndefined();
    expect(config.sms.gateways.webhook?.token).toBeUndefined();
    expect(config.sms.inboundToken).toBeUndefined();
  });
});
