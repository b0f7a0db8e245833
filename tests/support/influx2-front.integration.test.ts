/**
 * The InfluxDB 2.x API front (influx2-front.ts) against InfluxDB 2.7's API documentation, over the
 * real InfluxDB 1.6.7 of the global setup; and the service's own client writing through it.
 */
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { InfluxClient, StoreWriteError } from '../../src/storage/influx.js';
import { FRONT_V3_VERSION, FRONT_VERSION, startInflux2Front, startInflux3Front, type Influx2Front } from './influx2-front.js';

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

describe.skipIf(!local)('the same front as InfluxDB 3 Core (/ping JSON, /api/v3/write_lp, v1 /query)', () => {
  let front: Influx2Front;
  const bearer = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    front = await startInflux3Front({ engineUrl: inject('influxUrl'), token: TOKEN, buckets: [] });
  });
  afterAll(async () => {
    await front?.stop();
  });

  const write = (query: string, body: string | Buffer, headers: Record<string, string> = bearer) =>
    fetch(`${front.url}/api/v3/write_lp?${query}`, { method: 'POST', headers, body });

  async function engineValues(db: string, measurement: string): Promise<unknown[][]> {
    const params = new URLSearchParams({ db: front.databaseOf(db), q: `SELECT * FROM "${measurement}"`, epoch: 'ms' });
    const response = await fetch(`${inject('influxUrl')}/query?${params.toString()}`);
    const body = (await response.json()) as { results: { series?: { values: unknown[][] }[] }[] };
    return body.results[0]?.series?.[0]?.values ?? [];
  }

  it('authenticates /ping and names its version in the JSON body, not in a header', async () => {
    expect((await fetch(`${front.url}/ping`)).status).toBe(401);
    const ping = await fetch(`${front.url}/ping`, { headers: bearer });
    expect(ping.status).toBe(200);
    expect(ping.headers.get('x-influxdb-version')).toBeNull();
    expect(await ping.json()).toMatchObject({ version: FRONT_V3_VERSION, revision: expect.any(String) as string, process_id: expect.any(String) as string });
    expect(await (await fetch(`${front.url}/health`, { headers: bearer })).text()).toBe('OK');
  });

  it('creates a database by its first write, and reads each precision name (auto by magnitude)', async () => {
    expect((await write('db=v3a&precision=millisecond', `p_ms v=1 ${BASE_MS}`)).status).toBe(204);
    expect((await write('db=v3a&precision=ms', `p_short v=1 ${BASE_MS}`)).status).toBe(204);
    expect((await write('db=v3a&precision=second', `p_s v=1 ${BASE_MS / 1000}`)).status).toBe(204);
    expect((await write('db=v3a&precision=microsecond', `p_us v=1 ${BASE_MS}000`)).status).toBe(204);
    expect((await write('db=v3a&precision=nanosecond', `p_ns v=1 ${BASE_MS}000000`)).status).toBe(204);
    // auto: seconds, milliseconds and nanoseconds told apart by their size.
    expect((await write('db=v3a', `p_auto v=1 ${BASE_MS / 1000}\np_auto v=2 ${BASE_MS + 1000}\np_auto v=3 ${BASE_MS + 2000}000000`)).status).toBe(204);
    for (const measurement of ['p_ms', 'p_short', 'p_s', 'p_us', 'p_ns']) expect(await engineValues('v3a', measurement)).toEqual([[BASE_MS, 1]]);
    expect(await engineValues('v3a', 'p_auto')).toEqual([
      [BASE_MS, 1],
      [BASE_MS + 1000, 2],
      [BASE_MS + 2000, 3],
    ]);
    expect((await write('db=v3a&precision=n', `p_bad v=1 ${BASE_MS}`)).status).toBe(400);
    expect((await write('precision=ms', `p_bad v=1 ${BASE_MS}`)).status).toBe(400);
  });

  it('refuses a whole batch with accept_partial=false, and writes the good lines otherwise', async () => {
    const batch = `ap v=1 ${BASE_MS}\nap v= ${BASE_MS + 1000}\nap v=3 ${BASE_MS + 2000}`;
    const refused = await write('db=v3b&precision=millisecond&accept_partial=false', batch);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'parsing failed for write_lp endpoint', data: { line_number: 2, original_line: `ap v= ${BASE_MS + 1000}` } });
    expect(await engineValues('v3b', 'ap')).toEqual([]);
    const partial = await write('db=v3b&precision=millisecond', batch);
    expect(partial.status).toBe(400);
    expect(await partial.json()).toMatchObject({ error: 'partial write of line protocol occurred', data: [{ line_number: 2 }] });
    expect(await engineValues('v3b', 'ap')).toEqual([
      [BASE_MS, 1],
      [BASE_MS + 2000, 3],
    ]);
  });

  it('takes gzip, Token as well as Bearer, and refuses a wrong token with 401', async () => {
    const body = gzipSync(Buffer.from(`gz3 v=2 ${BASE_MS}\n`));
    expect((await write('db=v3c&precision=millisecond', body, { ...bearer, 'content-encoding': 'gzip' })).status).toBe(204);
    expect((await write('db=v3c&precision=millisecond', `tk v=1 ${BASE_MS}`, { authorization: `Token ${TOKEN}` })).status).toBe(204);
    expect((await write('db=v3c&precision=millisecond', `tk v=1 ${BASE_MS}`, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect(await engineValues('v3c', 'gz3')).toEqual([[BASE_MS, 2]]);
  });

  it("carries the service's 3.x path: version from the JSON body, write_lp all or nothing, v1 /query, refusals explained", async () => {
    const client = new InfluxClient({ url: front.url, token: TOKEN, org: '', bucket: 'svc3' }, pino({ level: 'silent' }));
    expect(await client.connect()).toMatchObject({ major: 3 });
    const lines = Array.from({ length: 5_000 }, (_, i) => `svc,borehole=b v=${i} ${BASE_MS + i * 1000}`).join('\n');
    await client.writeLines(Buffer.from(lines));
    const [series] = await client.query('SELECT count("v") FROM "svc"');
    expect(series?.[0]?.values[0]?.[1]).toBe(5_000);

    const bad = await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS}\nsvc v= ${BASE_MS}`)).catch((error: unknown) => error);
    expect(bad).toMatchObject({ status: 400, retryable: false });
    expect((bad as StoreWriteError).reason).toContain('line 2');

    front.outage(2);
    expect(await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS}`)).catch((error: unknown) => error)).toMatchObject({ status: 503, retryable: true });
    front.outage(0);
    front.rotateToken('rotated');
    const unauthorized = await client.writeLines(Buffer.from(`svc v=1 ${BASE_MS}`)).catch((error: unknown) => error);
    expect(unauthorized).toMatchObject({ status: 401, retryable: true });
    // A service started with the old token learns it at once, from /ping: not "unknown version".
    const fresh = new InfluxClient({ url: front.url, token: TOKEN, org: '', bucket: 'svc3' }, pino({ level: 'silent' }));
    const refused = await fresh.writeLines(Buffer.from(`svc v=1 ${BASE_MS}`)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ status: 401, retryable: true });
    expect((refused as StoreWriteError).reason).toContain('INFLUX_TOKEN');
    front.rotateToken(TOKEN);
    const [after] = await client.query('SELECT count("v") FROM "svc"');
    expect(after?.[0]?.values[0]?.[1]).toBe(5_000);
  });

  it('is told apart from 2.x by a version header too, where a 3.x server sends one', async () => {
    const headed = await startInflux3Front({ engineUrl: inject('influxUrl'), token: TOKEN, buckets: [], versionHeader: true });
    try {
      const client = new InfluxClient({ url: headed.url, token: TOKEN, org: '', bucket: 'svc3h' }, pino({ level: 'silent' }));
      await client.writeLines(Buffer.from(`h v=1 ${BASE_MS}`));
      expect(await engineValues('svc3h', 'h')).toEqual([[BASE_MS, 1]]);
    } finally {
      await headed.stop();
    }
  });
});
