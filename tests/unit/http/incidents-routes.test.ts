/**
 * The incident routes (CONTRACT.md section 9) over the real desk (src/incidents/desk.ts) on the
 * HTTP harness's in-memory SQLite store and rules engine: what an operator's tool or a ministry
 * dashboard reads and does through the API.
 *
 * The seeded network (harness.ts seedNetwork) gives three incidents: Khabou's dry-run pump fault
 * (critical, a work order, its low-water alert joined), Kolokani's low water and Diamou's silence
 * (warnings, no work order).
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3 } from 'openapi-types';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IncidentDesk } from '../../../src/incidents/desk.js';
import type { IncidentsPort } from '../../../src/incidents/port.js';
import type { IncidentJson, TimelineEntryJson } from '../../../src/http/routes/incidents.js';
import { bearer, HOUR_MS, MINUTE_MS, seedNetwork, startHarness, T0_MS, TOKENS, type Harness } from './harness.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const CONTRACT_FIELDS = [
  'id', 'code', 'borehole', 'cause', 'severity', 'state', 'alerts', 'opened_at', 'acknowledged_at', 'on_site_at', 'parts',
  'repair_claimed_at', 'verified_at', 'reopened_at', 'closed_at', 'assignee', 'respond_by', 'repair_by',
];
const ADDED_FIELDS = ['work_order', 'failed_repairs', 'manual_text'];

interface IncidentList {
  incidents: IncidentJson[];
  total: number;
}
type WithTimeline = IncidentJson & { timeline: TimelineEntryJson[] };

let h: Harness;
let desk: IncidentDesk;

beforeEach(async () => {
  const holder: { desk?: IncidentDesk } = {};
  // The desk needs the harness's store and engine, which exist only once the app is built.
  const port = new Proxy({} as IncidentsPort, {
    get: (_target, name): unknown => {
      const built = holder.desk;
      if (!built) throw new Error('the desk is not built yet');
      const value: unknown = Reflect.get(built, name);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(built) : value;
    },
  });
  h = await startHarness({ incidents: port });
  desk = new IncidentDesk({ registry: h.registry, store: h.store, rules: h.engine, wakeDispatcher: () => {}, timeZone: 'Africa/Bamako', now: () => h.clock.nowMs, log: pino({ level: 'silent' }) });
  holder.desk = desk;
  h.engine.onChange((change) => desk.onAlertChange(change));
  seedNetwork(h);
  h.clock.nowMs = T0_MS + 2 * MINUTE_MS;
  desk.tick();
});

afterEach(async () => {
  await h.close();
});

const get = async <T>(url: string, token: string = TOKENS.viewer) => {
  const response = await h.app.inject({ url, headers: bearer(token) });
  return { status: response.statusCode, body: response.json<T>() };
};
const post = async <T>(url: string, payload?: object, token: string = TOKENS.operator) => {
  const response = await h.app.inject({ method: 'POST', url, headers: bearer(token), ...(payload ? { payload } : {}) });
  return { status: response.statusCode, body: response.json<T>() };
};
const khabou = async () => {
  const { body } = await get<IncidentList>('/api/incidents?borehole=khabou', TOKENS.operator);
  const incident = body.incidents[0];
  if (!incident) throw new Error('no Khabou incident');
  return incident;
};

describe('GET /api/incidents', () => {
  it("lists the network's incidents newest first with the contract's fields, times in RFC 3339 UTC", async () => {
    const { status, body } = await get<IncidentList>('/api/incidents');
    expect(status).toBe(200);
    expect(body.total).toBe(3);
    expect(body.incidents.map((incident) => incident.borehole).sort()).toEqual(['diamou', 'khabou', 'kolokani']);
    const opened = body.incidents.map((incident) => Date.parse(incident.opened_at));
    expect(opened).toEqual([...opened].sort((a, b) => b - a));
    for (const incident of body.incidents) {
      expect(Object.keys(incident).sort()).toEqual([...CONTRACT_FIELDS, ...ADDED_FIELDS].sort());
      expect(incident.opened_at).toMatch(RFC3339_UTC);
    }
    const fault = body.incidents.find((incident) => incident.borehole === 'khabou');
    // One incident for the dry run and the low water it explains: two alerts, one work order.
    expect(fault).toMatchObject({ cause: 'pump_fault', severity: 'critical', state: 'reported', work_order: true, failed_repairs: 0, manual_text: null, parts: [] });
    expect(fault?.alerts).toHaveLength(2);
    expect(fault?.respond_by).toMatch(RFC3339_UTC);
    expect(Date.parse(fault?.respond_by ?? '') - Date.parse(fault?.opened_at ?? '')).toBe(72 * HOUR_MS);
    expect(body.incidents.find((incident) => incident.borehole === 'kolokani')).toMatchObject({ work_order: false, respond_by: null, assignee: null });
  });

  it('filters by state and borehole, and pages with the total of every match', async () => {
    expect((await get<IncidentList>('/api/incidents?borehole=kolokani')).body.incidents.map((i) => i.borehole)).toEqual(['kolokani']);
    expect((await get<IncidentList>('/api/incidents?state=on_site')).body).toEqual({ incidents: [], total: 0 });
    const page = (await get<IncidentList>('/api/incidents?state=open&limit=1&offset=1')).body;
    expect(page.total).toBe(3);
    expect(page.incidents).toHaveLength(1);
    await post(`/api/incidents/${(await khabou()).id}/close`);
    expect((await get<IncidentList>('/api/incidents?state=open')).body.incidents.map((i) => i.borehole).sort()).toEqual(['diamou', 'kolokani']);
    expect((await get<IncidentList>('/api/incidents?state=verified')).body.incidents.map((i) => i.borehole)).toEqual(['khabou']);
    expect((await get('/api/incidents?state=closed')).status).toBe(400);
  });

  it("shows a region-limited token only its regions' incidents", async () => {
    expect((await get<IncidentList>('/api/incidents', TOKENS.koulikoroViewer)).body.incidents.map((i) => i.borehole)).toEqual(['kolokani']);
    expect((await get<IncidentList>('/api/incidents?borehole=khabou', TOKENS.koulikoroViewer)).body).toEqual({ incidents: [], total: 0 });
  });

  it("shows the technician's number to operators and masks it for viewers", async () => {
    const forViewer = (await get<IncidentList>('/api/incidents?borehole=khabou')).body.incidents[0];
    expect(forViewer?.assignee).toEqual({ name: 'Technicien de Kayes', phone: '+•••' });
    expect((await khabou()).assignee).toEqual({ name: 'Technicien de Kayes', phone: '+22379000003' });
  });

  it('needs a token', async () => {
    expect((await h.app.inject('/api/incidents')).statusCode).toBe(401);
  });
});

describe('GET /api/incidents/{id}', () => {
  it('gives the incident with its timeline in order: alerts, each SMS with its delivery state, changes, the readings', async () => {
    const incident = await khabou();
    const sms = h.store.querySms({ limit: 50, offset: 0 }).messages.filter((message) => message.incidentId === incident.id);
    expect(sms.length).toBeGreaterThanOrEqual(2);
    const [delivered, failed] = sms;
    h.store.markSmsSent(delivered?.id ?? '', h.clock.nowMs, 'webhook', 'gw-1');
    h.store.recordDelivery({ messageId: delivered?.id }, 'delivered', 'DELIVRD', h.clock.nowMs);
    h.store.finishSms(failed?.id ?? '', 'failed', 'gateway refused the number');

    const { status, body } = await get<WithTimeline>(`/api/incidents/${incident.id}`, TOKENS.operator);
    expect(status).toBe(200);
    expect(body.code).toBe(incident.code);
    const at = body.timeline.map((entry) => Date.parse(entry.at));
    expect(at).toEqual([...at].sort((a, b) => a - b));
    expect(body.timeline.filter((entry) => entry.kind === 'alert').map((entry) => entry.kind === 'alert' && entry.alert.rule)).toEqual(['pump_fault', 'low_water']);
    const smsEntries = body.timeline.flatMap((entry) => (entry.kind === 'sms' ? [entry] : []));
    expect(smsEntries.find((entry) => entry.id === delivered?.id)).toMatchObject({ state: 'delivered', delivery_detail: 'DELIVRD', to: delivered?.recipient });
    expect(smsEntries.find((entry) => entry.id === failed?.id)).toMatchObject({ state: 'failed' });
    expect(body.timeline.find((entry) => entry.kind === 'change')).toMatchObject({ change: 'opened', state: 'reported', actor: 'rules' });
    expect(body.timeline.find((entry) => entry.kind === 'snapshot')).toMatchObject({ label: 'opened', readings: { running: false } });
  });

  it('masks the numbers of SMS recipients for viewers', async () => {
    const { body } = await get<WithTimeline>(`/api/incidents/${(await khabou()).id}`);
    const recipients = body.timeline.flatMap((entry) => (entry.kind === 'sms' ? [entry.to] : []));
    expect(recipients.length).toBeGreaterThan(0);
    expect(new Set(recipients)).toEqual(new Set(['+•••']));
    expect(JSON.stringify(body)).not.toMatch(/\+223\d/);
  });

  it('takes the numeric code people read in SMS in place of the id', async () => {
    const incident = await khabou();
    const { status, body } = await get<WithTimeline>(`/api/incidents/${incident.code}`);
    expect(status).toBe(200);
    expect(body.id).toBe(incident.id);
  });

  it('answers 404 for an unknown incident, and for one outside the token’s regions', async () => {
    expect((await get('/api/incidents/no-such-incident')).status).toBe(404);
    expect((await get('/api/incidents/9999')).status).toBe(404);
    expect((await get(`/api/incidents/${(await khabou()).id}`, TOKENS.koulikoroViewer)).status).toBe(404);
  });
});

describe('POST /api/incidents/{id}/ack|arrive|parts|repair|close', () => {
  it('moves the work order as the SMS commands do, recording the operator', async () => {
    const { id } = await khabou();
    const ack = await post<IncidentJson>(`/api/incidents/${id}/ack`);
    expect(ack.status).toBe(200);
    expect(ack.body.state).toBe('acknowledged');
    expect(ack.body.acknowledged_at).toMatch(RFC3339_UTC);

    h.clock.nowMs += HOUR_MS;
    expect((await post<IncidentJson>(`/api/incidents/${id}/arrive`)).body).toMatchObject({ state: 'on_site', on_site_at: new Date(h.clock.nowMs).toISOString() });
    const part = await post<IncidentJson>(`/api/incidents/${id}/parts`, { part: '  roulement  ' });
    expect(part.body).toMatchObject({ state: 'waiting_parts', parts: [{ part: 'roulement', at: new Date(h.clock.nowMs).toISOString() }] });
    const repaired = await post<IncidentJson>(`/api/incidents/${id}/repair`);
    expect(repaired.status).toBe(200);
    expect(repaired.body.state).toBe('repair_claimed');
    expect(repaired.body.verified_at).toBeNull();
    const closed = await post<IncidentJson>(`/api/incidents/${id}/close`);
    expect(closed.body).toMatchObject({ state: 'verified', closed_at: new Date(h.clock.nowMs).toISOString() });

    const { body } = await get<WithTimeline>(`/api/incidents/${id}`, TOKENS.operator);
    const changes = body.timeline.flatMap((entry) => (entry.kind === 'change' ? [[entry.change, entry.actor]] : []));
    expect(changes).toEqual(
      expect.arrayContaining([
        ['acknowledged', 'operator:operator'],
        ['on_site', 'operator:operator'],
        ['waiting_parts', 'operator:operator'],
        ['repair_claimed', 'operator:operator'],
        ['verified', 'operator:operator'],
      ]),
    );
  });

  it('keeps a repair note', async () => {
    const { id } = await khabou();
    await post(`/api/incidents/${id}/repair`, { note: 'clapet changé' });
    expect(desk.byId(id)?.repairNote).toBe('clapet changé');
  });

  it('refuses a change to a closed incident with 409 and says why', async () => {
    const { id } = await khabou();
    await post(`/api/incidents/${id}/close`);
    const again = await post<{ error: string; message: string }>(`/api/incidents/${id}/ack`);
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('conflict');
    expect(again.body.message).toMatch(/closed/);
  });

  it('refuses a part that is empty or longer than 200 characters', async () => {
    const { id } = await khabou();
    for (const payload of [{}, { part: '' }, { part: '   ' }, { part: 'x'.repeat(201) }]) {
      expect((await post(`/api/incidents/${id}/parts`, payload)).status, JSON.stringify(payload)).toBe(400);
    }
    expect(desk.byId(id)?.state).toBe('reported');
  });

  it('is for operators: a viewer gets 403 and nothing changes; an unknown incident 404', async () => {
    const { id, code } = await khabou();
    expect((await post(`/api/incidents/${id}/ack`, undefined, TOKENS.viewer)).status).toBe(403);
    expect(desk.byId(id)?.state).toBe('reported');
    expect((await post('/api/incidents/no-such-incident/ack')).status).toBe(404);
    expect((await post(`/api/incidents/${code}/ack`, undefined, TOKENS.koulikoroOperator)).status).toBe(404);
    expect((await post<IncidentJson>(`/api/incidents/${code}/ack`)).body.state).toBe('acknowledged');
  });
});

describe('POST /api/boreholes/{id}/incidents', () => {
  it('opens a manual incident with its work order, as PANNE does', async () => {
    const created = await post<IncidentJson>('/api/boreholes/segala/incidents', { text: "l'eau est sale" });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ borehole: 'segala', cause: 'reported_by_person', severity: 'critical', state: 'reported', work_order: true, manual_text: "l'eau est sale" });
    expect((await get<IncidentList>('/api/incidents?borehole=segala')).body.total).toBe(1);
  });

  it('refuses an unknown borehole (404), one outside the token’s regions (404), an empty or too long text (400)', async () => {
    expect((await post('/api/boreholes/atlantis/incidents', { text: 'panne' })).status).toBe(404);
    expect((await post('/api/boreholes/segala/incidents', { text: 'panne' }, TOKENS.koulikoroOperator)).status).toBe(404);
    expect((await post('/api/boreholes/segala/incidents', { text: '' })).status).toBe(400);
    expect((await post('/api/boreholes/segala/incidents', { text: 'x'.repeat(501) })).status).toBe(400);
    expect((await post('/api/boreholes/segala/incidents', { text: 'panne' }, TOKENS.viewer)).status).toBe(403);
    expect((await get<IncidentList>('/api/incidents?borehole=segala')).body.total).toBe(0);
  });
});

describe('the OpenAPI document', () => {
  it('describes every incident route with its schemas, behind a bearer token, and stays valid', async () => {
    const doc = (await h.app.inject('/openapi.json')).json<OpenAPIV3.Document>();
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
    const routes: [string, 'get' | 'post'][] = [
      ['/api/incidents', 'get'],
      ['/api/incidents/{id}', 'get'],
      ['/api/incidents/{id}/ack', 'post'],
      ['/api/incidents/{id}/arrive', 'post'],
      ['/api/incidents/{id}/parts', 'post'],
      ['/api/incidents/{id}/repair', 'post'],
      ['/api/incidents/{id}/close', 'post'],
      ['/api/boreholes/{id}/incidents', 'post'],
    ];
    for (const [path, method] of routes) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method} ${path}`).toBeDefined();
      expect(operation?.security).toEqual([{ bearer: [] }]);
      expect(operation?.tags).toEqual(['incidents']);
      expect(Object.keys(operation?.responses ?? {})).toContain('401');
    }
    const list = (doc.paths['/api/incidents']?.get?.responses['200'] as OpenAPIV3.ResponseObject).content?.['application/json']?.schema as OpenAPIV3.SchemaObject;
    const item = (list.properties?.incidents as OpenAPIV3.ArraySchemaObject).items as OpenAPIV3.SchemaObject;
    expect(Object.keys(item.properties ?? {}).sort()).toEqual([...CONTRACT_FIELDS, ...ADDED_FIELDS].sort());
    const part = (doc.paths['/api/incidents/{id}/parts']?.post?.requestBody as OpenAPIV3.RequestBodyObject).content['application/json']?.schema as OpenAPIV3.SchemaObject;
    expect(part.properties?.part).toMatchObject({ type: 'string', minLength: 1, maxLength: 200 });
  });
});
