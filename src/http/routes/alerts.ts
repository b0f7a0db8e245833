/**
 * Alerts (CONTRACT.md section 6): list them, read one with its history, acknowledge or resolve
 * one, record a maintenance visit. Reads need `viewer`, changes `operator`. A region-limited token
 * sees only its regions' alerts; the others answer 404, as if they did not exist.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALERT_STATES, AlertTransitionError, type Alert, type AlertChangeKind } from '../../alerts/alert.js';
import type { Registry } from '../../config/registry.js';
import { UnknownAlertError, type RulesEngine } from '../../rules/engine.js';
import { ALERT_RULES, SEVERITIES, type AlertRule } from '../../rules/types.js';
import type { AlertEventRecord, AlertQuery, MaintenanceRecord, OperationalStore } from '../../storage/sqlite-store.js';
import { actorOf, hasRole, type TokenAuth } from '../auth.js';
import type { Scope } from '../network.js';
import { errorSchema, iso, maskPhones, pageQuery } from '../schemas.js';

/** What these routes and the pages need of the rules engine and its store. */
export interface AlertsPort {
  list(query: AlertQuery): { alerts: Alert[]; total: number };
  /** The rules of every unresolved alert, by borehole. */
  unresolvedRules(): ReadonlyMap<string, readonly string[]>;
  get(alertId: string): Alert | null;
  /** Every change of the alert, oldest first. */
  history(alertId: string): AlertEventRecord[];
  acknowledge(alertId: string, actor: string): Alert;
  resolve(alertId: string, actor: string, note?: string): Alert;
  recordMaintenance(boreholeId: string, actor: string, note: string): MaintenanceRecord;
  isKnownBorehole(boreholeId: string): boolean;
}

/** The port as the service wires it: reads from the store, changes through the engine (which records and notifies them). */
export function alertsPortOf(
  store: Pick<OperationalStore, 'listAlerts' | 'unresolvedRules' | 'alertById' | 'alertHistory'>,
  engine: Pick<RulesEngine, 'acknowledge' | 'resolve' | 'recordMaintenance'>,
  registry: Pick<Registry, 'boreholes'>,
): AlertsPort {
  return {
    list: (query) => store.listAlerts(query),
    unresolvedRules: () => store.unresolvedRules(),
    get: (id) => store.alertById(id),
    history: (id) => store.alertHistory(id),
    acknowledge: (id, actor) => engine.acknowledge(id, actor),
    resolve: (id, actor, note) => engine.resolve(id, actor, note),
    recordMaintenance: (boreholeId, actor, note) => engine.recordMaintenance(boreholeId, actor, note),
    isKnownBorehole: (id) => registry.boreholes.has(id),
  };
}

export const alertSchema = z.object({
  id: z.string().describe('UUID'),
  code: z.number().int().describe('short number people type in SMS (OK 17)'),
  borehole: z.string(),
  rule: z.enum(ALERT_RULES as [AlertRule, ...AlertRule[]]),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  message: z.string().describe('what the rule found, in French'),
  opened_at: z.string().describe('RFC 3339 UTC'),
  acknowledged_at: z.string().nullable(),
  resolved_at: z.string().nullable(),
  historical: z.boolean().describe('found in late data and no longer holding: recorded, never notified'),
});

export function alertToJson(alert: Alert): z.infer<typeof alertSchema> {
  return {
    id: alert.id,
    code: alert.code,
    borehole: alert.boreholeId,
    rule: alert.rule,
    severity: alert.severity,
    state: alert.state,
    message: alert.message,
    opened_at: iso(alert.openedAtMs) ?? '',
    acknowledged_at: iso(alert.acknowledgedAtMs),
    resolved_at: iso(alert.resolvedAtMs),
    historical: alert.historical,
  };
}

const CHANGE_KINDS = ['opened', 'escalated', 'acknowledged', 'resolved'] as const satisfies readonly AlertChangeKind[];

const historyEntrySchema = z.object({
  at: z.string(),
  kind: z.enum(CHANGE_KINDS),
  state: z.enum(ALERT_STATES),
  severity: z.enum(SEVERITIES),
  actor: z.string().describe('rules, api:<role>, web:<role>, sms:<phone> (the phone masked for viewers)'),
  note: z.string().nullable(),
});

const alertWithHistorySchema = alertSchema.extend({ history: z.array(historyEntrySchema) });

/** A POST with no body at all reaches the validator as null: it means "nothing to add". */
const optionalBody = <T extends z.ZodType>(schema: T) => z.preprocess((value) => value ?? {}, schema);

const idParams = z.object({ id: z.string().min(1).max(64) });

const notFound = (reply: FastifyReply, what: string) => reply.code(404).send({ error: 'not_found', message: `no ${what}` });

async function changeAlert(reply: FastifyReply, work: () => Alert) {
  try {
    return alertToJson(work());
  } catch (error) {
    if (error instanceof UnknownAlertError) return reply.code(404).send({ error: 'not_found', message: error.message });
    if (error instanceof AlertTransitionError) return reply.code(409).send({ error: 'conflict', message: error.message });
    throw error;
  }
}

export const alertRoutes: FastifyPluginAsync<{ auth: TokenAuth; alerts: AlertsPort; scope: Scope }> = async (app, { auth, alerts, scope }) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  /** The alert if it exists and the request's token may see it. */
  const visibleAlert = (request: FastifyRequest, alertId: string): Alert | null => {
    const alert = alerts.get(alertId);
    return alert && scope.seesAlertOf(request.identity, alert.boreholeId) ? alert : null;
  };

  typed.get(
    '/api/alerts',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'Alerts, newest first',
        tags: ['alerts'],
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum([...ALERT_STATES, 'unresolved']).optional().describe('unresolved: open or acknowledged'),
          borehole: z.string().optional(),
          region: z.string().optional(),
          after: z.string().max(64).optional().describe('the `next_after` of the previous page: the page starts after that alert'),
          ...pageQuery(100, 500),
        }),
        response: {
          200: z.object({
            total: z.number().int(),
            next_after: z.string().nullable().describe('pass as `after` for the next page (alerts opened meanwhile do not shift it); null on the last one'),
            items: z.array(alertSchema),
          }),
          400: errorSchema,
          401: errorSchema,
          429: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { state, borehole, region, after, limit, offset } = request.query;
      let boreholeIds = scope.alertFilter(request.identity);
      if (region !== undefined) boreholeIds = scope.visible(request.identity).filter((b) => b.region === region).map((b) => b.id);
      if (borehole !== undefined) boreholeIds = boreholeIds === undefined || boreholeIds.includes(borehole) ? [borehole] : [];
      let from: Alert | undefined;
      if (after !== undefined) {
        from = alerts.get(after) ?? undefined;
        // Another region's alert is no cursor of this token's (and says nothing of it either).
        if (from && !scope.seesAlertOf(request.identity, from.boreholeId)) from = undefined;
        if (!from) return reply.code(400).send({ error: 'invalid_request', message: `after: no alert ${after} (pass the next_after of the previous page)` });
      }
      const { alerts: found, total } = alerts.list({ state, boreholeIds, limit: limit + 1, offset, after: from });
      const items = found.slice(0, limit);
      return { total, next_after: found.length > limit ? ((items.at(-1) as Alert).id) : null, items: items.map(alertToJson) };
    },
  );

  typed.get(
    '/api/alerts/:id',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'One alert with every change it went through',
        tags: ['alerts'],
        security: [{ bearer: [] }],
        params: idParams,
        response: { 200: alertWithHistorySchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const alert = visibleAlert(request, request.params.id);
      if (!alert) return notFound(reply, `alert ${request.params.id}`);
      const operator = hasRole(request.identity, 'operator');
      return {
        ...alertToJson(alert),
        history: alerts.history(alert.id).map((event) => ({
          at: iso(event.atMs) ?? '',
          kind: event.kind,
          state: event.state,
          severity: event.severity,
          actor: operator ? event.actor : maskPhones(event.actor),
          note: event.note,
        })),
      };
    },
  );

  typed.post(
    '/api/alerts/:id/ack',
    {
      preHandler: auth.require('operator'),
      schema: {
        summary: 'Acknowledge an alert (a person is on it)',
        tags: ['alerts'],
        security: [{ bearer: [] }],
        params: idParams,
        response: { 200: alertSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      if (!visibleAlert(request, request.params.id)) return notFound(reply, `alert ${request.params.id}`);
      return changeAlert(reply, () => alerts.acknowledge(request.params.id, actorOf(request)));
    },
  );

  typed.post(
    '/api/alerts/:id/resolve',
    {
      preHandler: auth.require('operator'),
      schema: {
        summary: 'Resolve an alert (the problem is fixed)',
        tags: ['alerts'],
        security: [{ bearer: [] }],
        params: idParams,
        body: optionalBody(z.object({ note: z.string().max(500).optional() })),
        response: { 200: alertSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      if (!visibleAlert(request, request.params.id)) return notFound(reply, `alert ${request.params.id}`);
      return changeAlert(reply, () => alerts.resolve(request.params.id, actorOf(request), request.body.note));
    },
  );

  typed.post(
    '/api/boreholes/:id/maintenance',
    {
      preHandler: auth.require('operator'),
      schema: {
        summary: 'Record a maintenance visit (running hours start again)',
        tags: ['boreholes'],
        security: [{ bearer: [] }],
        params: idParams,
        body: optionalBody(z.object({ note: z.string().max(500).default('') })),
        response: {
          201: z.object({ id: z.number().int(), borehole: z.string(), at: z.string(), by: z.string(), note: z.string() }),
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const visible = request.identity?.regions ? scope.borehole(request.identity, id) !== undefined : alerts.isKnownBorehole(id);
      if (!visible) return notFound(reply, `borehole ${id}`);
      const record = alerts.recordMaintenance(id, actorOf(request), request.body.note);
      return reply.code(201).send({ id: record.id, borehole: record.boreholeId, at: new Date(record.atMs).toISOString(), by: record.by, note: record.note });
    },
  );
};
