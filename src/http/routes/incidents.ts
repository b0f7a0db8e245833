/**
 * Incidents and their work orders (CONTRACT.md section 9), with the same roles as alerts: reads
 * need `viewer` (phone numbers masked), the transitions `operator`. They are the SMS commands
 * (`OK`, `ARRIVE`, `PIECE`, `REPARE`) said by a person with a token, plus `close`, an operator's
 * word that it works again. A region-limited token sees only its regions' incidents; the others
 * answer 404, as if they did not exist. `{id}` is the incident's id or its numeric code, the
 * number people type in SMS and read on the pages.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { INCIDENT_STATES, type Incident, type ReadingsSnapshot } from '../../incidents/incident.js';
import { INCIDENT_EVENT_KINDS, type IncidentsPort, type TimelineEntry, type TransitionResult } from '../../incidents/port.js';
import { ALERT_RULES, SEVERITIES, type AlertRule } from '../../rules/types.js';
import { SMS_STATES, type SmsState } from '../../storage/sqlite-store.js';
import { hasRole, type TokenAuth } from '../auth.js';
import type { Scope } from '../network.js';
import { errorSchema, iso, maskPhones, pageQuery } from '../schemas.js';
import { alertSchema, alertToJson } from './alerts.js';

/** Who made an incident change through the API or a page: `operator:<role>` (incident.ts's Actor). */
export const incidentActorOf = (request: FastifyRequest): string => `operator:${request.identity?.role ?? request.apiRole ?? 'unknown'}`;

const CHANGE_KINDS = INCIDENT_EVENT_KINDS;

export const incidentSchema = z.object({
  id: z.string(),
  code: z.number().int().describe('the code of its first alert: what people type (ARRIVE 17)'),
  borehole: z.string(),
  cause: z.enum(ALERT_RULES as [AlertRule, ...AlertRule[]]).describe('the rule of the alert that explains the others'),
  severity: z.enum(SEVERITIES),
  state: z.enum(INCIDENT_STATES).describe('the work order state; verified closes the incident'),
  alerts: z.array(z.string()).describe('ids of its alerts, oldest first'),
  opened_at: z.string().describe('RFC 3339 UTC'),
  acknowledged_at: z.string().nullable(),
  on_site_at: z.string().nullable().describe('the first arrival of a technician'),
  parts: z.array(z.object({ part: z.string(), at: z.string() })).describe('the parts waited for, in order'),
  repair_claimed_at: z.string().nullable().describe('the latest repair claim'),
  verified_at: z.string().nullable().describe('the latest verification, by the data or a person'),
  reopened_at: z.string().nullable(),
  closed_at: z.string().nullable(),
  assignee: z.object({ name: z.string(), phone: z.string().describe('E.164; masked for viewer tokens') }).nullable(),
  respond_by: z.string().nullable().describe('acknowledgement or arrival due before (respond_hours)'),
  repair_by: z.string().nullable().describe('repair due before (repair_hours)'),
  work_order: z.boolean().describe('a technician must act (every critical incident)'),
  failed_repairs: z.number().int().describe('repairs the data did not confirm, or that did not hold'),
  manual_text: z.string().nullable().describe('what the person wrote, for a PANNE or a manual report'),
});
export type IncidentJson = z.infer<typeof incidentSchema>;

export function incidentToJson(incident: Incident, showNumbers: boolean): IncidentJson {
  return {
    id: incident.id,
    code: incident.code,
    borehole: incident.boreholeId,
    cause: incident.cause,
    severity: incident.severity,
    state: incident.state,
    alerts: [...incident.alertIds],
    opened_at: iso(incident.openedAtMs) ?? '',
    acknowledged_at: iso(incident.acknowledgedAtMs),
    on_site_at: iso(incident.onSiteAtMs),
    parts: incident.parts.map((part) => ({ part: part.part, at: iso(part.atMs) ?? '' })),
    repair_claimed_at: iso(incident.repairClaimedAtMs),
    verified_at: iso(incident.verifiedAtMs),
    reopened_at: iso(incident.reopenedAtMs),
    closed_at: iso(incident.closedAtMs),
    assignee: incident.assignee ? { name: incident.assignee.name, phone: showNumbers ? incident.assignee.phone : maskPhones(incident.assignee.phone) } : null,
    respond_by: iso(incident.respondByMs),
    repair_by: iso(incident.repairByMs),
    work_order: incident.workOrder,
    failed_repairs: incident.failedRepairs,
    manual_text: incident.manual?.text ?? null,
  };
}

/** The state of an SMS as `GET /api/sms` says it, from the outbox status and the provider's receipt. */
export function timelineSmsState(status: string, delivery: string | null): SmsState {
  if (status === 'sent' && delivery === 'delivered') return 'delivered';
  if (status === 'sent' && delivery === 'undelivered') return 'failed';
  return (SMS_STATES as readonly string[]).includes(status) ? (status as SmsState) : 'pending';
}

const at = z.string().describe('RFC 3339 UTC');
const actor = z.string().describe('rules, data, sms:<phone>, call:<phone>, operator:<role> (phones masked for viewers)');

const snapshotSchema = z.object({
  at,
  running: z.boolean().nullable().describe('the pump, by its newest reading then'),
  flow_lpm: z.number().nullable(),
  depth_m: z.number().nullable().describe('water level, metres below ground'),
  last_reading_at: z.string().nullable().describe('the newest reading then, any topic'),
});

const timelineEntrySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('alert'), at, change: z.enum(['opened', 'escalated', 'acknowledged', 'resolved']), actor, alert: alertSchema }),
  z.object({
    kind: z.literal('sms'),
    at,
    id: z.string(),
    to: z.string().describe('E.164; masked for viewer tokens'),
    text: z.string(),
    sms_kind: z.string().describe('alert, escalation, resolved, reply, reminder …'),
    state: z.enum(SMS_STATES).describe('as GET /api/sms: delivered when a receipt said so'),
    delivery_detail: z.string().nullable(),
    sent_at: z.string().nullable(),
  }),
  z.object({ kind: z.literal('command'), at, from: z.string().describe('the sender; masked for viewer tokens'), text: z.string(), outcome: z.string() }),
  z.object({ kind: z.literal('change'), at, change: z.enum(CHANGE_KINDS), state: z.enum(INCIDENT_STATES), actor, detail: z.string().nullable() }),
  z.object({ kind: z.literal('snapshot'), at, label: z.enum(['opened', 'verified']), readings: snapshotSchema }),
]);
export type TimelineEntryJson = z.infer<typeof timelineEntrySchema>;

function snapshotToJson(snapshot: ReadingsSnapshot): z.infer<typeof snapshotSchema> {
  return { at: iso(snapshot.atMs) ?? '', running: snapshot.running, flow_lpm: snapshot.flowLpm, depth_m: snapshot.depthM, last_reading_at: iso(snapshot.lastTsMs) };
}

export function timelineEntryToJson(entry: TimelineEntry, showNumbers: boolean): TimelineEntryJson {
  const mask = (text: string) => (showNumbers ? text : maskPhones(text));
  const when = iso(entry.atMs) ?? '';
  switch (entry.kind) {
    case 'alert':
      return { kind: 'alert', at: when, change: entry.change, actor: mask(entry.actor), alert: alertToJson(entry.alert) };
    case 'sms':
      return {
        kind: 'sms',
        at: when,
        id: entry.messageId,
        to: mask(entry.to),
        text: entry.text,
        sms_kind: entry.smsKind,
        state: timelineSmsState(entry.status, entry.delivery),
        delivery_detail: entry.deliveryDetail === null ? null : mask(entry.deliveryDetail),
        sent_at: iso(entry.sentAtMs),
      };
    case 'command':
      return { kind: 'command', at: when, from: mask(entry.from), text: mask(entry.text), outcome: entry.outcome };
    case 'change':
      return { kind: 'change', at: when, change: entry.change, state: entry.state, actor: mask(entry.actor), detail: entry.detail === null ? null : mask(entry.detail) };
    case 'snapshot':
      return { kind: 'snapshot', at: when, label: entry.label, readings: snapshotToJson(entry.readings) };
  }
}

/** An incident by its id, or by its numeric code (what people read and type). */
export function incidentByIdOrCode(incidents: Pick<IncidentsPort, 'byId' | 'byCode'>, idOrCode: string): Incident | null {
  const byId = incidents.byId(idOrCode);
  if (byId) return byId;
  return /^\d{1,9}$/.test(idOrCode) ? incidents.byCode(Number(idOrCode)) : null;
}

const incidentWithTimelineSchema = incidentSchema.extend({ timeline: z.array(timelineEntrySchema).describe('alerts, SMS, commands, changes and readings snapshots, in order') });

/** A POST with no body at all reaches the validator as null: it means "nothing to add". */
const optionalBody = <T extends z.ZodType>(schema: T) => z.preprocess((value) => value ?? {}, schema);

const idParams = z.object({ id: z.string().min(1).max(64).describe('the incident id, or its numeric code') });

const notFound = (reply: FastifyReply, what: string) => reply.code(404).send({ error: 'not_found', message: `no ${what}` });

export const incidentRoutes: FastifyPluginAsync<{ auth: TokenAuth; incidents: IncidentsPort; scope: Scope; isKnownBorehole: (id: string) => boolean }> = async (
  app,
  { auth, incidents, scope, isKnownBorehole },
) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  /** The incident if it exists and the request's token may see it. */
  const visibleIncident = (request: FastifyRequest, idOrCode: string): Incident | null => {
    const incident = incidentByIdOrCode(incidents, idOrCode);
    return incident && scope.seesAlertOf(request.identity, incident.boreholeId) ? incident : null;
  };

  const answer = (reply: FastifyReply, request: FastifyRequest, result: TransitionResult) => {
    if (result.ok) return incidentToJson(result.incident, hasRole(request.identity, 'operator'));
    if (result.reason === 'not_found') return reply.code(404).send({ error: 'not_found', message: result.message });
    return reply.code(409).send({ error: 'conflict', message: result.message });
  };

  typed.get(
    '/api/incidents',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'Incidents and their work orders, newest first',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum([...INCIDENT_STATES, 'open']).optional().describe('open: every state but verified'),
          borehole: z.string().max(64).optional(),
          ...pageQuery(100, 500),
        }),
        response: { 200: z.object({ incidents: z.array(incidentSchema), total: z.number().int() }), 401: errorSchema, 429: errorSchema },
      },
    },
    (request) => {
      const { state, borehole, limit, offset } = request.query;
      let boreholeIds = scope.alertFilter(request.identity);
      if (borehole !== undefined) boreholeIds = boreholeIds === undefined || boreholeIds.includes(borehole) ? [borehole] : [];
      const found = incidents.list({ state, boreholeIds, limit, offset });
      const showNumbers = hasRole(request.identity, 'operator');
      return { incidents: found.incidents.map((incident) => incidentToJson(incident, showNumbers)), total: found.total };
    },
  );

  typed.get(
    '/api/incidents/:id',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'One incident with its timeline: alerts, SMS and their delivery, commands, changes, readings',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        params: idParams,
        response: { 200: incidentWithTimelineSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const incident = visibleIncident(request, request.params.id);
      if (!incident) return notFound(reply, `incident ${request.params.id}`);
      const showNumbers = hasRole(request.identity, 'operator');
      return { ...incidentToJson(incident, showNumbers), timeline: incidents.timeline(incident.id).map((entry) => timelineEntryToJson(entry, showNumbers)) };
    },
  );

  const transition = (
    path: string,
    summary: string,
    body: z.ZodType<Record<string, unknown>> | undefined,
    work: (incident: Incident, request: FastifyRequest) => TransitionResult,
  ) =>
    typed.post(
      path,
      {
        // The role before the body: a viewer is told what it lacks, not how to fill the form.
        preValidation: auth.require('operator'),
        schema: {
          summary,
          tags: ['incidents'],
          security: [{ bearer: [] }],
          params: idParams,
          ...(body ? { body } : {}),
          response: { 200: incidentSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
        },
      },
      async (request, reply) => {
        const incident = visibleIncident(request, request.params.id);
        if (!incident) return notFound(reply, `incident ${request.params.id}`);
        return answer(reply, request, work(incident, request));
      },
    );

  transition('/api/incidents/:id/ack', 'Acknowledge an incident (as OK <code> by SMS)', undefined, (incident, request) =>
    incidents.acknowledge(incident.id, incidentActorOf(request)),
  );
  transition('/api/incidents/:id/arrive', 'The technician is on site (as ARRIVE <code>)', undefined, (incident, request) =>
    incidents.arrive(incident.id, incidentActorOf(request)),
  );
  const partBody = z.object({ part: z.string().trim().min(1, 'part must not be empty').max(200).describe('the part waited for') });
  transition('/api/incidents/:id/parts', 'Waiting for a part (as PIECE <code> <part>)', partBody, (incident, request) =>
    incidents.part(incident.id, (request.body as z.infer<typeof partBody>).part, incidentActorOf(request)),
  );
  const repairBody = optionalBody(z.object({ note: z.string().max(500).optional().describe('what was done') }));
  transition('/api/incidents/:id/repair', 'A repair is claimed (as REPARE <code> [note]); the data then verifies it', repairBody, (incident, request) => {
    const note = ((request.body as { note?: string }).note ?? '').trim();
    return incidents.repair(incident.id, note === '' ? null : note, incidentActorOf(request));
  });
  transition('/api/incidents/:id/close', 'Close an incident: an operator confirms that it works again', undefined, (incident, request) =>
    incidents.close(incident.id, incidentActorOf(request)),
  );

  typed.post(
    '/api/boreholes/:id/incidents',
    {
      preValidation: auth.require('operator'),
      schema: {
        summary: 'Report a fault seen by people (as PANNE): opens a manual incident and its work order',
        tags: ['incidents'],
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().min(1).max(64) }),
        body: z.object({ text: z.string().trim().min(1, 'text must not be empty').max(500).describe('what was seen') }),
        response: { 201: incidentSchema, 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const id = request.params.id;
      const visible = request.identity?.regions ? scope.borehole(request.identity, id) !== undefined : isKnownBorehole(id);
      if (!visible) return notFound(reply, `borehole ${id}`);
      const incident = incidents.report(id, request.body.text, incidentActorOf(request));
      if (!incident) return notFound(reply, `borehole ${id}`);
      return reply.code(201).send(incidentToJson(incident, true));
    },
  );
};
