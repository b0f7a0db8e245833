/**
 * Gateway choice and credentials from the environment, and the gateway they make. `SMS_PROVIDER`
 * names one gateway or a failover order (`orange,webhook`); each named provider needs its own
 * variables, and every missing or invalid one is reported at once, by name, never by value.
 *
 * Nothing here names a gateway: the names, the variables, their defaults, which are secrets and
 * how each gateway is built are declared by the adapters (definition.ts) and listed in
 * registry.ts. docs/contract.md (appendix A.4) has the table of variables, generated from them.
 */
import { ConfigError } from '../../config/errors.js';
import type { SmsGateway } from '../gateway.js';
import type { SmsGatewayDeps } from './definition.js';
import { FailoverGateway } from './failover.js';
import {
  DEFAULT_SMS_GATEWAY,
  SMS_GATEWAY_DEFINITIONS as DEFINITIONS,
  SMS_GATEWAY_NAMES,
  type SmsGatewayName,
  type SmsGatewaySettings,
} from './registry.js';

export { SMS_GATEWAY_NAMES, type SmsGatewayName, type SmsGatewaySettings } from './registry.js';
export type { SmsGatewayDeps } from './definition.js';

const BY_SPELLING = new Map<string, SmsGatewayName>(
  DEFINITIONS.flatMap((definition) => [definition.name, ...(definition.aliases ?? [])].map((spelling) => [spelling, definition.name] as const)),
);

export function loadSmsGatewaySettings(env: Record<string, string | undefined>): SmsGatewaySettings {
  const problems: string[] = [];
  const value = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === undefined || raw === '' ? undefined : raw;
  };

  const providers: SmsGatewayName[] = [];
  for (const entry of (value('SMS_PROVIDER') ?? DEFAULT_SMS_GATEWAY).split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '')) {
    const name = BY_SPELLING.get(entry);
    if (name === undefined) {
      problems.push(`SMS_PROVIDER: unknown gateway "${entry}" (one of ${SMS_GATEWAY_NAMES.join(', ')}, comma-separated for failover)`);
    } else if (providers.includes(name)) {
      problems.push(`SMS_PROVIDER: "${name}" is listed twice`);
    } else {
      providers.push(name);
    }
  }
  if (providers.length === 0 && problems.length === 0) providers.push(DEFAULT_SMS_GATEWAY);

  const settings: SmsGatewaySettings = { providers };
  // In registry order, not SMS_PROVIDER's, so that the problems come in the same order every time.
  for (const definition of DEFINITIONS) {
    const variables = Object.entries(definition.settings);
    if (!providers.includes(definition.name) || variables.length === 0) continue;
    const parsed: Record<string, unknown> = {};
    for (const [key, variable] of variables) {
      const raw = value(variable.env);
      const result = variable.schema.safeParse(raw);
      if (result.success) {
        parsed[key] = result.data;
      } else if (raw === undefined) {
        problems.push(`${variable.env}: is required when SMS_PROVIDER includes ${definition.name}`);
      } else {
        // The schema's own words; zod never quotes the value in them, and they never should.
        for (const message of new Set(result.error.issues.map((issue) => issue.message))) problems.push(`${variable.env}: ${message}`);
      }
    }
    (settings as unknown as Record<string, unknown>)[definition.name] = parsed;
  }
  if (problems.length > 0) throw new ConfigError('environment', problems);
  return settings;
}

/**
 * The values of the settings the gateways declare secret, for the log scrubber (configSecrets in
 * observability/logger.ts): derived, so that a new gateway's credentials are hidden without a
 * line anywhere else.
 */
export function smsGatewaySecrets(settings: SmsGatewaySettings): string[] {
  const byName = settings as unknown as Record<string, Record<string, unknown> | undefined>;
  return DEFINITIONS.flatMap((definition) =>
    Object.entries(definition.settings)
      .filter(([, variable]) => variable.secret)
      .map(([key]) => byName[definition.name]?.[key])
      .filter((secret): secret is string => typeof secret === 'string' && secret !== ''),
  );
}

/** One gateway, or a FailoverGateway over several in the configured order. */
export function createSmsGateway(settings: SmsGatewaySettings, deps: SmsGatewayDeps): SmsGateway {
  const byName = settings as unknown as Record<string, Record<string, unknown> | undefined>;
  const gateways = settings.providers.map((provider): SmsGateway => {
    const definition = DEFINITIONS.find((candidate) => candidate.name === provider);
    if (definition === undefined) throw new Error(`SMS gateway ${provider} is not registered`);
    const own = byName[provider];
    if (own === undefined && Object.keys(definition.settings).length > 0) throw new Error(`SMS gateway ${provider} is listed without its settings`);
    return definition.create(own ?? {}, deps);
  });
  const [only] = gateways;
  return gateways.length === 1 && only !== undefined ? only : new FailoverGateway(gateways);
}
