/**
 * What an SMS gateway adapter declares about itself (issue 14): its name, its settings (each an
 * environment variable with a zod schema that says its default and whether it is required),
 * which of them are secrets, and how it is built. The list of gateways, the configuration parser
 * and the log scrubber's share of the gateway credentials are all derived from these
 * declarations (registry.ts, config.ts), so that they cannot drift apart: a gateway whose secret
 * is not declared would put it in the log.
 *
 * Each adapter file ends with its `defineSmsGateway(...)`; registry.ts lists them.
 */
import { z } from 'zod';
import type { SmsGateway } from '../gateway.js';

export interface GatewayVariable<T = unknown> {
  /** The environment variable, e.g. `TWILIO_AUTH_TOKEN`. */
  readonly env: string;
  /**
   * A credential: the log scrubber replaces its value wherever it appears. No default on purpose,
   * so that each variable is a decision; a name with TOKEN, SECRET, KEY or PASSWORD in it must say
   * `true` (the compiler refuses `false`, and a test checks the names).
   */
  readonly secret: boolean;
  /**
   * Parses the trimmed value, `undefined` when unset or empty. A schema that refuses `undefined`
   * makes the variable required ("is required when SMS_PROVIDER includes …"); `.default()` and
   * `.optional()` say what unset means. Its own messages ("must be …") are reported as they are.
   */
  readonly schema: z.ZodType<T>;
}

export type GatewayVariables = Readonly<Record<string, GatewayVariable>>;

/** The settings an adapter's factory gets: each declared setting, parsed. */
export type SettingsOf<V extends GatewayVariables> = { -readonly [K in keyof V]: z.output<V[K]['schema']> };

/** All the console gateway (the only one that logs) needs of a pino logger. */
export interface SmsGatewayLog {
  info(fields: object, message: string): void;
}

/** What the service gives every factory, whether it needs it or not. */
export interface SmsGatewayDeps {
  /** For the console gateway: a logger that redacts `to`. */
  log: SmsGatewayLog;
  /** Defaults to GATEWAY_TIMEOUT_MS in every adapter. */
  timeoutMs?: number;
  clock?: { now(): number };
}

export interface SmsGatewayDefinition<Name extends string = string, V extends GatewayVariables = GatewayVariables> {
  /** What SMS_PROVIDER calls it, lower case. */
  readonly name: Name;
  /** Other spellings SMS_PROVIDER accepts (`africas-talking`). */
  readonly aliases?: readonly string[];
  /** Setting name → its variable, in the order their problems are listed. */
  readonly settings: V;
  create(settings: SettingsOf<V>, deps: SmsGatewayDeps): SmsGateway;
}

type SecretLookingName = `${string}${'TOKEN' | 'SECRET' | 'KEY' | 'PASSWORD'}${string}`;

/**
 * A variable whose name looks like a credential but says `secret: false` is asked for a property
 * it cannot have, named so that the compiler's error says what to do.
 */
type SecretsDeclared<V extends GatewayVariables> = {
  [K in keyof V]: V[K]['env'] extends SecretLookingName
    ? V[K]['secret'] extends true
      ? unknown
      : { readonly [Hint in `${V[K]['env']} looks like a credential: declare it secret: true`]: never }
    : unknown;
};

/**
 * Declares a gateway, typed from its own settings. `const` keeps each variable's name as a
 * literal, which is what lets the compiler refuse `AT_API_KEY` with `secret: false`.
 */
export function defineSmsGateway<const Name extends string, const V extends GatewayVariables>(
  definition: SmsGatewayDefinition<Name, V> & { readonly settings: SecretsDeclared<V> },
): SmsGatewayDefinition<Name, V> {
  return definition;
}

export const HTTP_URL_MESSAGE = 'must be a URL starting with http:// or https://';

/** An http(s) URL; add `.default(...)` for a provider's public API, leave it bare to require it. */
export function httpUrl() {
  return z.string().refine((value) => URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol), {
    message: HTTP_URL_MESSAGE,
  });
}
