/**
 * Two-way SMS (CONTRACT.md section 5): commands from registered phones. `OK <code>` acknowledges,
 * `REPARE <code> [note]` resolves and records a repair (technicians only), `ETAT` answers with the
 * status of the sender's boreholes. A number that is not in the registry gets no answer and
 * changes nothing. Every action is recorded with the number that made it (`sms:+223…`).
 *
 * A sender is matched whatever the gateway's spelling (`0022376000001`, `22376000001`,
 * `+223 76 00 00 01`, `76000001` in the default region): the number is read into its E.164 form
 * first, and replies go to that form. A gateway that delivers the same SMS again (same provider
 * id; without one, same sender and text within a minute) gets the same answer and causes nothing
 * more. A sender gets at most REPLIES_PER_HOUR replies an hour: past that the commands still act
 * but nothing is sent back, so an auto-responder on a registered phone cannot keep the service
 * answering it (and spending) for ever.
 */
import type { Logger } from 'pino';
import type { Alert } from '../alerts/alert.js';
import type { Borehole, Language, Registry } from '../config/registry.js';
import { summarize } from '../domain/borehole-status.js';
import { normaliseSender, type PhoneRegion } from '../domain/phone.js';
import type { InboundSms } from './gateways/inbound.js';
import { parseCommand } from './commands.js';
import { renderCommandAnswer, type CommandAnswer } from './incident-texts.js';
import { renderHelp, renderStatus, type StatusEntry } from './templates.js';

/** A registered phone's standing: the boreholes it belongs to and in what role. */
export interface Standing {
  phone: string;
  boreholes: readonly Borehole[];
  technicianOf: ReadonlySet<string>;
  committeeOf: ReadonlySet<string>;
  language: Language;
}

/** What a command did, for the reply, the inbound record and the log. */
export interface CommandOutcome {
  outcome: string;
  answer: CommandAnswer;
  incidentId: string | null;
}

/** What the commands act on: incidents and work orders (src/incidents/desk.ts implements it). */
export interface IncidentCommands {
  command(standing: Standing, command: { kind: 'ack' | 'arrive' | 'part' | 'repair'; code: number; text: string | null }): CommandOutcome;
  reportByPerson(standing: Standing, text: string | null): CommandOutcome;
  missedCall(standing: Standing): { outcome: 'acknowledged' | 'nothing_open'; incidentId: string | null; answer: CommandAnswer | null };
}

export interface ReplyPorts {
  desk: IncidentCommands;
  unresolvedAlerts(boreholeIds: readonly string[]): Alert[];
  /** When the borehole was last heard from, if ever. */
  lastHeardAtMs(boreholeId: string): number | null;
  record(receivedAtMs: number, sender: string, text: string, outcome: string, incidentId?: string | null): void;
  reply(to: string, text: string, replyTo: string, incidentId: string | null): void;
  /** True the first time `key` is seen within `windowMs` (kept for `retentionMs`), durably. */
  claimInboundSms(key: string, atMs: number, windowMs: number, retentionMs: number): boolean;
  releaseInboundSms(key: string): void;
  /** Replies queued for a phone after `sinceMs`. */
  repliesQueuedSince(recipient: string, sinceMs: number): number;
}

export interface InboundSmsEvents {
  duplicate(): void;
  replySuppressed(): void;
}

export interface InboundSmsOptions {
  registry: Registry;
  ports: ReplyPorts;
  now: () => number;
  log: Logger;
  /** PHONE_DEFAULT_REGION: how a number without country code is read. */
  defaultRegion: PhoneRegion;
  events?: InboundSmsEvents;
  /** Replies a sender may get in any hour; REPLIES_PER_HOUR unless a test says otherwise. */
  repliesPerHour?: number;
}

/** Replies a sender gets in any hour at most: a person rarely sends more than a few commands. */
export const REPLIES_PER_HOUR = 5;
/**
 * How long a provider's message id is remembered: gateways retry an unanswered callback for
 * minutes to hours (Twilio and Africa's Talking: within the hour); two days leave margin for a
 * long outage of the service behind the gateway.
 */
export const INBOUND_ID_RETENTION_MS = 48 * 3_600_000;
/** Without a provider id, the same sender and text within this window are one SMS. */
export const INBOUND_SAME_TEXT_WINDOW_MS = 60_000;
const HOUR_MS = 3_600_000;

export type InboundOutcome =
  | 'ignored_unknown_number'
  | 'duplicate'
  | 'status'
  | 'help'
  | 'acknowledged'
  | 'on_site'
  | 'waiting_parts'
  | 'repair_claimed'
  | 'repair_confirmed'
  | 'fault_opened'
  | 'fault_known'
  | 'need_borehole'
  | 'closed'
  | 'not_allowed'
  | 'unknown_incident';

export class InboundSmsHandler {
  /** Senders told in the log that their replies stop, until when: one line per sender and hour. */
  private readonly mutedUntil = new Map<string, number>();

  constructor(private readonly options: InboundSmsOptions) {}

  handle(sms: InboundSms): InboundOutcome {
    const { ports, log } = this.options;
    const receivedAtMs = this.options.now();
    const from = normaliseSender(sms.from, this.options.defaultRegion);
    if (from === null) return this.ignore(receivedAtMs, sms.from, sms.text);
    // The provider id when there is one; otherwise what the person sent, within a minute.
    const key = sms.id === undefined ? `text:${from}|${sms.text}` : `id:${from}|${sms.id}`;
    const windowMs = sms.id === undefined ? INBOUND_SAME_TEXT_WINDOW_MS : INBOUND_ID_RETENTION_MS;
    if (!ports.claimInboundSms(key, receivedAtMs, windowMs, INBOUND_ID_RETENTION_MS)) {
      this.options.events?.duplicate();
      log.info({ from, providerId: sms.id }, 'inbound sms delivered again: already handled');
      return 'duplicate';
    }
    try {
      return this.act({ from, text: sms.text, replyTo: sms.id === undefined ? `${from}|${receivedAtMs}|${sms.text}` : key }, receivedAtMs);
    } catch (error) {
      // Not handled: the gateway's retry must be, not taken for a duplicate.
      ports.releaseInboundSms(key);
      throw error;
    }
  }

  private ignore(receivedAtMs: number, from: string, text: string): InboundOutcome {
    this.options.ports.record(receivedAtMs, from, text, 'ignored_unknown_number');
    this.options.log.warn({ from }, 'sms from an unregistered number ignored');
    return 'ignored_unknown_number';
  }

  /** Queues a reply unless the sender had its share of the hour. */
  private replyTo(to: string, text: string, replyTo: string, atMs: number, incidentId: string | null = null): void {
    const { ports, log } = this.options;
    if (ports.repliesQueuedSince(to, atMs - HOUR_MS) < (this.options.repliesPerHour ?? REPLIES_PER_HOUR)) {
      ports.reply(to, text, replyTo, incidentId);
      return;
    }
    this.options.events?.replySuppressed();
    if ((this.mutedUntil.get(to) ?? 0) <= atMs) {
      this.mutedUntil.set(to, atMs + HOUR_MS);
      log.warn({ to }, 'this number had its replies for the hour: its commands still act, but get no answer for now (an auto-responder?)');
    }
  }

  private act(sms: { from: string; text: string; replyTo: string }, receivedAtMs: number): InboundOutcome {
    const { ports, log } = this.options;
    const standing = this.standingOf(sms.from);
    if (!standing) return this.ignore(receivedAtMs, sms.from, sms.text);
    const answer = (outcome: InboundOutcome, text: string, incidentId: string | null = null): InboundOutcome => {
      ports.record(receivedAtMs, sms.from, sms.text, outcome, incidentId);
      this.replyTo(sms.from, text, sms.replyTo, receivedAtMs, incidentId);
      log.info({ from: sms.from, outcome, incidentId }, 'sms command handled');
      return outcome;
    };
    const command = parseCommand(sms.text);
    const { language } = standing;

    if (command.kind === 'status') return answer('status', renderStatus(language, this.statusOf(standing.boreholes)));
    if (command.kind === 'unknown') return answer('help', renderHelp(language));
    // Incidents and work orders (section 9): the desk acts, the answer is one short SMS.
    const done =
      command.kind === 'fault'
        ? ports.desk.reportByPerson(standing, command.text)
        : ports.desk.command(standing, {
            kind: command.kind,
            code: command.code,
            text: command.kind === 'repair' ? command.note : command.kind === 'part' ? command.part : null,
          });
    return answer(done.outcome as InboundOutcome, renderCommandAnswer(language, done.answer), done.incidentId);
  }

  /** A missed call from a phone (`POST /api/calls/inbound`): acknowledges its newest open incident. */
  missedCall(rawFrom: string): 'acknowledged' | 'nothing_open' | 'ignored_unknown_number' {
    const { ports, log } = this.options;
    const receivedAtMs = this.options.now();
    const from = normaliseSender(rawFrom, this.options.defaultRegion);
    const standing = from === null ? null : this.standingOf(from);
    if (from === null || !standing) {
      ports.record(receivedAtMs, rawFrom, '(appel manqué)', 'ignored_unknown_number');
      log.warn({ from: rawFrom }, 'missed call from an unregistered number ignored');
      return 'ignored_unknown_number';
    }
    const done = ports.desk.missedCall(standing);
    ports.record(receivedAtMs, from, '(appel manqué)', done.outcome, done.incidentId);
    if (done.answer) this.replyTo(from, renderCommandAnswer(standing.language, done.answer), `call|${from}|${receivedAtMs}`, receivedAtMs, done.incidentId);
    log.info({ from, outcome: done.outcome, incidentId: done.incidentId }, 'missed call handled');
    return done.outcome;
  }

  /** The boreholes a phone belongs to, as committee member, technician or regional contact. */
  private standingOf(phone: string): Standing | null {
    const { registry } = this.options;
    const boreholes: Borehole[] = [];
    const technicianOf = new Set<string>();
    const committeeOf = new Set<string>();
    let language: Language | null = null;
    const escalationRegions = new Set(Object.entries(registry.escalation).filter(([, c]) => c.phone === phone).map(([region]) => region));
    for (const borehole of registry.boreholes.values()) {
      const onCommittee = borehole.committee.contacts.some((c) => c.phone === phone);
      // A backup technician acts for the boreholes they back up.
      const isTechnician = borehole.technician.phone === phone || borehole.backup_technician?.phone === phone;
      if (isTechnician) technicianOf.add(borehole.id);
      if (onCommittee) committeeOf.add(borehole.id);
      if (onCommittee && language === null) language = borehole.committee.language;
      if (onCommittee || isTechnician || escalationRegions.has(borehole.region)) boreholes.push(borehole);
    }
    if (boreholes.length === 0) return null;
    // Technicians and regional contacts read French; a committee member their committee's language.
    return { phone, boreholes, technicianOf, committeeOf, language: technicianOf.size > 0 || language === null ? 'fr' : language };
  }

  /** Each borehole's status as the API and the pages derive it (domain/borehole-status.ts). */
  private statusOf(boreholes: readonly Borehole[]): StatusEntry[] {
    const { ports, now } = this.options;
    const open = ports.unresolvedAlerts(boreholes.map((b) => b.id));
    return summarize(boreholes, open, (id) => ports.lastHeardAtMs(id), now()).map(({ borehole, status, openAlerts }) => ({
      name: borehole.name,
      status,
      openAlerts: openAlerts.map((a) => ({ code: a.code, rule: a.rule })),
    }));
  }
}
