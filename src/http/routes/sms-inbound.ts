/**
 * Replies by SMS arrive here from the gateways (CONTRACT.md section 5):
 * - `POST /api/sms/inbound`: the webhook form `{"from", "text"}`, `Authorization: Bearer $SMS_INBOUND_TOKEN`;
 * - `POST /api/sms/inbound/twilio`: Twilio's form post, verified by its `X-Twilio-Signature`;
 * - `POST /api/sms/inbound/africastalking?token=$SMS_INBOUND_TOKEN`: Africa's Talking's callback,
 *   which is not signed, so the token travels in the URL configured at the provider.
 * Without the secret a route answers 403 and does nothing; with it, the command is handled (a
 * number not in the registry changes nothing and gets no answer) and the route answers 200.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  parseAfricasTalkingInbound,
  parseTwilioInbound,
  parseWebhookInbound,
  verifyTwilioSignature,
  type InboundParseResult,
  type InboundSms,
} from '../../notify/gateways/inbound.js';

export interface SmsInboundDeps {
  /** SMS_INBOUND_TOKEN; undefined: the webhook and Africa's Talking routes are closed. */
  inboundToken: string | undefined;
  /** TWILIO_AUTH_TOKEN when Twilio is configured; undefined: the Twilio route is closed. */
  twilioAuthToken: string | undefined;
  /** The service's public base URL as Twilio calls it (SMS_PUBLIC_URL), for the signature. */
  publicUrl: string | undefined;
  handle: (sms: InboundSms) => string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

function sameSecret(presented: string | undefined, expected: string | undefined): boolean {
  if (expected === undefined || expected === '' || presented === undefined) return false;
  return timingSafeEqual(digest(presented), digest(expected));
}

function formFields(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(raw)) fields[name] = value;
  return fields;
}

async function respond(reply: FastifyReply, parsed: InboundParseResult, handle: SmsInboundDeps['handle']) {
  if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
  return reply.code(200).send({ outcome: handle(parsed.sms) });
}

const forbidden = (reply: FastifyReply, what: string) => reply.code(403).send({ error: 'forbidden', message: what });

export const smsInboundRoutes: FastifyPluginAsync<SmsInboundDeps> = async (app, deps) => {
  // Twilio and Africa's Talking post forms; the raw text is kept for the signature check.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => done(null, body));

  app.post('/api/sms/inbound', { schema: { hide: true } }, async (request: FastifyRequest, reply) => {
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!sameSecret(bearer, deps.inboundToken)) return forbidden(reply, 'a valid SMS_INBOUND_TOKEN is required');
    return respond(reply, parseWebhookInbound(request.body), deps.handle);
  });

  app.post('/api/sms/inbound/twilio', { schema: { hide: true } }, async (request: FastifyRequest, reply) => {
    const raw = typeof request.body === 'string' ? request.body : '';
    const fields = formFields(raw);
    const base = deps.publicUrl ?? `${request.protocol}://${request.headers.host ?? request.hostname}`;
    const signature = request.headers['x-twilio-signature'];
    if (deps.twilioAuthToken === undefined || !verifyTwilioSignature(deps.twilioAuthToken, `${base.replace(/\/$/, '')}${request.url}`, fields, typeof signature === 'string' ? signature : undefined)) {
      return forbidden(reply, 'the X-Twilio-Signature does not match');
    }
    const parsed = parseTwilioInbound(fields);
    if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
    deps.handle(parsed.sms);
    // Replies go out through the outbox; Twilio only needs an empty TwiML answer.
    return reply.code(200).header('content-type', 'text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
  });

  app.post<{ Querystring: { token?: string } }>('/api/sms/inbound/africastalking', { schema: { hide: true } }, async (request, reply) => {
    if (!sameSecret(request.query.token, deps.inboundToken)) return forbidden(reply, 'a valid token is required in the callback URL');
    const raw = typeof request.body === 'string' ? request.body : '';
    return respond(reply, parseAfricasTalkingInbound(formFields(raw)), deps.handle);
  });
};
