/**
 * `POST /api/dead-letters/replay` as the HTTP layer answers it: for an admin without a region
 * limit, only for a reason a replay can cure, with the counts of the replay or a 503 when the
 * journal refused it; documented in the OpenAPI document like every /api route.
 */
import type { FastifyInstance } from 'fastify';
import type { OpenAPIV3 } from 'openapi-types';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/http/app.js';
import type { DeadLetterFilter, ReplayResult } from '../../../src/ingest/dead-letters.js';

const TOKENS = {
  viewer: 'viewer-token-for-replay-route-01',
  operator: 'operator-token-for-replay-route-1',
  admin: 'admin-token-for-replay-route-0001',
  kayesAdmin: 'kayes-admin-token-for-replay-rt-1',
};

describe('POST /api/dead-letters/replay', () => {
  let app: FastifyInstance;
  const asked: [DeadLetterFilter, number][] = [];
  let failing = false;

  beforeAll(async () => {
    app = await buildApp({
      log: pino({ level: 'silent' }),
      apiTokens: [
        { role: 'viewer', token: TOKENS.viewer },
        { role: 'operator', token: TOKENS.operator },
        { role: 'admin', token: TOKENS.admin },
        { role: 'admin', token: TOKENS.kayesAdmin, regions: ['Kayes'] },
      ],
      metricsRegistry: new Registry(),
      readiness: async () => ({ broker: { ok: true }, store: { ok: true } }),
      deadLetters: { newest: () => [], size: 0 },
      replayDeadLetters: async (filter, limit): Promise<ReplayResult> => {
        if (failing) throw new Error('ENOSPC: no space left on device');
        asked.push([filter, limit]);
        return { replayed: 3, acceptedReadings: 5, stillRefused: { unknown_borehole: 1 }, remaining: 1, persisted: true };
      },
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
  });

  const post = (query: string, token?: string) =>
    app.inject({ method: 'POST', url: `/api/dead-letters/replay?${query}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('replays for an admin, with the filter and limit asked, and answers the counts', async () => {
    const response = await post('reason=unknown_borehole&borehole=kb-new&limit=50', TOKENS.admin);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ replayed: 3, accepted_readings: 5, still_refused: { unknown_borehole: 1 }, remaining: 1 });
    expect(asked.at(-1)).toEqual([{ reason: 'unknown_borehole', borehole: 'kb-new', topic: undefined }, 50]);
    await post('reason=unknown_borehole', TOKENS.admin);
    expect(asked.at(-1)?.[1]).toBe(1000);
  });

  it('answers 401 without a token, 403 to a viewer, an operator and a region-limited admin', async () => {
    const before = asked.length;
    expect((await post('reason=unknown_borehole')).statusCode).toBe(401);
    expect((await post('reason=unknown_borehole', TOKENS.viewer)).statusCode).toBe(403);
    expect((await post('reason=unknown_borehole', TOKENS.operator)).statusCode).toBe(403);
    const limited = await post('reason=unknown_borehole', TOKENS.kayesAdmin);
    expect(limited.statusCode).toBe(403);
    expect(limited.json<{ message: string }>().message).toMatch(/network-wide/);
    expect(asked.length).toBe(before);
  });

  it('answers 400 to a reason a replay cannot cure, to a missing or unknown one, and to a limit out of range', async () => {
    const before = asked.length;
    const badJson = await post('reason=bad_json', TOKENS.admin);
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toEqual({ error: 'not_replayable', message: expect.stringMatching(/^bad_json letters .*Replayable: unknown_borehole$/) as unknown });
    expect((await post('reason=store_rejected', TOKENS.admin)).json()).toMatchObject({ error: 'not_replayable' });
    expect((await post('', TOKENS.admin)).statusCode).toBe(400);
    expect((await post('reason=lost', TOKENS.admin)).statusCode).toBe(400);
    expect((await post('reason=unknown_borehole&limit=0', TOKENS.admin)).statusCode).toBe(400);
    expect((await post('reason=unknown_borehole&limit=10001', TOKENS.admin)).statusCode).toBe(400);
    expect((await post('reason=unknown_borehole&borehole=Not%20An%20Id', TOKENS.admin)).statusCode).toBe(400);
    expect(asked.length).toBe(before);
  });

  it('answers 503 when the journal cannot take the readings, saying that the letters stay', async () => {
    failing = true;
    try {
      const response = await post('reason=unknown_borehole', TOKENS.admin);
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error: 'journal_unavailable', message: expect.stringContaining('the dead letters stay') as unknown });
    } finally {
      failing = false;
    }
  });

  it('is in the OpenAPI document with a bearer token, its parameters and every answer', async () => {
    const doc = (await app.inject('/openapi.json')).json<OpenAPIV3.Document>();
    const operation = doc.paths['/api/dead-letters/replay']?.post;
    expect(operation?.security).toEqual([{ bearer: [] }]);
    expect(operation?.summary).toBeTruthy();
    expect(Object.keys(operation?.responses ?? {}).sort()).toEqual(['200', '400', '401', '403', '503']);
    const ok = (operation?.responses['200'] as OpenAPIV3.ResponseObject).content?.['application/json']?.schema as OpenAPIV3.SchemaObject;
    expect(ok).toMatchObject({ type: 'object' });
    expect(Object.keys(ok.properties ?? {}).sort()).toEqual(['accepted_readings', 'remaining', 'replayed', 'still_refused']);
    const parameters = operation?.parameters as OpenAPIV3.ParameterObject[];
    expect(parameters.map((p) => `${p.in}:${p.name}${p.required ? '!' : ''}`).sort()).toEqual(['query:borehole', 'query:limit', 'query:reason!', 'query:topic']);
    expect(parameters.find((p) => p.name === 'limit')?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 10_000, default: 1000 });
  });

  it('does not exist in an app built without a replayer', async () => {
    const bare = await buildApp({
      log: pino({ level: 'silent' }),
      apiTokens: [{ role: 'admin', token: TOKENS.admin }],
      metricsRegistry: new Registry(),
      readiness: async () => ({ broker: { ok: true }, store: { ok: true } }),
      deadLetters: { newest: () => [], size: 0 },
    });
    try {
      const response = await bare.inject({ method: 'POST', url: '/api/dead-letters/replay?reason=unknown_borehole', headers: { authorization: `Bearer ${TOKENS.admin}` } });
      expect(response.statusCode).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
