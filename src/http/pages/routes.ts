/**
 * The pages people open (server-rendered HTML in French): login, the network, one borehole, the
 * alerts, one incident and the work-order board. They sit behind the same tokens as the API: the login form puts the token in an
 * HttpOnly, SameSite=Strict cookie (Secure over https). Changes are plain HTML forms POSTing here,
 * protected from cross-site requests by SameSite=Strict and a check that Origin (or Referer) is
 * this very host; they call the same AlertsPort (and IncidentsPort) as the API.
 */
import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../config/env.js';
import { AlertTransitionError, type Alert } from '../../alerts/alert.js';
import { UnknownAlertError } from '../../rules/engine.js';
import type { SeriesBucket } from '../../storage/telemetry.js';
import { actorOf, hasRole, type Identity, type TokenAuth } from '../auth.js';
import type { NetworkPort, Scope } from '../network.js';
import type { AlertsPort } from '../routes/alerts.js';
import { DAY_MS, networkListSources, networkSummaries } from '../routes/boreholes.js';
import { ALERT_FILTERS, alertsPage, type AlertFilter } from './alerts-page.js';
import type { PageAssets } from './assets.js';
import { boreholePage } from './borehole-page.js';
import { Formatter } from './format.js';
import { html } from './html.js';
import { renderPage, type PageFrame } from './layout.js';
import { loginPage, messagePage } from './login-page.js';
import { networkPage } from './network-page.js';
import { networkQueryOf, networkView } from './network-query.js';
import { reportPage } from './report-page.js';
import { SMS_FILTERS, smsPage, type SmsFilter } from './sms-page.js';
import type { SmsPort } from '../routes/sms.js';
import { dayStart, localDate, PeriodError, periodContaining, reportPeriod, type Period } from '../../reports/periods.js';
import { uptimeCsv } from '../../reports/report.js';
import { wpdxCsv, wpdxFilename } from '../../reports/wpdx.js';
import { csvSeparatorOf, sendCsv } from '../csv.js';
import { ARCHIVE_KINDS, archiveCsv, reportBoreholes, resultsQuarter, serviceReportFor, visibleArchive, wpdxReportFor, type ReportsPort } from '../routes/reports.js';
import { serviceCsv } from '../../reports/service-report.js';
import { resultsCsv } from '../../reports/results-report.js';
import type { Incident } from '../../incidents/incident.js';
import type { IncidentsPort, TransitionResult } from '../../incidents/port.js';
import { incidentActorOf, incidentByIdOrCode } from '../routes/incidents.js';
import { incidentPage } from './incident-page.js';
import { applyBoardFilters, boardFiltersOf, boardOrder, workOrdersPage } from './work-orders-page.js';

export const TOKEN_COOKIE = 'bhm_token';
const COOKIE_MAX_AGE_S = 30 * 86_400;
const ALERTS_PAGE_SIZE = 50;
const HOUR_MS = 3_600_000;

export interface PageOptions {
  auth: TokenAuth;
  alerts: AlertsPort;
  network: NetworkPort;
  scope: Scope;
  assets: PageAssets;
  now: () => number;
  timeZone: string;
  /** Absent: no report pages. */
  reports?: ReportsPort | undefined;
  /** Absent: no SMS page. */
  sms?: SmsPort | undefined;
  /** Absent: no incident page, no work-order board. */
  incidents?: IncidentsPort | undefined;
}

type FormBody = Record<string, string | undefined>;

const SMS_PAGE_SIZE = 50;
/** The board reads at most this many open incidents (then says so). */
const BOARD_MAX = 5000;

/** Only a path of this site: never `//evil.example` or `https://…`. */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || value.length > 500) return '/';
  return /[\u0000-\u001f]/.test(value) ? '/' : value;
}

/** Whether a state-changing request comes from a page of this very host (Origin, else Referer). */
export function sameOrigin(request: FastifyRequest): boolean {
  const source = request.headers.origin ?? request.headers.referer;
  const host = request.headers.host;
  if (typeof source !== 'string' || source === 'null' || !host) return false;
  try {
    const origin = new URL(source);
    // Parsed alike, so that `localhost:80` and `http://localhost` compare equal.
    return new URL(`${origin.protocol}//${host}`).host === origin.host;
  } catch {
    return false;
  }
}

/** `back` with a flash query added: `/alerts?state=open` → `/alerts?state=open&done=ack&code=17`. */
function withFlash(back: string, flash: Record<string, string>): string {
  const url = new URL(back, 'http://local.invalid');
  for (const key of ['done', 'failed', 'code']) url.searchParams.delete(key);
  for (const [key, value] of Object.entries(flash)) url.searchParams.set(key, value);
  return `${url.pathname}${url.search}`;
}

/** A download link with a `sep` the pages never write: said in plain text, as a browser shows it. */
const badSeparator = (reply: FastifyReply): FastifyReply =>
  reply.code(400).type('text/plain; charset=utf-8').send('sep doit valoir comma ou semicolon (sep must be comma or semicolon)');

const DONE_TEXT: Record<string, (code: string) => string> = {
  ack: (code) => `Alerte n° ${code} acquittée.`,
  resolve: (code) => `Alerte n° ${code} résolue.`,
  retry: () => 'SMS remis en file : il repart dans quelques secondes.',
  'incident-ack': (code) => `Intervention n° ${code} prise en compte.`,
  'incident-arrive': (code) => `Intervention n° ${code} : technicien sur place.`,
  'incident-parts': (code) => `Intervention n° ${code} : en attente de pièce.`,
  'incident-repair': (code) => `Intervention n° ${code} : réparation annoncée. Les mesures la vérifieront.`,
  'incident-close': (code) => `Intervention n° ${code} close.`,
};
/** Flashes that name no alert. */
const WITHOUT_CODE = new Set(['retry', 'not-failed']);
const FAILED_TEXT: Record<string, (code: string) => string> = {
  conflict: (code) => `L'alerte n° ${code} était déjà résolue : rien n'a changé.`,
  gone: () => "Cette alerte n'existe pas ou n'est pas visible avec votre jeton.",
  'not-failed': () => "Ce SMS n'est pas en échec : rien n'a changé.",
  'incident-gone': () => "Cette intervention n'existe pas ou n'est pas visible avec votre jeton.",
  'incident-closed': (code) => `L'intervention n° ${code} est close : rien n'a changé.`,
  'incident-no-order': (code) => `L'incident n° ${code} n'a pas d'ordre de travail : rien n'a changé.`,
  'incident-no-part': (code) => `Indiquez la pièce attendue pour l'intervention n° ${code}.`,
};

function flashOf(query: Record<string, string | undefined>): PageFrame['flash'] {
  const code = /^\d{1,9}$/.test(query.code ?? '') ? (query.code ?? '') : '';
  const done = query.done ? DONE_TEXT[query.done] : undefined;
  if (done && (code || WITHOUT_CODE.has(query.done ?? ''))) return { kind: 'ok', text: done(code) };
  const failed = query.failed ? FAILED_TEXT[query.failed] : undefined;
  if (failed) return { kind: 'error', text: failed(code) };
  return null;
}

export const pageRoutes: FastifyPluginAsync<PageOptions> = async (app, options) => {
  const { auth, alerts, network, scope, assets, now, timeZone } = options;
  const format = new Formatter(timeZone);

  await app.register(cookie);
  // HTML forms post urlencoded bodies; only these routes accept them (the API takes JSON only).
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  const unresolvedCount = (identity: Identity | undefined): number =>
    alerts.list({ state: 'unresolved', boreholeIds: scope.alertFilter(identity), limit: 1, offset: 0 }).total;

  const send = (reply: FastifyReply, status: number, frame: Omit<PageFrame, 'assets' | 'timeZone'>) =>
    reply
      .code(status)
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(renderPage({ incidents: options.incidents !== undefined, ...frame, assets: assets.urls, timeZone }).text);

  const cookieOptions = (request: FastifyRequest) =>
    ({ path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' }) as const;

  /** The page's identity, or a reply already sent (login redirect, 429, 403). */
  const signedIn = async (request: FastifyRequest, reply: FastifyReply, minimum: Role): Promise<Identity | null> => {
    const outcome = auth.authenticate(request.ip, request.cookies[TOKEN_COOKIE]);
    if (outcome.kind === 'blocked') {
      await send(reply.header('retry-after', String(outcome.retryAfterS)), 429, {
        title: 'Trop de tentatives',
        section: 'error',
        body: messagePage('Trop de tentatives', `Trop de jetons refusés depuis cette adresse. Réessayez dans ${outcome.retryAfterS} secondes.`),
      });
      return null;
    }
    if (outcome.kind !== 'ok') {
      const next = encodeURIComponent(safeNext(request.method === 'GET' ? request.url : '/'));
      if (outcome.kind === 'invalid') reply.clearCookie(TOKEN_COOKIE, cookieOptions(request));
      await reply.code(303).header('cache-control', 'no-store').redirect(`/login?next=${next}${outcome.kind === 'invalid' ? '&expired=1' : ''}`);
      return null;
    }
    if (!hasRole(outcome.identity, minimum)) {
      await send(reply, 403, {
        title: 'Accès refusé',
        section: 'error',
        identity: outcome.identity,
        body: messagePage('Accès refusé', "Cette action demande un jeton d'opérateur.", { href: '/alerts', label: 'Retour aux alertes' }),
      });
      return null;
    }
    request.identity = outcome.identity;
    return outcome.identity;
  };

  const refuseCrossSite = (request: FastifyRequest, reply: FastifyReply) =>
    send(reply, 403, {
      title: 'Requête refusée',
      section: 'error',
      identity: request.identity,
      body: messagePage('Requête refusée', "Cette demande ne vient pas d'une page de ce site : elle a été ignorée.", { href: '/', label: "Retour à l'accueil" }),
    });

  // --- login / logout -------------------------------------------------------------------------

  app.get<{ Querystring: Record<string, string | undefined> }>('/login', { schema: { hide: true } }, async (request, reply) =>
    send(reply, 200, {
      title: 'Connexion',
      section: 'login',
      body: loginPage({
        next: safeNext(request.query.next),
        notice: request.query.expired ? 'Votre session a expiré ou le jeton a changé : reconnectez-vous.' : request.query.out ? 'Vous êtes déconnecté.' : undefined,
      }),
    }),
  );

  app.post<{ Body: FormBody | undefined }>('/login', { schema: { hide: true } }, async (request, reply) => {
    if (!sameOrigin(request)) return refuseCrossSite(request, reply);
    const next = safeNext(request.body?.next);
    const token = (request.body?.token ?? '').trim();
    const outcome = auth.authenticate(request.ip, token);
    if (outcome.kind === 'blocked') {
      return send(reply.header('retry-after', String(outcome.retryAfterS)), 429, {
        title: 'Connexion',
        section: 'login',
        body: loginPage({ next, error: `Trop de jetons refusés depuis cette adresse. Réessayez dans ${outcome.retryAfterS} secondes.` }),
      });
    }
    if (outcome.kind !== 'ok') {
      return send(reply, 401, {
        title: 'Connexion',
        section: 'login',
        body: loginPage({ next, error: outcome.kind === 'missing' ? "Saisissez votre jeton d'accès." : "Ce jeton n'est pas valide." }),
      });
    }
    reply.setCookie(TOKEN_COOKIE, token, { ...cookieOptions(request), maxAge: COOKIE_MAX_AGE_S });
    return reply.code(303).redirect(next);
  });

  app.post('/logout', { schema: { hide: true } }, async (request, reply) => {
    if (!sameOrigin(request)) return refuseCrossSite(request, reply);
    reply.clearCookie(TOKEN_COOKIE, cookieOptions(request));
    return reply.code(303).redirect('/login?out=1');
  });

  // --- the network ----------------------------------------------------------------------------

  app.get<{ Querystring: Record<string, string | undefined> }>('/', { schema: { hide: true } }, async (request, reply) => {
    const identity = await signedIn(request, reply, 'viewer');
    if (!identity) return reply;
    // One walk over what the token may see; only the listed boreholes' alerts are read (issue 19).
    const view = networkView(networkListSources(options), identity, networkQueryOf(request.query));
    return send(reply, 200, {
      title: 'Réseau',
      section: 'network',
      identity,
      unresolvedCount: unresolvedCount(identity),
      body: networkPage({ ...view, format, nowMs: now() }),
    });
  });

  // --- one borehole ---------------------------------------------------------------------------

  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/boreholes/:id', { schema: { hide: true } }, async (request, reply) => {
    const identity = await signedIn(request, reply, 'viewer');
    if (!identity) return reply;
    const [summary] = networkSummaries(options, identity, request.params.id);
    if (!summary) {
      return send(reply, 404, {
        title: 'Forage introuvable',
        section: 'error',
        identity,
        body: messagePage('Forage introuvable', "Ce forage n'existe pas ou n'est pas visible avec votre jeton.", { href: '/', label: 'Retour au réseau' }),
      });
    }
    // Today and the six days before it, from midnight, so that the day table has whole days.
    const nowMs = now();
    const window = { fromMs: format.startOfDay(nowMs) - 6 * DAY_MS, toMs: Math.ceil(nowMs / HOUR_MS) * HOUR_MS, everyMs: HOUR_MS };
    let buckets: SeriesBucket[] | null;
    try {
      buckets = await network.telemetry.series({ boreholeId: summary.borehole.id, ...window });
    } catch (error) {
      request.log.error({ err: error, boreholeId: summary.borehole.id }, 'readings query failed');
      buckets = null;
    }
    const recent = alerts.list({ boreholeIds: [summary.borehole.id], limit: 20, offset: 0 });
    return send(reply, 200, {
      title: summary.borehole.name,
      section: 'borehole',
      identity,
      unresolvedCount: unresolvedCount(identity),
      flash: flashOf(request.query),
      head: html`<link rel="stylesheet" href="${assets.urls.uplotCss}">`,
      scripts: buckets && buckets.length > 0 ? [assets.urls.uplotJs, assets.urls.chartsJs] : [],
      body: boreholePage({
        summary,
        buckets,
        window,
        recentAlerts: recent.alerts,
        alertTotal: recent.total,
        maintenance: network.maintenance(summary.borehole.id).slice(0, 20),
        ...(options.incidents ? { openIncidents: options.incidents.openOf([summary.borehole.id]).filter((incident) => incident.boreholeId === summary.borehole.id) } : {}),
        identity,
        format,
        nowMs: now(),
        here: `/boreholes/${summary.borehole.id}`,
      }),
    });
  });

  // --- alerts ---------------------------------------------------------------------------------

  app.get<{ Querystring: Record<string, string | undefined> }>('/alerts', { schema: { hide: true } }, async (request, reply) => {
    const identity = await signedIn(request, reply, 'viewer');
    if (!identity) return reply;
    const filter: AlertFilter = (ALERT_FILTERS as readonly string[]).includes(request.query.state ?? '') ? (request.query.state as AlertFilter) : 'unresolved';
    const page = Math.max(1, Math.min(10_000, Number.parseInt(request.query.page ?? '1', 10) || 1));
    const borehole = request.query.borehole ? scope.borehole(identity, request.query.borehole) : undefined;
    let boreholeIds = scope.alertFilter(identity);
    if (borehole) boreholeIds = [borehole.id];
    else if (request.query.borehole) boreholeIds = [];
    const state = filter === 'all' ? undefined : filter;
    const { alerts: found, total } = alerts.list({ state, boreholeIds, limit: ALERTS_PAGE_SIZE, offset: (page - 1) * ALERTS_PAGE_SIZE });
    const params = new URLSearchParams({ state: filter });
    if (borehole) params.set('borehole', borehole.id);
    if (page > 1) params.set('page', String(page));
    return send(reply, 200, {
      title: 'Alertes',
      section: 'alerts',
      identity,
      unresolvedCount: unresolvedCount(identity),
      flash: flashOf(request.query),
      body: alertsPage({
        alerts: found,
        total,
        filter,
        borehole,
        page,
        pageSize: ALERTS_PAGE_SIZE,
        canChange: hasRole(identity, 'operator'),
        boreholeOf: (id) => scope.borehole(identity, id),
        format,
        nowMs: now(),
        here: `/alerts?${params.toString()}`,
        smsLinks: options.sms !== undefined && identity.regions === null,
      }),
    });
  });

  const change = (kind: 'ack' | 'resolve', work: (alert: Alert, request: FastifyRequest<{ Body: FormBody | undefined }>) => Alert) =>
    async (request: FastifyRequest<{ Params: { id: string }; Body: FormBody | undefined }>, reply: FastifyReply) => {
      const identity = await signedIn(request, reply, 'operator');
      if (!identity) return reply;
      if (!sameOrigin(request)) return refuseCrossSite(request, reply);
      const back = safeNext(request.body?.back ?? '/alerts');
      const alert = alerts.get(request.params.id);
      if (!alert || !scope.seesAlertOf(identity, alert.boreholeId)) return reply.code(303).redirect(withFlash(back, { failed: 'gone' }));
      try {
        const changed = work(alert, request);
        return reply.code(303).redirect(withFlash(back, { done: kind, code: String(changed.code) }));
      } catch (error) {
        if (error instanceof AlertTransitionError) return reply.code(303).redirect(withFlash(back, { failed: 'conflict', code: String(alert.code) }));
        if (error instanceof UnknownAlertError) return reply.code(303).redirect(withFlash(back, { failed: 'gone' }));
        throw error;
      }
    };

  app.post<{ Params: { id: string }; Body: FormBody | undefined }>(
    '/alerts/:id/ack',
    { schema: { hide: true } },
    change('ack', (alert, request) => alerts.acknowledge(alert.id, actorOf(request, 'web'))),
  );

  // --- reports -------------------------------------------------------------------------------

  if (options.reports) registerReportPages(options.reports);
  if (options.sms) registerSmsPages(options.sms);
  if (options.incidents) registerIncidentPages(options.incidents);

  // --- incidents and work orders -----------------------------------------------------------------

  function registerIncidentPages(incidents: IncidentsPort): void {
    const gone = (request: FastifyRequest, reply: FastifyReply, identity: Identity) =>
      send(reply, 404, {
        title: 'Intervention introuvable',
        section: 'error',
        identity,
        body: messagePage('Intervention introuvable', "Cette intervention n'existe pas ou n'est pas visible avec votre jeton.", { href: '/work-orders', label: 'Retour aux interventions' }),
      });

    app.get<{ Querystring: Record<string, string | undefined> }>('/work-orders', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const nowMs = now();
      const boreholeIds = scope.alertFilter(identity);
      // Every open incident in reach, page by page: the board is sorted on what the port does not sort by.
      const open: Incident[] = [];
      let total = 0;
      do {
        const found = incidents.list({ state: 'open', boreholeIds, limit: 500, offset: open.length });
        total = found.total;
        open.push(...found.incidents);
        if (found.incidents.length === 0) break;
      } while (open.length < Math.min(total, BOARD_MAX));
      const workOrders = open.filter((incident) => incident.workOrder);
      const filters = boardFiltersOf(request.query);
      const boreholeOf = (id: string) => scope.borehole(identity, id);
      const shown = applyBoardFilters(workOrders, filters, boreholeOf).sort(boardOrder(nowMs));
      const regions = [...new Set(scope.visible(identity).map((borehole) => borehole.region))].sort((a, b) => a.localeCompare(b, 'fr'));
      const technicians = [
        ...new Set([...scope.visible(identity).map((borehole) => borehole.technician.name), ...workOrders.flatMap((incident) => (incident.assignee ? [incident.assignee.name] : []))]),
      ].sort((a, b) => a.localeCompare(b, 'fr'));
      return send(reply, 200, {
        title: 'Interventions',
        section: 'incidents',
        identity,
        unresolvedCount: unresolvedCount(identity),
        body: workOrdersPage({ incidents: shown, filters, regions, technicians, boreholeOf, format, nowMs, truncated: total > open.length }),
      });
    });

    app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/incidents/:id', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const incident = incidentByIdOrCode(incidents, request.params.id.slice(0, 64));
      if (!incident || !scope.seesAlertOf(identity, incident.boreholeId)) return gone(request, reply, identity);
      return send(reply, 200, {
        title: `Intervention n° ${incident.code}`,
        section: 'incidents',
        identity,
        unresolvedCount: unresolvedCount(identity),
        flash: flashOf(request.query),
        body: incidentPage({
          incident,
          borehole: scope.borehole(identity, incident.boreholeId),
          timeline: incidents.timeline(incident.id),
          canChange: hasRole(identity, 'operator'),
          format,
          nowMs: now(),
          here: `/incidents/${incident.id}`,
        }),
      });
    });

    const move = (kind: 'ack' | 'arrive' | 'parts' | 'repair' | 'close', work: (incident: Incident, request: FastifyRequest<{ Body: FormBody | undefined }>) => TransitionResult | 'no-part') =>
      async (request: FastifyRequest<{ Params: { id: string }; Body: FormBody | undefined }>, reply: FastifyReply) => {
        const identity = await signedIn(request, reply, 'operator');
        if (!identity) return reply;
        if (!sameOrigin(request)) return refuseCrossSite(request, reply);
        const incident = incidentByIdOrCode(incidents, request.params.id.slice(0, 64));
        const back = safeNext(request.body?.back ?? (incident ? `/incidents/${incident.id}` : '/work-orders'));
        if (!incident || !scope.seesAlertOf(identity, incident.boreholeId)) return reply.code(303).redirect(withFlash(back, { failed: 'incident-gone' }));
        const code = String(incident.code);
        const result = work(incident, request);
        if (result === 'no-part') return reply.code(303).redirect(withFlash(back, { failed: 'incident-no-part', code }));
        if (result.ok) return reply.code(303).redirect(withFlash(back, { done: `incident-${kind}`, code }));
        const failed = result.reason === 'not_found' ? 'incident-gone' : result.reason === 'closed' ? 'incident-closed' : 'incident-no-order';
        return reply.code(303).redirect(withFlash(back, { failed, code }));
      };

    const route = (action: string, handler: ReturnType<typeof move>) =>
      app.post<{ Params: { id: string }; Body: FormBody | undefined }>(`/incidents/:id/${action}`, { schema: { hide: true } }, handler);
    route('ack', move('ack', (incident, request) => incidents.acknowledge(incident.id, incidentActorOf(request))));
    route('arrive', move('arrive', (incident, request) => incidents.arrive(incident.id, incidentActorOf(request))));
    route(
      'parts',
      move('parts', (incident, request) => {
        const part = (request.body?.part ?? '').trim().slice(0, 200);
        return part === '' ? 'no-part' : incidents.part(incident.id, part, incidentActorOf(request));
      }),
    );
    route(
      'repair',
      move('repair', (incident, request) => {
        const note = (request.body?.note ?? '').trim().slice(0, 500);
        return incidents.repair(incident.id, note === '' ? null : note, incidentActorOf(request));
      }),
    );
    route('close', move('close', (incident, request) => incidents.close(incident.id, incidentActorOf(request))));
  }

  // --- SMS -------------------------------------------------------------------------------------

  function registerSmsPages(sms: SmsPort): void {
    app.get<{ Querystring: Record<string, string | undefined> }>('/sms', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      if (identity.regions) {
        return send(reply, 403, {
          title: 'Accès refusé',
          section: 'error',
          identity,
          body: messagePage('Accès refusé', 'Les SMS concernent tout le réseau : il faut un jeton sans limite de région.', { href: '/alerts', label: 'Retour aux alertes' }),
        });
      }
      const filter: SmsFilter = (SMS_FILTERS as readonly string[]).includes(request.query.state ?? '') ? (request.query.state as SmsFilter) : 'all';
      const page = Math.max(1, Math.min(10_000, Number.parseInt(request.query.page ?? '1', 10) || 1));
      const alert = request.query.alert ? alerts.get(request.query.alert) : null;
      const alertId = alert && scope.seesAlertOf(identity, alert.boreholeId) ? alert.id : undefined;
      const { messages, total } = sms.query({
        ...(filter === 'all' ? {} : { states: [filter] }),
        ...(alertId ? { alertId } : {}),
        failuresFirst: true,
        limit: SMS_PAGE_SIZE,
        offset: (page - 1) * SMS_PAGE_SIZE,
      });
      const params = new URLSearchParams({ state: filter });
      if (alertId) params.set('alert', alertId);
      if (page > 1) params.set('page', String(page));
      return send(reply, 200, {
        title: 'SMS',
        section: 'sms',
        identity,
        unresolvedCount: unresolvedCount(identity),
        flash: flashOf(request.query),
        body: smsPage({
          messages,
          total,
          filter,
          alertId,
          alertCode: alertId ? alert?.code : undefined,
          page,
          pageSize: SMS_PAGE_SIZE,
          canRetry: hasRole(identity, 'operator'),
          format,
          here: `/sms?${params.toString()}`,
        }),
      });
    });

    app.post<{ Params: { id: string }; Body: FormBody | undefined }>('/sms/:id/retry', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'operator');
      if (!identity) return reply;
      if (!sameOrigin(request)) return refuseCrossSite(request, reply);
      const back = safeNext(request.body?.back ?? '/sms');
      if (identity.regions) return reply.code(303).redirect(withFlash(back, { failed: 'not-failed' }));
      const outcome = sms.retry(request.params.id, actorOf(request, 'web'));
      return reply.code(303).redirect(withFlash(back, outcome === 'retried' ? { done: 'retry' } : { failed: 'not-failed' }));
    });
  }

  function registerReportPages(reports: ReportsPort): void {
    const MONTHS = new Intl.DateTimeFormat('fr-FR', { timeZone, month: 'long', year: 'numeric' });
    const queryOf = (period: Period): string => `from=${localDate(period.fromMs, timeZone)}&to=${localDate(period.toMs, timeZone)}`;
    const presets = (nowMs: number) => {
      const thisMonth = periodContaining('month', nowMs, timeZone);
      const lastMonth = periodContaining('month', thisMonth.fromMs - 1, timeZone);
      const monthBefore = periodContaining('month', lastMonth.fromMs - 1, timeZone);
      const lastWeek = periodContaining('week', periodContaining('week', nowMs, timeZone).fromMs - 1, timeZone);
      return [
        { label: `${MONTHS.format(lastMonth.fromMs)}`, query: queryOf(lastMonth) },
        { label: `${MONTHS.format(monthBefore.fromMs)}`, query: queryOf(monthBefore) },
        { label: 'ce mois-ci', query: queryOf(thisMonth) },
        { label: 'la semaine dernière', query: queryOf(lastWeek) },
      ];
    };
    const periodOf = (query: Record<string, string | undefined>): Period | PeriodError => {
      try {
        return reportPeriod({ from: query.from || undefined, to: query.to || undefined }, now(), timeZone);
      } catch (error) {
        if (error instanceof PeriodError) return error;
        throw error;
      }
    };

    /** A year and a bit of weeks, months and quarters: what an officer looks back on; the API lists older ones. */
    const ARCHIVE_LISTED = 100;
    const archiveEntries = () =>
      reports.archived(ARCHIVE_LISTED).map((item) => ({
        kind: item.kind,
        fromMs: item.fromMs,
        tz: item.tz,
        href: `/reports/archive/${item.kind}/${localDate(item.fromMs, item.tz)}${item.tz === timeZone ? '' : `?tz=${encodeURIComponent(item.tz)}`}`,
      }));
    /** French file names, as the page's other downloads have. */
    const ARCHIVE_FILE: Record<string, string> = { week: 'disponibilite-semaine', month: 'disponibilite-mois', 'service-month': 'interventions-mois', 'results-quarter': 'resultats-trimestre' };

    app.get<{ Querystring: Record<string, string | undefined> }>('/reports', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const period = periodOf(request.query);
      if (period instanceof PeriodError) {
        return send(reply, 400, {
          title: 'Période invalide',
          section: 'reports',
          identity,
          body: messagePage('Période invalide', `Cette période ne peut pas être lue : ${period.message}`, { href: '/reports', label: 'Le mois dernier' }),
        });
      }
      const report = await reports.build(period, reportBoreholes(scope, identity, undefined));
      return send(reply, 200, {
        title: 'Rapport de disponibilité',
        section: 'reports',
        identity,
        unresolvedCount: unresolvedCount(identity),
        body: reportPage({
          report,
          fromDate: localDate(period.fromMs, timeZone),
          toDate: localDate(period.toMs, timeZone),
          lastDate: format.dateOf(period.toMs - 1),
          presets: presets(now()),
          format,
          archive: archiveEntries(),
        }),
      });
    });

    app.get<{ Querystring: Record<string, string | undefined> }>('/reports/uptime.csv', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const period = periodOf(request.query);
      if (period instanceof PeriodError) return reply.code(400).type('text/plain; charset=utf-8').send(period.message);
      const separator = csvSeparatorOf(request.query.sep);
      if (separator === null) return badSeparator(reply);
      const report = await reports.build(period, reportBoreholes(scope, identity, undefined));
      return sendCsv(reply, `disponibilite-${localDate(period.fromMs, timeZone)}-${localDate(period.toMs, timeZone)}.csv`, uptimeCsv(report, separator));
    });

    const { incidents } = options;
    if (incidents) {
      // The section 9 reports as the report page links them (docs/reports.md).
      app.get<{ Querystring: Record<string, string | undefined> }>('/reports/service.csv', { schema: { hide: true } }, async (request, reply) => {
        const identity = await signedIn(request, reply, 'viewer');
        if (!identity) return reply;
        const period = periodOf(request.query);
        if (period instanceof PeriodError) return reply.code(400).type('text/plain; charset=utf-8').send(period.message);
        const separator = csvSeparatorOf(request.query.sep);
        if (separator === null) return badSeparator(reply);
        const report = serviceReportFor({ scope, now, incidents }, identity, period, undefined);
        return sendCsv(reply, `interventions-${localDate(period.fromMs, timeZone)}-${localDate(period.toMs, timeZone)}.csv`, serviceCsv(report, separator));
      });
    }
    const results = reports.results;
    if (results) {
      app.get<{ Querystring: Record<string, string | undefined> }>('/reports/results.csv', { schema: { hide: true } }, async (request, reply) => {
        const identity = await signedIn(request, reply, 'viewer');
        if (!identity) return reply;
        let quarter;
        try {
          quarter = resultsQuarter(request.query.quarter, timeZone, now());
        } catch (error) {
          if (error instanceof PeriodError) return reply.code(400).type('text/plain; charset=utf-8').send(error.message);
          throw error;
        }
        const separator = csvSeparatorOf(request.query.sep);
        if (separator === null) return badSeparator(reply);
        const report = await results(quarter, reportBoreholes(scope, identity, undefined));
        return sendCsv(reply, `resultats-${quarter.label}.csv`, resultsCsv(report, separator));
      });
    }

    // The archive as the page lists it: the API's archive route needs a bearer token, the page has its cookie.
    app.get<{ Params: { kind: string; from: string }; Querystring: Record<string, string | undefined> }>('/reports/archive/:kind/:from', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const kind = ARCHIVE_KINDS.find((known) => known === request.params.kind);
      const separator = csvSeparatorOf(request.query.sep);
      if (separator === null) return badSeparator(reply);
      const tz = request.query.tz || timeZone;
      let fromMs: number | null = null;
      try {
        fromMs = dayStart(request.params.from, tz, 'from');
      } catch (error) {
        if (!(error instanceof PeriodError)) throw error;
      }
      const archived = kind === undefined || fromMs === null ? null : reports.archivedReport(kind, fromMs, tz);
      if (!archived) return reply.code(404).type('text/plain; charset=utf-8').send(`Aucun rapport archivé ${request.params.kind} du ${request.params.from}.`);
      const file = `${ARCHIVE_FILE[archived.kind] ?? archived.kind}-${request.params.from}.csv`;
      return sendCsv(reply, file, archiveCsv(visibleArchive(archived, scope, identity), separator));
    });

    app.get<{ Querystring: Record<string, string | undefined> }>('/reports/wpdx.csv', { schema: { hide: true } }, async (request, reply) => {
      const identity = await signedIn(request, reply, 'viewer');
      if (!identity) return reply;
      const separator = csvSeparatorOf(request.query.sep);
      if (separator === null) return badSeparator(reply);
      const nowMs = now();
      return sendCsv(reply, wpdxFilename(nowMs, timeZone), wpdxCsv(wpdxReportFor(options, identity, nowMs).items, separator));
    });
  }

  app.post<{ Params: { id: string }; Body: FormBody | undefined }>(
    '/alerts/:id/resolve',
    { schema: { hide: true } },
    change('resolve', (alert, request) => {
      const note = (request.body?.note ?? '').trim().slice(0, 500);
      return alerts.resolve(alert.id, actorOf(request, 'web'), note === '' ? undefined : note);
    }),
  );
};
