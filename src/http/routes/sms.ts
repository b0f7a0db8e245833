/**
 * SMS in sight (issue 16): `GET /api/sms` lists the outbox (pending, sent, delivered, failed …)
 * with each message's delivery state, and `POST /api/sms/{id}/retry` sends a failed message
 * again under the same id. Reads need `viewer` (numbers masked), a retry `operator` (numbers
 * shown). The outbox is network-wide (replies and summaries name no borehole), so a
 * region-limited token is refused, as for the dead letters.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SMS_STATES, smsStateOf, type OutboxMessage, type SmsQuery } from '../../storage/sqlite-store.js';
import { actorOf, hasRole, type TokenAuth } from '../auth.js';
import { errorSchema, iso, maskPhones, pageQuery } from '../schemas.js';

export interface SmsPort {
  query(query: SmsQuery): { messages: OutboxMessage[]; total: number };
  /** A failed message queued again; 'not_failed' when it is not failed (pending, sent, delivered …). */
  retry(id: string, actor: string): 'retried' | 'not_failed' | 'not_found';
  /** A number as people type it, in E.164 (the default region applies), or null. */
  normaliseNumber(raw: string): string | null;
}

export const smsSchema = z.object({
  id: z.string(),
  to: z.string().describe('E.164; masked for viewer tokens'),
  kind: z.string().describe('alert, escalation, resolved, reply, summary …'),
  alert_id: z.string().nullable(),
  state: z.enum(SMS_STATES).describe('delivered: a receipt said so; sent: the gateway took it (no receipt yet, or none from this provider); failed: given up, or a receipt said undelivered'),
  text: z.string(),
  attempts: z.number().int(),
  last_error: z.string().nullable(),
  created_at: z.string(),
  sent_at: z.string().nullable(),
  gateway: z.string().nullable(),
  provider_message_id: z.string().nullable().describe("the provider's id of the message, for a support ticket with it"),
  delivery_detail: z.string().nullable().describe("the provider's receipt, in its words"),
  delivered_at: z.string().nullable().describe('when the receipt came'),
});

export function smsToJson(message: OutboxMessage, showNumbers: boolean): z.infer<typeof smsSchema> {
  const mask = (text: string) => (showNumbers ? text : maskPhones(text));
  return {
    id: message.id,
    to: mask(message.recipient),
    kind: message.kind,
    alert_id: message.alertId,
    state: smsStateOf(message),
    text: message.text,
    attempts: message.attempts,
    last_error: message.lastError === null ? null : mask(message.lastError),
    created_at: iso(message.createdAtMs) ?? '',
    sent_at: iso(message.sentAtMs),
    gateway: message.gateway,
    provider_message_id: message.providerMessageId,
    delivery_detail: message.deliveryDetail,
    delivered_at: iso(message.deliveredAtMs),
  };
}

const networkWide = (request: FastifyRequest, reply: FastifyReply) =>
  request.identity?.regions ? reply.code(403).send({ error: 'forbidden', message: 'the SMS outbox is network-wide: it needs a token without a region limit' }) : null;

export const smsRoutes: FastifyPluginAsync<{ auth: TokenAuth; sms: SmsPort }> = async (app, { auth, sms }) => {
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.get(
    '/api/sms',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'The SMS outbox, newest first, with each message’s delivery state',
        tags: ['sms'],
        security: [{ bearer: [] }],
        querystring: z.object({
          state: z.enum(SMS_STATES).optional(),
          to: z.string().max(40).optional().describe('a phone number, as people type it'),
          alert: z.string().max(64).optional().describe('the messages of one alert'),
          since: z.iso.datetime({ offset: true }).optional().describe('created at or after (RFC 3339)'),
          ...pageQuery(50, 500),
        }),
        response: { 200: z.object({ total: z.number().int(), items: z.array(smsSchema) }), 400: errorSchema, 401: errorSchema, 403: errorSchema },
      },
    },
    async (request, reply) => {
      const refused = networkWide(request, reply);
      if (refused) return refused;
      const { state, to, alert, since, limit, offset } = request.query;
      let recipient: string | undefined;
      if (to !== undefined) {
        const number = sms.normaliseNumber(to);
        if (number === null) return reply.code(400).send({ error: 'invalid_request', message: `"${to}" is not a phone number` });
        recipient = number;
      }
      const { messages, total } = sms.query({
        ...(state ? { states: [state] } : {}),
        ...(recipient !== undefined ? { recipient } : {}),
        ...(alert !== undefined ? { alertId: alert } : {}),
        ...(since !== undefined ? { sinceMs: Date.parse(since) } : {}),
        limit,
        offset,
      });
      const showNumbers = hasRole(request.identity, 'operator');
      return { total, items: messages.map((message) => smsToJson(message, showNumbers)) };
    },
  );

  typed.post(
    '/api/sms/:id/retry',
    {
      preHandler: auth.require('operator'),
      schema: {
        summary: 'Send a failed SMS again, under the same id',
        tags: ['sms'],
        security: [{ bearer: [] }],
        params: z.object({ id: z.string().max(64) }),
        response: { 200: z.object({ id: z.string(), state: z.literal('pending') }), 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const refused = networkWide(request, reply);
      if (refused) return refused;
      const outcome = sms.retry(request.params.id, actorOf(request));
      if (outcome === 'not_found') return reply.code(404).send({ error: 'not_found', message: `no SMS ${request.params.id}` });
      if (outcome === 'not_failed') return reply.code(409).send({ error: 'conflict', message: 'only a failed SMS can be sent again' });
      return { id: request.params.id, state: 'pending' as const };
    },
  );
};
