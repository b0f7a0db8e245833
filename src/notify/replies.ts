/**
 * Two-way SMS (CONTRACT.md section 5): commands from registered phones. `OK <code>` acknowledges,
 * `REPARE <code> [note]` resolves and records a repair (technicians only), `ETAT` answers with the
 * status of the sender's boreholes. A number that is not in the registry gets no answer and
 * changes nothing. Every action is recorded with the number that made it (`sms:+223…`).
 */
import type { Logger } from 'pino';
import type { Alert } from '../alerts/alert.js';
import type { Borehole, Language, Registry } from '../config/registry.js';
import { parseCommand } from './commands.js';
import {
  renderAckConfirmation,
  renderHelp,
  renderNotAllowed,
  renderRepairConfirmation,
  renderStatus,
  renderUnknownAlert,
  type BoreholeStatus,
  type StatusEntry,
} from './templates.js';

export interface ReplyPorts {
  alertByCode(code: number): Alert | null;
  unresolvedAlerts(boreholeIds: readonly string[]): Alert[];
  acknowledge(alertId: string, actor: string): Alert;
  resolve(alertId: string, actor: string, note?: string): Alert;
  recordMaintenance(boreholeId: string, actor: string, note: string): unknown;
  /** When the borehole was last heard from, if ever. */
  lastHeardAtMs(boreholeId: string): number | null;
  record(receivedAtMs: number, sender: string, text: string, outcome: string): void;
  reply(to: string, text: string, replyTo: string): void;
}

export interface InboundSmsOptions {
  registry: Registry;
  ports: ReplyPorts;
  now: () => number;
  log: Logger;
}

/** What the sender is to each borehole they are registered for. */
interface Standing {
  boreholes: Borehole[];
  technicianOf: Set<string>;
  language: Language;
}

export type InboundOutcome = 'ignored_unknown_number' | 'acknowledged' | 'repaired' | 'status' | 'not_allowed' | 'unknown_alert' | 'help' | 'already_resolved';

export class InboundSmsHandler {
  constructor(private readonly options: InboundSmsOptions) {}

  handle(sms: { from: string; text: string }): InboundOutcome {
    const { ports, log } = this.options;
    const receivedAtMs = this.options.now();
    const standing = this.standingOf(sms.from);
    if (!standing) {
      ports.record(receivedAtMs, sms.from, sms.text, 'ignored_unknown_number');
      log.warn({ from: sms.from }, 'sms from an unregistered number ignored');
      return 'ignored_unknown_number';
    }
    const replyTo = `${sms.from}|${receivedAtMs}|${sms.text}`;
    const answer = (outcome: InboundOutcome, text: string): InboundOutcome => {
      ports.record(receivedAtMs, sms.from, sms.text, outcome);
      ports.reply(sms.from, text, replyTo);
      log.info({ from: sms.from, outcome }, 'sms command handled');
      return outcome;
    };
    const command = parseCommand(sms.text);
    const actor = `sms:${sms.from}`;
    const { language } = standing;

    if (command.kind === 'status') return answer('status', renderStatus(language, this.statusOf(standing.boreholes)));
    if (command.kind === 'unknown') return answer('help', renderHelp(language));

    const alert = ports.alertByCode(command.code);
    const borehole = alert ? standing.boreholes.find((b) => b.id === alert.boreholeId) : undefined;
    // An alert of someone else's borehole is answered like an unknown one: it reveals nothing.
    if (!alert || !borehole) return answer('unknown_alert', renderUnknownAlert(language, command.code));
    const confirmation = { boreholeName: borehole.name, rule: alert.rule, code: alert.code };

    if (command.kind === 'ack') {
      if (alert.state === 'resolved') return answer('already_resolved', renderAckConfirmation(language, confirmation));
      ports.acknowledge(alert.id, actor);
      return answer('acknowledged', renderAckConfirmation(language, confirmation));
    }
    if (!standing.technicianOf.has(borehole.id)) return answer('not_allowed', renderNotAllowed(language));
    const note = command.note ?? '';
    if (alert.state !== 'resolved') ports.resolve(alert.id, actor, note || undefined);
    ports.recordMaintenance(borehole.id, actor, `REPARE ${alert.code}${note ? `: ${note}` : ''}`);
    return answer('repaired', renderRepairConfirmation(language, confirmation));
  }

  /** The boreholes a phone belongs to, as committee member, technician or regional contact. */
  private standingOf(phone: string): Standing | null {
    const { registry } = this.options;
    const boreholes: Borehole[] = [];
    const technicianOf = new Set<string>();
    let language: Language | null = null;
    const escalationRegions = new Set(Object.entries(registry.escalation).filter(([, c]) => c.phone === phone).map(([region]) => region));
    for (const borehole of registry.boreholes.values()) {
      const onCommittee = borehole.committee.contacts.some((c) => c.phone === phone);
      const isTechnician = borehole.technician.phone === phone;
      if (isTechnician) technicianOf.add(borehole.id);
      if (onCommittee && language === null) language = borehole.committee.language;
      if (onCommittee || isTechnician || escalationRegions.has(borehole.region)) boreholes.push(borehole);
    }
    if (boreholes.length === 0) return null;
    // Technicians and regional contacts read French; a committee member their committee's language.
    return { boreholes, technicianOf, language: technicianOf.size > 0 || language === null ? 'fr' : language };
  }

  private statusOf(boreholes: readonly Borehole[]): StatusEntry[] {
    const { ports, now } = this.options;
    const open = ports.unresolvedAlerts(boreholes.map((b) => b.id));
    return boreholes.map((borehole) => {
      const alerts = open.filter((a) => a.boreholeId === borehole.id);
      const heardAt = ports.lastHeardAtMs(borehole.id);
      let status: BoreholeStatus = 'ok';
      if (heardAt === null) status = 'unknown';
      else if (alerts.some((a) => a.rule === 'offline') || now() - heardAt > borehole.rules.offline_minutes * 60_000) status = 'offline';
      else if (alerts.length > 0) status = 'alert';
      return { name: borehole.name, status, openAlerts: alerts.map((a) => ({ code: a.code, rule: a.rule })) };
    });
  }
}
