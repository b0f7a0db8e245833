import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/http/app.js';
import type { ReadinessCheck } from '../../../src/http/routes/ops.js';
import type { RejectReason } from '../../../src/ingest/decode.js';
import { DeadLetterLog, type DeadLetter } from '../../../src/ingest/dead-letters.js';

const VIEWER_TOKEN = 'viewer-token-0123456789';
const OPERATOR_TOKEN = 'operator-token-0123456789';
const FIRST_AT_MS = Date.UTC(2026, 1, 5, 10, 0, 0);

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dead-letters-'));
  tempDirs.push(dir);
  return dir;
}

function deadLetter(n: number, reason: RejectReason = 'bad_json'): DeadLetter {
  const payload = `{"rate_lpm": ${n}`;
  return {
    received_at: new Date(FIRST_AT_MS + n * 1000).toISOString(),
    topic: 'boreholes/khabou/flow',
    reason,
    detail: `dead letter ${n}`,
    payload,
    payload_bytes: Buffer.byteLength(payload),
  };
}

afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('HTTP app', () => {
  let app: FastifyInstance;
  let storeCheck: ReadinessCheck = { ok: false, detail: 'influxdb unreachable' };
  const added: DeadLetter[] = [
    deadLetter(1, 'bad_json'),
    deadLetter(2, 'unknown_borehole'),
    deadLetter(3, 'bad_json'),
    deadLetter(4, 'future_ts'),
    deadLetter(5, 'bad_json'),
  ];

  beforeAll(async () => {
    const metricsRegistry = new Registry();
    const rejected = new Counter({
      name: 'ingest_rejected_total',
      help: 'Messages rejected, by reason',
      labelNames: ['reason'],
      registers: [metricsRegistry],
    });
    rejected.inc({ reason: 'bad_json' }, 3);
    const deadLetters = new DeadLetterLog(tempDir(), 100);
    await deadLetters.open();
    for (const entry of added) deadLetters.add(entry);
    app = await buildApp({
      log: pino({ level: 'silent' }),
      apiTokens: [
        { role: 'viewer', token: VIEWER_TOKEN },
        { role: 'operator', token: OPERATOR_TOKEN },
      ],
      metricsRegistry,
      readiness: async () => ({ broker: { ok: true }, store: storeCheck }),
      deadLetters,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  describe('open operational routes', () => {
    it('answers /healthz with 200 while the process runs', async () => {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'ok' });
    });

    it('answers /readyz with 503 naming what is not reachable, then 200 once everything is', async () => {
      storeCheck = { ok: false, detail: 'influxdb unreachable' };
      const down = await app.inject({ method: 'GET', url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toEqual({
        ready: false,
        checks: { broker: { ok: true }, store: { ok: false, detail: 'influxdb unreachable' } },
      });

      storeCheck = { ok: true };
      const up = await app.inject({ method: 'GET', url: '/readyz' });
      expect(up.statusCode).toBe(200);
      expect(up.json()).toEqual({ ready: true, checks: { broker: { ok: true }, store: { ok: true } } });
    });

    it('serves Prometheus text on /metrics without a token', async () => {
      const response = await app.inject({ method: 'GET', url: '/metrics' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.body).toContain('# TYPE ingest_rejected_total counter');
      expect(response.body).toContain('ingest_rejected_total{reason="bad_json"} 3');
    });
  });

  describe('GET /api/dead-letters', () => {
    it('refuses a request without a token with 401', async () => {
      const response = await app.inject({ method: 'GET', url: '/api/dead-letters' });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ error: 'unauthorized' });
    });

    it('refuses a wrong token with 401', async () => {
      for (const authorization of [`Bearer ${VIEWER_TOKEN}x`, 'Bearer nope', VIEWER_TOKEN, `Basic ${VIEWER_TOKEN}`]) {
        const response = await app.inject({ method: 'GET', url: '/api/dead-letters', headers: { authorization } });
        expect(response.statusCode, authorization).toBe(401);
      }
    });

    it('lists the dead letters newest first for a viewer', async () => {
      const response = await app.inject({ method: 'GET', url: '/api/dead-letters', headers: bearer(VIEWER_TOKEN) });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ total: added.length, items: [...added].reverse() });
    });

    it('lets an operator read them too', async () => {
      const response = await app.inject({ method: 'GET', url: '/api/dead-letters', headers: bearer(OPERATOR_TOKEN) });
      expect(response.statusCode).toBe(200);
    });

    it('returns at most limit entries, the newest', async () => {
      const response = await app.inject({ method: 'GET', url: '/api/dead-letters?limit=2', headers: bearer(VIEWER_TOKEN) });
      expect(response.statusCode).toBe(200);
      expect(response.json<{ items: DeadLetter[] }>().items.map((d) => d.detail)).toEqual(['dead letter 5', 'dead letter 4']);
    });

    it('filters by reason', async () => {
      const response = await app.inject({
        method: 'GET',
        url: '/api/dead-letters?reason=bad_json&limit=2',
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(200);
      const items = response.json<{ items: DeadLetter[] }>().items;
      expect(items.map((d) => [d.reason, d.detail])).toEqual([
        ['bad_json', 'dead letter 5'],
        ['bad_json', 'dead letter 3'],
      ]);
    });

    it.each(['0', 'abc', '-1', '1001', '2.5'])('refuses limit=%s with a 400 that names limit', async (limit) => {
      const response = await app.inject({
        method: 'GET',
        url: `/api/dead-letters?limit=${limit}`,
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(400);
      const body = response.json<{ error: string; message: string }>();
      expect(body.error).toBe('invalid_request');
      expect(body.message).toContain('limit');
    });

    it('refuses an unknown reason with a 400', async () => {
      const response = await app.inject({
        method: 'GET',
        url: '/api/dead-letters?reason=gremlins',
        headers: bearer(VIEWER_TOKEN),
      });
      expect(response.statusCode).toBe(400);
      expect(response.json<{ message: string }>().message).toContain('reason');
    });
  });

  it('publishes an OpenAPI 3 document listing /api/dead-letters', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>();
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.paths['/api/dead-letters']?.get).toMatchObject({ security: [{ bearer: [] }] });
  });

  it('answers an unknown route with a 404 in JSON', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/nothing-here?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.json()).toEqual({ error: 'not_found', message: 'no route GET /api/nothing-here' });
  });
});

describe('dead-letter log', () => {
  it('keeps at most limit entries across a reopen, the newest', async () => {
    const dir = tempDir();
    const limit = 10;
    const first = new DeadLetterLog(dir, limit);
    await first.open();
    for (let n = 1; n <= limit + 5; n += 1) first.add(deadLetter(n));
    expect(first.size).toBe(limit);

    const reopened = new DeadLetterLog(dir, limit);
    await reopened.open();
    expect(reopened.size).toBe(limit);
    expect(reopened.newest(1000).map((d) => d.detail)).toEqual(
      Array.from({ length: limit }, (_, i) => `dead letter ${limit + 5 - i}`),
    );
  });

  it('stays bounded after many rotations and keeps adding where it left off', async () => {
    const dir = tempDir();
    const limit = 10;
    const first = new DeadLetterLog(dir, limit);
    await first.open();
    for (let n = 1; n <= 3 * limit + 7; n += 1) first.add(deadLetter(n));

    const second = new DeadLetterLog(dir, limit);
    await second.open();
    for (let n = 3 * limit + 8; n <= 3 * limit + 12; n += 1) second.add(deadLetter(n));

    const third = new DeadLetterLog(dir, limit);
    await third.open();
    expect(third.newest(1000).map((d) => d.detail)).toEqual(
      Array.from({ length: limit }, (_, i) => `dead letter ${3 * limit + 12 - i}`),
    );
  });

  it('keeps every entry of a log smaller than its limit across a reopen', async () => {
    const dir = tempDir();
    const first = new DeadLetterLog(dir, 10);
    await first.open();
    const entries = [deadLetter(1, 'oversize'), deadLetter(2, 'bad_topic')];
    for (const entry of entries) first.add(entry);

    const reopened = new DeadLetterLog(dir, 10);
    await reopened.open();
    expect(reopened.newest(10)).toEqual([...entries].reverse());
    expect(reopened.newest(10, 'oversize')).toEqual([entries[0]]);
  });
});
