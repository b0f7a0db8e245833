/**
 * Alerts (CONTRACT.md section 6): list them, acknowledge or resolve one, record a maintenance
 * visit. Reads need `viewer`, changes `operator`.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALERT_STATES, AlertTransitionError, type Alert } from '../../alerts/alert.js';
import { UnknownAlertError } from '../../rules/engine.js';
import { RULE_IDS, SEVERITIES } from '../../rules/types.js';
import type { AlertQuery, MaintenanceRecord } from '../../storage/sqlite-store.js';
import { actorOf, type TokenAuth } from '../auth.js';

/** What these routes need of the rules engine and its store. */
export interface AlertsPort {
  list(query: AlertQuery): { alerts: Alert[]; total: number };
  acknowledge(alertId: string, actor: string): Alert;
  resolve(alertId: string, actor: string, note?: string): Alert;
  recordMaintenance(boreholeId: string, actor: string, note: string): MaintenanceRecord;
  isKnownBorehole(boreholeId: string): boolean;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export const alertSchema = z.object({
  id: z.string(),
  code: z.number().int(),
  borehole: z.string(),
  rule: z.enum(RULE_IDS),
  severity: z.enum(SEVERITIES),
  state: z.enum(ALERT_STATES),
  message: z.string(),
  opened_at: z.string(),
  acknowledged_at: z.string().nullable(),
  resolved_at: z.string().nullable(),
  historical: z.boolean(),
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

/** A POST with no body at all reaches the validator as null: it means "nothing to add". */
const optionalBody = <T extends z.ZodType>(schema: T) => z.preprocess((value) => value ?? {}, schema);

const errorSchema = z.object({ error: z.string(), message: z.string() });
const idParams = z.object({ id: z.string().min(1).max(64) });

async function changeAlert(reply: FastifyReply, work: () => Alert) {
  try {
    return alertToJson(work());
  } catch (error) {
    if (error instanceof UnknownAlertError) return reply.code(404).send({ error: 'not_found', message: error.message });
    if (error instanceof AlertTransitionError) return reply.code(409).send({ error: 'conflict', message: error.message });
    throw error;
  }
}

export const alertRoutes: FastifyPluginAsync<{ auth: TokenAuth; alerts: AlertsPort }> = async (app, { auth, alerts }) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();
  typed.get(
    '/api/alerts',
    {
      preHandler: auth.require('viewer'),
      schema: {
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum([...ALERT_STATES, 'unresolved']).optional(),
          borehole: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(500).default(100),
          offset: z.coerce.number().int().min(0).default(0),
        }),
        response: { 200: z.object({ total: z.number().int(), items: z.array(alertSchema) }) },
      },
    },
    (request) => {
      const { state, borehole, limit, offset } = request.query;
      const { alerts: found, total } = alerts.list({ state, boreholeIds: borehole ? [borehole] : undefined, limit, offset });
      return { total, items: found.map(alertToJson) };
    },
  );

  typed.post(
    '/api/alerts/:id/ack',
    {
      preHandler: auth.require('operator'),
      schema: { security: [{ bearer: [] }], params: idParams, response: { 200: alertSchema, 404: errorSchema, 409: errorSchema } },
    },
    (request, reply) => changeAlert(reply, () => alerts.acknowledge(request.params.id, actorOf(request))),
  );

  typed.post(
    '/api/alerts/:id/resolve',
    {
      preHandler: auth.require('operator'),
      schema: {
        security: [{ bearer: [] }],
        params: idParams,
        body: optionalBody(z.object({ note: z.string().max(500).optional() })),
        response: { 200: alertSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    (request, reply) => changeAlert(reply, () => alerts.resolve(request.params.id, actorOf(request), request.body.note)),
  );

  typed.post(
    '/api/boreholes/:id/maintenance',
    {
      preHandler: auth.require('operator'),
      schema: {
        security: [{ bearer: [] }],
        params: idParams,
        body: optionalBody(z.object({ note: z.string().max(500).default('') })),
        response: {
          201: z.object({ id: z.number().int(), borehole: z.string(), at: z.string(), by: z.string(), note: z.string() }),
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      if (!alerts.isKnownBorehole(request.params.id)) {
        return reply.code(404).send({ error: 'not_found', message: `no borehole ${request.params.id}` });
      }
      const record = alerts.recordMaintenance(request.params.id, actorOf(request), request.body.note);
      return reply.code(201).send({ id: record.id, borehole: record.boreholeId, at: new Date(record.atMs).toISOString(), by: record.by, note: record.note });
    },
  );
};
