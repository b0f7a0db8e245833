/**
 * The SMS outbox and its dispatcher. Every message is stored before any attempt, with an id that
 * stays the same across retries (derived from the alert, the kind and the phone, so planning the
 * same message twice stores it once). The dispatcher sends what is due, retries with exponential
 * backoff what failed for a retryable reason, records a permanent failure, and survives restarts
 * because all of it is in the store. No phone hears more than `perHourLimit` messages an hour:
 * the rest is folded into one summary sent when the hour allows. An alert message that has not
 * gone out when its alert resolves is cancelled, never sent late.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { Alert } from '../alerts/alert.js';
import type { Language, Registry } from '../config/registry.js';
import type { OutboxEntry, OutboxMessage } from '../storage/sqlite-store.js';
import { SmsSendError, type SmsGateway } from './gateway.js';
import { localTime, type PlannedMessage } from './routing.js';
import { renderAlert, renderSummary, renderWaterBack } from './templates.js';

/** What the dispatcher needs of the store. */
export interface OutboxStore {
  enqueueSms(message: OutboxEntry): boolean;
  dueSms(nowMs: number, limit: number): OutboxMessage[];
  smsById(id: string): OutboxMessage | null;
  markSmsSent(id: string, atMs: number, gateway: string, providerMessageId: string | null): void;
  markSmsRetry(id: string, nextAttemptAtMs: number, error: string): void;
  finishSms(id: string, status: 'failed' | 'cancelled', error: string | null): void;
  foldSms(id: string, summaryId: string): void;
  cancelDeferredSms(alertId: string, reason: string): number;
  foldedInto(summaryId: string): OutboxMessage[];
  sentTimes(recipient: string, sinceMs: number): number[];
  alertById(id: string): Alert | null;
}

export interface DispatcherEvents {
  sent(kind: string): void;
  failed(kind: string, retryable: boolean): void;
}

export interface DispatcherOptions {
  store: OutboxStore;
  gateway: SmsGateway;
  registry: Registry;
  timeZone: string;
  now: () => number;
  log: Logger;
  events?: DispatcherEvents;
  perHourLimit?: number;
  /**
   * Where an incident stands, for its messages still queued (section 9): one that is closed
   * drops them, one acknowledged drops its "nobody answered" escalation.
   */
  incidentStanding?: (incidentId: string) => { closed: boolean; acknowledged: boolean } | null;
  pollIntervalMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const HOUR_MS = 3_600_000;
/** Replies to a person's own SMS are never folded: they asked. */
const UNFOLDED_KINDS = new Set(['reply', 'summary']);

export function messageId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 24);
}

export class SmsDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private pumping: Promise<void> | null = null;
  private again = false;
  private stopped = true;

  constructor(private readonly options: DispatcherOptions) {}

  start(): void {
    this.stopped = false;
    // wake() never rejects: a failed round is logged and the next poll tries again.
    this.timer = setInterval(() => void this.wake(), this.options.pollIntervalMs ?? 1000);
    this.timer.unref();
    void this.wake();
  }

  /** Stops polling and waits for the send in progress, if any. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.pumping;
  }

  /** Stores planned alert messages (rendered now, in each recipient's language). */
  enqueue(planned: readonly PlannedMessage[]): void {
    const now = this.options.now();
    for (const message of planned) {
      if (message.kind === 'alert' && message.alert.severity === 'critical') {
        // Told now, as critical: a warning held back for 07:00 would only repeat it, staler.
        this.options.store.cancelDeferredSms(message.alert.id, 'the alert became critical and was sent at once');
      }
      const text = this.render(message);
      this.options.store.enqueueSms({
        id: messageId(message.alert.id, message.kind, message.alert.severity, message.to.phone),
        recipient: message.to.phone,
        text,
        kind: message.kind,
        alertId: message.alert.id,
        createdAtMs: now,
        notBeforeMs: message.notBeforeMs,
        onlyWhileUnresolved: message.onlyWhileUnresolved,
      });
    }
    void this.wake();
  }

  /** Stores a reply to an SMS a person sent (`replyTo` identifies that SMS). */
  enqueueReply(to: string, text: string, replyTo: string, incidentId: string | null = null): void {
    const now = this.options.now();
    this.options.store.enqueueSms({ id: messageId('reply', replyTo, to), recipient: to, text, kind: 'reply', alertId: null, incidentId, createdAtMs: now, notBeforeMs: now, onlyWhileUnresolved: false });
    void this.wake();
  }

  /** Sends what is due now; resolves when the outbox has nothing more due. */
  wake(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.pumping) {
      this.again = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        await this.sendDue();
      } while (this.again && !this.stopped);
    })()
      .catch((error: unknown) => this.options.log.error({ err: error }, 'sms dispatch failed'))
      .finally(() => {
        this.pumping = null;
      });
    return this.pumping;
  }

  private render(message: PlannedMessage): string {
    const borehole = this.options.registry.boreholes.get(message.alert.boreholeId);
    const boreholeName = borehole?.name ?? message.alert.boreholeId;
    const { alert } = message;
    if (message.kind === 'water_back') {
      return renderWaterBack(message.language, { boreholeName, localTime: localTime(alert.resolvedAtMs ?? this.options.now(), this.options.timeZone), code: alert.code });
    }
    return renderAlert(message.language, {
      boreholeName,
      rule: alert.rule,
      severity: alert.severity,
      ...(alert.fault ? { fault: alert.fault } : {}),
      localTime: localTime(alert.openedAtMs, this.options.timeZone),
      code: alert.code,
      escalation: message.kind === 'escalation',
    });
  }

  private async sendDue(): Promise<void> {
    const { store } = this.options;
    for (;;) {
      const due = store.dueSms(this.options.now(), 20);
      if (due.length === 0 || this.stopped) return;
      for (const message of due) {
        if (this.stopped) return;
        await this.dispatch(message);
      }
    }
  }

  private async dispatch(message: OutboxMessage): Promise<void> {
    const { store, gateway, log } = this.options;
    const now = this.options.now();
    // An alert message still queued when its alert resolves (a long gateway outage) would tell of
    // a fault that is over, and arrive after or just before "water is back": dropped. The
    // resolution message, planned when the alert resolved, is what the committee gets.
    if ((message.onlyWhileUnresolved || message.kind === 'alert') && message.alertId) {
      const alert = store.alertById(message.alertId);
      if (!alert || alert.state === 'resolved') {
        store.finishSms(message.id, 'cancelled', 'the alert was resolved before the message could go out');
        log.info({ messageId: message.id, kind: message.kind, to: message.recipient, alertId: message.alertId }, 'sms dropped: its alert resolved before it could go out');
        return;
      }
      // "Nobody confirmed" is false once somebody did, even if the gateway was down meanwhile.
      if (message.kind === 'escalation' && alert.state !== 'open') {
        store.finishSms(message.id, 'cancelled', 'the alert was acknowledged before the escalation could go out');
        return;
      }
    }
    if (message.incidentId && message.onlyWhileUnresolved && this.options.incidentStanding) {
      const standing = this.options.incidentStanding(message.incidentId);
      if (!standing || standing.closed) {
        store.finishSms(message.id, 'cancelled', 'the incident was closed before the message could go out');
        log.info({ messageId: message.id, kind: message.kind, to: message.recipient, incidentId: message.incidentId }, 'sms dropped: its incident closed before it could go out');
        return;
      }
      if (message.kind === 'incident_escalation' && standing.acknowledged) {
        store.finishSms(message.id, 'cancelled', 'the incident was acknowledged before the escalation could go out');
        return;
      }
    }
    if (!UNFOLDED_KINDS.has(message.kind) && this.fold(message, now)) return;
    const text = message.kind === 'summary' ? this.summaryText(message) : message.text;
    try {
      const receipt = await gateway.send({ id: message.id, to: message.recipient, text });
      store.markSmsSent(message.id, this.options.now(), gateway.name, receipt.providerMessageId ?? null);
      this.options.events?.sent(message.kind);
      log.info({ messageId: message.id, kind: message.kind, to: message.recipient, gateway: gateway.name }, 'sms sent');
    } catch (error) {
      const retryable = !(error instanceof SmsSendError) || error.retryable;
      const reason = (error as Error).message.slice(0, 300);
      this.options.events?.failed(message.kind, retryable);
      if (!retryable) {
        store.finishSms(message.id, 'failed', reason);
        log.error({ messageId: message.id, to: message.recipient, reason }, 'sms failed for good');
        return;
      }
      const { minBackoffMs = 5000, maxBackoffMs = 30 * 60_000 } = this.options;
      const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(message.attempts, 20));
      store.markSmsRetry(message.id, now + Math.round(delay * (0.8 + Math.random() * 0.4)), reason);
      log.warn({ messageId: message.id, to: message.recipient, attempts: message.attempts + 1, reason }, 'sms failed, will retry');
    }
  }

  /**
   * Folds a message into the recipient's next summary when the phone already had its hourly
   * share. The summary is due when the oldest of those messages leaves the hour.
   */
  private fold(message: OutboxMessage, now: number): boolean {
    const limit = this.options.perHourLimit ?? 6;
    const sent = this.options.store.sentTimes(message.recipient, now - HOUR_MS);
    if (sent.length < limit) return false;
    const dueAt = (sent[0] ?? now) + HOUR_MS;
    const summaryId = messageId('summary', message.recipient, String(dueAt));
    const existing = this.options.store.smsById(summaryId);
    // Never fold into a summary that already went out: the message would be lost.
    if (existing && existing.status !== 'pending') return false;
    this.options.store.enqueueSms({ id: summaryId, recipient: message.recipient, text: '', kind: 'summary', alertId: null, createdAtMs: now, notBeforeMs: dueAt, onlyWhileUnresolved: false });
    this.options.store.foldSms(message.id, summaryId);
    this.options.log.info({ messageId: message.id, to: message.recipient, summaryId }, 'sms folded into a summary');
    return true;
  }

  private summaryText(summary: OutboxMessage): string {
    const folded = this.options.store.foldedInto(summary.id);
    const names = new Set<string>();
    for (const message of folded) {
      const alert = message.alertId ? this.options.store.alertById(message.alertId) : null;
      if (alert) names.add(this.options.registry.boreholes.get(alert.boreholeId)?.name ?? alert.boreholeId);
    }
    return renderSummary(this.languageOf(summary.recipient), { count: folded.length, boreholeNames: [...names] });
  }

  /** A committee member's language; technicians and escalation contacts read French. */
  languageOf(phone: string): Language {
    for (const borehole of this.options.registry.boreholes.values()) {
      if (borehole.committee.contacts.some((contact) => contact.phone === phone)) return borehole.committee.language;
    }
    return 'fr';
  }
}
