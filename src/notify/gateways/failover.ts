/**
 * Several gateways as one, tried in the configured order (`SMS_PROVIDER=orange,webhook`).
 *
 * - The first gateway that accepts the message wins.
 * - A failure of the gateway itself (down, throttled, credentials, out of credit) moves on to the
 *   next one.
 * - A failure about the number (invalid, blacklisted, unsubscribed) stops: no gateway will do
 *   better, and trying them all only spends credit.
 * - When every gateway failed, the error is retryable if any of the failures was, so the
 *   dispatcher comes back later and starts again from the first gateway.
 *
 * Moving on after a timeout can deliver twice (the first gateway may have accepted it without
 * answering in time): section 5 promises at least once, exactly once only as far as gateways allow.
 */
import { SmsSendError, type OutgoingSms, type SendReceipt, type SmsGateway } from '../gateway.js';
import { isRecipientFailure } from './errors.js';

/** The gateway that took a message, next to what it returned. */
export interface FailoverReceipt extends SendReceipt {
  gateway?: string;
}

export class FailoverGateway implements SmsGateway {
  readonly name: string;
  private readonly gateways: readonly SmsGateway[];

  constructor(gateways: readonly SmsGateway[]) {
    if (gateways.length === 0) throw new Error('FailoverGateway needs at least one gateway');
    this.gateways = [...gateways];
    this.name = this.gateways.map((gateway) => gateway.name).join('>');
  }

  async send(message: OutgoingSms): Promise<FailoverReceipt> {
    const failures: SmsSendError[] = [];
    for (const gateway of this.gateways) {
      try {
        const receipt = await gateway.send(message);
        return { ...receipt, gateway: gateway.name };
      } catch (error) {
        const failure = asSendError(gateway.name, error);
        if (isRecipientFailure(failure)) throw failure;
        failures.push(failure);
      }
    }
    const retryable = failures.some((failure) => failure.retryable);
    throw new SmsSendError(
      `${this.name}: every gateway failed, ${retryable ? 'retryable' : 'permanent'}: ${failures.map((f) => f.message).join('; ')}`,
      retryable,
      failures.at(-1)?.status,
    );
  }
}

/** A gateway that throws something else than SmsSendError has a bug; retry rather than drop. */
function asSendError(gatewayName: string, error: unknown): SmsSendError {
  if (error instanceof SmsSendError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new SmsSendError(`${gatewayName}: unexpected failure: ${detail}, retryable`, true);
}
