/**
 * Fuzzing every HTTP route (issue 9) of the real service (src/service.ts on its embedded broker and
 * store, so every route is registered with its real dependencies), through `app.inject()`.
 *
 * The routes come from the app's own route table, so a route added tomorrow is fuzzed without
 * anyone touching this file, and the suite fails if a route of the table was never reached. Each
 * request is arbitrary: method, path (parameters known or junk), query (the OpenAPI parameters
 * with good and bad values, and others), headers (Authorization with real, junk and malformed
 * tokens, Cookie, Accept, Content-Type, Origin) and body (JSON, forms, bytes, over 1 MiB).
 *
 * Whatever the request: no 5xx (but a /readyz 503 that says what is down), no crash, no unhandled
 * rejection; an error answer is JSON with a message (HTML on the pages, which are for browsers);
 * no answer carries a token, ours or the one presented; and a request that failed changed no
 * alert, alert history or maintenance record.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../../src/service.js';
import { freePort } from '../support/servers.js';
import { tempDir, testConfig } from '../support/fixtures.js';
import { httpRegistry, level, pump } from '../unit/http/harness.js';
import { anyText, fuzzParameters, headerText, junkBody, junkToken, processFailureGuard } from './arbitraries.js';

/** Sized so that the whole fuzz project stays well under five minutes on two busy cores. */
const RUNS = 3000;

const TOKENS = {
  viewer: 'fuzz-viewer-token-0123456789abcdef',
  operator: 'fuzz-operator-token-0123456789abcd',
  admin: 'fuzz-admin-token-0123456789abcdef0',
  koulikoroOperator: 'fuzz-koulikoro-operator-token-0123',
} as const;
const SMS_INBOUND_TOKEN = 'fuzz-sms-inbound-token-0123456789ab';
const SECRETS = [...Object.values(TOKENS), SMS_INBOUND_TOKEN];
type Role = keyof typeof TOKENS;

/** Percent-encoding of any string: a lone surrogate, which no URL can carry, goes as U+FFFD. */
const encode = (text: string): string => encodeURIComponent(Buffer.from(text, 'utf8').toString('utf8'));

/** The operational routes of CONTRACT.md section 6: open, and JSON like the API. */
const OPEN_ROUTES = ['/healthz', '/readyz', '/metrics', '/openapi.json'];

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

// ---------------------------------------------------------------------------------------------
// The route table

interface Route {
  /** As fastify writes it: `/api/alerts/:id/ack`. */
  path: string;
  methods: string[];
}

/**
 * Every route of the app, read from `printRoutes()`, the one public view of fastify's router:
 * a tree whose lines are `<indent><segment> (<METHODS>)`, four characters of indent a level.
 */
function routeTable(app: FastifyInstance): Route[] {
  const routes: Route[] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([\s│├└─]*?)([^\s│├└─].*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = Math.round((match[1] ?? '').length / 4) - 1;
    const segment = match[2] ?? '';
    const parent = depth > 0 ? (parents[depth - 1] ?? '') : '';
    const path = parent.endsWith('/') || segment.startsWith('/') || parent === '' ? `${parent}${segment}` : `${parent}/${segment}`;
    parents[depth] = path;
    parents.length = depth + 1;
    if (match[3]) routes.push({ path, methods: match[3].split(',').map((m) => m.trim()) });
  }
  return routes;
}

// ---------------------------------------------------------------------------------------------
// Requests

/** A value of a path parameter: one that exists at the time of the request, or junk. */
type ParamSpec = { known: number } | { junk: string; raw: boolean };
type TokenSpec = { none: true } | { role: Role } | { sms: true } | { junk: string } | { malformed: string };
type BodySpec = { kind: 'json' | 'form' | 'junk'; text: string | Buffer };

interface RequestSpec {
  /** Index into the route table, or null for a path of no route. */
  route: number | null;
  method: string;
  params: ParamSpec[];
  randomPath: string;
  query: [string, string][];
  rawQuery: string | null;
  auth: TokenSpec;
  cookie: TokenSpec;
  accept: string | null;
  /** `matching`: the type of the body sent (none without a body); else this value, or none. */
  contentType: { matching: true } | { value: string | null };
  origin: string | null;
  extraHeaders: [string, string][];
  body: BodySpec | null;
  /** Requests from one address share its failed-authentication budget; most get their own. */
  sharedAddress: boolean;
}

interface QueryParameter {
  name: string;
  values: string[];
}

const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ none: true as const }) },
  { weight: 4, arbitrary: fc.constantFrom<Role>('viewer', 'operator', 'admin', 'koulikoroOperator').map((role) => ({ role })) },
  { weight: 1, arbitrary: fc.constant({ sms: true as const }) },
  { weight: 2, arbitrary: junkToken.map((junk) => ({ junk })) },
  { weight: 1, arbitrary: fc.oneof(headerText, fc.constantFrom('Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'bearer  x y', 'Token abc')).map((malformed) => ({ malformed })) },
);

const GENERIC_QUERY = ['token', 'next', 'expired', 'out', 'state', 'page', 'borehole', 'done', 'failed', 'code', 'status', 'format', 'from', 'to', 'every', 'limit', 'offset', 'reason', 'region', 'v'];
const QUERY_VALUES = [
  SMS_INBOUND_TOKEN,
  '-1', '0', '1', '50', '500', '501', '1000', '1001', '1e21', '9007199254740993', '1.5', 'true',
  '2026-02-05', '2026-02-05T10:42:00Z', '2026-02-05T10:42:00+01:00', '2026-02-30', '1770288120000', '999999999999999', '0000-01-01', '9999-12-31T23:59:59Z',
  '15m', '1h', '1d', '0m', '999999d', '1y', 'json', 'csv', 'xml', 'open', 'acknowledged', 'resolved', 'unresolved', 'all',
  'khabou', 'banamba', 'Kayes', 'Koulikoro', 'ack', 'resolve', 'conflict', 'gone', '/alerts', '//evil.example', 'https://evil.example', '/\\evil',
];

function requestSpec(routes: readonly Route[], queryOf: (route: Route) => QueryParameter[]): fc.Arbitrary<RequestSpec> {
  const param: fc.Arbitrary<ParamSpec> = fc.oneof(
    { weight: 3, arbitrary: fc.nat().map((known) => ({ known })) },
    { weight: 2, arbitrary: fc.record({ junk: anyText, raw: fc.constant(false) }) },
    { weight: 1, arbitrary: fc.record({ junk: fc.oneof(fc.constantFrom('..', '%ZZ', '%', '%2F', 'a%00b', '%C0%AF', 'x'.repeat(65), '-'), fc.webSegment()), raw: fc.constant(true) }) },
  );
  const query = (route: number | null) => {
    const named = route === null ? [] : queryOf(routes[route] as Route);
    const names = [...named.map((p) => p.name), ...GENERIC_QUERY];
    const valuesOf = (name: string) => named.find((p) => p.name === name)?.values ?? [];
    return fc.array(
      fc.constantFrom(...names).chain((name) => fc.tuple(fc.constant(name), fc.oneof(fc.constantFrom(...valuesOf(name), ...QUERY_VALUES), anyText))),
      { maxLength: 4 },
    );
  };
  const jsonBody = fc.oneof(
    fc.record({ note: fc.oneof(anyText, fc.string({ maxLength: 500 })) }, { requiredKeys: [] }).map((value) => JSON.stringify(value)),
    fc
      .record(
        {
          from: fc.oneof(fc.constantFrom('+22376000001', '+22379000003', '+22376000041', '+22300000000', '22376000001', ''), anyText),
          text: fc.oneof(fc.constantFrom('OK 1', 'ok 2', 'REPARE 1 pompe changée', 'réparé 3', 'ETAT', 'état', 'OK', 'OK 99999999999999999999', ''), anyText),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value)),
  );
  const formBody = fc
    .array(
      fc.tuple(fc.constantFrom('token', 'next', 'back', 'note', 'From', 'Body', 'from', 'text', 'To'), fc.oneof(fc.constantFrom(...QUERY_VALUES, ...SECRETS, 'OK 1', 'ETAT', '+22376000001'), anyText)),
      { maxLength: 4 },
    )
    .map((fields) => new URLSearchParams(fields).toString());
  const hostile = fc.oneof({ weight: 12, arbitrary: fc.nat({ max: routes.length - 1 }) }, { weight: 1, arbitrary: fc.constant(null) }).chain((route) =>
    fc.record({
      route: fc.constant(route),
      method: route === null ? fc.constantFrom(...METHODS) : fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...(routes[route] as Route).methods) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      params: fc.array(param, { minLength: 2, maxLength: 2 }),
      // Every request line has a path that starts with `/` (RFC 9112 origin-form).
      randomPath: fc.oneof(fc.webPath().map((path) => (path.startsWith('/') ? path : `/${path}`)), anyText.map((text) => `/${encode(text)}`), fc.constantFrom('/api', '/api/', '/api/alerts/', '//', '/%', '/..%2F..%2Fetc%2Fpasswd', '/api/reports/uptime')),
      query: query(route),
      rawQuery: fc.option(fc.oneof(fc.webQueryParameters(), fc.constantFrom('%', '&&&', 'limit', 'limit=1&limit=2', '=x', '__proto__[x]=1', 'a'.repeat(5000))), { freq: 5 }),
      auth: tokenSpec,
      cookie: fc.oneof({ weight: 3, arbitrary: fc.constant<TokenSpec>({ none: true }) }, { weight: 2, arbitrary: tokenSpec }),
      accept: fc.option(fc.oneof(fc.constantFrom('application/json', 'text/html', 'text/csv', 'text/csv, application/json', '*/*', 'text/html,application/xhtml+xml'), headerText), { freq: 2 }),
      contentType: fc.oneof(
        { weight: 4, arbitrary: fc.constant({ matching: true as const }) },
        { weight: 1, arbitrary: fc.constant({ value: null }) },
        fc
          .oneof(
            fc.constantFrom('application/json', 'application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/octet-stream', 'application/xml'),
            headerText,
          )
          .map((value) => ({ value })),
      ),
      origin: fc.option(fc.constantFrom('http://localhost:80', 'http://localhost', 'https://evil.example', 'null', 'http://localhost:80.evil.example', 'not a url'), { freq: 2 }),
      extraHeaders: fc.array(
        fc.tuple(fc.constantFrom('x-twilio-signature', 'x-forwarded-for', 'x-forwarded-proto', 'if-none-match', 'referer', 'range', 'transfer-encoding-junk', 'x-http-method-override'), headerText),
        { maxLength: 2 },
      ),
      body: fc.option(
        fc.oneof(
          { weight: 3, arbitrary: jsonBody.map((text): BodySpec => ({ kind: 'json', text })) },
          { weight: 3, arbitrary: formBody.map((text): BodySpec => ({ kind: 'form', text })) },
          { weight: 2, arbitrary: junkBody.map((text): BodySpec => ({ kind: 'junk', text })) },
        ),
        { freq: 3 },
      ),
      sharedAddress: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  );
  // Most hostile requests stop at the first check they fail; a plausible one (a real token, an id
  // that exists, the body the route takes, from this site) goes all the way, writes included.
  const plausible = fc
    .tuple(
      hostile.filter((spec) => spec.route !== null),
      fc.array(fc.nat({ max: 3 }).map((known): ParamSpec => ({ known })), { minLength: 2, maxLength: 2 }),
      fc.oneof({ weight: 4, arbitrary: tokenSpec.filter((t) => 'role' in t || 'sms' in t) }, { weight: 1, arbitrary: tokenSpec }),
      fc.option(jsonBody, { freq: 2 }),
      fc.option(formBody, { freq: 2 }),
    )
    .map(([spec, params, token, json, form]): RequestSpec => {
      const api = (routes[spec.route ?? 0] as Route).path.startsWith('/api/');
      const body: BodySpec | null = api ? (json === null ? null : { kind: 'json', text: json }) : form === null ? null : { kind: 'form', text: form };
      return {
        ...spec,
        method: (routes[spec.route ?? 0] as Route).methods.includes(spec.method) ? spec.method : ((routes[spec.route ?? 0] as Route).methods[0] ?? 'GET'),
        params,
        query: [['token', SMS_INBOUND_TOKEN], ...spec.query.slice(0, 1)],
        rawQuery: null,
        auth: token,
        cookie: token,
        contentType: { matching: true },
        origin: 'http://localhost:80',
        body,
        sharedAddress: false,
      };
    });
  return fc.oneof({ weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: plausible });
}

// ---------------------------------------------------------------------------------------------
// The service under test

const registry = httpRegistry();
let service: RunningService;
let dataDir: string;
let stateDb: Database.Database;
const guard = processFailureGuard();
const errorLogs: string[] = [];

/** Alerts, their history and maintenance: what a failed write must leave as it was. */
function stateSnapshot(): string {
  const rows = (table: string) => stateDb.prepare(`SELECT * FROM ${table} ORDER BY rowid`).all();
  return JSON.stringify({ alerts: rows('alerts'), events: rows('alert_events'), maintenance: rows('maintenance') }, (_key, value: unknown) =>
    typeof value === 'bigint' ? value.toString() : value,
  );
}

/**
 * Values a path parameter may take, read from the state at the time of the request and chosen by
 * the segment before the parameter (`alerts/:id` takes alert ids, unresolved ones first).
 */
function knownValues(segment: string, assetNames: readonly string[]): string[] {
  const alerts = stateDb.prepare<[], { id: string; code: number }>("SELECT id, code FROM alerts ORDER BY state = 'resolved', rowid DESC LIMIT 20").all();
  const boreholes = [...registry.boreholes.keys()];
  if (segment === 'alerts') return [...alerts.map((a) => a.id), ...alerts.slice(0, 2).map((a) => String(a.code))];
  if (segment === 'boreholes') return boreholes;
  if (segment === 'assets') return [...assetNames];
  return [...boreholes, ...alerts.map((a) => a.id), ...assetNames, 'uptime', 'wpdx', '2026-01-01', '2026-02'];
}

/** Keeps a couple of alerts unresolved, so that acknowledging and resolving have something to act on. */
function reopenAlerts(): void {
  const unresolved = stateDb.prepare<[], { n: number }>("SELECT count(*) AS n FROM alerts WHERE state != 'resolved'").get()?.n ?? 0;
  if (unresolved >= 2) return;
  const nowMs = Date.now();
  service.rules.accept([pump('khabou', nowMs - 1000, null, true), pump('khabou', nowMs, 'dry_run'), level('kolokani', nowMs, 54), level('banamba', nowMs, 54)]);
}

beforeAll(async () => {
  dataDir = tempDir('fuzz-http');
  const config = testConfig({
    DATA_DIR: dataDir,
    LOG_LEVEL: 'error',
    MQTT_EMBEDDED_PORT: String(await freePort()),
    API_TOKENS: `viewer:${TOKENS.viewer},operator:${TOKENS.operator},admin:${TOKENS.admin},operator:${TOKENS.koulikoroOperator}:Koulikoro`,
    SMS_INBOUND_TOKEN,
  });
  const log = pino({ level: 'error' }, { write: (line: string) => void errorLogs.push(line) });
  // Ticks would change alerts between a request and the check that it changed nothing.
  service = await startService({ config, registry, log, tickIntervalMs: 3_600_000 });
  stateDb = new Database(join(dataDir, 'state.db'), { readonly: true });
});

afterAll(async () => {
  stateDb?.close();
  await service?.stop();
  guard.dispose();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

const tokenHeader = (spec: TokenSpec): string | null => {
  if ('none' in spec) return null;
  if ('role' in spec) return `Bearer ${TOKENS[spec.role]}`;
  if ('sms' in spec) return `Bearer ${SMS_INBOUND_TOKEN}`;
  if ('junk' in spec) return `Bearer ${spec.junk}`;
  return spec.malformed;
};
const cookieValue = (spec: TokenSpec): string | null => {
  if ('none' in spec) return null;
  if ('role' in spec) return TOKENS[spec.role];
  if ('sms' in spec) return SMS_INBOUND_TOKEN;
  if ('junk' in spec) return spec.junk;
  return encode(spec.malformed);
};

/** The answer came from the not-found handler: no route matched. */
const unrouted = (status: number, body: string) => status === 404 && (body.startsWith('{"error":"not_found","message":"no route ') || body.includes('Page introuvable'));

describe('fuzzing every HTTP route', () => {
  it('answers anything without a 5xx, a crash or a leaked token, and a failed write changes nothing', async () => {
    const app = service.app;
    const routes = routeTable(app);
    const openapi = (await app.inject('/openapi.json')).json<{ paths: Record<string, Record<string, { parameters?: { in: string; name: string; schema?: { enum?: string[]; minimum?: number; maximum?: number; default?: unknown } }[] }>> }>();

    // The table must hold every documented route: if the parse of printRoutes broke, this says so.
    const tablePaths = new Set(routes.map((r) => r.path));
    const documented = Object.keys(openapi.paths).map((path) => path.replace(/\{(\w+)\}/g, ':$1'));
    expect(documented.filter((path) => !tablePaths.has(path))).toEqual([]);
    expect(routes.length).toBeGreaterThanOrEqual(documented.length);

    const queryOf = (route: Route): QueryParameter[] => {
      const operations = openapi.paths[route.path.replace(/:(\w+)/g, '{$1}')] ?? {};
      return Object.values(operations).flatMap((operation) =>
        (operation.parameters ?? [])
          .filter((p) => p.in === 'query')
          .map((p) => ({
            name: p.name,
            values: [...(p.schema?.enum ?? []), ...[p.schema?.minimum, p.schema?.maximum, p.schema?.default].filter((v) => v !== undefined).map(String)],
          })),
      );
    };

    const login = await app.inject('/login');
    const assetNames = [...new Set([...login.body.matchAll(/\/assets\/([\w.-]+)/g)].map((m) => m[1] ?? ''))];
    expect(assetNames.length).toBeGreaterThan(0);

    const reached = new Map<string, number>();
    /** Answers by route and status, printed at the end: a fuzzer that only ever gets 401 proves little. */
    const statuses = new Map<string, Record<number, number>>();
    let changes = 0;
    let addressCounter = 0;
    const problems: string[] = [];

    await fc.assert(
      fc.asyncProperty(requestSpec(routes, queryOf), async (spec) => {
        reopenAlerts();
        const route = spec.route === null ? null : (routes[spec.route] as Route);
        let paramIndex = 0;
        const path =
          route === null
            ? spec.randomPath
            : route.path.replace(/:(\w+)/g, (_name, _group, offset: number) => {
                const param = spec.params[paramIndex++ % spec.params.length] as ParamSpec;
                const known = knownValues(route.path.slice(0, offset - 1).split('/').at(-1) ?? '', assetNames);
                if ('known' in param) return encode(known[param.known % known.length] ?? '');
                return param.raw ? param.junk : encode(param.junk);
              });
        const search = spec.rawQuery ?? new URLSearchParams(spec.query).toString();
        const url = search === '' ? path : `${path}?${search}`;
        const headers: Record<string, string> = {};
        const authorization = tokenHeader(spec.auth);
        if (authorization !== null) headers.authorization = authorization;
        const cookie = cookieValue(spec.cookie);
        if (cookie !== null) headers.cookie = `bhm_token=${cookie}`;
        if (spec.accept !== null) headers.accept = spec.accept;
        const bodyType = { json: 'application/json', form: 'application/x-www-form-urlencoded', junk: 'application/octet-stream' } as const;
        const contentType = 'matching' in spec.contentType ? (spec.body ? bodyType[spec.body.kind] : null) : spec.contentType.value;
        if (contentType !== null) headers['content-type'] = contentType;
        if (spec.origin !== null) headers.origin = spec.origin;
        for (const [name, value] of spec.extraHeaders) headers[name] = value;
        addressCounter += 1;
        const remoteAddress = spec.sharedAddress ? '10.9.9.9' : `10.${(addressCounter >> 16) & 255}.${(addressCounter >> 8) & 255}.${addressCounter & 255}`;

        const before = stateSnapshot();
        const response = await app.inject({
          method: spec.method as 'GET',
          url,
          headers,
          remoteAddress,
          ...(spec.body === null ? {} : { payload: spec.body.text }),
        });
        const after = stateSnapshot();
        guard.check();

        const { statusCode: status, body } = response;
        const what = `${spec.method} ${url.slice(0, 200)} → ${status} ${body.slice(0, 300)}`;
        if (route && !unrouted(status, body)) reached.set(`${spec.method} ${route.path}`, (reached.get(`${spec.method} ${route.path}`) ?? 0) + 1);
        const statusKey = `${route ? `${spec.method} ${route.path}` : 'no route'}`;
        statuses.set(statusKey, { ...statuses.get(statusKey), [status]: (statuses.get(statusKey)?.[status] ?? 0) + 1 });
        if (before !== after) changes += 1;

        // No 5xx; /readyz may say 503, naming what is down.
        if (status >= 500) {
          const readyz = path === '/readyz' && status === 503 && (JSON.parse(body) as { ready?: boolean }).ready === false;
          expect(readyz, `${what}\nerror log: ${errorLogs.slice(-3).join('')}`).toBe(true);
        }

        // An error says what is wrong: JSON with a message. Pages and their downloads answer a
        // browser: a page in HTML, a file (a stylesheet, a CSV) in plain text.
        if (status >= 400 && spec.method !== 'HEAD') {
          const type = String(response.headers['content-type'] ?? '');
          const forBrowser = route !== null && !route.path.startsWith('/api/') && !OPEN_ROUTES.includes(route.path);
          const page = !path.startsWith('/api/') && type.startsWith('text/html');
          const file = forBrowser && type.startsWith('text/plain') && body.trim() !== '';
          if (!page && !file) {
            expect(type, what).toMatch(/^application\/json/);
            const parsed = JSON.parse(body) as { error?: unknown; message?: unknown };
            expect(typeof parsed.message === 'string' && parsed.message !== '' && typeof parsed.error === 'string', what).toBe(true);
          }
        }

        // No token in an answer: neither ours nor the one presented. (The login cookie carries
        // the token it was given, by design; a redirect's Location carries the URL asked for.)
        const presented = [spec.auth, spec.cookie].flatMap((t) => ('junk' in t ? [t.junk] : []));
        const headerText = Object.entries(response.headers)
          .filter(([name]) => name !== 'set-cookie' && name !== 'location')
          .map(([name, value]) => `${name}: ${String(value)}`)
          .join('\n');
        for (const secret of [...SECRETS, ...presented]) {
          expect(body.includes(secret) || headerText.includes(secret), `${what}\nechoes a token`).toBe(false);
        }

        // Only a write that succeeded changes alerts or maintenance.
        const succeededWrite = spec.method === 'POST' && status < 400 && !String(response.headers.location ?? '').includes('failed=');
        if (!succeededWrite && before !== after) problems.push(`${what}\nchanged the state although it failed`);
        expect(problems).toEqual([]);
      }),
      fuzzParameters('HTTP requests', RUNS),
    );

    console.log(
      `[fuzz] HTTP answers by route and status (${changes} requests changed alerts or maintenance):\n${[...statuses.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, counts]) => `  ${key}: ${Object.entries(counts).map(([code, n]) => `${code}×${n}`).join(' ')}`)
        .join('\n')}`,
    );

    // Some writes went through: the state check above is able to see a change.
    expect(changes).toBeGreaterThan(0);

    // The service still answers, and logged no failure of its own.
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    expect(errorLogs.filter((line) => line.includes('request failed'))).toEqual([]);

    // Every route of the table was reached by some request, with each of its methods.
    const missed = routes.flatMap((route) => route.methods.map((method) => `${method} ${route.path}`)).filter((key) => !reached.has(key));
    expect(missed, 'routes the fuzzer never reached: raise FUZZ_RUNS or teach requestSpec their parameters').toEqual([]);
  });
});
