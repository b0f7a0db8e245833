/**
 * Replies by SMS arrive here from the gateways (CONTRACT.md section 5):
 * - `POST /api/sms/inbound`: the webhook form `{"from", "text"}`, `Authorization: Bearer $SMS_INBOUND_TOKEN`;
 * - `POST /api/sms/inbound/twilio`: Twilio's form post, verified by its `X-Twilio-Signature`;
 * - `POST /api/sms/inbound/africastalking?token=$SMS_INBOUND_TOKEN`: Africa's Talking's callback,
 *   which is not signed, so the token travels in the URL configured at the provider.
 * Delivery receipts arrive the same ways, under `/api/sms/receipts` (webhook JSON, Bearer),
 * `/api/sms/receipts/twilio` (signed), `/api/sms/receipts/africastalking?token=` and
 * `/api/sms/receipts/orange?token=` (unsigned: the token in the URL); see
 * src/notify/gateways/receipts.ts. A receipt that names no message the service sent is answered
 * 200 all the same (the provider would only send it again) and logged.
 * Without the secret a route answers 403 and does nothing; with it, the command is handled (a
 * number not in the registry changes nothing and gets no answer) and the route answers 200.
 * A wrong secret counts against the client address like a wrong API token (same limiter, so a
 * guesser gets 10 tries a minute across the API and these routes together, then 429); the tokens
 * are checked before the body is read, so a guesser cannot make the service parse anything.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import {
  parseAfricasTalkingInbound,
  parseTwilioInbound,
  parseWebhookInbound,
  verifyTwilioSignature,
  type InboundParseResult,
  type InboundSms,
} from '../../notify/gateways/inbound.js';
import {
  parseAfricasTalkingReceipt,
  parseOrangeReceipt,
  parseTwilioReceipt,
  parseWebhookReceipt,
  type DeliveryReceipt,
  type ReceiptParseResult,
} from '../../notify/gateways/receipts.js';
import { FailedAuthLimiter } from '../failed-auth-limiter.js';
import { forbidden, secretGate, tooMany } from '../webhook-secret.js';

export interface SmsInboundDeps {
  /** SMS_INBOUND_TOKEN; undefined: the webhook and Africa's Talking routes are closed. */
  inboundToken: string | undefined;
  /** TWILIO_AUTH_TOKEN when Twilio is configured; undefined: the Twilio route is closed. */
  twilioAuthToken: string | undefined;
  /** The service's public base URL as Twilio calls it (SMS_PUBLIC_URL), for the signature. */
  publicUrl: string | undefined;
  handle: (sms: InboundSms) => string;
  /** A delivery receipt, from the named provider; absent: no receipt routes. */
  receipt?: (receipt: DeliveryReceipt, provider: string) => 'recorded' | 'unmatched' | 'not_final';
  /** Failed authentications per client address; buildApp passes the API's. Absent: one of its own. */
  failedAuth?: FailedAuthLimiter;
}

/** A reply by SMS is one short text: 16 KiB is far more than any gateway sends. */
export const SMS_INBOUND_BODY_LIMIT = 16 * 1024;


function formFields(raw: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(raw)) fields[name] = value;
  return fields;
}

async function respond(reply: FastifyReply, parsed: InboundParseResult, handle: SmsInboundDeps['handle']) {
  if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
  return reply.code(200).send({ outcome: handle(parsed.sms) });
}



export const smsInboundRoutes: FastifyPluginAsync<SmsInboundDeps> = async (app, deps) => {
  const limiter = deps.failedAuth ?? new FailedAuthLimiter();
  // Twilio and Africa's Talking post forms; the raw text is kept for the signature check.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: SMS_INBOUND_BODY_LIMIT }, (_request, body, done) => done(null, body));

  const tokenGate = secretGate(limiter, deps.inboundToken);

  app.post(
    '/api/sms/inbound',
    {
      schema: { hide: true },
      bodyLimit: SMS_INBOUND_BODY_LIMIT,
      onRequest: tokenGate((request) => /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1], 'a valid SMS_INBOUND_TOKEN is required'),
    },
    async (request: FastifyRequest, reply) => respond(reply, parseWebhookInbound(request.body), deps.handle),
  );

  app.post('/api/sms/inbound/twilio', {
    schema: { hide: true },
    bodyLimit: SMS_INBOUND_BODY_LIMIT,
    onRequest: async (request, reply) => {
      const waitMs = limiter.retryAfterMs(request.ip);
      if (waitMs > 0) await tooMany(reply, waitMs);
    },
  }, async (request: FastifyRequest, reply) => {
    const fields = twilioFields(request);
    if (!fields) return forbidden(reply, 'the X-Twilio-Signature does not match');
    const parsed = parseTwilioInbound(fields);
    if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
    deps.handle(parsed.sms);
    // Replies go out through the outbox; Twilio only needs an empty TwiML answer.
    return reply.code(200).header('content-type', 'text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
  });

  /** Verifies Twilio's signature over the URL it called and the form; the fields, or null when refused. */
  const twilioFields = (request: FastifyRequest): Record<string, string> | null => {
    const raw = typeof request.body === 'string' ? request.body : '';
    const fields = formFields(raw);
    const base = deps.publicUrl ?? `${request.protocol}://${request.headers.host ?? request.hostname}`;
    const signature = request.headers['x-twilio-signature'];
    if (deps.twilioAuthToken === undefined || !verifyTwilioSignature(deps.twilioAuthToken, `${base.replace(/\/$/, '')}${request.url}`, fields, typeof signature === 'string' ? signature : undefined)) {
      if (typeof signature === 'string' && signature !== '') limiter.fail(request.ip);
      return null;
    }
    return fields;
  };

  const queryToken = (request: FastifyRequest): string | undefined => {
    const token = (request.query as { token?: unknown }).token;
    return typeof token === 'string' ? token : undefined;
  };

  app.post<{ Querystring: { token?: string } }>(
    '/api/sms/inbound/africastalking',
    {
      schema: { hide: true },
      bodyLimit: SMS_INBOUND_BODY_LIMIT,
      onRequest: tokenGate(queryToken, 'a valid token is required in the callback URL'),
    },
    async (request, reply) => {
      const raw = typeof request.body === 'string' ? request.body : '';
      return respond(reply, parseAfricasTalkingInbound(formFields(raw)), deps.handle);
    },
  );

  const { receipt } = deps;
  if (receipt) {
    const record = (reply: FastifyReply, parsed: ReceiptParseResult, provider: string) => {
      if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
      return reply.code(200).send({ outcome: receipt(parsed.receipt, provider) });
    };
    const receiptRoute = { schema: { hide: true }, bodyLimit: SMS_INBOUND_BODY_LIMIT } as const;
    app.post(
      '/api/sms/receipts',
      { ...receiptRoute, onRequest: tokenGate((request) => /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1], 'a valid SMS_INBOUND_TOKEN is required') },
      async (request, reply) => record(reply, parseWebhookReceipt(request.body), 'webhook'),
    );
    app.post(
      '/api/sms/receipts/africastalking',
      { ...receiptRoute, onRequest: tokenGate(queryToken, 'a valid token is required in the callback URL') },
      async (request, reply) => record(reply, parseAfricasTalkingReceipt(formFields(typeof request.body === 'string' ? request.body : '')), 'africastalking'),
    );
    app.post(
      '/api/sms/receipts/orange',
      { ...receiptRoute, onRequest: tokenGate(queryToken, 'a valid token is required in the callback URL') },
      async (request, reply) => record(reply, parseOrangeReceipt(request.body), 'orange'),
    );
    app.post(
      '/api/sms/receipts/twilio',
      {
        ...receiptRoute,
        onRequest: async (request, reply) => {
          const waitMs = limiter.retryAfterMs(request.ip);
          if (waitMs > 0) await tooMany(reply, waitMs);
        },
      },
      async (request, reply) => {
        const fields = twilioFields(request);
        if (!fields) return forbidden(reply, 'the X-Twilio-Signature does not match');
        const parsed = parseTwilioReceipt(fields);
        if (!parsed.ok) return reply.code(400).send({ error: 'invalid_request', message: parsed.error });
        receipt(parsed.receipt, 'twilio');
        return reply.code(200).header('content-type', 'text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      },
    );
  }
};
