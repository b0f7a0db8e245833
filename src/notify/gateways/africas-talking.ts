/**
 * Africa's Talking SMS, "Sending messages" (bulk) as documented on developers.africastalking.com
 * and implemented by their official SDKs (africastalking-node `lib/sms.js`, `lib/common.js`):
 *
 *     POST https://api.africastalking.com/version1/messaging
 *     apiKey: <API key>
 *     Accept: application/json          (without it the API answers XML)
 *     Content-Type: application/x-www-form-urlencoded
 *     username=<app username>&to=+223...&message=...[&from=<sender id or short code>]
 *
 * It answers 201 Created with a status per recipient:
 * `{"SMSMessageData":{"Message":"Sent to 1/1 Total Cost: ...","Recipients":[{"statusCode":101,
 * "number":"+223...","status":"Success","cost":"...","messageId":"ATXid_..."}]}}`. Status codes:
 * 100 Processed, 101 Sent, 102 Queued (accepted); 401 RiskHold, 402 InvalidSenderId, 403
 * InvalidPhoneNumber, 404 UnsupportedNumberType, 405 InsufficientBalance, 406 UserInBlacklist, 407
 * CouldNotRoute, 409 DoNotDisturbRejection, 500 InternalServerError, 501 GatewayError, 502
 * RejectedByGateway. Bad credentials get HTTP 401 with the text "The supplied authentication is
 * invalid"; a missing form field gets HTTP 400. The sandbox is https://api.sandbox.africastalking.com.
 * The API has no idempotency key.
 */
import { z } from 'zod';
import { GATEWAY_TIMEOUT_MS, type OutgoingSms, type SendReceipt, type SmsGateway } from '../gateway.js';
import { defineSmsGateway, httpUrl } from './definition.js';
import { GatewayError, providerText, reasonForStatus, type FailureReason } from './errors.js';
import { deadlineIn, httpRequest, joinUrl } from './http.js';

export const AFRICAS_TALKING_BASE_URL = 'https://api.africastalking.com';
export const AFRICAS_TALKING_SANDBOX_URL = 'https://api.sandbox.africastalking.com';

export interface AfricasTalkingGatewayOptions {
  /** AT_USERNAME: the app's username (`sandbox` on the sandbox). */
  username: string;
  /** AT_API_KEY. */
  apiKey: string;
  /** AT_SENDER_ID: an approved sender id or short code; the account default when undefined. */
  senderId?: string | undefined;
  /** AT_BASE_URL; defaults to https://api.africastalking.com. */
  baseUrl?: string | undefined;
  timeoutMs?: number;
}

const ACCEPTED_STATUS_CODES = new Set([100, 101, 102]);

/** Recipient status codes that are not acceptance, and what each means for a retry. */
const RECIPIENT_FAILURES: Record<number, { reason: FailureReason; what: string }> = {
  401: { reason: 'rejected', what: 'account on risk hold' },
  402: { reason: 'rejected', what: 'sender id not valid for this account' },
  403: { reason: 'recipient', what: 'invalid recipient number' },
  404: { reason: 'recipient', what: 'recipient number type not supported' },
  405: { reason: 'account', what: 'insufficient balance' },
  406: { reason: 'recipient', what: 'recipient has blacklisted the sender' },
  // Another gateway may well have a route: permanent here, and the failover moves on.
  407: { reason: 'rejected', what: 'no route to the recipient' },
  409: { reason: 'recipient', what: 'recipient rejects messages (do not disturb)' },
  500: { reason: 'unavailable', what: "Africa's Talking internal error" },
  501: { reason: 'unavailable', what: 'operator gateway error' },
  502: { reason: 'unavailable', what: 'rejected by the operator gateway' },
};

const responseSchema = z.object({
  SMSMessageData: z.object({
    Message: z.string().optional(),
    Recipients: z.array(
      z.object({
        statusCode: z.coerce.number(),
        status: z.string().optional(),
        messageId: z.string().optional(),
      }),
    ),
  }),
});

export class AfricasTalkingGateway implements SmsGateway {
  readonly name = 'africastalking';
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: AfricasTalkingGatewayOptions) {
    this.baseUrl = options.baseUrl ?? AFRICAS_TALKING_BASE_URL;
    this.timeoutMs = options.timeoutMs ?? GATEWAY_TIMEOUT_MS;
  }

  async send(message: OutgoingSms): Promise<SendReceipt> {
    const form = new URLSearchParams({ username: this.options.username, to: message.to, message: message.text });
    if (this.options.senderId) form.set('from', this.options.senderId);
    const answer = await httpRequest(
      this.name,
      joinUrl(this.baseUrl, '/version1/messaging'),
      {
        method: 'POST',
        headers: {
          apiKey: this.options.apiKey,
          Accept: 'application/json',
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
      },
      deadlineIn(this.timeoutMs),
    );
    const status = answer.status;
    if (status < 200 || status >= 300) {
      const reason = reasonForStatus(status);
      const what =
        reason === 'credentials' ? 'username or API key rejected' : reason === 'rejected' ? 'request refused' : "Africa's Talking is failing";
      const said = reason === 'rejected' ? providerText(answer.text) : undefined;
      throw new GatewayError(this.name, reason, said ? `${what}: ${said}` : what, { status });
    }
    const parsed = responseSchema.safeParse(answer.json);
    if (!parsed.success) {
      throw new GatewayError(this.name, 'unavailable', 'unexpected answer (no SMSMessageData)', { status });
    }
    const recipient = parsed.data.SMSMessageData.Recipients[0];
    if (recipient === undefined) {
      // No recipient entry at all: the summary Message says why (e.g. "InvalidPhoneNumber").
      const summary = parsed.data.SMSMessageData.Message ?? '';
      if (/invalid\s*phone\s*number/i.test(summary)) {
        throw new GatewayError(this.name, 'recipient', 'invalid recipient number', { status });
      }
      throw new GatewayError(this.name, 'unavailable', `no recipient in the answer: ${providerText(summary) ?? 'no reason given'}`, {
        status,
      });
    }
    if (ACCEPTED_STATUS_CODES.has(recipient.statusCode)) {
      return recipient.messageId && recipient.messageId !== 'None' ? { providerMessageId: recipient.messageId } : {};
    }
    const failure = RECIPIENT_FAILURES[recipient.statusCode];
    throw new GatewayError(
      this.name,
      failure?.reason ?? 'rejected',
      failure?.what ?? `not sent: ${providerText(recipient.status) ?? 'unknown status'}`,
      { status, providerCode: recipient.statusCode },
    );
  }
}

export const africasTalkingDefinition = defineSmsGateway({
  name: 'africastalking',
  aliases: ['africas-talking', 'africas_talking'],
  settings: {
    username: { env: 'AT_USERNAME', secret: false, schema: z.string() },
    apiKey: { env: 'AT_API_KEY', secret: true, schema: z.string() },
    senderId: { env: 'AT_SENDER_ID', secret: false, schema: z.string().optional() },
    baseUrl: { env: 'AT_BASE_URL', secret: false, schema: httpUrl().default(AFRICAS_TALKING_BASE_URL) },
  },
  create: (settings, deps) => new AfricasTalkingGateway({ ...settings, timeoutMs: deps.timeoutMs }),
});
