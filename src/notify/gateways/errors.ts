/**
 * What went wrong with a send, in words the dispatcher and an operator can act on. Every adapter
 * throws a GatewayError (an SmsSendError, so the port's `retryable` is what the dispatcher reads);
 * the reason lets the failover gateway tell "this number cannot get an SMS" (stop) from "this
 * gateway cannot send right now" (try the next one).
 */
import { SmsSendError } from '../gateway.js';

export type FailureReason =
  /** Connection refused or reset, DNS failure: the request may not have left. */
  | 'network'
  /** No answer within the gateway timeout. */
  | 'timeout'
  /** The provider asked us to slow down (429, or its own throttling code). */
  | 'throttled'
  /** The provider or its upstream is failing (5xx, or its own "internal error" codes). */
  | 'unavailable'
  /** The account cannot send for now (out of credit) and an operator can fix it. */
  | 'account'
  /** The recipient cannot receive: invalid, unroutable, blacklisted or unsubscribed number. */
  | 'recipient'
  /** The provider rejected our credentials. */
  | 'credentials'
  /** The provider refused the request for another reason (bad sender id, malformed request...). */
  | 'rejected';

const RETRYABLE_BY_DEFAULT: Record<FailureReason, boolean> = {
  network: true,
  timeout: true,
  throttled: true,
  unavailable: true,
  account: true,
  recipient: false,
  credentials: false,
  rejected: false,
};

export interface GatewayErrorOptions {
  /** Overrides the reason's default (the webhook contract retries every non-2xx). */
  retryable?: boolean;
  /** HTTP status of the provider's answer, when there was one. */
  status?: number;
  /** The provider's own error or status code (Twilio 21211, Orange SVC0004, Africa's Talking 406). */
  providerCode?: string | number;
}

export class GatewayError extends SmsSendError {
  readonly providerCode: string | number | undefined;

  constructor(
    readonly gateway: string,
    readonly reason: FailureReason,
    detail: string,
    options: GatewayErrorOptions = {},
  ) {
    const retryable = options.retryable ?? RETRYABLE_BY_DEFAULT[reason];
    const facts = [
      options.providerCode === undefined ? undefined : `code ${options.providerCode}`,
      options.status === undefined ? undefined : `HTTP ${options.status}`,
    ].filter((fact) => fact !== undefined);
    super(
      `${gateway}: ${detail}${facts.length > 0 ? ` (${facts.join(', ')})` : ''}, ${retryable ? 'retryable' : 'permanent'}`,
      retryable,
      options.status,
    );
    this.name = 'GatewayError';
    this.providerCode = options.providerCode;
  }
}

/** True when the failure is about the recipient's number, so no other gateway would do better. */
export function isRecipientFailure(error: unknown): boolean {
  return error instanceof GatewayError && error.reason === 'recipient';
}

/** The reason an HTTP status implies when the provider says nothing more specific. */
export function reasonForStatus(status: number): FailureReason {
  if (status === 429) return 'throttled';
  if (status === 408 || status >= 500) return 'unavailable';
  if (status === 401 || status === 403) return 'credentials';
  return 'rejected';
}

/**
 * A provider's own explanation, safe to put in an error message: phone numbers are masked (error
 * texts such as Twilio's quote the number, and error messages end up in logs and outbox rows) and
 * the length is bounded. A provider that echoes the request's credentials (an `Authorization`
 * header, an API key or token) has them cut too: `Bearer`/`Basic` values, and any run of 16 or more
 * letters and digits mixed, which no explanation meant for people contains (docs/security.md).
 */
export function providerText(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const cleaned = text
    .replace(/\b(?:Bearer|Basic)\s+\S+/g, '[credentials]')
    .replace(/[A-Za-z0-9_+=-]{16,}/g, (run) => (/\d/.test(run) && /[A-Za-z]/.test(run) ? '[credentials]' : run))
    .replace(/\+?\d[\d\s().-]{5,}\d/g, '[number]')
    .replace(/\s+/g, ' ')
    .trim();
  if (cleaned === '') return undefined;
  return cleaned.length > 120 ? `${cleaned.slice(0, 117)}...` : cleaned;
}
