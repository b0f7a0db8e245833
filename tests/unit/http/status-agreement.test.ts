/**
 * One status, wherever it is read: the API (`GET /api/boreholes/:id`), the borehole page, the
 * WPdx report and the `ETAT` SMS answer the same status for the same borehole at the same instant,
 * for every status, including at the edge of `offline_minutes` before any offline alert is open.
 * The ETAT handler is wired over the very store, rules engine and clock of the HTTP app, as
 * src/service.ts wires them.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BOREHOLE_STATUSES, type BoreholeStatus } from '../../../src/domain/borehole-status.js';
import { TOKEN_COOKIE } from '../../../src/http/pages/routes.js';
import { IncidentDesk } from '../../../src/incidents/desk.js';
import { InboundSmsHandler } from '../../../src/notify/replies.js';
import { renderStatus, type StatusEntry } from '../../../src/notify/templates.js';
import { bearer, HOUR_MS, MINUTE_MS, seedNetwork, startHarness, T0_MS, TOKENS, type Harness } from './harness.js';

type RuleId = StatusEntry['openAlerts'][number]['rule'];

interface BoreholeDetail {
  id: string;
  name: string;
  status: BoreholeStatus;
  committee: { contacts: { phone: string | null }[] };
  unresolved_alerts: { code: number; rule: RuleId }[];
}

interface WpdxItem {
  orig_id: string;
  status_id: string;
}

/** Every borehole's technician in the harness registry: their ETAT lists the whole network. */
const TECHNICIAN = '+22379000003';

let h: Harness;
let etat: (from: string) => string;

beforeEach(async () => {
  h = await startHarness();
  seedNetwork(h);
  const replies: { to: string; text: string }[] = [];
  let smsId = 0;
  const log = pino({ level: 'silent' });
  // As src/service.ts wires it; ETAT reads the alerts, the desk only answers the coded commands.
  const desk = new IncidentDesk({ registry: h.registry, store: h.store, rules: h.engine, wakeDispatcher: () => undefined, timeZone: 'Africa/Bamako', now: () => h.clock.nowMs, log });
  const handler = new InboundSmsHandler({
    registry: h.registry,
    now: () => h.clock.nowMs,
    log,
    defaultRegion: 'ML',
    repliesPerHour: 1_000,
    ports: {
      desk,
      unresolvedAlerts: (boreholeIds) => h.store.listAlerts({ state: 'unresolved', boreholeIds, limit: 1000, offset: 0 }).alerts,
      lastHeardAtMs: (boreholeId) => h.engine.stateOf(boreholeId)?.lastHeardAtMs ?? null,
      record: (at, sender, text, outcome, incidentId) => h.store.recordInboundSms(at, sender, text, outcome, incidentId ?? null),
      reply: (to, text) => replies.push({ to, text }),
      claimInboundSms: (key, at, windowMs, retentionMs) => h.store.claimInboundSms(key, at, windowMs, retentionMs),
      releaseInboundSms: (key) => h.store.releaseInboundSms(key),
      repliesQueuedSince: () => 0,
    },
  });
  etat = (from) => {
    smsId += 1;
    // Each ETAT its own provider id: the same text within a minute would otherwise be one SMS.
    expect(handler.handle({ from, text: 'ETAT', id: `etat-${smsId}` })).toBe('status');
    const answer = replies.at(-1);
    expect(answer?.to).toBe(from);
    return answer?.text ?? '';
  };
});

afterEach(async () => {
  await h.close();
});

async function apiDetail(id: string): Promise<BoreholeDetail> {
  const response = await h.app.inject({ url: `/api/boreholes/${id}`, headers: bearer(TOKENS.operator) });
  expect(response.statusCode).toBe(200);
  return response.json<BoreholeDetail>();
}

/** What ETAT must say of these boreholes, given the status and unresolved alerts the API reports. */
const etatOf = (details: readonly BoreholeDetail[]): string =>
  renderStatus(
    'fr',
    details.map((detail): StatusEntry => ({ name: detail.name, status: detail.status, openAlerts: detail.unresolved_alerts.map(({ code, rule }) => ({ code, rule })) })),
  );

/** Compares every reader of the status at the clock's instant; returns the API's statuses. */
async function compareEverywhere(): Promise<Map<string, BoreholeStatus>> {
  const ids = [...h.registry.boreholes.keys()];
  const details = await Promise.all(ids.map(apiDetail));
  const wpdx = (await h.app.inject({ url: '/api/reports/wpdx', headers: bearer(TOKENS.viewer) })).json<{ items: WpdxItem[] }>().items;
  for (const detail of details) {
    // The committee's phone: its ETAT names this borehole only.
    const phone = detail.committee.contacts[0]?.phone ?? '';
    expect(etat(phone), `ETAT of ${detail.id}`).toBe(etatOf([detail]));
    const page = await h.app.inject({ url: `/boreholes/${detail.id}`, headers: { accept: 'text/html', cookie: `${TOKEN_COOKIE}=${TOKENS.viewer}` } });
    expect(page.body, `page of ${detail.id}`).toContain(`class="badge status-${detail.status}"`);
    // WPdx knows nothing of the water when the device is quiet or was never heard.
    const row = wpdx.find((item) => item.orig_id === detail.id);
    expect(row?.status_id === 'Unknown', `WPdx of ${detail.id}`).toBe(detail.status === 'offline' || detail.status === 'unknown');
  }
  // The technician's ETAT lists the whole network, problems first: the order follows the statuses too.
  expect(etat(TECHNICIAN)).toBe(etatOf(details));
  return new Map(details.map((detail) => [detail.id, detail.status]));
}

describe('one status for the API, the pages, WPdx and ETAT', () => {
  it('agree on every status, at every instant, up to and past offline_minutes of silence', async () => {
    const seen = new Set<BoreholeStatus>();
    // T0: khabou alert, segala ok, diamou offline (its offline alert), zegoua unknown.
    const atT0 = await compareEverywhere();
    expect(Object.fromEntries(atT0)).toMatchObject({ khabou: 'alert', segala: 'ok', diamou: 'offline', zegoua: 'unknown' });
    for (const status of atT0.values()) seen.add(status);

    // banamba was last heard at T0 − 10 min; offline_minutes is 60; no tick, so no offline alert yet.
    h.clock.nowMs = T0_MS + 50 * MINUTE_MS;
    expect((await compareEverywhere()).get('banamba')).toBe('ok');
    h.clock.nowMs = T0_MS + 50 * MINUTE_MS + 1;
    expect((await compareEverywhere()).get('banamba')).toBe('offline');

    // khabou silent past offline_minutes while its pump_fault is still open: offline, not alert.
    h.clock.nowMs = T0_MS + HOUR_MS;
    for (const status of (await compareEverywhere()).values()) seen.add(status);
    expect(await apiDetail('khabou')).toMatchObject({ status: 'offline', unresolved_alerts: expect.arrayContaining([expect.objectContaining({ rule: 'pump_fault' })]) as unknown });

    expect([...seen].sort()).toEqual([...BOREHOLE_STATUSES].sort());
  });
});
