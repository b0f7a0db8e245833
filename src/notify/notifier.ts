/**
 * Connects alert changes to the SMS outbox: plans who hears of each change, and escalates
 * critical alerts that nobody acknowledged within the borehole's `escalate_after_minutes`.
 */
import type { Logger } from 'pino';
import type { Alert, AlertChange } from '../alerts/alert.js';
import type { Registry } from '../config/registry.js';
import type { SmsDispatcher } from './dispatcher.js';
import { planEscalation, planMessages } from './routing.js';

export interface EscalationStore {
  alertsToEscalate(): { alert: Alert; criticalSinceMs: number }[];
  /** When the first message about the alert was queued to go out, if any was. */
  firstToldAtMs(alertId: string): number | null;
  markEscalated(alertId: string, atMs: number): boolean;
  transaction<T>(work: () => T): T;
}

export interface NotifierOptions {
  registry: Registry;
  dispatcher: Pick<SmsDispatcher, 'enqueue'>;
  store: EscalationStore;
  timeZone: string;
  now: () => number;
  log: Logger;
  escalationCheckMs?: number;
}

export class Notifier {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: NotifierOptions) {}

  start(): void {
    this.timer = setInterval(() => this.checkEscalations(), this.options.escalationCheckMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  onAlertChange(change: AlertChange): void {
    const borehole = this.options.registry.boreholes.get(change.alert.boreholeId);
    if (!borehole) return;
    const planned = planMessages(change, borehole, this.options.now(), this.options.timeZone);
    if (planned.length > 0) this.options.dispatcher.enqueue(planned);
  }

  /** Sends each overdue critical alert, once, to the technician and the region's escalation contact. */
  checkEscalations(): void {
    const { registry, store, log } = this.options;
    const now = this.options.now();
    try {
      for (const { alert, criticalSinceMs } of store.alertsToEscalate()) {
        const borehole = registry.boreholes.get(alert.boreholeId);
        if (!borehole) continue;
        // Counted from when it became critical (a warning open for hours must not escalate at
        // once) and from when people were first told: an alert from a late batch, critical in
        // event time for hours, gives the committee and technician their delay to answer too.
        const toldAtMs = store.firstToldAtMs(alert.id) ?? criticalSinceMs;
        if (now - Math.max(criticalSinceMs, toldAtMs) < borehole.rules.escalate_after_minutes * 60_000) continue;
        // Marked and queued together, so a crash cannot lose the escalation or send it twice.
        const escalated = store.transaction(() => {
          if (!store.markEscalated(alert.id, now)) return false;
          this.options.dispatcher.enqueue(planEscalation(alert, borehole, registry.escalation[borehole.region], now));
          return true;
        });
        if (escalated) log.warn({ alertId: alert.id, code: alert.code, boreholeId: alert.boreholeId }, 'critical alert not acknowledged in time: escalating');
      }
    } catch (error) {
      log.error({ err: error }, 'escalation check failed');
    }
  }
}
