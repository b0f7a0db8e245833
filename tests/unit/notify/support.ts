/** Test doubles and builders shared by the notify unit tests. */
import type { z } from 'zod';
import type { boreholeSchema } from '../../../src/config/registry.js';
import { SmsSendError, type OutgoingSms, type SendReceipt, type SmsGateway } from '../../../src/notify/gateway.js';

/** A registry entry as written in the registry file (before the schema fills defaults). */
export type BoreholeEntryInput = z.input<typeof boreholeSchema>;

/**
 * The 'khabou' registry entry the notify tests share; each test file passes its own committee,
 * technician, rules or any other field as overrides (a shallow merge).
 */
export function boreholeEntry(overrides: Partial<BoreholeEntryInput> = {}): BoreholeEntryInput {
  return {
    id: 'khabou',
    name: 'Forage de Khabou',
    village: 'Khabou',
    commune: 'Kayes',
    region: 'Kayes',
    location: { lat: 14.4469, lon: -11.4445 },
    pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
    committee: {
      language: 'fr',
      contacts: [
        { name: 'President du comite', phone: '+22376000001' },
        { name: 'Tresoriere', phone: '+22366000002' },
      ],
    },
    technician: { name: 'Technicien de Kayes', phone: '+22379000003' },
    ...overrides,
  };
}

/** The SmsGateway port, recording every call; told to fail the next sends when a test asks. */
export class RecordingGateway implements SmsGateway {
  readonly name = 'test';
  /** Every call, accepted or not, in order. */
  readonly calls: OutgoingSms[] = [];
  /** The calls the gateway accepted. */
  readonly delivered: OutgoingSms[] = [];
  private readonly failures: { to: string | undefined; error: () => Error; left: number }[] = [];

  /** The next `times` sends (to `to`, or to anyone) fail, retryably or for good. */
  failNext(times: number, options: { retryable: boolean; to?: string }): void {
    const error = options.retryable
      ? () => new SmsSendError('test: the gateway is unavailable (HTTP 503), retryable', true, 503)
      : () => new SmsSendError('test: invalid number (HTTP 400), permanent', false, 400);
    this.failures.push({ to: options.to, error, left: times });
  }

  /** The gateway is back: the failures still planned are forgotten. */
  recover(): void {
    this.failures.length = 0;
  }

  /** The next send to `to` throws this error (not an SmsSendError: a bug or a transport surprise). */
  throwNext(to: string, error: Error): void {
    this.failures.push({ to, error: () => error, left: 1 });
  }

  async send(message: OutgoingSms): Promise<SendReceipt> {
    this.calls.push({ ...message });
    const failure = this.failures.find((f) => f.left > 0 && (f.to === undefined || f.to === message.to));
    if (failure) {
      failure.left -= 1;
      throw failure.error();
    }
    this.delivered.push({ ...message });
    return { providerMessageId: `test-${this.delivered.length}` };
  }

  /** The messages delivered to `phone`. */
  to(phone: string): OutgoingSms[] {
    return this.delivered.filter((m) => m.to === phone);
  }

  /** Every call to `phone`, accepted or not. */
  callsTo(phone: string): OutgoingSms[] {
    return this.calls.filter((m) => m.to === phone);
  }
}
