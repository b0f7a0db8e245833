/**
 * The network (CONTRACT.md section 6): every borehole with its status, one borehole with its
 * contacts, its aggregated readings and its maintenance visits. Reads need `viewer`; phone numbers
 * only reach `operator` and above. A region-limited token sees only its regions' boreholes; the
 * others answer 404.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LANGUAGES, type Borehole, type Contact } from '../../config/registry.js';
import { RULE_DEFAULTS } from '../../config/rule-params.js';
import { QueryRangeError, type SeriesBucket } from '../../storage/telemetry.js';
import { hasRole, type Identity, type TokenAuth } from '../auth.js';
import { BOREHOLE_STATUSES, summarize } from '../../domain/borehole-status.js';
import { networkPage, type BoreholeSummary, type NetworkListSources, type NetworkPort, type Scope } from '../network.js';
import { csvSeparatorParam, sendCsv, toCsv, wantsCsv } from '../csv.js';
import { errorSchema, iso, maskPhones, pageQuery } from '../schemas.js';
import { formatEvery, parseEvery, parseInstant } from '../time-params.js';
import { alertSchema, alertToJson, type AlertsPort } from './alerts.js';

export const DAY_MS = 86_400_000;
const DEFAULT_SPAN_MS = 7 * DAY_MS;
const DEFAULT_EVERY_MS = 3_600_000;

const boreholeSchema = z.object({
  id: z.string(),
  name: z.string(),
  village: z.string(),
  region: z.string(),
  commune: z.string(),
  location: z.object({ lat: z.number(), lon: z.number() }),
  status: z.enum(BOREHOLE_STATUSES).describe('unknown: never heard; offline: an offline alert or silent longer than offline_minutes; alert: another unresolved alert; else ok'),
  last_seen_at: z.string().nullable().describe('when the service last heard from the borehole (RFC 3339 UTC)'),
  open_alerts: z.number().int().describe('alerts not yet resolved (open or acknowledged)'),
});

const contactSchema = z.object({
  name: z.string(),
  phone: z.string().nullable().describe('E.164; null for viewer tokens (phone numbers are for operators)'),
});

const ruleParamsSchema = z.object(
  Object.fromEntries(Object.keys(RULE_DEFAULTS).map((key) => [key, z.number()])) as Record<keyof typeof RULE_DEFAULTS, z.ZodNumber>,
);

const boreholeDetailSchema = boreholeSchema.extend({
  pump: z.object({ rated_flow_lpm: z.number(), intake_depth_m: z.number() }),
  rules: ruleParamsSchema.describe('the rule parameters in force for this borehole'),
  committee: z.object({ language: z.enum(LANGUAGES), contacts: z.array(contactSchema) }),
  technician: contactSchema,
  unresolved_alerts: z.array(alertSchema),
});

export const bucketSchema = z.object({
  time: z.string().describe('start of the bucket, RFC 3339 UTC'),
  flow_lpm_mean: z.number().nullable(),
  depth_m_min: z.number().nullable(),
  depth_m_mean: z.number().nullable(),
  depth_m_max: z.number().nullable(),
  running_fraction: z.number().nullable().describe('share of pump readings that said running, 0..1'),
  current_a_mean: z.number().nullable(),
  volume_m3: z.number().nullable().describe('water pumped in the bucket'),
});

const readingsSchema = z.object({
  borehole: z.string(),
  from: z.string(),
  to: z.string(),
  every: z.string(),
  buckets: z.array(bucketSchema).describe('buckets without any reading are left out'),
});

const maintenanceSchema = z.object({ id: z.number().int(), borehole: z.string(), at: z.string(), by: z.string(), note: z.string() });

const instant = (what: string) =>
  z
    .string()
    .optional()
    .refine((value) => value === undefined || parseInstant(value) !== null, { message: `\`${what}\` must be an RFC 3339 time (2026-02-05T10:42:00Z), a date (2026-02-05) or epoch milliseconds` })
    .describe(`${what}: RFC 3339, a date, or epoch ms`);

const readingsQuery = z.object({
  from: instant('from'),
  to: instant('to'),
  every: z
    .string()
    .optional()
    .refine((value) => value === undefined || parseEvery(value) !== null, { message: '`every` must be a number and a unit: 15m, 1h, 1d' })
    .describe('bucket width: 15m, 1h, 1d (default 1h); at most 5000 buckets'),
  format: z.enum(['json', 'csv']).optional().describe('csv, or Accept: text/csv'),
  sep: csvSeparatorParam,
});

export interface SeriesWindow {
  fromMs: number;
  toMs: number;
  everyMs: number;
}

/** The asked window; by default the last 7 days in hourly buckets, ending on a bucket edge. */
export function seriesWindow(query: { from?: string | undefined; to?: string | undefined; every?: string | undefined }, nowMs: number): SeriesWindow {
  const everyMs = query.every === undefined ? DEFAULT_EVERY_MS : (parseEvery(query.every) ?? DEFAULT_EVERY_MS);
  const fromGiven = query.from === undefined ? null : parseInstant(query.from);
  const toGiven = query.to === undefined ? null : parseInstant(query.to);
  const toMs = toGiven ?? (fromGiven !== null && fromGiven + DEFAULT_SPAN_MS < nowMs ? fromGiven + DEFAULT_SPAN_MS : Math.ceil(nowMs / everyMs) * everyMs);
  return { fromMs: fromGiven ?? toMs - DEFAULT_SPAN_MS, toMs, everyMs };
}

export const bucketToJson = (bucket: SeriesBucket): z.infer<typeof bucketSchema> => ({
  time: new Date(bucket.timeMs).toISOString(),
  flow_lpm_mean: bucket.flowLpmMean,
  depth_m_min: bucket.depthMMin,
  depth_m_mean: bucket.depthMMean,
  depth_m_max: bucket.depthMMax,
  running_fraction: bucket.runningFraction,
  current_a_mean: bucket.currentAMean,
  volume_m3: bucket.volumeM3,
});

const CSV_COLUMNS = Object.keys(bucketSchema.shape) as (keyof z.infer<typeof bucketSchema>)[];

export function boreholeToJson(summary: BoreholeSummary): z.infer<typeof boreholeSchema> {
  const { borehole } = summary;
  return {
    id: borehole.id,
    name: borehole.name,
    village: borehole.village,
    region: borehole.region,
    commune: borehole.commune,
    location: { lat: borehole.location.lat, lon: borehole.location.lon },
    status: summary.status,
    last_seen_at: iso(summary.lastSeenAtMs),
    open_alerts: summary.openAlerts.length,
  };
}

const contactToJson = (contact: Contact, identity: Identity | undefined) => ({
  name: contact.name,
  phone: hasRole(identity, 'operator') ? contact.phone : null,
});

const idParams = z.object({ id: z.string().min(1).max(64) });

export interface BoreholeRouteOptions {
  auth: TokenAuth;
  alerts: AlertsPort;
  network: NetworkPort;
  scope: Scope;
  now: () => number;
}

/** Summaries of the boreholes the identity may see (all of them, or the one asked). */
export function networkSummaries(options: Pick<BoreholeRouteOptions, 'alerts' | 'network' | 'scope' | 'now'>, identity: Identity | undefined, onlyId?: string): BoreholeSummary[] {
  const { alerts, network, scope, now } = options;
  let boreholes: Borehole[];
  if (onlyId === undefined) boreholes = scope.visible(identity);
  else {
    const borehole = scope.borehole(identity, onlyId);
    boreholes = borehole ? [borehole] : [];
  }
  if (boreholes.length === 0) return [];
  const boreholeIds = onlyId !== undefined ? [onlyId] : scope.alertFilter(identity);
  const unresolved = alerts.list({ state: 'unresolved', boreholeIds, limit: 1_000_000, offset: 0 }).alerts;
  return summarize(boreholes, unresolved, (id) => network.lastHeardAtMs(id), now());
}

/** The sources of a page of the network (network.ts `networkPage`) from the routes' options. */
export const networkListSources = (options: Pick<BoreholeRouteOptions, 'alerts' | 'network' | 'now'>): NetworkListSources => ({
  network: options.network,
  alerts: {
    unresolvedRules: () => options.alerts.unresolvedRules(),
    unresolvedOf: (boreholeIds) => options.alerts.list({ state: 'unresolved', boreholeIds, limit: 1_000_000, offset: 0 }).alerts,
  },
  now: options.now,
});

export const boreholeRoutes: FastifyPluginAsync<BoreholeRouteOptions> = async (app, options) => {
  const { auth, network, scope, now } = options;
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const notFound = (reply: FastifyReply, id: string) => reply.code(404).send({ error: 'not_found', message: `no borehole ${id}` });

  typed.get(
    '/api/boreholes',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'Every borehole with its status, last message and unresolved alerts',
        description:
          'Sorted by id. Page with `limit` and `offset`, or (a country, statuses changing between pages) with `after`: ' +
          'each page starts after the `next_after` of the one before, so every borehole comes exactly once.',
        tags: ['boreholes'],
        security: [{ bearer: [] }],
        querystring: z.object({
          region: z.string().optional(),
          commune: z.string().optional(),
          status: z.enum(BOREHOLE_STATUSES).optional(),
          q: z.string().max(100).optional().describe('part of an id, a name or a village; case and accents ignored'),
          after: z.string().max(64).optional().describe('the `next_after` of the previous page: the page starts after that id'),
          ...pageQuery(100, 1000),
        }),
        response: {
          200: z.object({
            total: z.number().int().describe('boreholes matching the filters, all pages together'),
            next_after: z.string().nullable().describe('pass as `after` for the next page; null on the last one'),
            items: z.array(boreholeSchema),
          }),
          400: errorSchema,
          401: errorSchema,
          429: errorSchema,
        },
      },
    },
    (request) => {
      const { region, commune, status, q, after, limit, offset } = request.query;
      const page = networkPage(networkListSources(options), request.identity, { region, commune, status, search: q }, { limit, offset, after });
      return { total: page.total, next_after: page.after, items: page.items.map(boreholeToJson) };
    },
  );

  typed.get(
    '/api/boreholes/:id',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'One borehole: status, pump, rule parameters, committee contacts and technician',
        description: 'Phone numbers are null for viewer tokens: they are given to operator and admin tokens only.',
        tags: ['boreholes'],
        security: [{ bearer: [] }],
        params: idParams,
        response: { 200: boreholeDetailSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const [summary] = networkSummaries(options, request.identity, request.params.id);
      if (!summary) return notFound(reply, request.params.id);
      const { borehole } = summary;
      return {
        ...boreholeToJson(summary),
        pump: { rated_flow_lpm: borehole.pump.rated_flow_lpm, intake_depth_m: borehole.pump.intake_depth_m },
        rules: { ...borehole.rules },
        committee: {
          language: borehole.committee.language,
          contacts: borehole.committee.contacts.map((contact) => contactToJson(contact, request.identity)),
        },
        technician: contactToJson(borehole.technician, request.identity),
        unresolved_alerts: summary.openAlerts.map(alertToJson),
      };
    },
  );

  typed.get(
    '/api/boreholes/:id/readings',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: "A borehole's aggregated readings",
        description:
          'Mean flow, min/mean/max depth, pump running fraction, mean current and volume pumped per bucket, from the time-series store. ' +
          'Defaults: the last 7 days in 1h buckets. At most 5000 buckets: a larger range needs a larger `every`. ' +
          'CSV (same columns) with `format=csv` or `Accept: text/csv`; `sep=semicolon` for a spreadsheet in French.',
        tags: ['boreholes'],
        security: [{ bearer: [] }],
        params: idParams,
        querystring: readingsQuery,
        produces: ['application/json', 'text/csv'],
        response: { 200: readingsSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      if (!scope.borehole(request.identity, id)) return notFound(reply, id);
      const window = seriesWindow(request.query, now());
      let buckets: SeriesBucket[];
      try {
        buckets = await network.telemetry.series({ boreholeId: id, ...window });
      } catch (error) {
        if (error instanceof QueryRangeError) return reply.code(400).send({ error: 'invalid_range', message: error.message });
        request.log.error({ err: error, boreholeId: id }, 'readings query failed');
        return reply.code(503).send({ error: 'store_unavailable', message: 'the time-series store did not answer; try again shortly' });
      }
      const body = {
        borehole: id,
        from: new Date(window.fromMs).toISOString(),
        to: new Date(window.toMs).toISOString(),
        every: formatEvery(window.everyMs),
        buckets: buckets.map(bucketToJson),
      };
      if (wantsCsv(request.query.format, request.headers.accept)) {
        const name = `${id}-${body.from.slice(0, 10)}-${body.to.slice(0, 10)}-${body.every}.csv`;
        return sendCsv(reply, name, toCsv(CSV_COLUMNS, body.buckets, request.query.sep));
      }
      return body;
    },
  );

  typed.get(
    '/api/boreholes/:id/maintenance',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: "A borehole's maintenance visits, newest first",
        tags: ['boreholes'],
        security: [{ bearer: [] }],
        params: idParams,
        querystring: z.object(pageQuery(50, 500)),
        response: { 200: z.object({ total: z.number().int(), items: z.array(maintenanceSchema) }), 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      if (!scope.borehole(request.identity, id)) return notFound(reply, id);
      const records = network.maintenance(id);
      const operator = hasRole(request.identity, 'operator');
      const { limit, offset } = request.query;
      return {
        total: records.length,
        items: records.slice(offset, offset + limit).map((record) => ({
          id: record.id,
          borehole: record.boreholeId,
          at: new Date(record.atMs).toISOString(),
          by: operator ? record.by : maskPhones(record.by),
          note: record.note,
        })),
      };
    },
  );
};
