/**
 * The InfluxDB 2.x API front (influx2-front.ts) against InfluxDB 2.7's API documentation, over the
 * real InfluxDB 1.6.7 of the global setup; and the service's own client writing through it.
 */
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxClient, StoreWriteError } from '../../src/storage/influx.js';
import { FRONT_VERSION, startInflux2Front, type Influx2Front } from './influx2-front.js';

const local = inject('serverSource') === 'local';
if (!local) console.warn('NOTICE: the InfluxDB 2.x front tests need the local influxd of the global setup; skipped');

const TOKEN = 'front-test-token';
const BASE_MS = Date.UTC(2026, 1, 5, 10, 0);

describe.skipIf(!local)('the InfluxDB 2.x API front over InfluxDB 1.6.7', () => {
  let front: Influx2Front;

  beforeAll(async () => {
    front = await startInflux2Front({ engineUrl: inject('influxUrl'), token: TOKEN, org: 'boreholes', buckets: ['frontb'], maxBodyBytes: 1_000_000 });
  });
  afterAll(async () => {
    await front?.stop();
  });

  const write = (query: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    fetch(`${front.url}/api/v2/write?${query}`, { method: 'POST', headers: { authorization: `Token ${TOKEN}`, ...headers }, body });

  /** Reads back from the 1.6.7 engine itself, not through the front. */
  async function engineValues(measurement: string): Promise<unknown[][]> {
    const params = new URLSearchParams({ db: front.databaseOf('frontb'), q: `SELECT * FROM "${measurement}"`, epoch: 'ms' });
    const response = await fetch(`${inject('influxUrl')}/query?${params.toString()}`);
    const body = (await response.json()) as { results: { series?: { values: unknown[][] }[] }[] };
    return body.results[0]?.series?.[0]?.values ?? [];
  }

  it('answers /ping 204 with the 2.x version and build headers, and /health pass', async () => {
    const ping = await fetch(`${front.url}/ping`);
    expect(ping.status).toBe(204);
    expect(ping.headers.get('x-influxdb-version')).toBe(FRONT_VERSION);
    expect(ping.headers.get('x-influxdb-build')).toBe('OSS');
    const health = await fetch(`${front.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ name: 'influxdb', status: 'pass' });
  });

  it('writes with each precision, nanoseconds by default, and 204', async () => {
    expect((await write('org=boreholes&bucket=frontb&precision=ms', `p_ms v=1 ${BASE_MS}`)).status).toBe(204);
    expect((await write('org=boreholes&bucket=frontb&precision=s', `p_s v=1 ${BASE_MS / 1000}`)).status).toBe(204);
    expect((await write('org=boreholes&bucket=frontb', `p_ns v=1 ${BASE_MS}000000`)).status).toBe(204);
    expect((await write(`orgID=${front.orgId}&bucket=frontb&precision=us`, `p_us v=1 ${BASE_MS}000`)).status).toBe(204);
    for (const measurement of ['p_ms', 'p_s', 'p_ns', 'p_us']) expect(await engineValues(measurement)).toEqual([[BASE_MS, 1]]);
  });

  it('takes gzip bodies', async () => {
    const body = gzipSync(Buffer.from(`gz v=2 ${BASE_MS}\ngz v=3 ${BASE_MS + 1000}\n`));
    expect((await write('org=boreholes&bucket=frontb&precision=ms', body, { 'content-encoding': 'gzip' })).status).toBe(204);
    expect(await engineValues('gz')).toEqual([
      [BASE_MS, 2],
      [BASE_MS + 1000, 3],
    ]);
  });

  it('answers the documented errors as {code, message}', async () => {
    const expectError = async (response: Response, status: number, code: string) => {
      expect(response.status).toBe(status);
      expect(await response.json()).toMatchObject({ code, message: expect.any(String) as string });
    };
    await expectError(await fetch(`${front.url}/api/v2/write?org=boreholes&bucket=frontb`, { method: 'POST', body: 'x v=1' }), 401, 'unauthorized');
    await expectError(await write('org=boreholes&bucket=frontb', 'x v=1', { authorization: 'Token wrong' }), 401, 'unauthorized');
    await expectError(await write('org=nobody&bucket=frontb', 'x v=1'), 404, 'not found');
    await expectError(await write('org=boreholes&bucket=missing', 'x v=1'), 404, 'not found');
    await expectError(await write('bucket=frontb', 'x v=1'), 400, 'invalid');
    await expectError(await write('org=boreholes&bucket=frontb&precision=ms', 'not line protocol'), 400, 'invalid');
    await expectError(await write('org=boreholes&bucket=frontb&precision=ms', `big v="${'x'.repeat(1_100_000)}"`), 413, 'request too large');
  });

  it('answers 503 and 429 with Retry-After while switched, and then writes again', async () => {
    front.outage(3);
    const refused = await write('org=boreholes&bucket=frontb&precision=ms', `sw v=1 ${BASE_MS}`);
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    front.outage(0);
    front.throttle(2);
    expect((await write('org=boreholes&bucket=frontb&precision=ms', `sw v=1 ${BASE_MS}`)).status).toBe(429);
    front.throttle(0);
    expect((await write('org=boreholes&bucket=frontb&precision=ms', `sw v=1 ${BASE_MS}`)).status).toBe(204);
  });

  it('answers v1 /query through the DBRP mapping, with the token', async () => {
    const params = new URLSearchParams({ db: 'frontb', q: 'SELECT count("v") FROM "p_ms"' });
    const refused = await fetch(`${front.url}/query?${params.toString()}`);
    expect(refused.status).toBe(401);
    const response = await fetch(`${front.url}/query?${params.toString()}`, { headers: { authorization: `Token ${TOKEN}` } });
    const body = (await response.json()) as { results: { series: { values: unknown[][] }[] }[] };
    expect(body.results[0]?.series[0]?.values[0]?.[1]).toBe(1);
  });

  it("lists its buckets and orgs as the 2.x API does", async () => {
    const buckets = (await (await fetch(`${front.url}/api/v2/buckets?name=frontb`, { headers: { authorization: `Token ${TOKEN}` } })).json()) as { buckets: { name: string; orgID: string }[] };
    expect(buckets.buckets).toEqual([expect.objectContaining({ name: 'frontb', orgID: front.orgId })]);
    const orgs = (await (await fetch(`${front.url}/api/v2/orgs?org=boreholes`, { headers: { authorization: `Token ${TOKEN}` } })).json()) as { orgs: { name: string }[] };
    expect(orgs.orgs.map((o) => o.name)).toEqual(['boreholes']);
  });

  it("carries the service's write path: 2.x endpoint, then a rotated token and a dropped bucket refused as retryable", async () => {
    const client = new InfluxClient({ url: front.url, token: TOKEN, org: 'boreholes', bucket: 'frontb' }, pino({ level: 'silent' }));
    const lines = Array.from({ length: 20_000 }, (_, i) => `svc,borehole=b v=${i} ${BASE_MS + i * 1000}`).join('\n');
    await client.writeLines(Buffer.from(lines));
    const [series] = await client.query('SELECT count("v") FROM "svc"');
    expect(series?.[0]?.values[0]?.[1]).toBe(20_000);

    front.rotateToken('rotated');
    const unauthorized = await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS}`)).catch((error: unknown) => error);
    expect(unauthorized).toBeInstanceOf(StoreWriteError);
    expect(unauthorized).toMatchObject({ status: 401, retryable: true });
    front.rotateToken(TOKEN);

    front.dropBucket('frontb');
    const missing = await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS}`)).catch((error: unknown) => error);
    expect(missing).toMatchObject({ status: 404, retryable: true });
    front.restoreBucket('frontb');
    await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS + 20_000_000}`));
  });
});
