/**
 * The exact requests the service sends to InfluxDB 2.x, 3.x and 1.x, and how it reads their
 * answers, against a local HTTP server that answers as InfluxDB's API documentation says.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { GZIP_MIN_BYTES, InfluxClient, StoreWriteError, parseRetryAfter } from '../../../src/storage/influx.js';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  /** The body as the server reads it, gunzipped when it says gzip. */
  body: string;
  rawBytes: number;
}

type Answer = { status: number; headers?: Record<string, string>; body?: string };

/** A server that answers /ping as the given version and every write with `answer` (204 by default). */
async function fakeInflux(ping: (res: import('node:http').ServerResponse) => void, answer: () => Answer = () => ({ status: 204 })) {
  const writes: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/ping') return ping(res);
      if (url.pathname === '/query') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{"results":[{"statement_id":0}]}');
      }
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      writes.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body: body.toString('utf8'), rawBytes: raw.length });
      const { status, headers = {}, body: text = '' } = answer();
      res.writeHead(status, headers);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, writes };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

const influx2Ping = (res: import('node:http').ServerResponse): void => {
  res.writeHead(204, { 'X-Influxdb-Version': 'v2.7.12', 'X-Influxdb-Build': 'OSS' });
  res.end();
};

const lines = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => `flow,borehole=khabou,region=Kayes,commune=Kayes rate_lpm=${40 + (i % 20)},total_m3=${1000 + i} ${1_770_000_000_000 + i * 1000}`);

const body = (ls: string[]): Buffer => Buffer.from(`${ls.join('\n')}\n`);

function client(url: string, settings: Partial<{ token: string; org: string; bucket: string; now: () => number }> = {}): InfluxClient {
  return new InfluxClient({ url, token: 'secret-token', org: 'boreholes', bucket: 'boreholes', timeoutMs: 5000, ...settings }, pino({ level: 'silent' }));
}

async function writeError(promise: Promise<void>): Promise<StoreWriteError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StoreWriteError);
  return error as StoreWriteError;
}

describe('writes to InfluxDB 2.x', () => {
  it('POSTs the batch to /api/v2/write with org, bucket, precision=ms and the token, uncompressed when small', async () => {
    const server = await fakeInflux(influx2Ping);
    const batch = lines(3);
    await client(server.url).writeLines(body(batch));
    expect(server.writes).toHaveLength(1);
    const [write] = server.writes as [Recorded];
    expect(write.method).toBe('POST');
    expect(write.path).toBe('/api/v2/write');
    expect(write.query).toEqual({ org: 'boreholes', bucket: 'boreholes', precision: 'ms' });
    expect(write.headers.authorization).toBe('Token secret-token');
    expect(write.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(write.headers['content-encoding']).toBeUndefined();
    expect(write.body).toBe(`${batch.join('\n')}\n`);
  });

  it('sends 50,000 lines as one gzipped request, every line intact (no RangeError)', async () => {
    const server = await fakeInflux(influx2Ping);
    const batch = lines(50_000);
    await client(server.url).writeLines(body(batch));
    expect(server.writes).toHaveLength(1);
    const [write] = server.writes as [Recorded];
    expect(write.headers['content-encoding']).toBe('gzip');
    expect(write.body.split('\n').filter((l) => l !== '')).toEqual(batch);
    expect(write.rawBytes).toBeLessThan(Buffer.byteLength(write.body) / 4);
  });

  it('gzips from GZIP_MIN_BYTES on', async () => {
    const server = await fakeInflux(influx2Ping);
    const justBelow = Buffer.alloc(GZIP_MIN_BYTES - 1, 'a');
    await client(server.url).writeLines(justBelow);
    await client(server.url).writeLines(Buffer.alloc(GZIP_MIN_BYTES, 'a'));
    expect(server.writes.map((w) => w.headers['content-encoding'] ?? 'identity')).toEqual(['identity', 'gzip']);
  });

  it('sends no Authorization header without a token', async () => {
    const server = await fakeInflux(influx2Ping);
    await client(server.url, { token: '' }).writeLines(body(lines(1)));
    expect(server.writes[0]?.headers.authorization).toBeUndefined();
  });

  it('a 401 is retryable and tells the operator to check INFLUX_TOKEN', async () => {
    const server = await fakeInflux(influx2Ping, () => ({ status: 401, headers: { 'content-type': 'application/json' }, body: '{"code":"unauthorized","message":"unauthorized access"}' }));
    const error = await writeError(client(server.url).writeLines(body(lines(2))));
    expect(error).toMatchObject({ retryable: true, status: 401, reason: '401 unauthorized (check INFLUX_TOKEN)' });
    expect(error.message).not.toContain('secret-token');
  });

  it('a 403 and a 404 bucket not found are retryable, naming what the server said', async () => {
    let status = 404;
    const server = await fakeInflux(influx2Ping, () => ({ status, headers: { 'content-type': 'application/json' }, body: `{"code":"${status === 404 ? 'not found' : 'forbidden'}","message":"${status === 404 ? 'bucket \\"boreholes\\" not found' : 'insufficient permissions for write'}"}` }));
    const notFound = await writeError(client(server.url).writeLines(body(lines(2))));
    expect(notFound).toMatchObject({ retryable: true, status: 404 });
    expect(notFound.reason).toBe('404 not found: bucket "boreholes" not found (check INFLUX_ORG and INFLUX_BUCKET)');
    status = 403;
    const forbidden = await writeError(client(server.url).writeLines(body(lines(2))));
    expect(forbidden).toMatchObject({ retryable: true, status: 403 });
    expect(forbidden.reason).toContain('insufficient permissions for write');
  });

  it('400, 413 and 422 are answers about the data (not retryable: the drain splits the batch)', async () => {
    for (const status of [400, 413, 422]) {
      const server = await fakeInflux(influx2Ping, () => ({ status, headers: { 'content-type': 'application/json' }, body: '{"code":"invalid","message":"unable to parse"}' }));
      const error = await writeError(client(server.url).writeLines(body(lines(2))));
      expect({ status: error.status, retryable: error.retryable }).toEqual({ status, retryable: false });
    }
  });

  it('reads Retry-After on 429 (seconds) and 503 (HTTP date)', async () => {
    const nowMs = Date.UTC(2026, 1, 5, 10, 0, 0);
    let answer: Answer = { status: 429, headers: { 'retry-after': '7' }, body: '{"code":"too many requests","message":"slow down"}' };
    const server = await fakeInflux(influx2Ping, () => answer);
    const tooMany = await writeError(client(server.url, { now: () => nowMs }).writeLines(body(lines(1))));
    expect(tooMany).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    answer = { status: 503, headers: { 'retry-after': new Date(nowMs + 90_000).toUTCString() }, body: '{"code":"unavailable","message":"service unavailable"}' };
    const unavailable = await writeError(client(server.url, { now: () => nowMs }).writeLines(body(lines(1))));
    expect(unavailable).toMatchObject({ retryable: true, status: 503, retryAfterMs: 90_000 });
  });

  it('an unreachable server is retryable and says why', async () => {
    const server = await fakeInflux(influx2Ping);
    const url = server.url;
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    const error = await writeError(client(url).writeLines(body(lines(1))));
    expect(error.retryable).toBe(true);
    expect(error.status).toBeUndefined();
    expect(error.reason).toMatch(/^unreachable: .*ECONNREFUSED/);
  });
});

describe('writes to InfluxDB 3 Core', () => {
  it('POSTs to /api/v3/write_lp with db, precision=millisecond, no partial writes and a Bearer token', async () => {
    const server = await fakeInflux((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"version":"3.2.0","revision":"abc"}');
    });
    const batch = lines(2);
    await client(server.url).writeLines(body(batch));
    const [write] = server.writes as [Recorded];
    expect(write.path).toBe('/api/v3/write_lp');
    expect(write.query).toEqual({ db: 'boreholes', precision: 'millisecond', accept_partial: 'false' });
    expect(write.headers.authorization).toBe('Bearer secret-token');
    expect(write.body).toBe(`${batch.join('\n')}\n`);
  });
});

describe('writes to InfluxDB 1.x', () => {
  it('POSTs to /write with db, rp and precision=ms, user:password as Basic', async () => {
    const server = await fakeInflux((res) => {
      res.writeHead(204, { 'X-Influxdb-Version': '1.8.10' });
      res.end();
    });
    await client(server.url, { token: 'writer:pw', bucket: 'boreholes/autogen' }).writeLines(body(lines(2)));
    const [write] = server.writes as [Recorded];
    expect(write.path).toBe('/write');
    expect(write.query).toEqual({ db: 'boreholes', rp: 'autogen', precision: 'ms' });
    expect(write.headers.authorization).toBe(`Basic ${Buffer.from('writer:pw').toString('base64')}`);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP dates, and nothing else', () => {
    const now = Date.UTC(2026, 1, 5, 10, 0, 0);
    expect(parseRetryAfter('30', now)).toBe(30_000);
    expect(parseRetryAfter('Thu, 05 Feb 2026 10:02:00 GMT', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 05 Feb 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
