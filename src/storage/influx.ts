/**
 * InfluxDB access: writes (line protocol) and InfluxQL queries, for InfluxDB 1.x and 2.x.
 *
 * The server's version comes from `/ping`. From 1.8 on (and on 2.x) writes go through
 * `@influxdata/influxdb-client` and `/api/v2/write`; 1.6 and 1.7 (what Debian ships) only have
 * the v1 `/write` endpoint, which is used directly. Both use `precision=ms`, the precision of the
 * contract's timestamps (v1 reads an unknown precision as nanoseconds without complaint, so the
 * value is spelt exactly). Queries are InfluxQL on `/query`, which 1.x answers natively and 2.x
 * through a DBRP mapping. On 1.x a query error comes back as HTTP 200 with an `error` field.
 */
import { HttpError, InfluxDB, setLogger } from '@influxdata/influxdb-client';
import type { Logger } from 'pino';

export interface InfluxSettings {
  url: string;
  /** 2.x: an API token. 1.x: `user:password`, or empty. */
  token: string;
  org: string;
  /** 2.x: the bucket. 1.x: `db` or `db/rp`. */
  bucket: string;
  timeoutMs?: number;
}

/** A write the store refused or could not take. Retryable ones are sent again later. */
export class StoreWriteError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
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

/** Whether a status means "try again later" (outage, overload, credentials being fixed). */
function isRetryableStatus(status: number): boolean {
  // 400/413/422: the data itself is refused, sending it again cannot help.
  return !(status === 400 || status === 413 || status === 422);
}

export function parseVersion(text: string): ServerVersion {
  const match = /(\d+)\.(\d+)/.exec(text);
  return { text, major: Number(match?.[1] ?? 0), minor: Number(match?.[2] ?? 0) };
}

export class InfluxClient {
  private version: ServerVersion | null = null;
  private writeApiClient: InfluxDB | null = null;
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
    setLogger({
      error: (message, error) => log.error({ err: error }, message),
      warn: (message, error) => log.warn({ err: error }, message),
    });
  }

  /** The server's version, asked once it answers; throws while it is unreachable. */
  async connect(): Promise<ServerVersion> {
    if (this.version) return this.version;
    const text = await this.ping(this.timeoutMs);
    const version = parseVersion(text);
    if (version.major === 1) await this.ensureDatabase();
    if (version.major >= 2 || (version.major === 1 && version.minor >= 8)) {
      this.writeApiClient = new InfluxDB({ url: this.settings.url, token: this.settings.token, timeout: this.timeoutMs });
    }
    this.version = version;
    this.log.info({ version: text, writeApi: this.writeApiClient ? 'v2' : 'v1' }, 'influxdb connected');
    return version;
  }

  /** `GET /ping`; resolves to the server's version. */
  async ping(timeoutMs = 2000): Promise<string> {
    const response = await fetch(new URL('/ping', this.settings.url), { signal: AbortSignal.timeout(timeoutMs) });
    const header = response.headers.get('x-influxdb-version');
    if (header) return header;
    // InfluxDB 3 answers /ping with a JSON body that names the version.
    const body = (await response.json().catch(() => ({}))) as { version?: unknown };
    return typeof body.version === 'string' ? body.version : 'unknown';
  }

  /** Writes line protocol. Throws StoreWriteError; `retryable: false` means the data is refused. */
  async writeLines(body: Buffer): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      throw new StoreWriteError(`influxdb unreachable: ${(error as Error).message}`, true);
    }
    if (this.writeApiClient) return this.writeV2(this.writeApiClient, body);
    return this.writeV1(body);
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

  private async writeV1(body: Buffer): Promise<void> {
    const params = new URLSearchParams({ db: this.db, precision: 'ms' });
    if (this.rp) params.set('rp', this.rp);
    let response: Response;
    try {
      response = await fetch(new URL(`/write?${params.toString()}`, this.settings.url), {
        method: 'POST',
        headers: { ...this.authHeaders(), 'content-type': 'text/plain; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new StoreWriteError(`influxdb write failed: ${(error as Error).message}`, true);
    }
    if (response.status === 204 || response.status === 200) return;
    const text = (await response.text().catch(() => '')).slice(0, 500);
    if (response.status === 404) this.version = null; // database gone: create it again on retry
    throw new StoreWriteError(`influxdb write answered ${response.status}: ${text}`, isRetryableStatus(response.status), response.status);
  }

  private async writeV2(client: InfluxDB, body: Buffer): Promise<void> {
    // One short-lived WriteApi per batch, with the library's own retries and buffering off: the
    // journal is the retry buffer, and it is durable where the library's is not.
    const writeApi = client.getWriteApi(this.settings.org, this.settings.bucket, 'ms', {
      batchSize: Number.MAX_SAFE_INTEGER,
      maxBatchBytes: Number.MAX_SAFE_INTEGER,
      flushInterval: 0,
      maxRetries: 0,
      maxBufferLines: 0,
      writeFailed: (error) => Promise.reject(error),
    });
    writeApi.writeRecords(body.toString('utf8').split('\n').filter((line) => line !== ''));
    try {
      await writeApi.close();
    } catch (error) {
      if (error instanceof HttpError) {
        throw new StoreWriteError(`influxdb write answered ${error.statusCode}: ${error.body?.slice(0, 500) ?? error.message}`, isRetryableStatus(error.statusCode), error.statusCode);
      }
      throw new StoreWriteError(`influxdb write failed: ${(error as Error).message}`, true);
    }
  }
}
