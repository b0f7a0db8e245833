/**
 * The gateways declare themselves (src/notify/gateways/definition.ts); these tests hold every
 * declaration to what the parser and the log scrubber rely on, so that a new gateway that gets
 * one wrong fails here rather than in production.
 */
import { describe, expect, it } from 'vitest';
import { createSmsGateway, loadSmsGatewaySettings, smsGatewaySecrets } from '../../../../src/notify/gateways/config.js';
import { SMS_GATEWAY_DEFINITIONS, SMS_GATEWAY_NAMES } from '../../../../src/notify/gateways/registry.js';
import { markedEnvironment } from './marked-environment.js';

const log = { info: () => undefined };
const CREDENTIAL_NAME = /TOKEN|SECRET|KEY|PASSWORD/;

describe('SMS gateway declarations', () => {
  it('declare every variable named like a credential secret', () => {
    const undeclared = SMS_GATEWAY_DEFINITIONS.flatMap((definition) =>
      Object.values(definition.settings)
        .filter((variable) => CREDENTIAL_NAME.test(variable.env) && !variable.secret)
        .map((variable) => `${definition.name}: ${variable.env}`),
    );
    expect(undeclared).toEqual([]);
  });

  it('give each gateway, spelling and variable one owner', () => {
    const spellings = SMS_GATEWAY_DEFINITIONS.flatMap((definition) => [definition.name, ...(definition.aliases ?? [])]);
    expect(new Set(spellings).size).toBe(spellings.length);
    expect(spellings.every((spelling) => spelling === spelling.toLowerCase() && !spelling.includes(','))).toBe(true);
    const variables = SMS_GATEWAY_DEFINITIONS.flatMap((definition) => Object.values(definition.settings).map((variable) => variable.env));
    expect(new Set(variables).size).toBe(variables.length);
    expect(variables).not.toContain('SMS_PROVIDER');
  });

  it('are what SMS_PROVIDER accepts, in the order the messages list them', () => {
    expect(SMS_GATEWAY_NAMES).toStrictEqual(SMS_GATEWAY_DEFINITIONS.map((definition) => definition.name));
    expect(SMS_GATEWAY_NAMES[0]).toBe('console');
  });

  it.each(SMS_GATEWAY_DEFINITIONS.map((definition) => [definition.name]))('%s is built from its declared settings under its own name', (name) => {
    const { env, marked } = markedEnvironment();
    const settings = loadSmsGatewaySettings({ ...env, SMS_PROVIDER: name });
    expect(settings.providers).toStrictEqual([name]);
    const own = marked.filter((variable) => variable.gateway === name);
    // Every declared variable reached the settings, as set.
    for (const variable of own) {
      expect((settings as unknown as Record<string, Record<string, unknown>>)[name]?.[variable.key], variable.env).toBe(variable.value);
    }
    expect(smsGatewaySecrets(settings).sort()).toStrictEqual(own.filter((variable) => variable.secret).map((variable) => variable.value).sort());
    expect(createSmsGateway(settings, { log, timeoutMs: 50 }).name).toBe(name);
  });
});
