/**
 * Local stand-ins for the SMS providers, each an HTTP server on 127.0.0.1 (a free port) that
 * checks authentication and request shape the way the provider documents it, answers in the
 * provider's own formats, and records what it accepted. A test switches a fake into a mode:
 *
 * - `success`: accepts (after the checks).
 * - `throttle`: the provider's rate-limit answer.
 * - `invalid-number`: the provider's documented answer for a number it cannot send to.
 * - `outage-500`, `outage-503`: the provider is failing.
 * - `hang`: reads the request and never answers, for the gateway timeout.
 *
 * Authentication and request-shape checks come first, as at the real providers, so a test with bad
 * credentials gets the auth error whatever the mode. Sources of each format are in the adapters'
 * header comments (src/notify/gateways/*.ts).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeMode = 'success' | 'throttle' | 'invalid-number' | 'outage-500' | 'outage-503' | 'hang';

export interface RecordedRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  /** An object is sent as JSON; a string as text/plain. */
  body?: unknown;
  contentType?: string;
}

/** Shared plumbing: a server, every request recorded, hanging requests released on close. */
export abstract class FakeSmsProvider {
  mode: FakeMode = 'success';
  /** Every request received, accepted or not, in order. */
  readonly requests: RecordedRequest[] = [];
  /** The requests that delivered a message, in order. */
  readonly accepted: RecordedRequest[] = [];
  private server: Server | undefined;
  private baseUrl = '';
  private readonly scripted: Reply[] = [];

  /** Base URL to give the adapter, e.g. http://127.0.0.1:41234 (no trailing slash). */
  get url(): string {
    return this.baseUrl;
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      void this.receive(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections(); // includes the requests a hang left open
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets what was recorded and goes back to success; for a beforeEach. */
  reset(): void {
    this.mode = 'success';
    this.requests.length = 0;
    this.accepted.length = 0;
    this.scripted.length = 0;
  }

  /**
   * The next request, whatever it is, gets this answer instead of the fake's own, for a provider
   * answer no mode covers (a particular error code). Queued answers are used in order.
   */
  respondNext(reply: Reply): void {
    this.scripted.push(reply);
  }

  protected abstract handle(request: RecordedRequest): Reply | 'hang';

  private async receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: RecordedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(request);
    const reply = this.scripted.shift() ?? this.handle(request);
    if (reply === 'hang') return;
    const isText = typeof reply.body === 'string';
    const payload = reply.body === undefined ? '' : isText ? (reply.body as string) : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      'Content-Type': reply.contentType ?? (isText ? 'text/plain; charset=utf-8' : 'application/json'),
      'Content-Length': Buffer.byteLength(payload),
    });
    res.end(payload);
  }

  /** The answer a mode calls for, or undefined in `success` mode. */
  protected modeReply(replies: Record<Exclude<FakeMode, 'success' | 'hang'>, Reply>, mode: FakeMode = this.mode): Reply | 'hang' | undefined {
    if (mode === 'success') return undefined;
    if (mode === 'hang') return 'hang';
    return replies[mode];
  }

  protected accept(request: RecordedRequest, reply: Reply): Reply {
    this.accepted.push(request);
    return reply;
  }
}

const E164 = /^\+[1-9]\d{7,14}$/;

function header(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

function isForm(request: RecordedRequest): boolean {
  return (header(request, 'content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

function isJson(request: RecordedRequest): boolean {
  return (header(request, 'content-type') ?? '').toLowerCase().startsWith('application/json');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

// ---------------------------------------------------------------------------------------------
// webhook (CONTRACT.md section 5)

export interface FakeWebhookOptions {
  /** When set, requests must carry `Authorization: Bearer <token>`. */
  token?: string;
  path?: string;
}

/**
 * A receiver of the contract's webhook. It drops a message whose `id` it already accepted (still
 * answering 200), which is what the stable id is for, so `accepted` holds each message once and
 * `requests` shows every attempt.
 */
export class FakeWebhook extends FakeSmsProvider {
  readonly path: string;
  private readonly seenIds = new Set<string>();

  constructor(private readonly options: FakeWebhookOptions = {}) {
    super();
    this.path = options.path ?? '/sms';
  }

  /** The URL for SMS_WEBHOOK_URL. */
  get endpoint(): string {
    return `${this.url}${this.path}`;
  }

  override reset(): void {
    super.reset();
    this.seenIds.clear();
  }

  protected handle(request: RecordedRequest): Reply | 'hang' {
    if (request.method !== 'POST' || request.path.split('?')[0] !== this.path) return { status: 404, body: { error: 'not found' } };
    if (this.options.token !== undefined && header(request, 'authorization') !== `Bearer ${this.options.token}`) {
      return { status: 401, body: { error: 'unauthorized' } };
    }
    if (!isJson(request)) return { status: 415, body: { error: 'expected application/json' } };
    const body = parseJson(request.body);
    const keys = typeof body === 'object' && body !== null ? Object.keys(body).sort() : [];
    const fields = body as Record<string, unknown>;
    if (keys.join(',') !== 'id,text,to' || !['id', 'to', 'text'].every((key) => typeof fields[key] === 'string')) {
      return { status: 400, body: { error: 'expected exactly {"id","to","text"} as strings' } };
    }
    const moded = this.modeReply({
      throttle: { status: 429, body: { error: 'too many requests' } },
      'invalid-number': { status: 422, body: { error: 'invalid number' } },
      'outage-500': { status: 500, body: { error: 'internal error' } },
      'outage-503': { status: 503, body: { error: 'unavailable' } },
    });
    if (moded !== undefined) return moded;
    const id = fields.id as string;
    if (this.seenIds.has(id)) return { status: 200, body: { status: 'duplicate' } };
    this.seenIds.add(id);
    return this.accept(request, { status: 200, body: { status: 'accepted' } });
  }
}

// ---------------------------------------------------------------------------------------------
// Orange SMS API

export interface FakeOrangeOptions {
  clientId: string;
  clientSecret: string;
  /** tel:+2230000 */
  senderAddress: string;
  /** Lifetime announced in expires_in; the fake itself only expires tokens through revokeTokens(). */
  tokenLifetimeS?: number;
}

const ORANGE_SEND_PATH = /^\/smsmessaging\/v1\/outbound\/([^/]+)\/requests$/;

export class FakeOrange extends FakeSmsProvider {
  /** Mode of the token endpoint, separate from the SMS endpoint's `mode`. */
  tokenMode: FakeMode = 'success';
  private validTokens = new Set<string>();
  private issued = 0;

  constructor(private readonly options: FakeOrangeOptions) {
    super();
  }

  /** How many tokens the token endpoint handed out. */
  get tokensIssued(): number {
    return this.issued;
  }

  /** Orange ends every token early (they then get 401 code 42 "Expired credentials"). */
  revokeTokens(): void {
    this.validTokens.clear();
  }

  override reset(): void {
    super.reset();
    this.tokenMode = 'success';
    this.validTokens.clear();
    this.issued = 0;
  }

  protected handle(request: RecordedRequest): Reply | 'hang' {
    if (request.method === 'POST' && request.path === '/oauth/v3/token') return this.token(request);
    const send = ORANGE_SEND_PATH.exec(request.path);
    if (request.method === 'POST' && send) return this.send(request, decodeURIComponent(send[1] ?? ''));
    return { status: 404, body: { code: 60, message: 'Resource not found', description: 'Unknown resource' } };
  }

  private token(request: RecordedRequest): Reply | 'hang' {
    if (header(request, 'authorization') !== basic(this.options.clientId, this.options.clientSecret)) {
      return { status: 401, body: { code: 41, message: 'Invalid credentials', description: 'Invalid credentials: client id or secret' } };
    }
    if (!(header(request, 'accept') ?? '').includes('application/json')) {
      return { status: 406, body: { code: 406, message: 'Not Acceptable', description: 'Accept: application/json is required' } };
    }
    if (!isForm(request) || new URLSearchParams(request.body).get('grant_type') !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: 'grant_type must be client_credentials' } };
    }
    const moded = this.modeReply(ORANGE_MODE_REPLIES, this.tokenMode);
    if (moded !== undefined) return moded;
    const accessToken = `orange-fake-${++this.issued}-${randomBytes(6).toString('hex')}`;
    this.validTokens.add(accessToken);
    // As on the SMS getting-started page: a string.
    return { status: 200, body: { token_type: 'Bearer', access_token: accessToken, expires_in: String(this.options.tokenLifetimeS ?? 3600) } };
  }

  private send(request: RecordedRequest, pathSender: string): Reply | 'hang' {
    const authorization = header(request, 'authorization');
    if (!authorization?.startsWith('Bearer ')) {
      return { status: 401, body: { code: 40, message: 'Missing credentials', description: 'Bearer token expected' } };
    }
    if (!this.validTokens.has(authorization.slice('Bearer '.length))) {
      return { status: 401, body: { code: 42, message: 'Expired credentials', description: 'The access token is expired or revoked' } };
    }
    if (!isJson(request)) return serviceException(400, 'SVC0001', 'A service error occurred. Error code is %1', ['Content-Type']);
    const parsed = parseJson(request.body) as { outboundSMSMessageRequest?: Record<string, unknown> } | undefined;
    const sms = parsed?.outboundSMSMessageRequest;
    if (sms === undefined || typeof sms !== 'object') {
      return serviceException(400, 'SVC0002', 'Invalid input value for message part %1', ['outboundSMSMessageRequest']);
    }
    if (pathSender !== this.options.senderAddress || sms.senderAddress !== pathSender) {
      return serviceException(400, 'SVC0002', 'Invalid input value for message part %1', ['senderAddress']);
    }
    const text = (sms.outboundSMSTextMessage as { message?: unknown } | undefined)?.message;
    if (typeof text !== 'string' || text === '') {
      return serviceException(400, 'SVC0002', 'Invalid input value for message part %1', ['outboundSMSTextMessage.message']);
    }
    const addresses = Array.isArray(sms.address) ? (sms.address as unknown[]) : [sms.address];
    if (!addresses.every((a) => typeof a === 'string' && a.startsWith('tel:') && E164.test(a.slice(4)))) {
      return serviceException(400, 'SVC0004', 'No valid addresses provided in message part %1', ['address']);
    }
    const moded = this.modeReply(ORANGE_MODE_REPLIES);
    if (moded !== undefined) return moded;
    const resourceURL = `${this.url}/smsmessaging/v1/outbound/${encodeURIComponent(pathSender)}/requests/${randomUUID()}`;
    return this.accept(request, { status: 201, body: { outboundSMSMessageRequest: { ...sms, resourceURL } } });
  }
}

function serviceException(status: number, messageId: string, text: string, variables: string[]): Reply {
  return { status, body: { requestError: { serviceException: { messageId, text, variables } } } };
}

const ORANGE_MODE_REPLIES = {
  throttle: { status: 429, body: { code: 53, message: 'Too many requests', description: 'The application has made too many calls' } },
  'invalid-number': serviceException(400, 'SVC0004', 'No valid addresses provided in message part %1', ['address']),
  'outage-500': { status: 500, body: { code: 1, message: 'Internal error', description: 'An internal error occurred' } },
  'outage-503': { status: 503, body: { code: 5, message: 'The service is temporarily unavailable', description: 'Try later' } },
} satisfies Record<Exclude<FakeMode, 'success' | 'hang'>, Reply>;

// ---------------------------------------------------------------------------------------------
// Africa's Talking

export interface FakeAfricasTalkingOptions {
  username: string;
  apiKey: string;
}

export class FakeAfricasTalking extends FakeSmsProvider {
  constructor(private readonly options: FakeAfricasTalkingOptions) {
    super();
  }

  protected handle(request: RecordedRequest): Reply | 'hang' {
    if (request.method !== 'POST' || request.path !== '/version1/messaging') return { status: 404, body: 'Not Found' };
    const form = new URLSearchParams(isForm(request) ? request.body : '');
    if (header(request, 'apikey') !== this.options.apiKey || form.get('username') !== this.options.username) {
      return { status: 401, body: 'The supplied authentication is invalid' };
    }
    for (const field of ['to', 'message']) {
      if (!form.get(field)) return { status: 400, body: `Request is missing required form field '${field}'` };
    }
    const to = form.get('to') ?? '';
    const moded = this.modeReply({
      // Africa's Talking does not document a throttling answer; a plain 429 is what a rate limiter
      // in front of it would send.
      throttle: { status: 429, body: 'Too Many Requests' },
      'invalid-number': { status: 201, body: atResponse(to, 403, 'InvalidPhoneNumber') },
      'outage-500': { status: 500, body: 'Internal Server Error' },
      'outage-503': { status: 503, body: 'Service Unavailable' },
    });
    if (moded !== undefined) return moded;
    if (!E164.test(to)) return { status: 201, body: atResponse(to, 403, 'InvalidPhoneNumber') };
    // Without Accept: application/json the API still sends, but answers XML, which a JSON client
    // cannot read.
    if (!(header(request, 'accept') ?? '').includes('application/json')) {
      return this.accept(request, {
        status: 201,
        contentType: 'application/xml',
        body: '<AfricasTalkingResponse><SMSMessageData><Message>Sent to 1/1</Message></SMSMessageData></AfricasTalkingResponse>',
      });
    }
    return this.accept(request, { status: 201, body: atResponse(to, 101, 'Success') });
  }
}

function atResponse(number: string, statusCode: number, status: string): unknown {
  const sent = statusCode >= 100 && statusCode <= 102;
  return {
    SMSMessageData: {
      Message: sent ? 'Sent to 1/1 Total Cost: XOF 20.0000' : 'Sent to 0/1 Total Cost: 0',
      Recipients: [
        {
          statusCode,
          number,
          status,
          cost: sent ? 'XOF 20.0000' : '0',
          messageId: sent ? `ATXid_${randomBytes(16).toString('hex')}` : 'None',
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Twilio

export interface FakeTwilioOptions {
  accountSid: string;
  authToken: string;
}

const TWILIO_MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

export class FakeTwilio extends FakeSmsProvider {
  constructor(private readonly options: FakeTwilioOptions) {
    super();
  }

  protected handle(request: RecordedRequest): Reply | 'hang' {
    const path = TWILIO_MESSAGES_PATH.exec(request.path);
    if (request.method !== 'POST' || !path) return twilioError(404, 20404, 'The requested resource was not found');
    if (header(request, 'authorization') !== basic(this.options.accountSid, this.options.authToken) || path[1] !== this.options.accountSid) {
      return twilioError(401, 20003, 'Authenticate');
    }
    const form = new URLSearchParams(isForm(request) ? request.body : '');
    const to = form.get('To');
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!form.get('From') && !form.get('MessagingServiceSid')) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!form.get('Body')) return twilioError(400, 21602, 'Message body is required.');
    const invalidTo = twilioError(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    const moded = this.modeReply({
      throttle: twilioError(429, 20429, 'Too Many Requests'),
      'invalid-number': invalidTo,
      'outage-500': twilioError(500, 20500, 'An internal server error has occurred'),
      'outage-503': twilioError(503, 20503, 'Service unavailable'),
    });
    if (moded !== undefined) return moded;
    if (!E164.test(to)) return invalidTo;
    const sid = `SM${randomBytes(16).toString('hex')}`;
    return this.accept(request, {
      status: 201,
      body: {
        sid,
        account_sid: this.options.accountSid,
        to,
        from: form.get('From'),
        messaging_service_sid: form.get('MessagingServiceSid'),
        body: form.get('Body'),
        status: 'queued',
        direction: 'outbound-api',
        api_version: '2010-04-01',
        error_code: null,
        error_message: null,
        uri: `/2010-04-01/Accounts/${this.options.accountSid}/Messages/${sid}.json`,
      },
    });
  }
}

function twilioError(status: number, code: number, message: string): Reply {
  return { status, body: { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status } };
}
