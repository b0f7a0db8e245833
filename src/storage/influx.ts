/**
 * InfluxDB access: writes (line protocol) and InfluxQL queries, for InfluxDB 1.x, 2.x and 3.x.
 *
 * The server's version comes from `/ping` (a header on 1.x and 2.x, a JSON body on 3.x). Each
 * major version gets its native write endpoint, one plain HTTP POST per journal batch:
 *   - 1.x (any minor): v1 `/write?db=&rp=&precision=ms`. 1.8 also has a v2-compatible
 *     `/api/v2/write`, but it is a shim over the same handler and 1.6/1.7 (Debian) lack it.
 *   - 2.x: `/api/v2/write?org=&bucket=&precision=ms` with `Authorization: Token`.
 *   - 3.x: `/api/v3/write_lp?db=&precision=millisecond&accept_partial=false` with
 *     `Authorization: Bearer` (InfluxDB 3 Core's own endpoint; all or nothing, like 1.x and 2.x,
 *     so a refused batch can be split to find the bad line).
 * Bodies above GZIP_MIN_BYTES are gzipped (`Content-Encoding: gzip`, which all three accept).
 * The precision is spelt exactly: an unknown precision is read as nanoseconds (1.x, 2.x) or
 * guessed from the magnitude (3.x) without complaint.
 *
 * Writes deliberately do not use `@influxdata/influxdb-client`'s WriteApi: it buffers and retries
 * in memory, while the journal is the durable retry buffer, and its batching options allocate an
 * array of `batchSize` up front (`RangeError: Invalid array length` for an unbounded batch,
 * issue 13). What the service needs is one request per batch and the server's answer.
 *
 * Queries are InfluxQL on `/query`, which 1.x answers natively, 2.x through a DBRP mapping and 3.x
 * through its v1-compatible API. On 1.x a query error comes back as HTTP 200 with an `error` field.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Logger } from 'pino';

const gzip = promisify(gzipCallback);

export interface InfluxSettings {
  url: string;
  /** 2.x: an API token. 1.x: `user:password`, or empty. */
  token: string;
  org: string;
  /** 2.x: the bucket. 1.x: `db` or `db/rp`. */
  bucket: string;
  timeoutMs?: number;
  /** Wall clock, for a `Retry-After` given as an HTTP date. */
  now?: () => number;
}

/** Bodies from this size on are sent gzipped: a 5,000-point batch shrinks about tenfold. */
export const GZIP_MIN_BYTES = 16 * 1024;

/** A write the store refused or could not take. Retryable ones are sent again later. */
export class StoreWriteError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    /** How long the server asked to wait before the next write (`Retry-After`), from its answer. */
    readonly retryAfterMs?: number,
    /** For an operator: what went wrong and what to check, without credentials. */
    readonly reason: string = message,
  ) {
    super(message);
    this.name = 'StoreWriteError';
  }
}

export class InfluxQueryError extends Error {
  override name = 'InfluxQueryError';
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

interface QueryResponse {
  error?: string;
  results?: { statement_id?: number; error?: string; series?: InfluxSeries[] }[];
}

interface ServerVersion {
  text: string;
  major: number;
  minor: number;
}

/**
 * Whether a status means "try again later": an outage, an overload, or a token, org or bucket
 * that an operator has to fix (401, 403, 404), which must never cost a valid reading. Only 400
 * (bad line protocol), 413 (body too large) and 422 (points refused, e.g. outside retention) are
 * answers about the data; the drain splits such a batch in halves until the refused lines are
 * isolated, so a 413 batch is stored in smaller pieces and only a single line still 413 is refused.
 */
export function isRetryableStatus(status: number): boolean {
  return !(status === 400 || status === 413 || status === 422);
}

/** A `Retry-After` value, delay-seconds or an HTTP date (RFC 9110 section 10.2.3), in ms from `nowMs`. */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** What an operator reads in the log and in `/readyz`: the status, and what to check. */
function refusalReason(status: number, serverMessage: string): string {
  const said = serverMessage === '' ? '' : `: ${serverMessage}`;
  switch (status) {
    case 401:
      return '401 unauthorized (check INFLUX_TOKEN)';
    case 403:
      return `403 forbidden${said} (the token may not write to the bucket: check INFLUX_TOKEN)`;
    case 404:
      return `404 not found${said} (check INFLUX_ORG and INFLUX_BUCKET)`;
    default:
      return `${status}${said}`;
  }
}

/**
 * The message of an InfluxDB error body: 2.x sends `{code, message}`, 1.x `{error}`, 3.x
 * `{error, data}` where `data` names the refused line (one object, or a list for a partial write).
 */
function serverMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown; error?: unknown; data?: unknown };
    let message = typeof parsed.message === 'string' ? parsed.message : typeof parsed.error === 'string' ? parsed.error : text;
    const first = (Array.isArray(parsed.data) ? parsed.data[0] : parsed.data) as { line_number?: unknown; error_message?: unknown } | undefined;
    if (first && typeof first.error_message === 'string') message += ` (line ${String(first.line_number)}: ${first.error_message})`;
    return message.slice(0, 300);
  } catch {
    return text.trim().slice(0, 300);
  }
}

/** `fetch failed` says nothing; its cause (ECONNREFUSED, a timeout) does. */
function networkReason(error: unknown): string {
  const err = error as Error & { cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError') return 'no answer in time';
  const cause = err.cause?.code ?? err.cause?.message;
  return cause ? `${err.message} (${cause})` : err.message;
}

export function parseVersion(text: string): ServerVersion {
  const match = /(\d+)\.(\d+)/.exec(text);
  return { text, major: Number(match?.[1] ?? 0), minor: Number(match?.[2] ?? 0) };
}

/** Which write endpoint a server version gets (see the top of this file). */
type WriteEndpoint = 'v1' | 'v2' | 'v3';

function writeEndpointOf(version: ServerVersion): WriteEndpoint {
  if (version.major >= 3) return 'v3';
  if (version.major === 2) return 'v2';
  // 1.x, and a server that does not say its version: the v1 endpoint every version has.
  return 'v1';
}

export class InfluxClient {
  private version: ServerVersion | null = null;
  private readonly db: string;
  private readonly rp: string | undefined;
  private readonly timeoutMs: number;

  constructor(
    private readonly settings: InfluxSettings,
    private readonly log: Logger,
  ) {
    const [db, rp] = settings.bucket.split('/');
    this.db = db ?? settings.bucket;
    this.rp = rp;
    this.timeoutMs = settings.timeoutMs ?? 30_000;
  }

  /** The server's version, asked once it answers; throws while it is unreachable. */
  async connect(): Promise<ServerVersion> {
    if (this.version) return this.version;
    const text = await this.ping(this.timeoutMs);
    const version = parseVersion(text);
    if (version.major === 1) await this.ensureDatabase();
    this.version = version;
    this.log.info({ version: text, writeApi: writeEndpointOf(version) }, 'influxdb connected');
    return version;
  }

  /**
   * `GET /ping`; resolves to the server's version. The token goes along: InfluxDB 3 Core
   * authenticates /ping by default (1.x and 2.x ignore it there). Throws when the server refuses
   * it, so that a wrong token is not mistaken for a server of unknown version.
   */
  async ping(timeoutMs = 2000): Promise<string> {
    const response = await fetch(new URL('/ping', this.settings.url), { headers: this.pingHeaders(), signal: AbortSignal.timeout(timeoutMs) });
    if (response.status === 401 || response.status === 403) {
      await response.arrayBuffer().catch(() => undefined);
      const reason = refusalReason(response.status, '');
      throw new StoreWriteError(`influxdb /ping answered ${reason}`, true, response.status, undefined, reason);
    }
    const header = response.headers.get('x-influxdb-version');
    if (header) {
      await response.arrayBuffer().catch(() => undefined);
      return header;
    }
    // InfluxDB 3 answers /ping with a JSON body that names the version.
    const body = (await response.json().catch(() => ({}))) as { version?: unknown };
    return typeof body.version === 'string' ? body.version : 'unknown';
  }

  /** Before the version is known: Basic for a 1.x `user:password`, else the token as Bearer. */
  private pingHeaders(): Record<string, string> {
    const { token } = this.settings;
    if (token === '') return {};
    if (token.includes(':')) return { authorization: `Basic ${Buffer.from(token).toString('base64')}` };
    return { authorization: `Bearer ${token}` };
  }

  /** Writes line protocol. Throws StoreWriteError; `retryable: false` means the data is refused. */
  async writeLines(body: Buffer): Promise<void> {
    let version: ServerVersion;
    try {
      version = await this.connect();
    } catch (error) {
      if (error instanceof StoreWriteError) throw error;
      const reason = `unreachable: ${networkReason(error)}`;
      throw new StoreWriteError(`influxdb ${reason}`, true, undefined, undefined, reason);
    }
    const endpoint = writeEndpointOf(version);
    const { token, org, bucket } = this.settings;
    const params = new URLSearchParams();
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    let path: string;
    if (endpoint === 'v3') {
      path = '/api/v3/write_lp';
      params.set('db', this.db);
      params.set('precision', 'millisecond');
      params.set('accept_partial', 'false');
      if (token !== '') headers.authorization = `Bearer ${token}`;
    } else if (endpoint === 'v2') {
      path = '/api/v2/write';
      params.set('org', org);
      params.set('bucket', bucket);
      params.set('precision', 'ms');
      if (token !== '') headers.authorization = `Token ${token}`;
    } else {
      path = '/write';
      params.set('db', this.db);
      if (this.rp) params.set('rp', this.rp);
      params.set('precision', 'ms');
      Object.assign(headers, this.authHeaders());
    }
    await this.post(`${path}?${params.toString()}`, headers, body);
  }

  /** Runs InfluxQL statements; the results of each, in order. Throws InfluxQueryError. */
  async query(q: string): Promise<InfluxSeries[][]> {
    const params = new URLSearchParams({ q, db: this.db, epoch: 'ms' });
    if (this.rp) params.set('rp', this.rp);
    const response = await fetch(new URL('/query', this.settings.url), {
      method: 'POST',
      headers: { ...this.authHeaders(), 'content-type': 'application/x-www-form-urlencoded' },
      body: params,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await response.text();
    let parsed: QueryResponse;
    try {
      parsed = JSON.parse(text) as QueryResponse;
    } catch {
      throw new InfluxQueryError(`influxdb answered ${response.status}: ${text.slice(0, 200)}`);
    }
    if (parsed.error) throw new InfluxQueryError(parsed.error);
    if (!response.ok) throw new InfluxQueryError(`influxdb answered ${response.status}`);
    return (parsed.results ?? []).map((result) => {
      if (result.error) throw new InfluxQueryError(result.error);
      return result.series ?? [];
    });
  }

  private authHeaders(): Record<string, string> {
    const { token } = this.settings;
    if (token === '') return {};
    const v1 = this.version?.major === 1 && token.includes(':');
    if (v1) return { authorization: `Basic ${Buffer.from(token).toString('base64')}` };
    // 3.x's own scheme is Bearer; it takes Token only on its compatibility endpoints.
    if ((this.version?.major ?? 0) >= 3) return { authorization: `Bearer ${token}` };
    return { authorization: `Token ${token}` };
  }

  private async ensureDatabase(): Promise<void> {
    const response = await fetch(new URL('/query', this.settings.url), {
      method: 'POST',
      headers: {
        ...(this.settings.token.includes(':') ? { authorization: `Basic ${Buffer.from(this.settings.token).toString('base64')}` } : {}),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ q: `CREATE DATABASE "${this.db.replace(/"/g, '\\"')}"` }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const parsed = (await response.json().catch(() => ({}))) as QueryResponse;
    const error = parsed.error ?? parsed.results?.[0]?.error;
    if (error || !response.ok) {
      // Without admin rights the database may still exist: let the writes tell.
      this.log.warn({ db: this.db, status: response.status, error }, 'influxdb database could not be created');
    }
  }

  /** One write request; resolves on 2xx, else throws a StoreWriteError saying what to do. */
  private async post(pathAndQuery: string, headers: Record<string, string>, body: Buffer): Promise<void> {
    let payload = body;
    if (body.length >= GZIP_MIN_BYTES) {
      payload = await gzip(body);
      headers['content-encoding'] = 'gzip';
    }
    let response: Response;
    try {
      response = await fetch(new URL(pathAndQuery, this.settings.url), {
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const reason = `unreachable: ${networkReason(error)}`;
      throw new StoreWriteError(`influxdb write failed: ${reason}`, true, undefined, undefined, reason);
    }
    if (response.ok) {
      // Drain the (empty) body so the connection goes back to the pool.
      await response.arrayBuffer().catch(() => undefined);
      return;
    }
    const { status } = response;
    const text = await response.text().catch(() => '');
    // A missing database (1.x: created again on the next connect), a bucket dropped, or a server
    // replaced by another major version behind the same URL: ask /ping again on the next write.
    if (status === 404) this.version = null;
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), (this.settings.now ?? Date.now)());
    const reason = refusalReason(status, serverMessage(text));
    throw new StoreWriteError(`influxdb write answered ${reason}`, isRetryableStatus(status), status, retryAfterMs, reason);
  }
}
