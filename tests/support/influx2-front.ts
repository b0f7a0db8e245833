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
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface Influx2FrontOptions {
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
const ORG_ID = '0a1b2c3d4e5f6a7b';
const V1_PRECISION: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

interface ApiError {
  status: number;
  code: string;
  message: string;
  retryAfterS?: number;
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

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    const text = body === undefined ? '' : JSON.stringify(body);
    res.writeHead(status, { 'x-influxdb-version': FRONT_VERSION, 'x-influxdb-build': 'OSS', ...(body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...headers });
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

  async function query(req: IncomingMessage, res: ServerResponse, params: URLSearchParams): Promise<void> {
    if (tokenOf(req, params) !== token) return fail(res, unauthorized);
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
    res.writeHead(response.status, { 'content-type': 'application/json', 'x-influxdb-version': FRONT_VERSION });
    res.end(await response.text());
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://front');
    const params = url.searchParams;
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
