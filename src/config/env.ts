/**
 * Environment configuration of CONTRACT.md section 8, plus a few internal tunables (documented in
 * the README). Every variable has a default that runs on one machine with nothing installed; an
 * invalid value stops start-up with a message naming the variable, all problems at once.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEFAULT_TOPIC_ROOT } from '../contract/topics.js';
import { ConfigError } from './errors.js';

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
const SMS_PROVIDERS = ['console', 'webhook'] as const;

/** `FOO=` in an env file or `${FOO:-}` in compose means "not set", never an empty secret or port. */
const emptyAsUndefined = (value: unknown): unknown => (typeof value === 'string' && value.trim() === '' ? undefined : value);
const optionalText = z.preprocess(emptyAsUndefined, z.string().optional());

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

const apiTokensSchema = z.preprocess(
  emptyAsUndefined,
  z
    .string()
    .default('')
    .transform((value, ctx) => {
      const tokens: { role: Role; token: string }[] = [];
      for (const pair of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
        const colon = pair.indexOf(':');
        const role = pair.slice(0, colon);
        const token = pair.slice(colon + 1);
        if (colon < 1 || !(ROLES as readonly string[]).includes(role)) {
          // Never echo the token itself into an error message or a log.
          ctx.addIssue({ code: 'custom', message: `each entry must be role:token with role one of ${ROLES.join(', ')}` });
          return z.NEVER;
        }
        if (token.length < 16) {
          ctx.addIssue({ code: 'custom', message: `the ${role} token is shorter than 16 characters` });
          return z.NEVER;
        }
        tokens.push({ role: role as Role, token });
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
    SMS_PROVIDER: z.preprocess(emptyAsUndefined, z.enum(SMS_PROVIDERS).default('console')),
    SMS_WEBHOOK_URL: urlWithProtocols(['http:', 'https:']),
    SMS_WEBHOOK_TOKEN: optionalText,
    SMS_INBOUND_TOKEN: optionalText,
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
  http: { host: string; port: number };
  sms: { provider: (typeof SMS_PROVIDERS)[number]; webhookUrl: string | undefined; webhookToken: string | undefined; inboundToken: string | undefined };
  apiTokens: { role: Role; token: string }[];
  reportTz: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

export function loadConfig(source: Record<string, string | undefined>): Config {
  const result = envSchema.safeParse(source);
  const problems = result.success
    ? []
    : result.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(environment)'}: ${issue.message}`);
  // Checked on the raw values so that it is reported together with any other problem.
  if (source.SMS_PROVIDER === 'webhook' && !source.SMS_WEBHOOK_URL) {
    problems.push('SMS_WEBHOOK_URL: is required when SMS_PROVIDER=webhook');
  }
  if (!result.success || problems.length > 0) throw new ConfigError('environment', problems);
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
    http: { host: env.HTTP_HOST, port: env.HTTP_PORT },
    sms: {
      provider: env.SMS_PROVIDER,
      webhookUrl: env.SMS_WEBHOOK_URL,
      webhookToken: env.SMS_WEBHOOK_TOKEN,
      inboundToken: env.SMS_INBOUND_TOKEN,
    },
    apiTokens: env.API_TOKENS,
    reportTz: env.REPORT_TZ,
    logLevel: env.LOG_LEVEL,
  };
}
