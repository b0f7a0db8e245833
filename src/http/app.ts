/**
 * The HTTP application, built as a plugin tree and never listening by itself: `server.ts` (or the
 * service) listens, tests call `app.inject()`.
 *
 *   helmet (security headers, a CSP that allows only 'self')
 *   swagger (the OpenAPI document of every /api route, from the same zod schemas that validate)
 *   ops routes (open)            /healthz /readyz /metrics
 *   API routes (bearer token)    /api/...
 *   SMS replies (own secrets)    /api/sms/inbound...
 *   missed calls (same secrets)  /api/calls/inbound...
 *   pages (cookie token)         /login / /boreholes/{id} /alerts /incidents/{id} /work-orders, and /assets
 */
import helmet from '@fastify/helmet';
import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import { tokenRegionProblems } from '../config/env.js';
import { ConfigError } from '../config/errors.js';
import { TokenAuth, type TokenEntry } from './auth.js';
import { FailedAuthLimiter, type FailedAuthLimits, DEFAULT_FAILED_AUTH_LIMITS } from './failed-auth-limiter.js';
import { Scope, type NetworkPort } from './network.js';
import { loadPageAssets } from './pages/assets.js';
import { messagePage } from './pages/login-page.js';
import { renderPage } from './pages/layout.js';
import { pageRoutes } from './pages/routes.js';
import { adminRoutes, type RegistryReloader } from './routes/admin.js';
import { alertRoutes, type AlertsPort } from './routes/alerts.js';
import { boreholeRoutes } from './routes/boreholes.js';
import { callRoutes, type CallsPort } from './routes/calls.js';
import { deadLetterRoutes, type DeadLetterReplayer, type DeadLetterSource } from './routes/dead-letters.js';
import { incidentRoutes } from './routes/incidents.js';
import { opsRoutes, type ReadinessProbe } from './routes/ops.js';
import { reportRoutes, type ReportsPort } from './routes/reports.js';
import { smsInboundRoutes, type SmsInboundDeps } from './routes/sms-inbound.js';
import { smsRoutes, type SmsPort } from './routes/sms.js';
import type { IncidentsPort } from '../incidents/port.js';

export interface AppDeps {
  log: Logger;
  apiTokens: readonly TokenEntry[];
  metricsRegistry: MetricsRegistry;
  readiness: ReadinessProbe;
  deadLetters: DeadLetterSource;
  /** `POST /api/dead-letters/replay`; absent: no such route. */
  replayDeadLetters?: DeadLetterReplayer;
  /** Absent in tests of the operational routes alone. */
  alerts?: AlertsPort;
  /** Replies by SMS (CONTRACT.md section 5); absent: no inbound SMS routes. */
  smsInbound?: SmsInboundDeps;
  /** The registry, telemetry and state behind /api/boreholes and the pages; needs `alerts`. */
  network?: NetworkPort;
  /** Uptime reports (API and page); needs `alerts` and `network`. */
  reports?: ReportsPort;
  /** `GET /api/sms`, `POST /api/sms/{id}/retry` and the SMS page; absent: none of them. */
  sms?: SmsPort;
  /** Incidents and work orders (API and pages, CONTRACT.md section 9); needs `alerts`. Absent: none of them. */
  incidents?: IncidentsPort;
  /** Missed calls (`POST /api/calls/inbound…`), with the secrets of `smsInbound`; needs it. Absent: no such routes. */
  calls?: CallsPort;
  /** `POST /api/admin/reload`; absent: no such route. */
  reloadRegistry?: RegistryReloader;
  now?: () => number;
  /** Time zone of the times shown on pages (REPORT_TZ); default Africa/Bamako. */
  timeZone?: string;
  failedAuthLimits?: FailedAuthLimits;
  /** Behind a reverse proxy: take the client address and protocol from X-Forwarded-* (TRUST_PROXY). */
  trustProxy?: boolean | number | string[];
}

/** A region named by a token but by no borehole is a typo: refused, as `npm run check` does. */
function checkTokenRegions(tokens: readonly TokenEntry[], network: NetworkPort | undefined): void {
  if (!network) return;
  const problems = tokenRegionProblems(tokens, network.registry);
  if (problems.length > 0) throw new ConfigError('environment', problems);
}

const trustHops = (hops: number) => (_address: string, hop: number): boolean => hop < hops;

const wantsHtml = (request: FastifyRequest): boolean => !request.url.startsWith('/api/') && /text\/html/.test(request.headers.accept ?? '');

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  checkTokenRegions(deps.apiTokens, deps.network);
  const now = deps.now ?? Date.now;
  const timeZone = deps.timeZone ?? 'Africa/Bamako';
  // Widened to fastify's logger type so that the app is a plain FastifyInstance to its callers.
  const loggerInstance: FastifyBaseLogger = deps.log;
  const app = Fastify({
    loggerInstance,
    // Scrapes and probes every few seconds would drown the log; and no request line can leak a token.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // A hop count as proxy-addr means it (the nearest n addresses are proxies); fastify's types take it as a function.
    trustProxy: typeof deps.trustProxy === 'number' ? trustHops(deps.trustProxy) : (deps.trustProxy ?? false),
    // Fastify's own answer to a malformed path (`%ZZ`) quotes the whole URL, query string and any
    // token in it included: the reason is said without the URL.
    frameworkErrors: (error, _request, reply) => {
      const status: number = error.statusCode ?? 400;
      void (reply as FastifyReply).code(status).send({ error: status === 400 ? 'bad_request' : 'error', message: error.code === 'FST_ERR_BAD_URL' ? 'the path is not a valid URL' : 'the request could not be read' });
    },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const pageAssets = deps.alerts && deps.network ? loadPageAssets() : null;
  const htmlError = (title: string, text: string): string | null =>
    pageAssets ? renderPage({ title, section: 'error', assets: pageAssets.urls, timeZone, body: messagePage(title, text, { href: '/', label: "Retour à l'accueil" }) }).text : null;

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown }, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error, url: request.url.split('?')[0] }, 'request failed');
      const page = wantsHtml(request) ? htmlError('Erreur du service', "Le service n'a pas pu répondre. Réessayez dans un moment.") : null;
      if (page) return reply.code(status).type('text/html; charset=utf-8').send(page);
      return reply.code(status).send({ error: 'internal', message: 'internal error' });
    }
    return reply.code(status).send({ error: error.validation ? 'invalid_request' : 'bad_request', message: error.message });
  });
  app.setNotFoundHandler((request, reply) => {
    const page = wantsHtml(request) ? htmlError('Page introuvable', "Cette adresse ne correspond à aucune page.") : null;
    if (page) return reply.code(404).type('text/html; charset=utf-8').send(page);
    return reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0] ?? ''}` });
  });

  await app.register(helmet, {
    // Pages load nothing from the internet: scripts, styles and images come from this host only.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    // Only meaningful over https; no includeSubDomains, which would bind the operator's other hosts.
    strictTransportSecurity: { maxAge: 15_552_000, includeSubDomains: false },
    referrerPolicy: { policy: 'same-origin' },
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Borehole monitoring API',
        version: '0.1.0',
        description: 'Boreholes, their readings and alerts. Every /api route needs `Authorization: Bearer <token>` (docs/http.md).',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      tags: [
        { name: 'boreholes', description: 'The network and its readings' },
        { name: 'alerts', description: 'Alerts and their lifecycle' },
        { name: 'incidents', description: 'Incidents, their work orders and verified repairs' },
        { name: 'reports', description: 'Uptime reports and the WPdx export' },
        { name: 'ingest', description: 'Rejected device messages' },
      ],
    },
    transform: jsonSchemaTransform,
  });
  app.get('/openapi.json', { schema: { hide: true } }, () => app.swagger());

  // One count of failures per address for API tokens, page cookies and the SMS webhooks' secrets.
  const failedAuth = new FailedAuthLimiter(deps.failedAuthLimits ?? DEFAULT_FAILED_AUTH_LIMITS, now);
  const auth = new TokenAuth(deps.apiTokens, failedAuth);
  // Without a registry, a region-limited token sees nothing (it cannot be told what is in its regions).
  // The registry itself, not its map of the moment: a reload changes what a token may see.
  const scope = new Scope(deps.network?.registry ?? { boreholes: new Map() });
  await app.register(opsRoutes, { metricsRegistry: deps.metricsRegistry, readiness: deps.readiness });
  await app.register(deadLetterRoutes, { auth, deadLetters: deps.deadLetters, replay: deps.replayDeadLetters });
  if (deps.reloadRegistry) await app.register(adminRoutes, { auth, reloadRegistry: deps.reloadRegistry });
  if (deps.sms) await app.register(smsRoutes, { auth, sms: deps.sms });
  if (deps.alerts) await app.register(alertRoutes, { auth, alerts: deps.alerts, scope });
  if (deps.alerts && deps.incidents) {
    const alerts = deps.alerts;
    await app.register(incidentRoutes, { auth, incidents: deps.incidents, scope, isKnownBorehole: (id) => alerts.isKnownBorehole(id) });
  }
  if (deps.smsInbound) await app.register(smsInboundRoutes, { ...deps.smsInbound, failedAuth });
  if (deps.smsInbound && deps.calls) {
    const { inboundToken, twilioAuthToken, publicUrl } = deps.smsInbound;
    await app.register(callRoutes, { calls: deps.calls, inboundToken, twilioAuthToken, publicUrl, failedAuth });
  }
  if (deps.alerts && deps.network) {
    await app.register(boreholeRoutes, { auth, alerts: deps.alerts, network: deps.network, scope, now });
    if (deps.reports) await app.register(reportRoutes, { auth, reports: deps.reports, alerts: deps.alerts, network: deps.network, scope, now, timeZone, incidents: deps.incidents });
  }
  if (deps.alerts && deps.network && pageAssets) {
    await app.register(pageAssets.plugin);
    await app.register(pageRoutes, { auth, alerts: deps.alerts, network: deps.network, scope, assets: pageAssets, now, timeZone, reports: deps.reports, sms: deps.sms, incidents: deps.incidents });
  }
  return app;
}
