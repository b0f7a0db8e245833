/**
 * InfluxDB 2.x's HTTP API in front of a real InfluxDB 1.6.7 (Debian's), so that the production
 * write path runs in CI where no InfluxDB 2.x can (no container runtime here).
 *
 * It answers as InfluxDB 2.7's API documentation describes it, not as the client library happens
 * to behave:
 * - `GET|HEAD /ping`: 204 with `X-Influxdb-Version` and `X-Influxdb-Build`;
 * - `GET /health`: 200 `{name, message, status: "pass", checks, version, commit}`;
 * - `POST /api/v2/write?org=|orgID=&bucket=&precision=ns|us|ms|s` (ns by default) with
 *   `Authorization: Token …`, bodies plain or `Content-Encoding: gzip`; 204, or a JSON error
 *   `{code, message}`: 400 `invalid` (line protocol the engine refuses), 401 `unauthorized`,
 *   404 `not found` (organization or bucket), 413 `request too large`, 429/503 with `Retry-After`;
 * - the v1-compatible `/write` and `/query`, with the DBRP mapping `db[/rp]` → bucket and the
 *   token as `Authorization: Token`, the `p` parameter or the password of Basic auth;
 * - `GET /api/v2/buckets` (`?name=`) and `GET /api/v2/orgs` (`?org=`).
 * A bucket is one 1.6.7 database (`front_<bucket>`), so what a test writes through the front is
 * read back from the engine that really stored it.
 *
 * Switches for the tests: `outage(seconds)` (every write 503), `throttle(seconds)` (429),
 * `rotateToken(token)` (the old one gets 401), `dropBucket(name)` / `restoreBucket(name)` (404).
 *
 * With `flavour: 'v3'` it answers as InfluxDB 3 Core's API reference describes it instead:
 * - `GET /ping`, authenticated as every 3 Core endpoint is by default: 200 with a JSON body
 *   `{version, revision, process_id}` (the version header only when `versionHeader` is set, so
 *   that the body is what a client must read); `GET /health`: `OK`;
 * - `POST /api/v3/write_lp?db=&precision=auto|nanosecond|microsecond|millisecond|second` (the
 *   short names ns/us/ms/s too; `auto`, the default, guesses from the magnitude) with
 *   `accept_partial` (default true) and `Authorization: Bearer` (or `Token`); a database is
 *   created by its first write. A line that does not parse: with `accept_partial=false` nothing is
 *   written and the answer is 400 `{error: "parsing failed for write_lp endpoint", data: {…}}`;
 *   otherwise the other lines are written and the answer is 400 `{error: "partial write of line
 *   protocol occurred", data: [{original_line, line_number, error_message}]}`. Errors are
 *   `{error}`. Limit: the all-or-nothing check is syntax only (a field-type conflict is the
 *   1.6.7 engine's own partial write);
 * - v1 `/query?db=` on the database of that name.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { LineProtocolError, parseLine } from '../../src/storage/line-protocol-parser.js';

export interface Influx2FrontOptions {
  /** Which server's API to answer with: InfluxDB 2.7 (the default) or InfluxDB 3 Core. */
  flavour?: 'v2' | 'v3';
  /** v3: also send `X-Influxdb-Version` on `/ping` (the JSON body always says it). */
  versionHeader?: boolean;
  /** The InfluxDB 1.x engine behind the front, e.g. `http://127.0.0.1:8086`. */
  engineUrl: string;
  token: string;
  org: string;
  buckets: readonly string[];
  /** Largest decompressed body accepted (InfluxDB 2.x's default is 25 MB). */
  maxBodyBytes?: number;
  port?: number;
}

export interface Influx2Front {
  readonly url: string;
  readonly token: string;
  readonly org: string;
  readonly orgId: string;
  /** The 1.6.7 database behind a bucket. */
  databaseOf(bucket: string): string;
  outage(seconds: number): void;
  throttle(seconds: number): void;
  rotateToken(token: string): void;
  dropBucket(name: string): void;
  restoreBucket(name: string): void;
  /** Answers to `/api/v2/write` and `/write`, by status code. */
  readonly writeStatuses: ReadonlyMap<number, number>;
  stop(): Promise<void>;
}

export const FRONT_VERSION = 'v2.7.12';
export const FRONT_V3_VERSION = '3.8.0';
const ORG_ID = '0a1b2c3d4e5f6a7b';
const V1_PRECISION: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

interface ApiError {
  status: number;
  code: string;
  message: string;
  retryAfterS?: number;
}

/** 3 Core's write_lp precisions, long and short names, as nanoseconds per unit (`auto`: 0). */
const V3_PRECISION: Record<string, bigint> = {
  auto: 0n,
  nanosecond: 1n,
  ns: 1n,
  microsecond: 1_000n,
  us: 1_000n,
  millisecond: 1_000_000n,
  ms: 1_000_000n,
  second: 1_000_000_000n,
  s: 1_000_000_000n,
};
const PROCESS_ID = '7f1c2d9e-0b4a-4c55-9d1e-3a6b8f0e2c11';

/**
 * A line with its timestamp in nanoseconds, or why it does not parse. `auto` guesses the unit
 * from the magnitude as 3 Core documents it: below 5e9 seconds, 5e12 milliseconds, 5e15
 * microseconds, else nanoseconds. The syntax is checked by the service's own line-protocol
 * reader (its timestamp check is for milliseconds, so the line is checked without it).
 */
function lineInNanoseconds(line: string, unitNs: bigint): string | { error: string } {
  const space = line.lastIndexOf(' ');
  const tail = space < 0 ? '' : line.slice(space + 1);
  const stamped = /^-?\d+$/.test(tail);
  const head = stamped ? line.slice(0, space) : line;
  try {
    if (parseLine(head, 0) === null) return { error: 'empty line' };
  } catch (error) {
    if (error instanceof LineProtocolError) return { error: error.message };
    throw error;
  }
  if (!stamped) return line;
  const value = BigInt(tail);
  const magnitude = value < 0n ? -value : value;
  const unit = unitNs !== 0n ? unitNs : magnitude < 5_000_000_000n ? 1_000_000_000n : magnitude < 5_000_000_000_000n ? 1_000_000n : magnitude < 5_000_000_000_000_000n ? 1_000n : 1n;
  return `${head} ${(value * unit).toString()}`;
}

const bucketIdOf = (name: string): string => Buffer.from(name).toString('hex').padEnd(16, '0').slice(0, 16);

export async function startInflux2Front(options: Influx2FrontOptions): Promise<Influx2Front> {
  const maxBodyBytes = options.maxBodyBytes ?? 25_000_000;
  let token = options.token;
  const buckets = new Set(options.buckets);
  let outageUntilMs = 0;
  let throttleUntilMs = 0;
  const writeStatuses = new Map<number, number>();
  const databaseOf = (bucket: string): string => `front_${bucket.replace(/[^A-Za-z0-9_]/g, '_')}`;

  const engine = async (path: string, params: URLSearchParams, init: RequestInit = {}): Promise<Response> =>
    fetch(new URL(`${path}?${params.toString()}`, options.engineUrl), { ...init, signal: AbortSignal.timeout(30_000) });

  for (const bucket of buckets) {
    const response = await engine('/query', new URLSearchParams({ q: `CREATE DATABASE "${databaseOf(bucket)}"` }), { method: 'POST' });
    if (!response.ok) throw new Error(`the engine behind the InfluxDB 2.x front refused CREATE DATABASE: ${response.status}`);
  }

  // 2.x names itself on every answer; 3 Core's build, and its version only where asked for.
  const versionHeaders: Record<string, string> =
    options.flavour === 'v3'
      ? { 'x-influxdb-build': 'Core', ...(options.versionHeader ? { 'x-influxdb-version': FRONT_V3_VERSION } : {}) }
      : { 'x-influxdb-version': FRONT_VERSION, 'x-influxdb-build': 'OSS' };

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { ...versionHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...headers });
    res.end(text);
  }

  function fail(res: ServerResponse, error: ApiError): void {
    send(res, error.status, { code: error.code, message: error.message }, error.retryAfterS === undefined ? {} : { 'retry-after': String(error.retryAfterS) });
  }

  /** The token of a request: `Authorization: Token …`, v1's `p`, or Basic auth's password. */
  function tokenOf(req: IncomingMessage, params: URLSearchParams): string | undefined {
    const header = req.headers.authorization ?? '';
    if (header.startsWith('Token ')) return header.slice(6);
    if (header.startsWith('Basic ')) return Buffer.from(header.slice(6), 'base64').toString('utf8').split(':').slice(1).join(':');
    return params.get('p') ?? undefined;
  }

  const unauthorized: ApiError = { status: 401, code: 'unauthorized', message: 'unauthorized access' };

  async function readBody(req: IncomingMessage): Promise<Buffer | ApiError> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      // Read to the end even when too large, so that the connection can carry the next request.
      if (size <= maxBodyBytes) chunks.push(chunk as Buffer);
    }
    if (size > maxBodyBytes) return { status: 413, code: 'request too large', message: 'unable to read data: points batch is too large' };
    const raw = Buffer.concat(chunks);
    if (req.headers['content-encoding'] !== 'gzip') return raw;
    try {
      const body = gunzipSync(raw, { maxOutputLength: maxBodyBytes });
      return body;
    } catch (error) {
      const tooLarge = (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      return tooLarge
        ? { status: 413, code: 'request too large', message: 'unable to read data: points batch is too large' }
        : { status: 400, code: 'invalid', message: `unable to decode gzip body: ${(error as Error).message}` };
    }
  }

  function refusedNow(): ApiError | undefined {
    const now = Date.now();
    if (now < outageUntilMs) return { status: 503, code: 'unavailable', message: 'service unavailable', retryAfterS: Math.ceil((outageUntilMs - now) / 1000) };
    if (now < throttleUntilMs) return { status: 429, code: 'too many requests', message: 'write limit exceeded', retryAfterS: Math.ceil((throttleUntilMs - now) / 1000) };
    return undefined;
  }

  /** Writes line protocol into a bucket's database; the engine's own refusal becomes a 2.x error. */
  async function write(bucket: string, precision: string, body: Buffer): Promise<ApiError | undefined> {
    const v1Precision = V1_PRECISION[precision];
    if (!v1Precision) return { status: 400, code: 'invalid', message: `invalid precision "${precision}": expected ns, us, ms or s` };
    const response = await engine('/write', new URLSearchParams({ db: databaseOf(bucket), precision: v1Precision }), { method: 'POST', body });
    if (response.status === 204) return undefined;
    const text = await response.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // the engine's text as it is
    }
    if (response.status === 400) return { status: 400, code: 'invalid', message };
    return { status: 503, code: 'unavailable', message: `engine answered ${response.status}: ${message}` };
  }

  async function writeV2(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (tokenOf(req, params) !== token) return fail(res, unauthorized);
    const org = params.get('org');
    const orgId = params.get('orgID');
    if (org === null && orgId === null) return fail(res, { status: 400, code: 'invalid', message: 'Please provide either orgID or org' });
    if ((org !== null && org !== options.org) || (orgId !== null && orgId !== ORG_ID)) {
      return fail(res, { status: 404, code: 'not found', message: `organization name "${org ?? orgId}" not found` });
    }
    const bucket = params.get('bucket');
    if (bucket === null || bucket === '') return fail(res, { status: 400, code: 'invalid', message: 'Please provide bucket' });
    const name = [...buckets].find((b) => b === bucket || bucketIdOf(b) === bucket);
    if (name === undefined) return fail(res, { status: 404, code: 'not found', message: `bucket "${bucket}" not found` });
    const body = await readBody(req);
    if (!Buffer.isBuffer(body)) return fail(res, body);
    const refused = refusedNow();
    if (refused) return fail(res, refused);
    const error = await write(name, params.get('precision') ?? 'ns', body);
    if (error) return fail(res, error);
    send(res, 204);
  }

  /** The DBRP mapping: a v1 `db` (and `rp`) names a bucket. */
  function bucketOfV1(params: URLSearchParams): string | undefined {
    const db = params.get('db');
    return db !== null && buckets.has(db) ? db : undefined;
  }

  async function writeV1(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (tokenOf(req, params) !== token) return fail(res, unauthorized);
    const bucket = bucketOfV1(params);
    if (bucket === undefined) return fail(res, { status: 404, code: 'not found', message: `no dbrp mapping for database "${params.get('db') ?? ''}" and retention policy "${params.get('rp') ?? ''}"` });
    const body = await readBody(req);
    if (!Buffer.isBuffer(body)) return fail(res, body);
    const refused = refusedNow();
    if (refused) return fail(res, refused);
    const v1Precision = params.get('precision') ?? 'n';
    const precision = Object.entries(V1_PRECISION).find(([, short]) => short === v1Precision)?.[0] ?? (v1Precision === 'ns' ? 'ns' : v1Precision);
    const error = await write(bucket, precision, body);
    if (error) return fail(res, error);
    send(res, 204);
  }

  async function query(req: IncomingMessage, res: ServerResponse, params: URLSearchParams, authorised = false): Promise<void> {
    if (!authorised && tokenOf(req, params) !== token) return fail(res, unauthorized);
    const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    if (!Buffer.isBuffer(body)) return fail(res, body);
    const merged = new URLSearchParams(params);
    if (body.length > 0) for (const [key, value] of new URLSearchParams(body.toString('utf8'))) merged.set(key, value);
    const bucket = bucketOfV1(merged);
    if (bucket === undefined) return send(res, 200, { results: [{ statement_id: 0, error: `database not found: ${merged.get('db') ?? ''}` }] });
    merged.set('db', databaseOf(bucket));
    merged.delete('rp');
    merged.delete('u');
    merged.delete('p');
    const response = await engine('/query', merged, { method: 'POST' });
    res.writeHead(response.status, { 'content-type': 'application/json', ...versionHeaders });
    res.end(await response.text());
  }

  // --- InfluxDB 3 Core's surface (flavour 'v3') ---------------------------------------------

  function fail3(res: ServerResponse, status: number, error: string, data?: unknown, retryAfterS?: number): void {
    send(res, status, data === undefined ? { error } : { error, data }, retryAfterS === undefined ? {} : { 'retry-after': String(retryAfterS) });
  }

  /** 3 Core takes `Authorization: Bearer` and, for compatibility, `Token`. */
  function authorised3(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    return header === `Bearer ${token}` || header === `Token ${token}`;
  }

  async function ensureDatabase(name: string): Promise<void> {
    if (buckets.has(name)) return;
    const response = await engine('/query', new URLSearchParams({ q: `CREATE DATABASE "${databaseOf(name)}"` }), { method: 'POST' });
    if (!response.ok) throw new Error(`the engine refused CREATE DATABASE: ${response.status}`);
    buckets.add(name);
  }

  async function writeV3(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (!authorised3(req)) return fail3(res, 401, 'the request was not authenticated');
    const db = params.get('db');
    if (db === null || db === '') return fail3(res, 400, 'missing query parameter: db');
    if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(db)) return fail3(res, 400, `invalid database name "${db}"`);
    const precision = V3_PRECISION[params.get('precision') ?? 'auto'];
    if (precision === undefined) return fail3(res, 400, `invalid precision "${params.get('precision') ?? ''}": expected auto, nanosecond, microsecond, millisecond or second`);
    const acceptPartial = params.get('accept_partial') !== 'false';
    const body = await readBody(req);
    if (!Buffer.isBuffer(body)) return fail3(res, body.status, body.message);
    const refused = refusedNow();
    if (refused) return fail3(res, refused.status, refused.message, undefined, refused.retryAfterS);

    const accepted: string[] = [];
    const rejected: { original_line: string; line_number: number; error_message: string }[] = [];
    body
      .toString('utf8')
      .split('\n')
      .forEach((raw, index) => {
        const line = raw.trim();
        if (line === '' || line.startsWith('#')) return;
        const converted = lineInNanoseconds(line, precision);
        if (typeof converted === 'string') accepted.push(converted);
        else rejected.push({ original_line: line.slice(0, 100), line_number: index + 1, error_message: converted.error });
      });
    if (rejected.length > 0 && !acceptPartial) return fail3(res, 400, 'parsing failed for write_lp endpoint', rejected[0]);
    await ensureDatabase(db);
    if (accepted.length > 0) {
      const response = await engine('/write', new URLSearchParams({ db: databaseOf(db), precision: 'n' }), { method: 'POST', body: accepted.join('\n') });
      if (response.status !== 204) {
        const text = await response.text();
        if (response.status !== 400) return fail3(res, 503, `engine answered ${response.status}: ${text}`);
        rejected.push({ original_line: '', line_number: 0, error_message: text });
      }
    }
    if (rejected.length > 0) return fail3(res, 400, 'partial write of line protocol occurred', rejected.slice(0, 100));
    send(res, 204);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://front');
    const params = url.searchParams;
    if (options.flavour === 'v3') return routeV3(req, res, url.pathname, params);
    if (url.pathname === '/ping' && (req.method === 'GET' || req.method === 'HEAD')) return send(res, 204);
    if (url.pathname === '/health' && req.method === 'GET') {
      return send(res, 200, { name: 'influxdb', message: 'ready for queries and writes', status: 'pass', checks: [], version: FRONT_VERSION, commit: 'front' });
    }
    if (url.pathname === '/api/v2/write' && req.method === 'POST') return count(res, writeV2(req, res, params));
    if (url.pathname === '/write' && req.method === 'POST') return count(res, writeV1(req, res, params));
    if (url.pathname === '/query' && (req.method === 'GET' || req.method === 'POST')) return query(req, res, params);
    if (url.pathname === '/api/v2/buckets' && req.method === 'GET') {
      if (tokenOf(req, params) !== token) return fail(res, unauthorized);
      const name = params.get('name');
      const list = [...buckets].filter((b) => name === null || b === name).map((b) => ({ id: bucketIdOf(b), orgID: ORG_ID, type: 'user', name: b, retentionRules: [] }));
      return send(res, 200, { links: { self: '/api/v2/buckets' }, buckets: list });
    }
    if (url.pathname === '/api/v2/orgs' && req.method === 'GET') {
      if (tokenOf(req, params) !== token) return fail(res, unauthorized);
      const org = params.get('org');
      const list = org === null || org === options.org ? [{ id: ORG_ID, name: options.org }] : [];
      return send(res, 200, { links: { self: '/api/v2/orgs' }, orgs: list });
    }
    return fail(res, { status: 404, code: 'not found', message: 'path not found' });
  }

  async function routeV3(req: IncomingMessage, res: ServerResponse, path: string, params: URLSearchParams): Promise<void> {
    if (path === '/ping' && req.method === 'GET') {
      if (!authorised3(req)) return fail3(res, 401, 'the request was not authenticated');
      res.writeHead(200, { 'content-type': 'application/json', ...versionHeaders });
      res.end(JSON.stringify({ version: FRONT_V3_VERSION, revision: 'front', process_id: PROCESS_ID }));
      return;
    }
    if (path === '/health' && req.method === 'GET') {
      if (!authorised3(req)) return fail3(res, 401, 'the request was not authenticated');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('OK');
      return;
    }
    if (path === '/api/v3/write_lp' && req.method === 'POST') return count(res, writeV3(req, res, params));
    if (path === '/query' && (req.method === 'GET' || req.method === 'POST')) {
      if (!authorised3(req) && params.get('p') !== token) return fail3(res, 401, 'the request was not authenticated');
      return query(req, res, params, true);
    }
    return fail3(res, 404, 'not found');
  }

  async function count(res: ServerResponse, work: Promise<void>): Promise<void> {
    await work;
    writeStatuses.set(res.statusCode, (writeStatuses.get(res.statusCode) ?? 0) + 1);
  }

  const server: Server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) fail(res, { status: 503, code: 'unavailable', message: `front failed: ${(error as Error).message}` });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get token() {
      return token;
    },
    org: options.org,
    orgId: ORG_ID,
    databaseOf,
    outage: (seconds) => {
      outageUntilMs = Date.now() + seconds * 1000;
    },
    throttle: (seconds) => {
      throttleUntilMs = Date.now() + seconds * 1000;
    },
    rotateToken: (next) => {
      token = next;
    },
    dropBucket: (name) => {
      buckets.delete(name);
    },
    restoreBucket: (name) => {
      buckets.add(name);
    },
    writeStatuses,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The same front answering as InfluxDB 3 Core (see the top of this file). */
export function startInflux3Front(options: Omit<Influx2FrontOptions, 'flavour' | 'org'> & { org?: string }): Promise<Influx2Front> {
  return startInflux2Front({ org: '', ...options, flavour: 'v3' });
}
