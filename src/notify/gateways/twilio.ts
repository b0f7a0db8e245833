/**
 * Twilio Programmable Messaging, "Messages resource: Create a Message" (twilio.com/docs/messaging/
 * api/message-resource):
 *
 *     POST https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json
 *     Authorization: Basic base64(AccountSid:AuthToken)
 *     Content-Type: application/x-www-form-urlencoded
 *     To=+223...&From=<Twilio number or alphanumeric sender id>&Body=...
 *     (or MessagingServiceSid=MG... instead of From)
 *
 * It answers 201 Created with the Message resource (`sid` SM..., `status` "queued"/"accepted").
 * Errors are JSON `{"code":21211,"message":"The 'To' number ... is not a valid phone number.",
 * "more_info":"https://www.twilio.com/docs/errors/21211","status":400}`; the error dictionary
 * (twilio.com/docs/api/errors) gives 20003 authentication (401), 20429 too many requests (429),
 * 21211 invalid To, 21612 To not reachable, 21614 To not a mobile number, 21610 unsubscribed
 * recipient (STOP), 21408 region not enabled, 21606 From not SMS capable, 21608 unverified To on a
 * trial account. Twilio's REST API has no idempotency key for creating a message.
 */
import { z } from 'zod';
import { GATEWAY_TIMEOUT_MS, type OutgoingSms, type SendReceipt, type SmsGateway } from '../gateway.js';
import { defineSmsGateway, httpUrl } from './definition.js';
import { GatewayError, providerText, reasonForStatus } from './errors.js';
import { basicAuth, deadlineIn, httpRequest, joinUrl } from './http.js';

export const TWILIO_BASE_URL = 'https://api.twilio.com';

export interface TwilioGatewayOptions {
  /** TWILIO_ACCOUNT_SID (AC...). */
  accountSid: string;
  /** TWILIO_AUTH_TOKEN. */
  authToken: string;
  /** TWILIO_FROM: an E.164 Twilio number, an alphanumeric sender id, or a Messaging Service SID (MG...). */
  from: string;
  /** TWILIO_BASE_URL; defaults to https://api.twilio.com. */
  baseUrl?: string | undefined;
  timeoutMs?: number;
}

/** Error codes that say the recipient cannot get an SMS from anyone: the failover stops there. */
const RECIPIENT_CODES: Record<number, string> = {
  21211: 'invalid recipient number',
  21612: 'recipient number not reachable by SMS',
  21614: 'recipient number is not a mobile number',
  21610: 'recipient unsubscribed from this sender (replied STOP)',
};

const errorSchema = z.object({ code: z.coerce.number().optional(), message: z.string().optional() });
const messageSchema = z.object({ sid: z.string() });

/** Messaging Service SIDs are MG followed by 32 hex digits. */
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

export class TwilioGateway implements SmsGateway {
  readonly name = 'twilio';
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: TwilioGatewayOptions) {
    this.baseUrl = options.baseUrl ?? TWILIO_BASE_URL;
    this.timeoutMs = options.timeoutMs ?? GATEWAY_TIMEOUT_MS;
  }

  async send(message: OutgoingSms): Promise<SendReceipt> {
    const form = new URLSearchParams({ To: message.to, Body: message.text });
    if (MESSAGING_SERVICE_SID.test(this.options.from)) form.set('MessagingServiceSid', this.options.from);
    else form.set('From', this.options.from);
    const answer = await httpRequest(
      this.name,
      joinUrl(this.baseUrl, `/2010-04-01/Accounts/${encodeURIComponent(this.options.accountSid)}/Messages.json`),
      {
        method: 'POST',
        headers: {
          Authorization: basicAuth(this.options.accountSid, this.options.authToken),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
      },
      deadlineIn(this.timeoutMs),
    );
    const status = answer.status;
    if (status >= 200 && status < 300) {
      const created = messageSchema.safeParse(answer.json);
      return created.success ? { providerMessageId: created.data.sid } : {};
    }
    const body = errorSchema.safeParse(answer.json);
    const providerCode = body.success ? body.data.code : undefined;
    const recipientProblem = providerCode === undefined ? undefined : RECIPIENT_CODES[providerCode];
    if (recipientProblem !== undefined) {
      throw new GatewayError(this.name, 'recipient', recipientProblem, { status, providerCode });
    }
    if (status === 429 || providerCode === 20429) {
      throw new GatewayError(this.name, 'throttled', 'too many requests', { status, providerCode });
    }
    const reason = providerCode === 20003 ? 'credentials' : reasonForStatus(status);
    const what =
      reason === 'credentials'
        ? 'account SID or auth token rejected'
        : reason === 'unavailable'
          ? 'Twilio is failing'
          : `request refused: ${providerText(body.success ? body.data.message : undefined) ?? 'no reason given'}`;
    throw new GatewayError(this.name, reason, what, { status, providerCode });
  }
}

export const twilioDefinition = defineSmsGateway({
  name: 'twilio',
  settings: {
    accountSid: { env: 'TWILIO_ACCOUNT_SID', secret: false, schema: z.string() },
    authToken: { env: 'TWILIO_AUTH_TOKEN', secret: true, schema: z.string() },
    from: { env: 'TWILIO_FROM', secret: false, schema: z.string() },
    baseUrl: { env: 'TWILIO_BASE_URL', secret: false, schema: httpUrl().default(TWILIO_BASE_URL) },
  },
  create: (settings, deps) => new TwilioGateway({ ...settings, timeoutMs: deps.timeoutMs }),
});
