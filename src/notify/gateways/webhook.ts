/**
 * The `webhook` gateway of CONTRACT.md section 5, exactly:
 *
 *     POST $SMS_WEBHOOK_URL
 *     Authorization: Bearer $SMS_WEBHOOK_TOKEN        (when set)
 *     Content-Type: application/json
 *     {"id": "<message id, same on every retry>", "to": "+22376000001", "text": "..."}
 *
 * Any 2xx is delivery to the gateway; anything else, or no answer in 10 s, is retried. The contract
 * makes no exception for 4xx, so even a 401 or a 422 is retryable here: the receiver owns the
 * number check, and `id` lets it drop the duplicates that retries produce.
 */
import { z } from 'zod';
import { GATEWAY_TIMEOUT_MS, type OutgoingSms, type SendReceipt, type SmsGateway } from '../gateway.js';
import { defineSmsGateway, httpUrl } from './definition.js';
import { GatewayError, reasonForStatus } from './errors.js';
import { deadlineIn, httpRequest } from './http.js';

export interface WebhookGatewayOptions {
  /** SMS_WEBHOOK_URL. */
  url: string;
  /** SMS_WEBHOOK_TOKEN; no Authorization header when undefined or empty. */
  token?: string | undefined;
  /** Defaults to GATEWAY_TIMEOUT_MS (the contract's 10 s); tests pass less. */
  timeoutMs?: number;
}

export class WebhookGateway implements SmsGateway {
  readonly name = 'webhook';
  private readonly url: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;

  constructor(options: WebhookGatewayOptions) {
    this.url = options.url;
    this.token = options.token === '' ? undefined : options.token;
    this.timeoutMs = options.timeoutMs ?? GATEWAY_TIMEOUT_MS;
  }

  async send(message: OutgoingSms): Promise<SendReceipt> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.token !== undefined) headers.Authorization = `Bearer ${this.token}`;
    const answer = await httpRequest(
      this.name,
      this.url,
      { method: 'POST', headers, body: JSON.stringify({ id: message.id, to: message.to, text: message.text }) },
      deadlineIn(this.timeoutMs),
    );
    if (answer.status >= 200 && answer.status < 300) return {};
    throw new GatewayError(this.name, reasonForStatus(answer.status), 'the webhook did not accept the message', {
      retryable: true,
      status: answer.status,
    });
  }
}

export const webhookDefinition = defineSmsGateway({
  name: 'webhook',
  settings: {
    url: { env: 'SMS_WEBHOOK_URL', secret: false, schema: httpUrl() },
    token: { env: 'SMS_WEBHOOK_TOKEN', secret: true, schema: z.string().optional() },
  },
  create: (settings, deps) => new WebhookGateway({ ...settings, timeoutMs: deps.timeoutMs }),
});
