/**
 * The SMS gateway port: what the dispatcher needs of a provider. Each adapter speaks one
 * provider's documented HTTP API; the dispatcher retries what is retryable and records the rest.
 */

export interface OutgoingSms {
  /** Stable across retries, so a provider (or the webhook) can drop a duplicate. */
  id: string;
  /** E.164, e.g. +22376000001. */
  to: string;
  /** At most 160 GSM-7 characters (one segment). */
  text: string;
}

export interface SendReceipt {
  /** The provider's own id for the message, when it gives one. */
  providerMessageId?: string;
}

/**
 * A send that did not reach the gateway. Retryable: timeouts, throttling (429), 5xx, network
 * errors. Permanent: the number is invalid or refused, the credentials are rejected.
 */
export class SmsSendError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SmsSendError';
  }
}

export interface SmsGateway {
  readonly name: string;
  /** Resolves once the gateway accepted the message; rejects with SmsSendError. */
  send(message: OutgoingSms): Promise<SendReceipt>;
}

/** How long any gateway call may take before it counts as failed (and retryable). */
export const GATEWAY_TIMEOUT_MS = 10_000;
