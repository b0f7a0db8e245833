/**
 * Orange "SMS Africa and Middle East" API (covers Mali), as documented on Orange Developer:
 *
 * - Token, 2-legged OAuth 2.0 (developer.orange.com, "OAuth M2M in a nutshell" / SMS getting
 *   started): `POST https://api.orange.com/oauth/v3/token` with `Authorization: Basic
 *   base64(client_id:client_secret)`, `Content-Type: application/x-www-form-urlencoded`,
 *   `Accept: application/json`, body `grant_type=client_credentials`; answers 200
 *   `{"token_type":"Bearer","access_token":"...","expires_in":"3600"}` (the getting-started page
 *   quotes expires_in as a string; one hour).
 * - Send (SMS API getting started, "Send SMS"): `POST
 *   https://api.orange.com/smsmessaging/v1/outbound/{senderAddress}/requests` with the sender in
 *   the path URL-encoded (`tel%3A%2B2230000`), `Authorization: Bearer <token>`, JSON body
 *   `{"outboundSMSMessageRequest":{"address":"tel:+223...","senderAddress":"tel:+2230000",
 *   "outboundSMSTextMessage":{"message":"..."},"senderName":"..."}}` (senderName only when Orange
 *   registered one for the account); answers 201 Created echoing the request plus a
 *   `resourceURL` ending in the request id.
 * - Errors ("Best practices for API error handling"): `{"code":41,"message":"Invalid
 *   credentials",...}` with 401 for code 40 (missing), 41 (invalid), 42 (expired token); 403
 *   code 50 access denied; code 53 too many requests; 503 code 5 service unavailable. API errors
 *   use the OneAPI form `{"requestError":{"serviceException":{"messageId":"SVC0004","text":"No
 *   valid addresses provided in message part %1","variables":["address"]}}}` (or
 *   `policyException`, POLxxxx).
 *
 * The token is cached until a minute before it expires, fetched once for concurrent sends, and
 * refreshed once when a send is answered 401 (Orange may revoke a token early). Orange documents
 * no idempotency key for this API, so a retry after a lost answer can send twice.
 */
import { z } from 'zod';
import { GATEWAY_TIMEOUT_MS, type OutgoingSms, type SendReceipt, type SmsGateway } from '../gateway.js';
import { defineSmsGateway, httpUrl } from './definition.js';
import { GatewayError, providerText } from './errors.js';
import { basicAuth, deadlineIn, httpRequest, joinUrl, type Deadline, type HttpAnswer } from './http.js';

export const ORANGE_BASE_URL = 'https://api.orange.com';
/** Refresh this long before the announced expiry, so a token never dies in flight. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;
/** Orange's "too many requests" code, seen with 403 in its error table and with 429. */
const ORANGE_THROTTLED_CODE = 53;

export interface OrangeGatewayOptions {
  /** ORANGE_CLIENT_ID. */
  clientId: string;
  /** ORANGE_CLIENT_SECRET. */
  clientSecret: string;
  /** ORANGE_SENDER: the sender address, `tel:+2230000` (or `+2230000`). */
  senderAddress: string;
  /** ORANGE_SENDER_NAME: a sender name Orange registered for the account, if any. */
  senderName?: string | undefined;
  /** ORANGE_BASE_URL; defaults to https://api.orange.com. */
  baseUrl?: string | undefined;
  timeoutMs?: number;
  /** For the token's expiry; defaults to the system clock. */
  clock?: { now(): number };
}

const tokenSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().optional(),
  // Documented as "3600" (a string) on one page and as a number on others.
  expires_in: z.coerce.number().positive().optional(),
});

const gatewayErrorSchema = z.object({ code: z.coerce.number(), message: z.string().optional() });
const requestErrorSchema = z.object({
  requestError: z.object({
    serviceException: z
      .object({ messageId: z.string(), text: z.string().optional(), variables: z.array(z.string()).optional() })
      .optional(),
    policyException: z
      .object({ messageId: z.string(), text: z.string().optional(), variables: z.array(z.string()).optional() })
      .optional(),
  }),
});
const createdSchema = z.object({
  outboundSMSMessageRequest: z.object({ resourceURL: z.string().optional() }).optional(),
});

interface CachedToken {
  accessToken: string;
  expiresAtMs: number;
}

export class OrangeGateway implements SmsGateway {
  readonly name = 'orange';
  private readonly baseUrl: string;
  private readonly senderAddress: string;
  private readonly timeoutMs: number;
  private readonly clock: { now(): number };
  private token: CachedToken | undefined;
  private tokenInFlight: Promise<CachedToken> | undefined;

  constructor(private readonly options: OrangeGatewayOptions) {
    this.baseUrl = options.baseUrl ?? ORANGE_BASE_URL;
    this.senderAddress = telUri(options.senderAddress);
    this.timeoutMs = options.timeoutMs ?? GATEWAY_TIMEOUT_MS;
    this.clock = options.clock ?? { now: () => Date.now() };
  }

  async send(message: OutgoingSms): Promise<SendReceipt> {
    const deadline = deadlineIn(this.timeoutMs);
    let token = await this.currentToken(deadline);
    let answer = await this.post(message, token.accessToken, deadline);
    if (answer.status === 401) {
      // Revoked or expired before its time: one fresh token, one more try, then it is the
      // credentials themselves.
      this.forget(token);
      token = await this.currentToken(deadline);
      answer = await this.post(message, token.accessToken, deadline);
    }
    if (answer.status >= 200 && answer.status < 300) {
      const created = createdSchema.safeParse(answer.json);
      const resourceUrl = created.success ? created.data.outboundSMSMessageRequest?.resourceURL : undefined;
      return resourceUrl ? { providerMessageId: resourceUrl.slice(resourceUrl.lastIndexOf('/') + 1) } : {};
    }
    throw this.sendError(answer);
  }

  private post(message: OutgoingSms, accessToken: string, deadline: Deadline): Promise<HttpAnswer> {
    const request: Record<string, unknown> = {
      address: telUri(message.to),
      senderAddress: this.senderAddress,
      outboundSMSTextMessage: { message: message.text },
    };
    if (this.options.senderName) request.senderName = this.options.senderName;
    return httpRequest(
      this.name,
      joinUrl(this.baseUrl, `/smsmessaging/v1/outbound/${encodeURIComponent(this.senderAddress)}/requests`),
      {
        method: 'POST',
        headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ outboundSMSMessageRequest: request }),
      },
      deadline,
    );
  }

  private async currentToken(deadline: Deadline): Promise<CachedToken> {
    if (this.token && this.clock.now() < this.token.expiresAtMs - TOKEN_REFRESH_MARGIN_MS) return this.token;
    // Concurrent sends share one token request.
    this.tokenInFlight ??= this.fetchToken(deadline).finally(() => {
      this.tokenInFlight = undefined;
    });
    return this.tokenInFlight;
  }

  private forget(token: CachedToken): void {
    if (this.token === token) this.token = undefined;
  }

  private async fetchToken(deadline: Deadline): Promise<CachedToken> {
    const answer = await httpRequest(
      this.name,
      joinUrl(this.baseUrl, '/oauth/v3/token'),
      {
        method: 'POST',
        headers: {
          Authorization: basicAuth(this.options.clientId, this.options.clientSecret),
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
      },
      deadline,
    );
    if (answer.status !== 200) throw this.tokenError(answer);
    const parsed = tokenSchema.safeParse(answer.json);
    if (!parsed.success) {
      throw new GatewayError(this.name, 'unavailable', 'the token endpoint answered without a usable access_token', {
        status: answer.status,
      });
    }
    const lifetimeS = parsed.data.expires_in ?? 3600;
    this.token = { accessToken: parsed.data.access_token, expiresAtMs: this.clock.now() + lifetimeS * 1000 };
    return this.token;
  }

  private tokenError(answer: HttpAnswer): GatewayError {
    const code = gatewayErrorSchema.safeParse(answer.json);
    const providerCode = code.success ? code.data.code : undefined;
    const status = answer.status;
    if (status === 429 || providerCode === ORANGE_THROTTLED_CODE) {
      return new GatewayError(this.name, 'throttled', 'token requests are rate limited', { status, providerCode });
    }
    if (status >= 500) return new GatewayError(this.name, 'unavailable', 'the token endpoint is failing', { status, providerCode });
    if (status === 401 || status === 403) {
      return new GatewayError(this.name, 'credentials', 'client id or secret rejected by the token endpoint', { status, providerCode });
    }
    return new GatewayError(this.name, 'rejected', 'token request refused', { status, providerCode });
  }

  private sendError(answer: HttpAnswer): GatewayError {
    const status = answer.status;
    const gatewayError = gatewayErrorSchema.safeParse(answer.json);
    const requestError = requestErrorSchema.safeParse(answer.json);
    const exception = requestError.success
      ? (requestError.data.requestError.serviceException ?? requestError.data.requestError.policyException)
      : undefined;
    const providerCode = exception?.messageId ?? (gatewayError.success ? gatewayError.data.code : undefined);
    const said = providerText(exception?.text ?? (gatewayError.success ? gatewayError.data.message : undefined));
    const detail = (what: string) => (said ? `${what}: ${said}` : what);

    if (status === 429 || providerCode === ORANGE_THROTTLED_CODE) {
      return new GatewayError(this.name, 'throttled', 'too many requests', { status, providerCode });
    }
    if (status >= 500) return new GatewayError(this.name, 'unavailable', detail('Orange is failing'), { status, providerCode });
    if (status === 401) {
      return new GatewayError(this.name, 'credentials', 'access token refused twice, credentials rejected', { status, providerCode });
    }
    if (providerCode === 'SVC0004' || (providerCode === 'SVC0002' && exception?.variables?.some((v) => /address/i.test(v)))) {
      return new GatewayError(this.name, 'recipient', 'invalid recipient number', { status, providerCode });
    }
    if (status === 403 && exception === undefined) {
      return new GatewayError(this.name, 'credentials', detail('access denied'), { status, providerCode });
    }
    return new GatewayError(this.name, 'rejected', detail('request refused'), { status, providerCode });
  }
}

/** `+2230000` or `tel:+2230000` → `tel:+2230000`, the OneAPI address form Orange expects. */
function telUri(number: string): string {
  return number.startsWith('tel:') ? number : `tel:${number}`;
}

export const orangeDefinition = defineSmsGateway({
  name: 'orange',
  settings: {
    senderAddress: {
      env: 'ORANGE_SENDER',
      secret: false,
      schema: z.string().regex(/^(tel:)?\+\d{4,15}$/, 'must be the sender address Orange gave the account, such as tel:+2230000'),
    },
    clientId: { env: 'ORANGE_CLIENT_ID', secret: false, schema: z.string() },
    clientSecret: { env: 'ORANGE_CLIENT_SECRET', secret: true, schema: z.string() },
    senderName: { env: 'ORANGE_SENDER_NAME', secret: false, schema: z.string().optional() },
    baseUrl: { env: 'ORANGE_BASE_URL', secret: false, schema: httpUrl().default(ORANGE_BASE_URL) },
  },
  create: (settings, deps) => new OrangeGateway({ ...settings, timeoutMs: deps.timeoutMs, clock: deps.clock }),
});
