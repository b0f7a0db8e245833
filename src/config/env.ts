/**
 * Environment configuration of CONTRACT.md section 8, plus a few internal tunables (documented in
 * the README). Every variable has a default that runs on one machine with nothing installed; an
 * invalid value stops start-up with a message naming the variable, all problems at once.
 */
import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_TOPIC_ROOT } from '../contract/topics.js';
import { isPhoneRegion, type PhoneRegion } from '../domain/phone.js';
import { loadSmsGatewaySettings, smsGatewaySecrets, type SmsGatewaySettings } from '../notify/gateways/config.js';
import { ConfigError } from './errors.js';
import type { Registry } from './registry.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * The example registry shipped at the package root. Found by walking up from this module, which
 * sits at a different depth when run from source (`src/config`) and built (`dist/src/config`).
 */
function findExampleRegistry(): string {
  const relative = join('config', 'boreholes.example.yaml');
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, relative))) return join(dir, relative);
    const parent = dirname(dir);
    if (parent === dir) return join(process.cwd(), relative);
    dir = parent;
  }
}

export const EXAMPLE_REGISTRY_PATH = findExampleRegistry();

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `FOO=` in an env file or `${FOO:-}` in compose means "not set", never an empty secret or port. */
const emptyAsUndefined = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalText = z.preprocess(emptyAsUndefined, z.string().optional());

/**
 * Behind a reverse proxy every client has the proxy's address, so one guesser's failed tokens
 * would lock every client out. TRUST_PROXY says whose X-Forwarded-For to believe: `false` (the
 * default, a client cannot fake its address), the proxy's addresses or CIDRs (`127.0.0.1,10.0.0.0/8`),
 * a number of proxy hops, or `true` (anyone: only when nothing but the proxy can reach the port).
 */
const trustProxy = z
  .string()
  .optional()
  .transform((value, context): boolean | number | string[] => {
    if (value === undefined || value === 'false') return false;
    if (value === 'true') return true;
    if (/^\d+$/.test(value)) return Number(value);
    const entries = value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    const bad = entries.filter((entry) => {
      const [address = '', prefix, extra] = entry.split('/');
      const family = isIP(address);
      if (family === 0 || extra !== undefined) return true;
      return prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
    });
    if (bad.length > 0 || entries.length === 0) {
      context.addIssue({ code: 'custom', message: `must be true, false, a number of hops, or proxy addresses/CIDRs separated by commas (not ${bad.join(', ') || 'empty'})` });
      return z.NEVER;
    }
    return entries;
  });

function urlWithProtocols(protocols: readonly string[]) {
  return z.preprocess(
    emptyAsUndefined,
    z
      .string()
      .refine((value) => URL.canParse(value) && protocols.includes(new URL(value).protocol), {
        message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      })
      .optional(),
  );
}

function integer(min: number, max: number, fallback: number) {
  return z.preprocess(
    emptyAsUndefined,
    z.coerce.number().int().min(min).max(max).default(fallback),
  );
}

/**
 * A region limit after the token: `viewer:<token>:Kayes|Koulikoro`. Names are letters, spaces,
 * apostrophes, dots and dashes, never digits, so that a token that merely contains a colon
 * (`admin:abc:def-0123…`, accepted before region limits existed) stays a token. The service checks
 * the names against the registry at start-up, so a misread token cannot pass silently.
 */
const REGION_LIST = /^[\p{L}][\p{L}\p{M} '’.-]*(\|[\p{L}][\p{L}\p{M} '’.-]*)*$/u;

export interface ApiToken {
  role: Role;
  token: string;
  /** Regions this token is limited to; absent: every region. */
  regions?: string[];
}

const apiTokensSchema = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('')
    .transform((value, ctx) => {
      const tokens: ApiToken[] = [];
      for (const pair of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
        const colon = pair.indexOf(':');
        const role = pair.slice(0, colon);
        let token = pair.slice(colon + 1);
        if (colon < 1 || !(ROLES as readonly string[]).includes(role)) {
          // Never echo the token itself into an error message or a log.
          ctx.addIssue({ code: 'custom', message: `each entry must be role:token or role:token:Region1|Region2, with role one of ${ROLES.join(', ')}` });
          return z.NEVER;
        }
        let regions: string[] | undefined;
        const last = token.lastIndexOf(':');
        if (last > 0 && REGION_LIST.test(token.slice(last + 1).trim())) {
          regions = token.slice(last + 1).split('|').map((region) => region.trim());
          token = token.slice(0, last);
        }
        if (token.length < 16) {
          ctx.addIssue({ code: 'custom', message: `the ${role} token is shorter than 16 characters` });
          return z.NEVER;
        }
        tokens.push({ role: role as Role, token, ...(regions ? { regions } : {}) });
      }
      return tokens;
    }),
);

const timeZone = z
  .string()
  .default('Africa/Bamako')
  .refine(
    (tz) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be an IANA time zone such as Africa/Bamako' },
  );

export const envSchema = z
  .object({
    MQTT_URL: urlWithProtocols(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:']),
    MQTT_TOPIC_ROOT: z.preprocess(
      emptyAsUndefined,
      z.string().regex(/^[^#+]+$/, 'must be a topic prefix without wildcards').default(DEFAULT_TOPIC_ROOT),
    ),
    MQTT_CLIENT_ID: z.preprocess(emptyAsUndefined, z.string().min(1).max(64).default('borehole-ingest')),
    MQTT_PROTOCOL_VERSION: z.preprocess(emptyAsUndefined, z.enum(['4', '5']).optional()),
    MQTT_USERNAME: optionalText,
    MQTT_PASSWORD: optionalText,
    MQTT_EMBEDDED_HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
    MQTT_EMBEDDED_PORT: integer(1, 65535, 1883),
    INFLUX_URL: urlWithProtocols(['http:', 'https:']),
    INFLUX_TOKEN: z.string().default(''),
    INFLUX_ORG: z.string().default(''),
    INFLUX_BUCKET: z.preprocess(emptyAsUndefined, z.string().regex(/^[^/]+(\/[^/]+)?$/, 'must be a bucket, or db or db/rp on InfluxDB 1.x').default('boreholes')),
    INFLUX_BATCH_POINTS: integer(1, 100_000, 5000),
    INFLUX_CONCURRENCY: integer(1, 16, 2),
    BOREHOLES_FILE: z.preprocess(emptyAsUndefined, z.string().default(EXAMPLE_REGISTRY_PATH)),
    DATA_DIR: z.preprocess(emptyAsUndefined, z.string().default('./data')),
    JOURNAL_FSYNC_MS: integer(0, 10_000, 100),
    DEAD_LETTER_LIMIT: integer(10, 1_000_000, 1000),
    HTTP_HOST: z.preprocess(emptyAsUndefined, z.string().default('127.0.0.1')),
    HTTP_PORT: integer(0, 65535, 8080),
    TRUST_PROXY: z.preprocess(emptyAsUndefined, trustProxy),
    // Anyone who knows it can acknowledge alerts by posting fake replies: as long as an API token.
    SMS_INBOUND_TOKEN: z.preprocess(emptyAsUndefined, z.string().min(16, 'must be at least 16 characters (openssl rand -hex 24)').optional()),
    SMS_PUBLIC_URL: urlWithProtocols(['http:', 'https:']),
    SMS_PER_HOUR_LIMIT: integer(1, 1000, 6),
    // How a sender written without a country code (`76000001`) is read; the network's own country.
    PHONE_DEFAULT_REGION: z.preprocess(
      (value) => (typeof value === 'string' && value.trim() !== '' ? value.trim().toUpperCase() : undefined),
      z
        .string()
        .refine(isPhoneRegion, 'must be an ISO 3166-1 alpha-2 country code with a numbering plan, such as ML')
        .default('ML'),
    ),
    API_TOKENS: apiTokensSchema,
    REPORT_TZ: z.preprocess(emptyAsUndefined, timeZone),
    LOG_LEVEL: z.preprocess(emptyAsUndefined, z.enum(LOG_LEVELS).default('info')),
  });

export type Env = z.infer<typeof envSchema>;

export interface Config {
  mqtt: {
    /** undefined: the embedded broker. */
    url: string | undefined;
    topicRoot: string;
    clientId: string;
    protocolVersion: 4 | 5;
    username: string | undefined;
    password: string | undefined;
    /** Where the embedded broker listens when `url` is undefined. */
    embedded: { host: string; port: number };
  };
  influx: {
    /** undefined: the embedded time-series store. */
    url: string | undefined;
    token: string;
    org: string;
    bucket: string;
    batchPoints: number;
    concurrency: number;
  };
  boreholesFile: string;
  dataDir: string;
  journal: { fsyncIntervalMs: number };
  deadLetterLimit: number;
  http: {
    host: string;
    port: number;
    /** Whose X-Forwarded-For to believe (TRUST_PROXY): false, true (any), a hop count, or addresses/CIDRs. */
    trustProxy: boolean | number | string[];
  };
  sms: {
    /** Gateways in failover order, with their credentials (SMS_PROVIDER and each provider's variables). */
    gateways: SmsGatewaySettings;
    /** The values of the gateway settings their adapters declare secret, for the log scrubber. */
    gatewaySecrets: string[];
    inboundToken: string | undefined;
    /** No phone hears more than this many messages an hour; the rest is folded into a summary. */
    perHourLimit: number;
    /** The service's public base URL as a provider calls it (Twilio signs the full URL). */
    publicUrl: string | undefined;
    /** PHONE_DEFAULT_REGION: the country of a sender whose number has no country code. */
    defaultRegion: PhoneRegion;
  };
  apiTokens: ApiToken[];
  reportTz: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** zod's message, but "received NaN" means nothing to an operator who wrote `HTTP_PORT=80a`. */
function explain(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type' && issue.expected === 'number') return 'must be a number';
  return issue.message;
}

/**
 * A region named by a token but by no borehole is a typo (or a token read as a region): refused at
 * start-up (`buildApp`) and by `npm run check`, with the same message.
 */
export function tokenRegionProblems(tokens: readonly { role: Role; regions?: readonly string[] }[], registry: Pick<Registry, 'boreholes'>): string[] {
  const regions = new Set([...registry.boreholes.values()].map((borehole) => borehole.region));
  const problems: string[] = [];
  for (const { role, regions: limited } of tokens) {
    for (const region of limited ?? []) {
      if (!regions.has(region)) {
        problems.push(`API_TOKENS: a ${role} token is limited to region "${region}", which no borehole of the registry is in (regions: ${[...regions].sort().join(', ')})`);
      }
    }
  }
  return problems;
}

export function loadConfig(source: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(source);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(environment)'}: ${explain(issue)}`);
  // The gateways' variables depend on SMS_PROVIDER: checked apart, reported with everything else.
  let gateways: SmsGatewaySettings | null = null;
  try {
    gateways = loadSmsGatewaySettings(source);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (!result.success || gateways === null || problems.length > 0) throw new ConfigError('environment', problems);
  const env = result.data;
  return {
    mqtt: {
      url: env.MQTT_URL,
      topicRoot: env.MQTT_TOPIC_ROOT,
      clientId: env.MQTT_CLIENT_ID,
      // The embedded broker (aedes) speaks MQTT 3.1.1 only; external brokers get MQTT 5.
      protocolVersion: env.MQTT_PROTOCOL_VERSION === undefined ? (env.MQTT_URL ? 5 : 4) : env.MQTT_PROTOCOL_VERSION === '5' ? 5 : 4,
      username: env.MQTT_USERNAME,
      password: env.MQTT_PASSWORD,
      embedded: { host: env.MQTT_EMBEDDED_HOST, port: env.MQTT_EMBEDDED_PORT },
    },
    influx: {
      url: env.INFLUX_URL,
      token: env.INFLUX_TOKEN,
      org: env.INFLUX_ORG,
      bucket: env.INFLUX_BUCKET,
      batchPoints: env.INFLUX_BATCH_POINTS,
      concurrency: env.INFLUX_CONCURRENCY,
    },
    boreholesFile: env.BOREHOLES_FILE,
    dataDir: env.DATA_DIR,
    journal: { fsyncIntervalMs: env.JOURNAL_FSYNC_MS },
    deadLetterLimit: env.DEAD_LETTER_LIMIT,
    http: { host: env.HTTP_HOST, port: env.HTTP_PORT, trustProxy: env.TRUST_PROXY },
    sms: { gateways, gatewaySecrets: smsGatewaySecrets(gateways), inboundToken: env.SMS_INBOUND_TOKEN, perHourLimit: env.SMS_PER_HOUR_LIMIT, publicUrl: env.SMS_PUBLIC_URL, defaultRegion: env.PHONE_DEFAULT_REGION },
    apiTokens: env.API_TOKENS,
    reportTz: env.REPORT_TZ,
    logLevel: env.LOG_LEVEL,
  };
}
