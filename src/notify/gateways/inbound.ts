/**
 * Replies (two-way SMS) as each gateway delivers them, parsed into one shape. Pure functions: the
 * HTTP route authenticates the request and hands the decoded body here.
 *
 * - webhook (CONTRACT.md section 5): JSON `{"from": "+223...", "text": "...", "id": "..."}` (`id`
 *   optional: the gateway's id of the message, for deduplication), authenticated by the route
 *   with `Authorization: Bearer $SMS_INBOUND_TOKEN`.
 * - Twilio (twilio.com/docs/messaging/guides/webhook-request): a form POST with `From`, `To`,
 *   `Body`, `MessageSid` and more, signed with `X-Twilio-Signature` (see verifyTwilioSignature).
 * - Africa's Talking (developers.africastalking.com, SMS "Receiving messages" callback): a form POST
 *   with `from`, `to`, `text`, `date`, `id`, and `linkId` for premium products. The callback is not
 *   signed: protect its URL (a secret path or query parameter, or the provider's source addresses).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export interface InboundSms {
  /** The sender as the gateway spells it; the handler reads it as E.164 (src/domain/phone.ts). */
  from: string;
  text: string;
  /**
   * The provider's id of this inbound message, the same when the gateway delivers it again
   * (Twilio `MessageSid`, Africa's Talking `id`, the webhook form's optional `id`).
   */
  id?: string;
}

export type InboundParseResult = { ok: true; sms: InboundSms } | { ok: false; error: string };

/** A decoded form body (fastify's formbody, a raw `a=b&c=d` string, or URLSearchParams). */
export type FormBody = string | URLSearchParams | Record<string, unknown>;

// Gateways spell numbers their own way (`+223...`, `00223...`, `223...`, national): the handler
// reads the number; here only the characters of a phone number are required.
const sender = z
  .string()
  .transform((value) => value.trim())
  .pipe(z.string().regex(/^\(?\+?[0-9][0-9 ().-]*$/, 'must be a phone number such as +22376000001'));
// An empty id is no id (Africa's Talking sends empty optional fields).
const providerId = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim().slice(0, 200)));
// An empty text is still a message (the command parser ignores it), but the field must be there.
const text = z.string();

export const webhookInboundSchema = z.object({ from: sender, text, id: providerId });

export const twilioInboundSchema = z.object({
  From: sender,
  Body: text,
  To: z.string().optional(),
  MessageSid: providerId,
});

export const africasTalkingInboundSchema = z.object({
  from: sender,
  text,
  to: z.string().optional(),
  date: z.string().optional(),
  id: providerId,
  linkId: z.string().optional(),
});

export function parseWebhookInbound(body: unknown): InboundParseResult {
  return toResult('webhook', webhookInboundSchema.safeParse(body), (data) => withId({ from: data.from, text: data.text }, data.id));
}

export function parseTwilioInbound(form: FormBody): InboundParseResult {
  return toResult('Twilio', twilioInboundSchema.safeParse(formFields(form)), (data) => withId({ from: data.From, text: data.Body }, data.MessageSid));
}

export function parseAfricasTalkingInbound(form: FormBody): InboundParseResult {
  return toResult("Africa's Talking", africasTalkingInboundSchema.safeParse(formFields(form)), (data) => withId({ from: data.from, text: data.text }, data.id));
}

function withId(sms: InboundSms, id: string | undefined): InboundSms {
  return id === undefined ? sms : { ...sms, id };
}

function toResult<T>(source: string, parsed: z.ZodSafeParseResult<T>, pick: (data: T) => InboundSms): InboundParseResult {
  if (parsed.success) return { ok: true, sms: pick(parsed.data) };
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.map(String).join('.');
    // A missing field reads better than zod's "expected string, received undefined".
    const missing = issue.code === 'invalid_type' && /received undefined/.test(issue.message);
    return field === '' ? issue.message : `${field}: ${missing ? 'is missing' : issue.message}`;
  });
  return { ok: false, error: `malformed ${source} inbound SMS: ${problems.join('; ')}` };
}

/** One value per field; a repeated field keeps its first value, as form parsers commonly do. */
function formFields(form: FormBody): Record<string, unknown> {
  if (typeof form === 'string') return Object.fromEntries(new URLSearchParams(form));
  if (form instanceof URLSearchParams) return Object.fromEntries(form);
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(form)) fields[key] = Array.isArray(value) ? (value as unknown[])[0] : value;
  return fields;
}

/**
 * Twilio's request signature (twilio.com/docs/usage/webhooks/webhooks-security): take the full URL
 * Twilio called (scheme, host, path and query), append every POST parameter sorted by name, each
 * as name then value with no separator (a repeated name: each of its values, sorted), HMAC-SHA1
 * that with the auth token, base64; compare with `X-Twilio-Signature` in constant time.
 *
 * Like Twilio's own helper libraries, the URL is also tried with its default port added or removed,
 * since a proxy in front of the service may show it either way.
 */
export function verifyTwilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string | readonly string[] | undefined>>,
  signatureHeader: string | undefined,
): boolean {
  if (!signatureHeader || authToken === '') return false;
  const given = Buffer.from(signatureHeader, 'utf8');
  let valid = false;
  // Every candidate is computed and compared, so the time taken does not depend on which matched.
  for (const candidate of urlVariants(url)) {
    const expected = Buffer.from(twilioSignature(authToken, candidate, params), 'utf8');
    if (expected.length === given.length && timingSafeEqual(expected, given)) valid = true;
  }
  return valid;
}

export function twilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string | readonly string[] | undefined>>,
): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (value === undefined) continue;
    const values = typeof value === 'string' ? [value] : [...value].sort();
    for (const one of values) data += name + one;
  }
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

function urlVariants(url: string): string[] {
  const match = /^(https?):\/\/([^/?#]+)(.*)$/i.exec(url);
  const scheme = match?.[1]?.toLowerCase();
  const authority = match?.[2];
  if (scheme === undefined || authority === undefined) return [url];
  const rest = match?.[3] ?? '';
  const defaultPort = scheme === 'https' ? '443' : '80';
  const port = /^(.*):(\d+)$/.exec(authority);
  if (port === null) return [url, `${scheme}://${authority}:${defaultPort}${rest}`];
  return port[2] === defaultPort ? [url, `${scheme}://${port[1] ?? ''}${rest}`] : [url];
}
