import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * The one root logger; components take a child (`log.child({ component: 'ingest' })`).
 *
 * Tokens and phone numbers never reach the log (docs/security.md). Two layers, because a field
 * name is not the only place they turn up:
 * - by field: credentials (`token`, `authorization`, `cookie`, `password`, ...) are replaced by
 *   `[redacted]`; phone fields (`to`, `from`, `phone`, `recipient`, `sender`) are masked;
 * - by value, on every line written: any E.164 number is masked wherever it appears (an actor
 *   `sms:+223...`, an error message quoting a number), `Bearer`/`Basic` credentials are cut, and
 *   the configured secrets (`secrets`) are replaced by `[redacted]` whatever field or message
 *   carries them (a provider's error text echoing our API key, a URL with a token in it).
 */
export interface LoggerOptions {
  /** Values that must never be written (API tokens, SMS and InfluxDB credentials); see configSecrets. */
  secrets?: readonly (string | undefined)[];
}

export const REDACTED = '[redacted]';

/**
 * A phone number as logs show it: the country and network prefix and the last two digits, so an
 * operator can still tell numbers apart (`+22376****01`), but not dial one.
 */
export function maskPhone(phone: string): string {
  const match = /^(\+?)(\d+)$/.exec(phone.trim());
  if (!match) return REDACTED;
  const plus = match[1] ?? '';
  const digits = match[2] ?? '';
  const head = Math.max(0, Math.min(5, digits.length - 6));
  const tail = Math.min(2, digits.length);
  return `${plus}${digits.slice(0, head)}${'*'.repeat(digits.length - head - tail)}${digits.slice(digits.length - tail)}`;
}

const PHONE_KEYS = ['phone', 'to', 'from', 'recipient', 'sender'];
const SECRET_KEYS = ['token', 'authorization', 'cookie', 'password', 'secret', 'apiKey', 'api_key', 'authToken', 'clientSecret'];
const REDACT_PATHS = [
  ...[...PHONE_KEYS, ...SECRET_KEYS].flatMap((key) => [key, `*.${key}`]),
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
];

// An E.164 number (a '+' and 7 to 15 digits), not part of a longer run of digits.
const PHONE_IN_TEXT = /\+\d{7,15}(?!\d)/g;
// The credentials of an Authorization header quoted in an error text (case-sensitive, so that the
// word "basic" in a sentence is left alone).
const AUTH_IN_TEXT = /\b(Bearer|Basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g;

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (PHONE_KEYS.includes(key) && typeof value === 'string') return maskPhone(value);
  return REDACTED;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The scrubber applied to each serialized line; exported for the tests of other writers. */
export function scrubber(secrets: readonly (string | undefined)[] = []): (line: string) => string {
  // Short values would wipe ordinary words out of every line; the service refuses tokens under 16
  // characters, and a secret that short is no secret anyway.
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined || secret.length < 6) continue;
    forms.add(secret);
    // As it appears inside a JSON string, and URL-encoded (a query string quoted in a message).
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
  }
  const secretPattern = forms.size === 0 ? null : new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g');
  return (line) => {
    let out = secretPattern ? line.replace(secretPattern, REDACTED) : line;
    out = out.replace(AUTH_IN_TEXT, (_whole, scheme: string) => `${scheme} ${REDACTED}`);
    return out.replace(PHONE_IN_TEXT, maskPhone);
  };
}

/**
 * The secrets of a loaded configuration, for `createLogger(level, undefined, { secrets })`. The SMS
 * gateways' credentials come as the gateways declare them (`secret: true` in each adapter's
 * definition, collected by loadConfig), so a new gateway needs no line here.
 */
export function configSecrets(config: {
  apiTokens: readonly { token: string }[];
  influx: { token: string };
  mqtt: { password: string | undefined };
  sms: { inboundToken: string | undefined; gatewaySecrets: readonly string[] };
}): string[] {
  return [
    ...config.apiTokens.map((entry) => entry.token),
    config.influx.token,
    // InfluxDB 1.x takes `user:password`: the password alone is the secret too.
    config.influx.token.includes(':') ? config.influx.token.slice(config.influx.token.indexOf(':') + 1) : undefined,
    config.mqtt.password,
    config.sms.inboundToken,
    ...config.sms.gatewaySecrets,
  ].filter((secret): secret is string => secret !== undefined && secret !== '');
}

export function createLogger(level: string, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  const pretty = destination === undefined && process.stdout.isTTY;
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor },
      hooks: { streamWrite: scrubber(options.secrets) },
      ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss' } } } : {}),
    },
    destination,
  );
}
