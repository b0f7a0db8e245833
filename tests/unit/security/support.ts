/**
 * Shared by the security suites: the real logger writing into memory, and the HTTP harness with
 * the real SMS reply handler behind the inbound routes (SQLite store and rules engine, as in the
 * service).
 */
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { AppDeps } from '../../../src/http/app.js';
import { createLogger, type LoggerOptions } from '../../../src/observability/logger.js';
import { InboundSmsHandler, type InboundOutcome } from '../../../src/notify/replies.js';
import { startHarness, type Harness } from '../http/harness.js';

export interface CapturedLog {
  log: Logger;
  lines: string[];
  /** Every line, joined: what an operator's log file would hold. */
  text(): string;
}

/** The service's own logger (createLogger, redaction included) writing to memory. */
export function captureLog(options: LoggerOptions = {}, level = 'trace'): CapturedLog {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger(level, sink, options), lines, text: () => lines.join('') };
}

export const INBOUND_TOKEN = 'sms-inbound-secret-0123456789abcdef';
export const TWILIO_AUTH_TOKEN = 'twilio-auth-token-0123456789abcdef';
export const PUBLIC_URL = 'https://boreholes.example.org';

/** Phones of the harness registry (tests/unit/http/harness.ts). */
export const PHONES = {
  khabouCommittee: '+22376000001',
  segalaCommittee: '+22376000011',
  /** The technician of every borehole of the harness registry. */
  technician: '+22379000003',
  unknown: '+22376000099',
} as const;

export interface SmsHarness extends Harness {
  /** SMS the handler answered, in order. */
  replies: { to: string; text: string }[];
  /** Every inbound SMS that reached the handler, with its outcome. */
  handled: { from: string; text: string; outcome: InboundOutcome }[];
}

export async function startSmsHarness(
  overrides: Partial<AppDeps> = {},
  sms: Partial<NonNullable<AppDeps['smsInbound']>> = {},
  /** Where the handler's answers go besides `replies` (the service's outbox, in the SSRF test). */
  onReply?: (to: string, text: string, replyTo: string) => void,
): Promise<SmsHarness> {
  const replies: SmsHarness['replies'] = [];
  const handled: SmsHarness['handled'] = [];
  let handler: InboundSmsHandler | null = null;
  const h = await startHarness({
    smsInbound: {
      inboundToken: INBOUND_TOKEN,
      twilioAuthToken: TWILIO_AUTH_TOKEN,
      publicUrl: PUBLIC_URL,
      handle: (message) => {
        if (!handler) throw new Error('handler not ready');
        const outcome = handler.handle(message);
        handled.push({ ...message, outcome });
        return outcome;
      },
      ...sms,
    },
    ...overrides,
  });
  handler = new InboundSmsHandler({
    registry: h.registry,
    now: () => h.clock.nowMs,
    log: overrides.log ?? captureLog({}, 'silent').log,
    defaultRegion: 'ML',
    ports: {
      desk: h.desk,
      unresolvedAlerts: (boreholeIds) => h.store.listAlerts({ state: 'unresolved', boreholeIds, limit: 1000, offset: 0 }).alerts,
      lastHeardAtMs: (boreholeId) => h.engine.stateOf(boreholeId)?.lastHeardAtMs ?? null,
      record: (at, sender, text, outcome, incidentId) => h.store.recordInboundSms(at, sender, text, outcome, incidentId ?? null),
      reply: (to, text, replyTo) => {
        replies.push({ to, text });
        onReply?.(to, text, replyTo);
      },
      claimInboundSms: (key, at, windowMs, retentionMs) => h.store.claimInboundSms(key, at, windowMs, retentionMs),
      releaseInboundSms: (key) => h.store.releaseInboundSms(key),
      // The replies here are recorded, not queued: none counts against the hourly share.
      repliesQueuedSince: () => 0,
    },
  });
  return Object.assign(h, { replies, handled });
}

/** A form body as Twilio and Africa's Talking post it. */
export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
