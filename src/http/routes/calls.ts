/**
 * Missed calls (CONTRACT.md section 9): a registered phone that calls the service's number
 * acknowledges that person's newest open incident, confirmed by SMS, so that a committee member
 * who cannot type can still say "we know". The call is never answered: each provider is told to
 * reject it, and a rejected call costs the caller nothing.
 *
 * - `POST /api/calls/inbound`: the webhook form `{"from": "+223..."}`, with the same
 *   `Authorization: Bearer $SMS_INBOUND_TOKEN` as `/api/sms/inbound`; answered in JSON.
 * - `POST /api/calls/inbound/africastalking?token=$SMS_INBOUND_TOKEN`: Africa's Talking's voice
 *   callback (developers.africastalking.com, voice "Handle calls"): a form with `isActive`,
 *   `sessionId`, `direction`, `callerNumber`, `destinationNumber`. It is not signed, so the token
 *   travels in the URL. `isActive=1` is the ringing call, answered with `<Reject/>` (the only
 *   element, which AT does not bill); `isActive=0` is the notification sent when the call has ended
 *   (duration, cost) and changes nothing, or one call would count twice.
 * - `POST /api/calls/inbound/twilio`: Twilio's voice webhook (a form with `From`, `To`, `CallSid`,
 *   `CallStatus` …), verified by `X-Twilio-Signature` as the SMS webhook is, answered with TwiML
 *   `<Reject reason="busy"/>`: as the first verb, Twilio does not pick the call up nor bill it, and
 *   the caller hears busy, not "number not in service". A status callback pointed here by mistake
 *   (`CallStatus` past `ringing`) changes nothing.
 *
 * Wrong secrets answer 403 and count against the client address, with the API's limiter, exactly
 * as on the SMS webhooks.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { verifyTwilioSignature } from '../../notify/gateways/inbound.js';
import { FailedAuthLimiter } from '../failed-auth-limiter.js';
import { forbidden, secretGate, tooMany } from '../webhook-secret.js';
import { SMS_INBOUND_BODY_LIMIT } from './sms-inbound.js';

export type MissedCallOutcome = 'acknowledged' | 'nothing_open' | 'ignored_unknown_number';

export interface CallsPort {
  /** A missed call from a number as the provider spells it; the desk reads it as E.164. */
  missedCall(fromRaw: string): MissedCallOutcome;
}

export interface CallsRouteDeps {
  calls: CallsPort;
  /** SMS_INBOUND_TOKEN; undefined: the webhook and Africa's Talking routes are closed. */
  inboundToken: string | undefined;
  /** TWILIO_AUTH_TOKEN; undefined: the Twilio route is closed. */
  twilioAuthToken: string | undefined;
  /** The service's public base URL as Twilio calls it (SMS_PUBLIC_URL), for the signature. */
  publicUrl: string | undefined;
  failedAuth?: FailedAuthLimiter;
}

export const AFRICAS_TALKING_REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>';
export const TWILIO_REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>';

// Providers spell numbers their own way; the desk reads the number, here only its characters count.
const caller = z
  .string()
  .transform((value) => value.trim())
  .pipe(z.string().regex(/^\(?\+?[0-9][0-9 ().-]*$/, 'must be a phone number such as +22376000001'));

const webhookCallSchema = z.object({ from: caller });


function formFields(raw: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  // A repeated field keeps its first value, as the SMS webhooks read them.
  for (const [name, value] of new URLSearchParams(typeof raw === 'string' ? raw : '')) if (!(name in fields)) fields[name] = value;
  return fields;
}


const invalid = (reply: FastifyReply, message: string) => reply.code(400).send({ error: 'invalid_request', message });


/** Twilio spells a ringing call's status so; a status callback says `completed`, `busy` … */
const TWILIO_RINGING = new Set(['ringing', 'queued']);

export const callRoutes: FastifyPluginAsync<CallsRouteDeps> = async (app, deps) => {
  const limiter = deps.failedAuth ?? new FailedAuthLimiter();
  // The providers post forms; the raw text is kept for Twilio's signature.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: SMS_INBOUND_BODY_LIMIT }, (_request, body, done) => done(null, body));

  // Refused before the body is read, as on the SMS webhooks.
  const tokenGate = secretGate(limiter, deps.inboundToken);

  app.post(
    '/api/calls/inbound',
    {
      schema: { hide: true },
      bodyLimit: SMS_INBOUND_BODY_LIMIT,
      onRequest: tokenGate((request) => /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1], 'a valid SMS_INBOUND_TOKEN is required'),
    },
    async (request: FastifyRequest, reply) => {
      const parsed = webhookCallSchema.safeParse(request.body);
      if (!parsed.success) return invalid(reply, `malformed missed call: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ')}`);
      return reply.code(200).send({ outcome: deps.calls.missedCall(parsed.data.from) });
    },
  );

  app.post<{ Querystring: { token?: string } }>(
    '/api/calls/inbound/africastalking',
    {
      schema: { hide: true },
      bodyLimit: SMS_INBOUND_BODY_LIMIT,
      onRequest: tokenGate((request) => {
        const token = (request.query as { token?: unknown }).token;
        return typeof token === 'string' ? token : undefined;
      }, 'a valid token is required in the callback URL'),
    },
    async (request, reply) => {
      const fields = formFields(request.body);
      // The end-of-call notification: AT expects no instructions, and the call was counted when it rang.
      if (fields.isActive === '0') return reply.code(200).type('text/plain').send('');
      // A hidden or malformed number is rejected all the same (an error would be answered, and billed), and changes nothing.
      const from = caller.safeParse(fields.callerNumber ?? '');
      if (!from.success) request.log.warn({ provider: 'africastalking' }, 'missed call without a usable callerNumber: rejected, nothing acknowledged');
      // Inbound only: a call the service placed (it places none) is nobody saying "we know".
      else if (fields.direction === undefined || fields.direction.toLowerCase() === 'inbound') deps.calls.missedCall(from.data);
      // AT's own examples answer XML as text/plain; it reads the body either way.
      return reply.code(200).type('text/plain').send(AFRICAS_TALKING_REJECT);
    },
  );

  app.post(
    '/api/calls/inbound/twilio',
    {
      schema: { hide: true },
      bodyLimit: SMS_INBOUND_BODY_LIMIT,
      onRequest: async (request, reply) => {
        const waitMs = limiter.retryAfterMs(request.ip);
        if (waitMs > 0) await tooMany(reply, waitMs);
      },
    },
    async (request: FastifyRequest, reply) => {
      const fields = formFields(request.body);
      const base = deps.publicUrl ?? `${request.protocol}://${request.headers.host ?? request.hostname}`;
      const signature = request.headers['x-twilio-signature'];
      if (deps.twilioAuthToken === undefined || !verifyTwilioSignature(deps.twilioAuthToken, `${base.replace(/\/$/, '')}${request.url}`, fields, typeof signature === 'string' ? signature : undefined)) {
        if (typeof signature === 'string' && signature !== '') limiter.fail(request.ip);
        return forbidden(reply, 'the X-Twilio-Signature does not match');
      }
      const status = fields.CallStatus?.toLowerCase();
      if (status !== undefined && !TWILIO_RINGING.has(status)) return reply.code(200).header('content-type', 'text/xml').send('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
      // `anonymous` or a malformed number: rejected all the same, nothing acknowledged.
      const from = caller.safeParse(fields.From ?? '');
      if (from.success) deps.calls.missedCall(from.data);
      else request.log.warn({ provider: 'twilio' }, 'missed call without a usable From: rejected, nothing acknowledged');
      return reply.code(200).header('content-type', 'text/xml').send(TWILIO_REJECT);
    },
  );
};
