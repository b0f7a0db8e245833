import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertOf, bearer, HOUR_MS, MINUTE_MS, seedNetwork, startHarness, T0_MS, TOKENS, type Harness } from './harness.js';

interface BoreholeJson {
  id: string;
  name: string;
  village: string;
  region: string;
  commune: string;
  location: { lat: number; lon: number };
  status: string;
  last_seen_at: string | null;
  open_alerts: number;
}
interface BoreholeList {
  total: number;
  items: BoreholeJson[];
}
interface Contact {
  name: string;
  phone: string | null;
}
interface BoreholeDetail extends BoreholeJson {
  pump: { rated_flow_lpm: number; intake_depth_m: number };
  rules: Record<string, number>;
  committee: { language: string; contacts: Contact[] };
  technician: Contact;
  unresolved_alerts: { id: string; rule: string; state: string }[];
}
interface Readings {
  borehole: string;
  from: string;
  to: string;
  every: string;
  buckets: Record<string, number | string | null>[];
}

const BOREHOLE_FIELDS = ['id', 'name', 'village', 'region', 'commune', 'location', 'status', 'last_seen_at', 'open_alerts'];
const EXPECTED_STATUS = { banamba: 'ok', diamou: 'offline', khabou: 'alert', kolokani: 'alert', segala: 'ok', zegoua: 'unknown' };

describe('borehole routes', () => {
  let h: Harness;

  beforeEach(async () => {
    h = await startHarness();
    seedNetwork(h);
  });

  afterEach(async () => {
    await h.close();
  });

  const get = (url: string, token?: string, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'GET', url, headers: { ...(token ? bearer(token) : {}), ...headers } });

  describe('GET /api/boreholes', () => {
    it('refuses a request without a token with 401', async () => {
      const response = await get('/api/boreholes');
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ error: 'unauthorized' });
    });

    it('lists every borehole by id with its status, last message and unresolved alerts, in snake_case', async () => {
      const response = await get('/api/boreholes', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      const body = response.json<BoreholeList>();
      expect(body.total).toBe(6);
      expect(body.items.map((b) => b.id)).toEqual(['banamba', 'diamou', 'khabou', 'kolokani', 'segala', 'zegoua']);
      expect(Object.fromEntries(body.items.map((b) => [b.id, b.status]))).toEqual(EXPECTED_STATUS);
      const khabou = body.items.find((b) => b.id === 'khabou');
      expect(Object.keys(khabou ?? {}).sort()).toEqual([...BOREHOLE_FIELDS].sort());
      expect(khabou).toEqual({
        id: 'khabou',
        name: 'Forage de Khabou',
        village: 'Khabou',
        region: 'Kayes',
        commune: 'Kayes',
        location: { lat: 14.4469, lon: -11.4445 },
        status: 'alert',
        last_seen_at: new Date(T0_MS - MINUTE_MS).toISOString(),
        open_alerts: 2,
      });
      expect(body.items.find((b) => b.id === 'zegoua')).toMatchObject({ last_seen_at: null, open_alerts: 0 });
      expect(body.items.find((b) => b.id === 'diamou')).toMatchObject({ open_alerts: 1, last_seen_at: new Date(T0_MS - 5 * HOUR_MS).toISOString() });
    });

    it('calls a borehole offline once it is silent for longer than its offline_minutes, before any offline alert', async () => {
      h.clock.nowMs = T0_MS + 61 * MINUTE_MS;
      const body = (await get('/api/boreholes?status=offline', TOKENS.viewer)).json<BoreholeList>();
      expect(body.items.map((b) => b.id)).toEqual(expect.arrayContaining(['banamba', 'diamou', 'segala']));
      expect(body.items.find((b) => b.id === 'banamba')?.open_alerts).toBe(0);
    });

    it('counts an acknowledged alert as still open, and a resolved one no more', async () => {
      const alert = alertOf(h, 'kolokani', 'low_water');
      h.engine.acknowledge(alert.id, 'test');
      const list = async () => (await get('/api/boreholes', TOKENS.viewer)).json<BoreholeList>().items.find((b) => b.id === 'kolokani');
      expect(await list()).toMatchObject({ status: 'alert', open_alerts: 1 });
      h.engine.resolve(alert.id, 'test');
      expect(await list()).toMatchObject({ status: 'ok', open_alerts: 0 });
    });

    it('pages with limit and offset, total counting every match', async () => {
      const pages = await Promise.all([0, 2, 4, 6].map((offset) => get(`/api/boreholes?limit=2&offset=${offset}`, TOKENS.viewer)));
      const bodies = pages.map((page) => page.json<BoreholeList>());
      expect(bodies.map((b) => b.total)).toEqual([6, 6, 6, 6]);
      expect(bodies.map((b) => b.items.map((i) => i.id))).toEqual([['banamba', 'diamou'], ['khabou', 'kolokani'], ['segala', 'zegoua'], []]);
    });

    it('filters by region and by status', async () => {
      expect((await get('/api/boreholes?region=Koulikoro', TOKENS.viewer)).json<BoreholeList>().items.map((b) => b.id)).toEqual(['banamba', 'kolokani']);
      const alerting = (await get('/api/boreholes?status=alert', TOKENS.viewer)).json<BoreholeList>();
      expect(alerting).toMatchObject({ total: 2 });
      expect(alerting.items.map((b) => b.id)).toEqual(['khabou', 'kolokani']);
    });

    it('pages with `after` from one next_after to the next, each borehole once, null after the last', async () => {
      const ids: string[] = [];
      let after: string | null = '';
      while (after !== null) {
        const body: BoreholeList & { next_after: string | null } = (await get(`/api/boreholes?limit=4${after ? `&after=${after}` : ''}`, TOKENS.viewer)).json();
        expect(body.total).toBe(6);
        ids.push(...body.items.map((item) => item.id));
        after = body.next_after;
      }
      expect(ids).toEqual(['banamba', 'diamou', 'khabou', 'kolokani', 'segala', 'zegoua']);
    });

    it('finds boreholes by part of a name, village or id without minding accents, and filters by commune', async () => {
      const find = async (query: string) => (await get(`/api/boreholes?${query}`, TOKENS.viewer)).json<BoreholeList>().items.map((b) => b.id);
      expect(await find('q=segala')).toEqual(['segala']);
      expect(await find(`q=${encodeURIComponent('ZÉGOUA')}`)).toEqual(['zegoua']);
      expect(await find('q=ko')).toEqual(['kolokani']);
      expect(await find('commune=Diamou')).toEqual(['diamou']);
      // A regional token searches its own regions only.
      expect((await get('/api/boreholes?q=forage', TOKENS.koulikoroViewer)).json<BoreholeList>().items.map((b) => b.id)).toEqual(['banamba', 'kolokani']);
    });

    it("lists a region's alerts (GET /api/alerts?region=)", async () => {
      const boreholesOf = async (region: string, token: string = TOKENS.viewer) =>
        (await get(`/api/alerts?state=unresolved&region=${region}`, token)).json<{ items: { borehole: string }[] }>().items.map((a) => a.borehole);
      expect(await boreholesOf('Koulikoro')).toEqual(['kolokani']);
      expect(new Set(await boreholesOf('Kayes'))).toEqual(new Set(['khabou', 'diamou']));
      expect(await boreholesOf('Kayes', TOKENS.koulikoroViewer)).toEqual([]);
    });

    it.each(['limit=0', 'limit=1001', 'limit=ten', 'offset=-1', 'status=broken'])('refuses %s with 400 and says which parameter', async (query) => {
      const response = await get(`/api/boreholes?${query}`, TOKENS.viewer);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ error: 'invalid_request', message: expect.stringContaining(query.split('=')[0] ?? '') as unknown });
    });
  });

  describe('GET /api/boreholes/{id}', () => {
    it('gives a viewer the contacts names but no phone numbers', async () => {
      const response = await get('/api/boreholes/khabou', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      const body = response.json<BoreholeDetail>();
      expect(body.committee).toEqual({
        language: 'fr',
        contacts: [
          { name: 'Président du comité', phone: null },
          { name: 'Trésorière', phone: null },
        ],
      });
      expect(body.technician).toEqual({ name: 'Technicien de Kayes', phone: null });
      expect(response.body).not.toMatch(/\+223/);
    });

    it('gives an operator the phone numbers, the pump, the rules in force and the unresolved alerts', async () => {
      const body = (await get('/api/boreholes/khabou', TOKENS.operator)).json<BoreholeDetail>();
      expect(body.committee.contacts.map((c) => c.phone)).toEqual(['+22376000001', '+22376000002']);
      expect(body.technician.phone).toBe('+22379000003');
      expect(body.pump).toEqual({ rated_flow_lpm: 60, intake_depth_m: 55 });
      expect(body.rules).toMatchObject({ offline_minutes: 60, no_flow_minutes: 10 });
      expect(body.unresolved_alerts.map((a) => a.rule).sort()).toEqual(['low_water', 'pump_fault']);
      expect(body).toMatchObject({ id: 'khabou', status: 'alert', open_alerts: 2 });
    });

    it('answers 404 for an unknown borehole', async () => {
      const response = await get('/api/boreholes/atlantis', TOKENS.viewer);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error: 'not_found', message: 'no borehole atlantis' });
    });
  });

  describe('GET /api/boreholes/{id}/readings', () => {
    it('defaults to the last 7 days in hourly buckets ending on the next hour', async () => {
      h.clock.nowMs = T0_MS + 20 * MINUTE_MS;
      const response = await get('/api/boreholes/khabou/readings', TOKENS.viewer);
      expect(response.statusCode).toBe(200);
      const body = response.json<Readings>();
      const toMs = T0_MS + HOUR_MS;
      expect(body).toMatchObject({ borehole: 'khabou', every: '1h', from: new Date(toMs - 7 * 24 * HOUR_MS).toISOString(), to: new Date(toMs).toISOString() });
      expect(body.buckets).toHaveLength(7 * 24);
      expect(h.seriesQueries.at(-1)).toEqual({ boreholeId: 'khabou', fromMs: toMs - 7 * 24 * HOUR_MS, toMs, everyMs: HOUR_MS });
      const pumping = body.buckets.find((b) => b.time === '2026-02-04T09:00:00.000Z');
      expect(pumping).toEqual({
        time: '2026-02-04T09:00:00.000Z',
        flow_lpm_mean: 55,
        depth_m_min: 24,
        depth_m_mean: 28,
        depth_m_max: 31,
        running_fraction: 1,
        current_a_mean: 6.1,
        volume_m3: 3.3,
      });
    });

    it('takes from and to as RFC 3339 or epoch milliseconds, and every as 15m, 1h or 1d', async () => {
      const fromMs = Date.UTC(2026, 1, 1);
      const toMs = Date.UTC(2026, 1, 2);
      const cases: [string, number][] = [
        [`from=${fromMs}&to=${toMs}&every=15m`, 15 * MINUTE_MS],
        ['from=2026-02-01T00:00:00Z&to=2026-02-02T00:00:00Z&every=1h', HOUR_MS],
        ['from=2026-02-01T01:00:00%2B01:00&to=2026-02-02&every=1d', 24 * HOUR_MS],
      ];
      for (const [query, everyMs] of cases) {
        const response = await get(`/api/boreholes/khabou/readings?${query}`, TOKENS.viewer);
        expect(response.statusCode, query).toBe(200);
        expect(h.seriesQueries.at(-1), query).toEqual({ boreholeId: 'khabou', fromMs, toMs, everyMs });
        expect(response.json<Readings>().buckets, query).toHaveLength((toMs - fromMs) / everyMs);
      }
    });

    it('refuses a range of more than 5000 buckets with 400 and says what to do', async () => {
      const response = await get('/api/boreholes/khabou/readings?from=2025-01-01&to=2026-01-01&every=1h', TOKENS.viewer);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: 'invalid_range', message: '8760 buckets asked; at most 5000: choose a larger `every` or a shorter range' });
      expect((await get('/api/boreholes/khabou/readings?from=2025-01-01&to=2026-01-01&every=1d', TOKENS.viewer)).statusCode).toBe(200);
    });

    it.each([
      ['from=yesterday', 'from'],
      ['to=2026-13-45T99:00:00Z', 'to'],
      ['from=2026-02-05T10:00:00', 'from'],
      ['every=5x', 'every'],
      ['every=1w', 'every'],
      ['every=', 'every'],
      ['format=xml', 'format'],
    ])('refuses %s with 400 naming %s', async (query, name) => {
      const response = await get(`/api/boreholes/khabou/readings?${query}`, TOKENS.viewer);
      expect(response.statusCode).toBe(400);
      expect(response.json<{ message: string }>().message).toContain(name);
    });

    it('refuses `to` before `from`, and buckets shorter than a minute', async () => {
      const reversed = await get('/api/boreholes/khabou/readings?from=2026-02-05&to=2026-02-01', TOKENS.viewer);
      expect(reversed.json()).toEqual({ error: 'invalid_range', message: '`to` must be after `from`' });
      expect((await get('/api/boreholes/khabou/readings?every=0m', TOKENS.viewer)).statusCode).toBe(400);
    });

    it('answers CSV with format=csv or Accept: text/csv, same columns, empty for null', async () => {
      const query = '/api/boreholes/khabou/readings?from=2026-02-04T07:00:00Z&to=2026-02-04T10:00:00Z';
      const csv = await get(`${query}&format=csv`, TOKENS.viewer);
      expect(csv.statusCode).toBe(200);
      expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(csv.headers['content-disposition']).toBe('attachment; filename="khabou-2026-02-04-2026-02-04-1h.csv"');
      expect(csv.body.split('\r\n')).toEqual([
        '\uFEFFtime,flow_lpm_mean,depth_m_min,depth_m_mean,depth_m_max,running_fraction,current_a_mean,volume_m3',
        '2026-02-04T07:00:00.000Z,0,22,22.5,23,0,0,0',
        '2026-02-04T08:00:00.000Z,55,24,28,31,1,6.1,3.3',
        '2026-02-04T09:00:00.000Z,55,24,28,31,1,6.1,3.3',
        '',
      ]);
      const accepted = await get(query, TOKENS.viewer, { accept: 'text/csv' });
      expect(accepted.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(accepted.body).toBe(csv.body);
      const json = await get(query, TOKENS.viewer, { accept: 'application/json, text/csv' });
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(json.json<Readings>().buckets).toHaveLength(3);
    });

    it('answers 503 without internals when the time-series store does not answer', async () => {
      h.failingSeries.add('khabou');
      const response = await get('/api/boreholes/khabou/readings', TOKENS.viewer);
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({ error: 'store_unavailable', message: 'the time-series store did not answer; try again shortly' });
      expect(response.body).not.toContain('ECONNREFUSED');
    });

    it('answers 404 for an unknown borehole without asking the store', async () => {
      const asked = h.seriesQueries.length;
      expect((await get('/api/boreholes/atlantis/readings', TOKENS.viewer)).statusCode).toBe(404);
      expect(h.seriesQueries.length).toBe(asked);
    });

    it('refuses a request without a token with 401', async () => {
      expect((await get('/api/boreholes/khabou/readings')).statusCode).toBe(401);
    });
  });

  describe('GET /api/boreholes/{id}/maintenance', () => {
    it('lists visits newest first, paged', async () => {
      for (const note of ['clapet', 'crépine', 'compteur']) {
        h.clock.nowMs += HOUR_MS;
        h.engine.recordMaintenance('khabou', 'api:operator', note);
      }
      const all = (await get('/api/boreholes/khabou/maintenance', TOKENS.viewer)).json<{ total: number; items: { note: string; at: string; by: string; borehole: string }[] }>();
      expect(all.total).toBe(3);
      expect(all.items.map((i) => i.note)).toEqual(['compteur', 'crépine', 'clapet']);
      expect(all.items[0]).toMatchObject({ borehole: 'khabou', by: 'api:operator', at: new Date(h.clock.nowMs).toISOString() });
      const page = (await get('/api/boreholes/khabou/maintenance?limit=1&offset=1', TOKENS.viewer)).json<{ total: number; items: { note: string }[] }>();
      expect(page).toMatchObject({ total: 3, items: [{ note: 'crépine' }] });
    });

    it('masks the phone number of an SMS actor for a viewer, not for an operator', async () => {
      h.engine.recordMaintenance('khabou', 'sms:+22379000003', 'pompe remplacée');
      const viewer = (await get('/api/boreholes/khabou/maintenance', TOKENS.viewer)).json<{ items: { by: string }[] }>();
      expect(viewer.items[0]?.by).toBe('sms:+•••');
      const operator = (await get('/api/boreholes/khabou/maintenance', TOKENS.operator)).json<{ items: { by: string }[] }>();
      expect(operator.items[0]?.by).toBe('sms:+22379000003');
    });

    it('answers 404 for an unknown borehole and 400 for a bad page', async () => {
      expect((await get('/api/boreholes/atlantis/maintenance', TOKENS.viewer)).statusCode).toBe(404);
      expect((await get('/api/boreholes/khabou/maintenance?limit=0', TOKENS.viewer)).statusCode).toBe(400);
    });
  });

  describe('GET /api/alerts/{id}', () => {
    it('gives the alert and every change it went through, oldest first', async () => {
      const alert = alertOf(h, 'khabou', 'pump_fault');
      h.clock.nowMs += MINUTE_MS;
      h.engine.acknowledge(alert.id, 'sms:+22376000001');
      h.clock.nowMs += MINUTE_MS;
      h.engine.resolve(alert.id, 'api:operator', 'pompe remplacée');
      const response = await get(`/api/alerts/${alert.id}`, TOKENS.operator);
      expect(response.statusCode).toBe(200);
      const body = response.json<{ id: string; state: string; code: number; history: { at: string; kind: string; state: string; actor: string; note: string | null }[] }>();
      expect(body).toMatchObject({ id: alert.id, code: alert.code, state: 'resolved' });
      expect(body.history.map((e) => [e.kind, e.state, e.actor, e.note])).toEqual([
        ['opened', 'open', 'rules', null],
        ['acknowledged', 'acknowledged', 'sms:+22376000001', null],
        ['resolved', 'resolved', 'api:operator', 'pompe remplacée'],
      ]);
      expect(body.history[0]?.at).toBe(new Date(alert.openedAtMs).toISOString());
      const viewer = (await get(`/api/alerts/${alert.id}`, TOKENS.viewer)).json<{ history: { actor: string }[] }>();
      expect(viewer.history[1]?.actor).toBe('sms:+•••');
    });

    it('answers 404 for an unknown alert and 401 without a token', async () => {
      expect((await get('/api/alerts/00000000-0000-0000-0000-000000000000', TOKENS.viewer)).statusCode).toBe(404);
      expect((await get(`/api/alerts/${alertOf(h, 'khabou', 'pump_fault').id}`)).statusCode).toBe(401);
    });
  });
});
