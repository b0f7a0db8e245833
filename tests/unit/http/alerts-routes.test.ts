import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { Registry as MetricsRegistry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../src/alerts/alert.js';
import { buildApp } from '../../../src/http/app.js';
import { alertsPortOf, type AlertsPort } from '../../../src/http/routes/alerts.js';
import type { DeadLetterSource } from '../../../src/http/routes/dead-letters.js';
import type { Reading } from '../../../src/domain/reading.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, testRegistry } from '../../support/fixtures.js';
import type { z } from 'zod';
import type { alertSchema } from '../../../src/http/routes/alerts.js';

const T0_MS = Date.UTC(2026, 1, 5, 10, 0, 0);
const MINUTE_MS = 60_000;
const ADMIN_TOKEN = 'admin-token-for-tests-0001';
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const ALERT_FIELDS = ['id', 'code', 'borehole', 'rule', 'severity', 'state', 'message', 'opened_at', 'acknowledged_at', 'resolved_at', 'historical'];

/** An alert as the API answers it: the type of the route's own schema. */
type AlertJson = z.infer<typeof alertSchema>;
interface AlertList {
  total: number;
  items: AlertJson[];
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const pump = (boreholeId: string, tsMs: number, fault: string | null): Reading => ({ boreholeId, kind: 'pump', tsMs, values: { running: false, fault } });
const level = (boreholeId: string, tsMs: number, depthM: number): Reading => ({ boreholeId, kind: 'level', tsMs, values: { depth_m: depthM } });

const noDeadLetters: DeadLetterSource = { newest: () => [], size: 0 };

describe('alert routes', () => {
  const clock = { nowMs: T0_MS };
  const registry = testRegistry(['khabou', 'marena']);
  let store: SqliteStore;
  let engine: RulesEngine;
  let app: FastifyInstance;
  /** khabou pump_fault (code 1), marena pump_fault (code 2), marena low_water (code 3), oldest first. */
  let seeded: Alert[];

  /** Feeds live readings, moving the clock with them. */
  function feed(...readings: Reading[]): void {
    clock.nowMs = Math.max(clock.nowMs, ...readings.map((r) => r.tsMs));
    engine.accept(readings);
  }

  beforeAll(async () => {
    store = new SqliteStore(':memory:');
    const log = pino({ level: 'silent' });
    engine = new RulesEngine({ registry, store, now: () => clock.nowMs, log, writeAlertPoints: () => {} });
    const alerts: AlertsPort = alertsPortOf(store, engine, registry);
    app = await buildApp({
      log,
      apiTokens: [
        { role: 'viewer', token: VIEWER_TOKEN },
        { role: 'operator', token: OPERATOR_TOKEN },
        { role: 'admin', token: ADMIN_TOKEN },
      ],
      metricsRegistry: new MetricsRegistry(),
      readiness: async () => ({}),
      deadLetters: noDeadLetters,
      alerts,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
    store.close();
  });

  beforeEach(() => {
    // Every test starts from the same three alerts, whatever the one before did.
    for (const alert of store.listAlerts({ state: 'unresolved', limit: 500, offset: 0 }).alerts) engine.resolve(alert.id, 'test');
    clock.nowMs += 60 * MINUTE_MS;
    const base = clock.nowMs;
    feed(pump('khabou', base, 'dry_run'));
    feed(pump('marena', base + MINUTE_MS, 'overload'));
    feed(level('marena', base + 2 * MINUTE_MS, 53));
    seeded = store.listAlerts({ state: 'unresolved', limit: 500, offset: 0 }).alerts.reverse();
    expect(seeded.map((a) => [a.boreholeId, a.rule])).toEqual([
      ['khabou', 'pump_fault'],
      ['marena', 'pump_fault'],
      ['marena', 'low_water'],
    ]);
  });

  const get = (url: string, token?: string) => app.inject({ method: 'GET', url, ...(token ? { headers: bearer(token) } : {}) });
  const post = (url: string, token: string | undefined, body?: object) =>
    app.inject({ method: 'POST', url, ...(token ? { headers: bearer(token) } : {}), ...(body ? { payload: body } : {}) });
  const first = (): Alert => seeded[0] as Alert;

  describe('GET /api/alerts', () => {
    it('refuses a request without a token with 401', async () => {
      const response = await get('/api/alerts');
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ error: 'unauthorized' });
    });

    it('lists alerts newest first for a viewer, in snake_case with RFC 3339 UTC times', async () => {
      const response = await get('/api/alerts?state=unresolved', VIEWER_TOKEN);
      expect(response.statusCode).toBe(200);
      const body = response.json<AlertList>();
      expect(body.total).toBe(3);
      expect(body.items.map((a) => a.code)).toEqual(seeded.map((a) => a.code).reverse());
      const khabou = body.items.at(-1);
      expect(Object.keys(khabou ?? {}).sort()).toEqual([...ALERT_FIELDS].sort());
      expect(khabou).toEqual({
        id: first().id,
        code: first().code,
        borehole: 'khabou',
        rule: 'pump_fault',
        severity: 'critical',
        state: 'open',
        message: 'Panne pompe : marche à sec',
        opened_at: new Date(first().openedAtMs).toISOString(),
        acknowledged_at: null,
        resolved_at: null,
        historical: false,
      });
      expect(khabou?.opened_at).toMatch(RFC3339_UTC);
    });

    it('filters by state', async () => {
      const open = (await get('/api/alerts?state=open', VIEWER_TOKEN)).json<AlertList>();
      expect(open.items.every((a) => a.state === 'open')).toBe(true);
      expect(open.total).toBe(3);
      const resolved = (await get('/api/alerts?state=resolved&limit=500', VIEWER_TOKEN)).json<AlertList>();
      expect(resolved.items.length).toBe(resolved.total);
      expect(resolved.items.every((a) => a.state === 'resolved' && a.resolved_at !== null)).toBe(true);
    });

    it('filters by borehole', async () => {
      const response = await get('/api/alerts?state=unresolved&borehole=marena', VIEWER_TOKEN);
      expect(response.statusCode).toBe(200);
      const body = response.json<AlertList>();
      expect(body.total).toBe(2);
      expect(body.items.map((a) => [a.borehole, a.rule])).toEqual([
        ['marena', 'low_water'],
        ['marena', 'pump_fault'],
      ]);
      expect((await get('/api/alerts?borehole=nowhere', VIEWER_TOKEN)).json()).toEqual({ total: 0, next_after: null, items: [] });
    });

    it('pages with limit and offset, total counting every match', async () => {
      const pages = await Promise.all([0, 1, 2, 3].map((offset) => get(`/api/alerts?state=unresolved&limit=1&offset=${offset}`, VIEWER_TOKEN)));
      const bodies = pages.map((page) => page.json<AlertList>());
      expect(bodies.map((b) => b.total)).toEqual([3, 3, 3, 3]);
      expect(bodies.map((b) => b.items.map((a) => a.code))).toEqual([[seeded[2]?.code], [seeded[1]?.code], [seeded[0]?.code], []]);
    });

    it('pages with `after`: an alert opened between two pages shifts nothing, each alert comes once', async () => {
      const seen: number[] = [];
      let after: string | null = null;
      let pages = 0;
      do {
        const body: AlertList & { next_after: string | null } = (await get(`/api/alerts?state=unresolved&limit=1${after ? `&after=${after}` : ''}`, VIEWER_TOKEN)).json();
        seen.push(...body.items.map((a) => a.code));
        after = body.next_after;
        // A new alert, newest of all, while the officer reads: with offset it would push the next page's alert back onto this one's place.
        if (pages === 0) feed(level('khabou', clock.nowMs + MINUTE_MS, 53));
        pages += 1;
      } while (after !== null);
      expect(seen).toEqual([seeded[2]?.code, seeded[1]?.code, seeded[0]?.code]);
    });

    it('refuses an `after` that names no alert with 400', async () => {
      const response = await get('/api/alerts?after=00000000-0000-0000-0000-000000000000', VIEWER_TOKEN);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', message: expect.stringContaining('after') as unknown });
    });

    it.each(['state=closed', 'state=', 'limit=0', 'limit=501', 'limit=abc', 'offset=-1'])('refuses %s with 400', async (query) => {
      const response = await get(`/api/alerts?${query}`, VIEWER_TOKEN);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request' });
    });
  });

  describe('POST /api/alerts/:id/ack', () => {
    it('refuses a viewer with 403 and changes nothing', async () => {
      const response = await post(`/api/alerts/${first().id}/ack`, VIEWER_TOKEN);
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ error: 'forbidden' });
      expect(store.alertById(first().id)?.state).toBe('open');
    });

    it('refuses a request without a token with 401', async () => {
      expect((await post(`/api/alerts/${first().id}/ack`, undefined)).statusCode).toBe(401);
    });

    it('acknowledges for an operator: exactly the alert fields, acknowledged_at set, in RFC 3339 UTC', async () => {
      const response = await post(`/api/alerts/${first().id}/ack`, OPERATOR_TOKEN);
      expect(response.statusCode).toBe(200);
      const body = response.json<AlertJson>();
      expect(Object.keys(body).sort()).toEqual([...ALERT_FIELDS].sort());
      expect(body).toEqual({
        id: first().id,
        code: first().code,
        borehole: 'khabou',
        rule: 'pump_fault',
        severity: 'critical',
        state: 'acknowledged',
        message: 'Panne pompe : marche à sec',
        opened_at: new Date(first().openedAtMs).toISOString(),
        acknowledged_at: new Date(clock.nowMs).toISOString(),
        resolved_at: null,
        historical: false,
      });
      expect(body.opened_at).toMatch(RFC3339_UTC);
      expect(body.acknowledged_at).toMatch(RFC3339_UTC);
      expect(store.alertById(first().id)).toMatchObject({ state: 'acknowledged', acknowledgedAtMs: clock.nowMs });
      expect(store.alertHistory(first().id).at(-1)).toMatchObject({ kind: 'acknowledged', actor: expect.stringMatching(/operator/) as unknown });
    });

    it('lets an admin acknowledge', async () => {
      expect((await post(`/api/alerts/${first().id}/ack`, ADMIN_TOKEN)).statusCode).toBe(200);
    });

    it('answers an acknowledged alert acknowledged again with 200 and the first acknowledgement', async () => {
      const once = (await post(`/api/alerts/${first().id}/ack`, OPERATOR_TOKEN)).json<AlertJson>();
      clock.nowMs += MINUTE_MS;
      const twice = await post(`/api/alerts/${first().id}/ack`, OPERATOR_TOKEN);
      expect(twice.statusCode).toBe(200);
      expect(twice.json<AlertJson>().acknowledged_at).toBe(once.acknowledged_at);
    });

    it('answers 404 for an unknown id', async () => {
      const response = await post('/api/alerts/00000000-0000-0000-0000-000000000000/ack', OPERATOR_TOKEN);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
    });

    it('answers 409 for a resolved alert', async () => {
      engine.resolve(first().id, 'test');
      const response = await post(`/api/alerts/${first().id}/ack`, OPERATOR_TOKEN);
      expect(response.statusCode).toBe(409);
      expect(response.json()).toMatchObject({ error: 'conflict', message: expect.stringContaining('resolved') as unknown });
    });
  });

  describe('POST /api/alerts/:id/resolve', () => {
    it('resolves for an operator with a note, kept in the alert history', async () => {
      const response = await post(`/api/alerts/${first().id}/resolve`, OPERATOR_TOKEN, { note: 'pompe remplacée' });
      expect(response.statusCode).toBe(200);
      const body = response.json<AlertJson>();
      expect(body).toMatchObject({ id: first().id, state: 'resolved', resolved_at: new Date(clock.nowMs).toISOString() });
      expect(body.resolved_at).toMatch(RFC3339_UTC);
      expect(store.alertHistory(first().id).at(-1)).toMatchObject({ kind: 'resolved', note: 'pompe remplacée' });
    });

    it('resolves without a body', async () => {
      const response = await post(`/api/alerts/${first().id}/resolve`, OPERATOR_TOKEN);
      expect(response.statusCode).toBe(200);
      expect(response.json<AlertJson>().state).toBe('resolved');
    });

    it('refuses a viewer with 403', async () => {
      expect((await post(`/api/alerts/${first().id}/resolve`, VIEWER_TOKEN, { note: 'x' })).statusCode).toBe(403);
      expect(store.alertById(first().id)?.state).toBe('open');
    });

    it('answers 404 for an unknown id and 409 for a resolved alert', async () => {
      expect((await post('/api/alerts/nope/resolve', OPERATOR_TOKEN, { note: 'x' })).statusCode).toBe(404);
      expect((await post(`/api/alerts/${first().id}/resolve`, OPERATOR_TOKEN, { note: 'x' })).statusCode).toBe(200);
      expect((await post(`/api/alerts/${first().id}/resolve`, OPERATOR_TOKEN, { note: 'x' })).statusCode).toBe(409);
    });

    it('refuses a note that is not a string with 400', async () => {
      const response = await post(`/api/alerts/${first().id}/resolve`, OPERATOR_TOKEN, { note: 42 });
      expect(response.statusCode).toBe(400);
    });
  });

  describe('POST /api/boreholes/:id/maintenance', () => {
    it('records a maintenance visit for an operator with 201', async () => {
      const response = await post('/api/boreholes/khabou/maintenance', OPERATOR_TOKEN, { note: 'vidange et graissage' });
      expect(response.statusCode).toBe(201);
      const body = response.json<{ id: number; borehole: string; at: string; by: string; note: string }>();
      expect(body).toEqual({ id: expect.any(Number) as unknown, borehole: 'khabou', at: new Date(clock.nowMs).toISOString(), by: expect.any(String) as unknown, note: 'vidange et graissage' });
      expect(body.at).toMatch(RFC3339_UTC);
      expect(store.listMaintenance('khabou')[0]).toMatchObject({ id: body.id, note: 'vidange et graissage' });
      expect(engine.stateOf('khabou')?.runningMsSinceService).toBe(0);
    });

    it('records a visit without a body, with an empty note', async () => {
      const response = await post('/api/boreholes/marena/maintenance', OPERATOR_TOKEN);
      expect(response.statusCode).toBe(201);
      expect(response.json()).toMatchObject({ borehole: 'marena', note: '' });
    });

    it('answers 404 for an unknown borehole and records nothing', async () => {
      const response = await post('/api/boreholes/nowhere/maintenance', OPERATOR_TOKEN, { note: 'x' });
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ error: 'not_found' });
      expect(store.listMaintenance('nowhere')).toEqual([]);
    });

    it('refuses a viewer with 403', async () => {
      expect((await post('/api/boreholes/khabou/maintenance', VIEWER_TOKEN, { note: 'x' })).statusCode).toBe(403);
    });
  });

  it('lists the alert routes, behind a bearer token, in /openapi.json', async () => {
    const response = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json<{ paths: Record<string, Record<string, { security?: unknown }>> }>();
    expect(doc.paths['/api/alerts']?.get).toMatchObject({ security: [{ bearer: [] }] });
    expect(doc.paths['/api/alerts/{id}/ack']?.post).toMatchObject({ security: [{ bearer: [] }] });
    expect(doc.paths['/api/alerts/{id}/resolve']?.post).toMatchObject({ security: [{ bearer: [] }] });
    expect(doc.paths['/api/boreholes/{id}/maintenance']?.post).toMatchObject({ security: [{ bearer: [] }] });
  });
});
