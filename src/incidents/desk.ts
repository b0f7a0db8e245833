/**
 * The incident desk: the imperative shell around incident.ts and causes.ts. It turns alert
 * changes into incidents (one per cause), tells each person once per incident, carries work
 * orders through the commands people send and the targets of the registry's `service_level`,
 * and closes an incident only when the telemetry confirms the repair or a person does
 * (CONTRACT.md section 9, docs/incidents.md).
 *
 * Everything an event changes (the incident, its history, the SMS it calls for) is written in one
 * transaction of the operational store, and every SMS has an id derived from the incident, its
 * kind and the phone: a restart in any state sends nothing twice and loses nothing.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Alert, AlertChange } from '../alerts/alert.js';
import type { Borehole, Contact, Language, Registry } from '../config/registry.js';
import type { Reading } from '../domain/reading.js';
import { messageId } from '../notify/dispatcher.js';
import {
  renderConfirmationQuestion,
  renderIncidentCritical,
  renderIncidentEscalation,
  renderIncidentOpened,
  renderIncidentReminder,
  renderIncidentReopened,
  renderIncidentVerified,
  type CommandAnswer,
  type IncidentTextInput,
} from '../notify/incident-texts.js';
import type { CommandOutcome, IncidentCommands, Standing } from '../notify/replies.js';
import { isQuietHours, localParts, localTime, nextLocalHour, QUIET_UNTIL_HOUR } from '../notify/routing.js';
import { MANUAL_RULE, type AlertRule, type RuleState } from '../rules/types.js';
import type { OutboxEntry } from '../storage/sqlite-store.js';
import type { IncidentRepository } from '../storage/sqlite-incidents.js';
import { INFORMATION_ONLY, related, rootCause } from './causes.js';
import {
  acknowledgeIncident,
  arriveOnSite,
  claimRepair,
  confirmedByData,
  IncidentTransitionError,
  isClosed,
  observeReading,
  openIncident,
  raiseSeverity,
  reopenIncident,
  startVerification,
  verifyIncident,
  waitForPart,
  type Actor,
  type Incident,
  type ReadingsSnapshot,
  type VerificationReading,
} from './incident.js';
import type { IncidentEventKind, IncidentQuery, IncidentsPort, TimelineEntry, TransitionResult } from './port.js';

/** What the desk needs of the operational store. */
export interface DeskStore {
  transaction<T>(work: () => T): T;
  incidents: IncidentRepository;
  alertById(id: string): Alert | null;
  alertByCode(code: number): Alert | null;
  insertAlert(alert: Omit<Alert, 'id' | 'code'>): Alert;
  updateAlert(alert: Alert): void;
  recordAlertChange(change: AlertChange): void;
  unresolvedAlert(boreholeId: string, rule: AlertRule): Alert | null;
  listAlerts(query: { state?: 'unresolved'; boreholeIds?: readonly string[]; limit: number; offset: number }): { alerts: Alert[] };
  alertHistory(alertId: string): { atMs: number; kind: AlertChange['kind']; actor: string }[];
  enqueueSms(message: OutboxEntry): boolean;
  cancelIncidentSms(incidentId: string, kinds: readonly string[], reason: string): number;
}

/** What the desk needs of the rules engine: the alert side of a person's acts, and the readings' state. */
export interface DeskRules {
  acknowledge(alertId: string, actor: Actor): Alert;
  resolve(alertId: string, actor: Actor, note?: string): Alert;
  recordMaintenance(boreholeId: string, actor: Actor, note: string): unknown;
  stateOf(boreholeId: string): RuleState | undefined;
}

export interface DeskEvents {
  /** An incident changed (metrics). */
  changed(kind: IncidentEventKind): void;
}

export interface IncidentDeskOptions {
  registry: Registry;
  store: DeskStore;
  rules: DeskRules;
  /** Called after each transaction that queued SMS, so that they go out now. */
  wakeDispatcher: () => void;
  timeZone: string;
  now: () => number;
  log: Logger;
  tickIntervalMs?: number;
  events?: DeskEvents;
}

/** Alerts whose rule answers quickly when the pump works again: the incident waits for them to clear. */
const FAST_RULES: ReadonlySet<AlertRule> = new Set<AlertRule>(['pump_fault', 'no_flow', 'low_water', 'offline', 'short_cycling']);
/** Unlinked alerts are looked for at start and every this many ticks (ten minutes at 10 s). */
const RECONCILE_EVERY_TICKS = 60;
/** A reminder goes when this share of a target's time has passed without it being met. */
const REMIND_AT_SHARE = 0.75;
/** SMS about an incident still open: dropped if it closes before they go out. */
export const WHILE_OPEN_KINDS = ['incident', 'incident_critical', 'incident_escalation', 'incident_target_missed', 'incident_reminder', 'confirmation_question'] as const;

export class IncidentDesk implements IncidentsPort, IncidentCommands {
  private ticker: NodeJS.Timeout | null = null;
  private ticks = 0;
  /** Boreholes with an incident not verified: readings of the others cost a lookup, no more. */
  private openBoreholes = new Set<string>();

  constructor(private readonly options: IncidentDeskOptions) {}

  start(): void {
    this.openBoreholes = new Set(this.options.store.incidents.open().map((incident) => incident.boreholeId));
    // Alerts that opened while the service stopped before their incident was written.
    this.reconcile();
    this.ticker = setInterval(() => this.tick(), this.options.tickIntervalMs ?? 10_000);
    this.ticker.unref();
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
  }

  // ---- alerts -------------------------------------------------------------------------------

  onAlertChange(change: AlertChange): void {
    try {
      this.write(() => this.applyAlertChange(change));
    } catch (error) {
      // The alert is stored; the next tick links it (reconcile) and tells people then.
      this.options.log.error({ err: error, alertId: change.alert.id }, 'incident update failed');
    }
  }

  private applyAlertChange(change: AlertChange): void {
    const { alert } = change;
    if (INFORMATION_ONLY.has(alert.rule)) return;
    const borehole = this.options.registry.boreholes.get(alert.boreholeId);
    if (!borehole) return;
    const repo = this.options.store.incidents;
    const now = this.options.now();
    const current = repo.ofAlert(alert.id);
    if (change.kind === 'opened' || (change.kind === 'escalated' && !current)) {
      if (current) return;
      this.alertOpened(alert, borehole, now);
      return;
    }
    if (!current || isClosed(current)) return;
    if (change.kind === 'escalated') {
      this.severityOf(current, alert, borehole, now);
    } else if (change.kind === 'resolved') {
      this.maybeClose(current, borehole, now);
    }
  }

  private alertOpened(alert: Alert, borehole: Borehole, now: number): void {
    const repo = this.options.store.incidents;
    const params = borehole.rules;
    const kinds = (incident: Incident): Alert[] => incident.alertIds.map((id) => this.options.store.alertById(id)).filter((a): a is Alert => a !== null);
    const joined = repo.open(borehole.id).find((incident) => kinds(incident).some((other) => related(other, alert)));
    if (joined) {
      this.join(joined, alert, kinds(joined), borehole, now);
      return;
    }
    // A fault of the same cause soon after a verified repair: the repair did not hold.
    const relapse = repo
      .verifiedSince(borehole.id, now - params.reopen_hours * 3_600_000)
      .find((incident) => incident.manual === null && kinds(incident).some((other) => related(other, alert)));
    if (relapse) {
      let incident = reopenIncident(relapse, 'relapse', now, borehole.service_level.repair_hours);
      incident = { ...incident, alertIds: [...incident.alertIds, alert.id], historical: incident.historical && alert.historical, verification: startVerification(now) };
      repo.linkAlert(incident.id, alert.id);
      // Open again: its readings must reach it. Without this a reopened incident heard no reading
      // until the service restarted, and the second repair was never verified (restart.test.ts).
      this.openBoreholes.add(borehole.id);
      this.save(incident, 'reopened', 'rules', `relapse: ${alert.rule} (alert ${alert.code}) within ${params.reopen_hours} h of the verified repair`);
      if (!incident.historical) this.tell(incident, borehole, 'reopened', now);
      return;
    }
    const workOrder = alert.severity === 'critical' || alert.rule === MANUAL_RULE || borehole.service_level.warning_rules.some((rule) => rule === alert.rule);
    const incident = openIncident({
      id: randomUUID(),
      code: alert.code,
      boreholeId: borehole.id,
      cause: alert.rule,
      fault: alert.fault,
      severity: alert.severity,
      alertId: alert.id,
      workOrder,
      manual: null,
      historical: alert.historical,
      atMs: now,
      assignee: { name: borehole.technician.name, phone: borehole.technician.phone },
      respondHours: borehole.service_level.respond_hours,
      repairHours: borehole.service_level.repair_hours,
      groupMs: params.group_seconds * 1000,
      snapshot: this.snapshot(borehole.id, now),
    });
    const withVerification = { ...incident, verification: startVerification(alert.openedAtMs) };
    this.options.store.incidents.insert(withVerification);
    this.openBoreholes.add(borehole.id);
    this.event(withVerification, 'opened', 'rules', `${alert.rule} (alert ${alert.code})`, now);
    if (withVerification.announceAtMs <= now) this.announce(withVerification, borehole, now);
  }

  /** A related alert joins: the cause may change (the root among them), the severity may rise. */
  private join(incident: Incident, alert: Alert, alerts: readonly Alert[], borehole: Borehole, now: number): void {
    this.options.store.incidents.linkAlert(incident.id, alert.id);
    const all = [...alerts, alert].sort((a, b) => a.openedAtMs - b.openedAtMs || a.code - b.code);
    const root = rootCause(all) ?? alert;
    let next: Incident = {
      ...incident,
      alertIds: [...incident.alertIds, alert.id],
      cause: root.rule,
      fault: root.fault,
      historical: incident.historical && alert.historical,
    };
    // The sensors name a breakdown people reported: it is theirs to verify from now on.
    if (incident.manual !== null && next.verification === null) next = { ...next, verification: startVerification(now) };
    this.save(next, 'alert_joined', 'rules', `${alert.rule} (alert ${alert.code})${root.rule !== incident.cause ? `; cause now ${root.rule}` : ''}`);
    this.severityOf(next, alert, borehole, now);
  }

  private severityOf(incident: Incident, alert: Alert, borehole: Borehole, now: number): void {
    const raised = raiseSeverity(incident, alert.severity, now, borehole.service_level.respond_hours, borehole.service_level.repair_hours);
    if (raised === incident) {
      // A late live alert joining a historical incident makes it worth telling.
      if (!incident.historical && incident.announcedAtMs === null && incident.announceAtMs <= now) this.announce(incident, borehole, now);
      return;
    }
    this.save(raised, 'severity_raised', 'rules', `${incident.severity} → ${raised.severity}`);
    if (raised.historical) return;
    if (raised.announcedAtMs === null) {
      if (raised.announceAtMs <= now) this.announce(raised, borehole, now);
      return;
    }
    if (raised.severity === 'critical' && raised.announcedSeverity !== 'critical') {
      // The committee's deferred warning would only repeat it, staler.
      this.options.store.cancelIncidentSms(raised.id, ['incident'], 'the incident became critical and was sent at once');
      this.tell(raised, borehole, 'critical', now);
      this.save({ ...raised, announcedSeverity: 'critical' });
    }
  }

  /** An incident without a work order ends when its alerts have all cleared. */
  private maybeClose(incident: Incident, borehole: Borehole, now: number): void {
    const unresolved = incident.alertIds.map((id) => this.options.store.alertById(id)).filter((a) => a !== null && a.state !== 'resolved');
    if (incident.workOrder) {
      this.tryVerify(incident, borehole, now);
      return;
    }
    if (unresolved.length > 0) return;
    this.finish(verifyIncident(incident, 'data', now), borehole, now, 'data');
  }

  // ---- readings -----------------------------------------------------------------------------

  /** Readings just made durable: the repair's confirmation comes from them. */
  observe(readings: readonly Reading[]): void {
    if (this.openBoreholes.size === 0) return;
    const byBorehole = new Map<string, Reading[]>();
    for (const reading of readings) {
      if (!this.openBoreholes.has(reading.boreholeId)) continue;
      const list = byBorehole.get(reading.boreholeId);
      if (list) list.push(reading);
      else byBorehole.set(reading.boreholeId, [reading]);
    }
    if (byBorehole.size === 0) return;
    try {
      this.write(() => {
        const now = this.options.now();
        for (const [boreholeId, list] of byBorehole) {
          const borehole = this.options.registry.boreholes.get(boreholeId);
          if (!borehole) continue;
          const sorted = [...list].sort((a, b) => a.tsMs - b.tsMs);
          for (const incident of this.options.store.incidents.open(boreholeId)) {
            if (incident.verification === null) continue;
            let verification = incident.verification;
            for (const reading of sorted) verification = observeReading(verification, toVerificationReading(reading), borehole.rules.no_flow_lpm);
            if (verification === incident.verification) continue;
            const next = { ...incident, verification };
            this.save(next);
            this.tryVerify(next, borehole, now);
          }
        }
      });
    } catch (error) {
      this.options.log.error({ err: error }, 'incident verification from readings failed');
    }
  }

  /** Closes a work order the data confirms: normal pumping (or a sign of life) and its fast alerts cleared. */
  private tryVerify(incident: Incident, borehole: Borehole, now: number): void {
    if (isClosed(incident) || !incident.workOrder) return;
    // A person's report is confirmed by data only after the technician said it is repaired.
    if (incident.manual !== null && incident.cause === MANUAL_RULE && incident.repairClaimedAtMs === null) return;
    if (!confirmedByData(incident, borehole.rules.verify_minutes)) return;
    const waiting = incident.alertIds
      .map((id) => this.options.store.alertById(id))
      .some((alert) => alert !== null && alert.state !== 'resolved' && FAST_RULES.has(alert.rule));
    if (waiting) return;
    this.finish(verifyIncident(incident, 'data', now), borehole, now, 'data');
  }

  private finish(incident: Incident, borehole: Borehole, now: number, by: Actor): void {
    const closed = { ...incident, snapshots: { ...incident.snapshots, verified: this.snapshot(borehole.id, now) } };
    this.save(closed, 'verified', by, by === 'data' ? 'confirmed by the telemetry' : `confirmed by ${by}`);
    // A person's report ends with its alert: nothing else will resolve it.
    for (const id of closed.alertIds) {
      const alert = this.options.store.alertById(id);
      if (alert && alert.rule === MANUAL_RULE && alert.state !== 'resolved') this.options.rules.resolve(alert.id, by);
    }
    if (closed.announcedAtMs !== null && !closed.historical) this.tell(closed, borehole, 'verified', now);
    if (this.options.store.incidents.open(borehole.id).length === 0) this.openBoreholes.delete(borehole.id);
  }

  // ---- time ---------------------------------------------------------------------------------

  /** Announcements after the grouping wait, reminders, escalations, targets, unconfirmed repairs. */
  tick(): void {
    const now = this.options.now();
    try {
      // A safety net for an incident update that failed in process; a crash is caught at start.
      this.ticks += 1;
      if (this.ticks % RECONCILE_EVERY_TICKS === 0) this.reconcile();
      this.write(() => {
        for (const incident of this.options.store.incidents.open()) {
          const borehole = this.options.registry.boreholes.get(incident.boreholeId);
          if (!borehole) continue;
          this.timeFor(incident, borehole, now);
        }
      });
    } catch (error) {
      this.options.log.error({ err: error }, 'incident tick failed');
    }
  }

  private timeFor(incident: Incident, borehole: Borehole, now: number): void {
    if (incident.historical) return;
    if (incident.announcedAtMs === null) {
      if (incident.announceAtMs <= now) this.announce(incident, borehole, now);
      return;
    }
    if (!incident.workOrder) return;
    const announcedAtMs = incident.announcedAtMs;
    let current = incident;
    const unanswered = current.state === 'reported' || current.state === 'reopened';
    const escalateAfterMs = borehole.rules.escalate_after_minutes * 60_000;
    // From the later of the first message and the work order's start: a warning told hours ago that
    // has just become critical gives people their time to answer it as critical.
    const orderSinceMs = current.respondByMs === null ? announcedAtMs : current.respondByMs - borehole.service_level.respond_hours * 3_600_000;
    if (unanswered && current.escalatedAtMs === null && now - Math.max(announcedAtMs, orderSinceMs) >= escalateAfterMs) {
      const backup = borehole.backup_technician;
      if (backup && current.assignee?.phone !== backup.phone) {
        current = { ...current, assignee: { name: backup.name, phone: backup.phone } };
        this.event(current, 'reassigned', 'rules', `${backup.name}: ${borehole.technician.name} did not acknowledge within ${borehole.rules.escalate_after_minutes} min`, now);
      }
      current = { ...current, escalatedAtMs: now };
      this.save(current, 'escalated', 'rules', 'not acknowledged in time');
      this.tell(current, borehole, 'escalation', now, 'unacknowledged');
    }
    const answered = current.acknowledgedAtMs !== null || current.onSiteAtMs !== null;
    const respondBy = current.respondByMs;
    if (respondBy !== null && !answered) {
      const window = respondBy - current.openedAtMs;
      if (current.remindedRespondAtMs === null && now >= current.openedAtMs + window * REMIND_AT_SHARE && now < respondBy) {
        current = { ...current, remindedRespondAtMs: now };
        this.save(current, 'reminded', 'rules', 'respond_by');
        this.tell(current, borehole, 'reminder', now, 'respond');
      }
      if (current.missedRespondAtMs === null && now > respondBy) {
        current = { ...current, missedRespondAtMs: now };
        this.save(current, 'target_missed', 'rules', `respond_by (${borehole.service_level.respond_hours} h)`);
        this.tell(current, borehole, 'escalation', now, 'respond_missed');
      }
    }
    const repaired = current.state === 'repair_claimed';
    const repairBy = current.repairByMs;
    if (repairBy !== null && !repaired) {
      const start = current.reopenedAtMs ?? current.openedAtMs;
      const window = repairBy - start;
      if (current.remindedRepairAtMs === null && now >= start + window * REMIND_AT_SHARE && now < repairBy) {
        current = { ...current, remindedRepairAtMs: now };
        this.save(current, 'reminded', 'rules', 'repair_by');
        this.tell(current, borehole, 'reminder', now, 'repair');
      }
      if (current.missedRepairAtMs === null && now > repairBy) {
        current = { ...current, missedRepairAtMs: now };
        this.save(current, 'target_missed', 'rules', `repair_by (${borehole.service_level.repair_hours} h)`);
        this.tell(current, borehole, 'escalation', now, 'repair_missed');
      }
    }
    if (repaired && current.repairClaimedAtMs !== null && current.confirmationAskedAtMs === null && now - current.repairClaimedAtMs >= borehole.rules.verify_hours * 3_600_000) {
      // Back to the technician; late readings may still show it works, and then close it.
      const reopened = { ...reopenIncident(current, 'unconfirmed', now, borehole.service_level.repair_hours), verification: startVerification(now) };
      this.save(reopened, 'reopened', 'rules', `the data did not confirm the repair within ${borehole.rules.verify_hours} h`);
      this.tell(reopened, borehole, 'reopened', now, 'unconfirmed');
    }
  }

  /** Alerts with no incident yet (a crash between the alert's transaction and the desk's). */
  private reconcile(): void {
    const { store } = this.options;
    const unresolved = store.listAlerts({ state: 'unresolved', limit: 10_000, offset: 0 }).alerts;
    const orphans = unresolved.filter((alert) => !INFORMATION_ONLY.has(alert.rule) && store.incidents.ofAlert(alert.id) === null).sort((a, b) => a.code - b.code);
    for (const alert of orphans) this.onAlertChange({ kind: 'opened', alert, atMs: alert.openedAtMs, actor: 'rules', notify: !alert.historical });
  }

  // ---- people -------------------------------------------------------------------------------

  /** A coded command from a registered phone (`OK`, `ARRIVE`, `PIECE`, `REPARE`). */
  command(standing: Standing, command: { kind: 'ack' | 'arrive' | 'part' | 'repair'; code: number; text: string | null }): CommandOutcome {
    return this.write(() => {
      const now = this.options.now();
      const incident = this.findByCode(command.code);
      const borehole = incident ? standing.boreholes.find((b) => b.id === incident.boreholeId) : undefined;
      // Someone else's borehole is answered like an unknown code: it reveals nothing.
      if (!incident || !borehole) return { outcome: 'unknown_incident', answer: { kind: 'unknown_incident', code: command.code }, incidentId: null };
      const actor = `sms:${standing.phone}`;
      const names = { boreholeName: borehole.name, code: incident.code };
      if (isClosed(incident)) return { outcome: 'closed', answer: { kind: 'closed', code: incident.code }, incidentId: incident.id };
      if (command.kind === 'ack') {
        // The committee's answer to "is it working again?" after a repair of a PANNE without data.
        if (incident.confirmationAskedAtMs !== null && standing.committeeOf.has(borehole.id)) {
          this.finish(verifyIncident(incident, actor, now), borehole, now, actor);
          return { outcome: 'repair_confirmed', answer: { kind: 'repair_confirmed', ...names }, incidentId: incident.id };
        }
        this.ackIncident(incident, actor, now);
        return { outcome: 'acknowledged', answer: { kind: 'acknowledged', ...names, cause: incident.cause }, incidentId: incident.id };
      }
      const isTechnician = standing.technicianOf.has(borehole.id) || incident.assignee?.phone === standing.phone;
      if (!isTechnician) {
        const word = command.kind === 'arrive' ? 'ARRIVE' : command.kind === 'part' ? 'PIECE' : 'REPARE';
        return { outcome: 'not_allowed', answer: { kind: 'technician_only', command: word }, incidentId: incident.id };
      }
      if (command.kind === 'arrive') {
        this.transition(incident, arriveOnSite(incident, actor, now), 'on_site', actor, null);
        return { outcome: 'on_site', answer: { kind: 'on_site', ...names }, incidentId: incident.id };
      }
      if (command.kind === 'part') {
        this.transition(incident, waitForPart(incident, command.text ?? '', actor, now), 'waiting_parts', actor, command.text);
        return { outcome: 'waiting_parts', answer: { kind: 'waiting_parts', ...names, part: command.text }, incidentId: incident.id };
      }
      this.claim(incident, borehole, command.text, actor, now);
      const asked = this.options.store.incidents.byId(incident.id)?.confirmationAskedAtMs ?? null;
      // Whole minutes in an SMS (a pilot's 0.25 reads as 1).
      const verifyMinutes = Math.max(1, Math.ceil(borehole.rules.verify_minutes));
      return {
        outcome: 'repair_claimed',
        answer: { kind: 'repair_claimed', ...names, verifyMinutes, verifiedBy: asked === null ? 'data' : 'committee' },
        incidentId: incident.id,
      };
    });
  }

  /**
   * `PANNE [words]`: a fault people see. A phone registered for several boreholes names it first
   * (`PANNE khabou ...`). An incident already open there is the same breakdown: it is joined.
   */
  reportByPerson(standing: Standing, text: string | null): CommandOutcome {
    const candidates = standing.boreholes.filter((b) => standing.committeeOf.has(b.id) || standing.technicianOf.has(b.id));
    let borehole: Borehole | undefined = candidates.length === 1 ? candidates[0] : undefined;
    let words = text;
    if (candidates.length > 1) {
      const [first, ...rest] = (text ?? '').split(/\s+/);
      borehole = candidates.find((b) => b.id === first?.toLowerCase());
      words = rest.join(' ') || null;
    }
    if (!borehole) return { outcome: 'need_borehole', answer: { kind: 'need_borehole', boreholeIds: candidates.map((b) => b.id) }, incidentId: null };
    const incident = this.reportFor(borehole, words ?? '', `sms:${standing.phone}`, standing.phone);
    const fresh = incident.manual !== null && incident.manual.by === `sms:${standing.phone}` && incident.alertIds.length === 1 && incident.cause === MANUAL_RULE && incident.state === 'reported';
    return {
      outcome: fresh ? 'fault_opened' : 'fault_known',
      answer: { kind: fresh ? 'fault_opened' : 'fault_known', boreholeName: borehole.name, code: incident.code },
      incidentId: incident.id,
    };
  }

  /** A missed call from a registered phone: "we know", for its newest open incident not yet acknowledged. */
  missedCall(standing: Standing): { outcome: 'acknowledged' | 'nothing_open'; incidentId: string | null; answer: CommandAnswer | null } {
    return this.write(() => {
      const now = this.options.now();
      const ids = new Set(standing.boreholes.map((b) => b.id));
      const candidates = this.options.store.incidents
        .open()
        .filter((incident) => ids.has(incident.boreholeId) && incident.acknowledgedAtMs === null && !incident.historical)
        .sort((a, b) => b.openedAtMs - a.openedAtMs || b.code - a.code);
      const incident = candidates[0];
      if (!incident) return { outcome: 'nothing_open', incidentId: null, answer: null };
      const borehole = this.options.registry.boreholes.get(incident.boreholeId);
      this.ackIncident(incident, `call:${standing.phone}`, now);
      return { outcome: 'acknowledged', incidentId: incident.id, answer: { kind: 'missed_call', boreholeName: borehole?.name ?? incident.boreholeId, cause: incident.cause, code: incident.code } };
    });
  }

  private reportFor(borehole: Borehole, text: string, actor: Actor, reporterPhone: string | null): Incident {
    return this.write(() => {
      const now = this.options.now();
      const repo = this.options.store.incidents;
      const open = repo.open(borehole.id).filter((incident) => !incident.historical);
      const existing = open[open.length - 1];
      if (existing) {
        this.event(existing, 'reported_again', actor, text || null, now);
        return existing;
      }
      const alertText = text.trim() === '' ? 'signalée par SMS' : text.trim();
      const alert =
        this.options.store.unresolvedAlert(borehole.id, MANUAL_RULE) ??
        this.options.store.insertAlert({
          boreholeId: borehole.id,
          rule: MANUAL_RULE,
          severity: 'critical',
          state: 'open',
          message: `Panne signalée : ${alertText}`.slice(0, 300),
          openedAtMs: now,
          acknowledgedAtMs: null,
          acknowledgedBy: null,
          resolvedAtMs: null,
          resolvedBy: null,
          historical: false,
          fault: null,
        });
      this.options.store.recordAlertChange({ kind: 'opened', alert, atMs: now, actor, notify: true });
      const incident = openIncident({
        id: randomUUID(),
        code: alert.code,
        boreholeId: borehole.id,
        cause: MANUAL_RULE,
        fault: null,
        severity: 'critical',
        alertId: alert.id,
        workOrder: true,
        manual: { text, by: actor },
        historical: false,
        atMs: now,
        assignee: { name: borehole.technician.name, phone: borehole.technician.phone },
        respondHours: borehole.service_level.respond_hours,
        repairHours: borehole.service_level.repair_hours,
        groupMs: 0,
        snapshot: this.snapshot(borehole.id, now),
      });
      // Whether any reading arrives before the repair: then the data verifies it, else the committee.
      const withVerification = { ...incident, verification: startVerification(now) };
      repo.insert(withVerification);
      this.openBoreholes.add(borehole.id);
      this.event(withVerification, 'opened', actor, text || null, now);
      this.announce(withVerification, borehole, now, reporterPhone);
      return withVerification;
    });
  }

  private ackIncident(incident: Incident, actor: Actor, now: number): Incident {
    const next = this.transition(incident, acknowledgeIncident(incident, actor, now), 'acknowledged', actor, null);
    // The alerts it groups are acknowledged too, as `OK` always did (sections 4 and 5).
    for (const id of next.alertIds) {
      const alert = this.options.store.alertById(id);
      if (alert && alert.state === 'open') this.options.rules.acknowledge(alert.id, actor);
    }
    return next;
  }

  private claim(incident: Incident, borehole: Borehole, note: string | null, actor: Actor, now: number): void {
    const dataSinceOpening = incident.verification?.heardAtMs !== null && incident.verification?.heardAtMs !== undefined;
    let next = this.transition(incident, claimRepair(incident, note, actor, now), 'repair_claimed', actor, note);
    this.options.rules.recordMaintenance(borehole.id, actor, `REPARE ${incident.code}${note ? `: ${note}` : ''}`);
    if (next.manual !== null && next.cause === MANUAL_RULE && !dataSinceOpening) {
      // No sensor says anything of this borehole: the committee is asked, and its OK closes it.
      next = { ...next, confirmationAskedAtMs: now };
      this.save(next, 'confirmation_asked', 'rules', null);
      this.tell(next, borehole, 'confirmation', now);
    }
  }

  private transition(before: Incident, after: Incident, kind: IncidentEventKind, actor: Actor, detail: string | null): Incident {
    if (after === before || (after.state === before.state && after.acknowledgedAtMs === before.acknowledgedAtMs && after.parts.length === before.parts.length)) return before;
    this.save(after, kind, actor, detail);
    return after;
  }

  // ---- the port -----------------------------------------------------------------------------

  list(query: IncidentQuery): { incidents: Incident[]; total: number } {
    return this.options.store.incidents.list(query);
  }

  byId(id: string): Incident | null {
    return this.options.store.incidents.byId(id);
  }

  byCode(code: number): Incident | null {
    return this.findByCode(code);
  }

  openOf(boreholeIds: readonly string[]): Incident[] {
    return this.options.store.incidents.list({ state: 'open', boreholeIds, limit: 1000, offset: 0 }).incidents;
  }

  between(fromMs: number, toMs: number): Incident[] {
    return this.options.store.incidents.between(fromMs, toMs);
  }

  timeline(id: string): TimelineEntry[] {
    const { store } = this.options;
    const incident = store.incidents.byId(id);
    if (!incident) return [];
    const entries: TimelineEntry[] = [];
    for (const alertId of incident.alertIds) {
      const alert = store.alertById(alertId);
      if (!alert) continue;
      for (const event of store.alertHistory(alertId)) entries.push({ kind: 'alert', atMs: event.atMs, alert, change: event.kind, actor: event.actor });
    }
    for (const sms of store.incidents.smsOf(id)) {
      entries.push({ kind: 'sms', atMs: sms.created_at, messageId: sms.id, to: sms.recipient, text: sms.text, smsKind: sms.kind, status: sms.status, delivery: sms.delivery, deliveryDetail: sms.delivery_detail, sentAtMs: sms.sent_at });
    }
    for (const command of store.incidents.commandsOf(id)) entries.push({ kind: 'command', atMs: command.received_at, from: command.sender, text: command.text, outcome: command.outcome });
    for (const event of store.incidents.events(id)) entries.push({ kind: 'change', atMs: event.atMs, change: event.kind, state: event.state, actor: event.actor, detail: event.detail });
    if (incident.snapshots.opened) entries.push({ kind: 'snapshot', atMs: incident.snapshots.opened.atMs, label: 'opened', readings: incident.snapshots.opened });
    if (incident.snapshots.verified) entries.push({ kind: 'snapshot', atMs: incident.snapshots.verified.atMs, label: 'verified', readings: incident.snapshots.verified });
    return entries.sort((a, b) => a.atMs - b.atMs);
  }

  acknowledge(id: string, actor: Actor): TransitionResult {
    return this.byOperator(id, (incident, now) => this.ackIncident(incident, actor, now));
  }

  arrive(id: string, actor: Actor): TransitionResult {
    return this.byOperator(id, (incident, now) => this.transition(incident, arriveOnSite(incident, actor, now), 'on_site', actor, null));
  }

  part(id: string, part: string, actor: Actor): TransitionResult {
    return this.byOperator(id, (incident, now) => this.transition(incident, waitForPart(incident, part, actor, now), 'waiting_parts', actor, part));
  }

  repair(id: string, note: string | null, actor: Actor): TransitionResult {
    return this.byOperator(id, (incident, now, borehole) => {
      this.claim(incident, borehole, note, actor, now);
      return this.options.store.incidents.byId(incident.id) ?? incident;
    });
  }

  /** An operator's word that it works again: a person's confirmation, like the committee's OK. */
  close(id: string, actor: Actor): TransitionResult {
    return this.byOperator(id, (incident, now, borehole) => {
      const closed = verifyIncident(incident, actor, now);
      this.finish(closed, borehole, now, actor);
      return this.options.store.incidents.byId(incident.id) ?? closed;
    });
  }

  report(boreholeId: string, text: string, actor: Actor): Incident | null {
    const borehole = this.options.registry.boreholes.get(boreholeId);
    if (!borehole) return null;
    return this.reportFor(borehole, text, actor, null);
  }

  private byOperator(id: string, work: (incident: Incident, now: number, borehole: Borehole) => Incident): TransitionResult {
    try {
      return this.write(() => {
        const incident = this.options.store.incidents.byId(id) ?? (/^\d+$/.test(id) ? this.findByCode(Number(id)) : null);
        const borehole = incident ? this.options.registry.boreholes.get(incident.boreholeId) : undefined;
        if (!incident || !borehole) return { ok: false, reason: 'not_found', message: `no incident ${id}` };
        return { ok: true, incident: work(incident, this.options.now(), borehole) };
      });
    } catch (error) {
      if (error instanceof IncidentTransitionError) return { ok: false, reason: error.reason === 'closed' ? 'closed' : 'no_work_order', message: error.message };
      throw error;
    }
  }

  // ---- telling ------------------------------------------------------------------------------

  private announce(incident: Incident, borehole: Borehole, now: number, skipPhone: string | null = null): void {
    const announced = { ...incident, announcedAtMs: now, announcedSeverity: incident.severity };
    this.save(announced);
    if (!announced.historical) this.tell(announced, borehole, 'opened', now, undefined, skipPhone);
  }

  /**
   * Queues what a change of the incident calls for, one message per phone:
   * - opened: the assignee at once; the committee at once if critical, else from 07:00;
   * - critical: everyone who heard of it as a warning;
   * - escalation: the assignee, the backup technician and the region's contact;
   * - reminder: the assignee; confirmation: the committee; reopened: the assignee (and the committee for a relapse);
   * - verified: the committee (the water is back) and the technician (the repair holds).
   * Info-severity incidents tell nobody.
   */
  private tell(incident: Incident, borehole: Borehole, what: 'opened' | 'critical' | 'escalation' | 'reminder' | 'reopened' | 'verified' | 'confirmation', now: number, reason?: string, skipPhone: string | null = null): void {
    if (incident.severity === 'info') return;
    const { timeZone } = this.options;
    const base: IncidentTextInput = {
      boreholeName: borehole.name,
      cause: incident.cause,
      severity: incident.severity,
      ...(incident.fault ? { fault: incident.fault } : {}),
      localTime: localTime(incident.openedAtMs, timeZone),
      code: incident.code,
    };
    const committee = borehole.committee.contacts.map((to) => ({ to, language: borehole.committee.language }));
    const assignee: Contact = incident.assignee ?? borehole.technician;
    const technicians: Contact[] = [borehole.technician, assignee];
    const out: { to: Contact; language: Language; text: string; kind: string; notBeforeMs: number; salt: string }[] = [];
    const add = (to: Contact, language: Language, text: string, kind: string, salt = '', notBeforeMs = now): void => {
      out.push({ to, language, text, kind, notBeforeMs, salt });
    };
    const cycle = String(incident.failedRepairs);
    if (what === 'opened') {
      add(assignee, 'fr', renderIncidentOpened('fr', { ...base, audience: 'technician', workOrder: incident.workOrder }), 'incident');
      const quiet = incident.severity !== 'critical' && isQuietHours(now, timeZone);
      const notBefore = quiet ? nextLocalHour(now, QUIET_UNTIL_HOUR, timeZone) : now;
      for (const { to, language } of committee) add(to, language, renderIncidentOpened(language, { ...base, audience: 'committee', workOrder: incident.workOrder }), 'incident', '', notBefore);
    } else if (what === 'critical') {
      add(assignee, 'fr', renderIncidentCritical('fr', { ...base, audience: 'technician' }), 'incident_critical');
      for (const { to, language } of committee) add(to, language, renderIncidentCritical(language, { ...base, audience: 'committee' }), 'incident_critical');
    } else if (what === 'escalation') {
      const why = (reason ?? 'unacknowledged') as 'unacknowledged' | 'respond_missed' | 'repair_missed';
      const text = renderIncidentEscalation('fr', { ...base, reason: why });
      // "Nobody answered" is dropped if someone answers before it goes; a missed target is not.
      const kind = why === 'unacknowledged' ? 'incident_escalation' : 'incident_target_missed';
      for (const to of technicians) add(to, 'fr', text, kind, why);
      if (borehole.backup_technician) add(borehole.backup_technician, 'fr', text, kind, why);
      const region = this.options.registry.escalation[borehole.region];
      if (region) add(region, 'fr', text, kind, why);
    } else if (what === 'reminder') {
      const target = reason === 'repair' ? 'repair' : 'respond';
      const due = (target === 'repair' ? incident.repairByMs : incident.respondByMs) ?? now;
      add(assignee, 'fr', renderIncidentReminder('fr', { ...base, target, dueLocal: dueLocal(due, now, timeZone) }), 'incident_reminder', target);
    } else if (what === 'confirmation') {
      for (const { to, language } of committee) add(to, language, renderConfirmationQuestion(language, { boreholeName: borehole.name, code: incident.code }), 'confirmation_question', cycle);
    } else if (what === 'reopened') {
      const why = reason === 'unconfirmed' ? 'unconfirmed' : 'relapse';
      add(assignee, 'fr', renderIncidentReopened('fr', { ...base, audience: 'technician', why }), 'incident_reopened', cycle);
      if (why === 'relapse') for (const { to, language } of committee) add(to, language, renderIncidentReopened(language, { ...base, audience: 'committee', why }), 'incident_reopened', cycle);
    } else {
      for (const { to, language } of committee) add(to, language, renderIncidentVerified(language, { ...base, audience: 'committee' }), 'incident_verified', cycle);
      add(assignee, 'fr', renderIncidentVerified('fr', { ...base, audience: 'technician' }), 'incident_verified', cycle);
    }
    const seen = new Set<string>(skipPhone === null ? [] : [skipPhone]);
    const { store } = this.options;
    for (const message of out) {
      // A technician who is also on the committee hears it once.
      if (seen.has(message.to.phone)) continue;
      seen.add(message.to.phone);
      store.enqueueSms({
        id: messageId(incident.id, message.kind, message.salt, message.to.phone),
        recipient: message.to.phone,
        text: message.text,
        kind: message.kind,
        alertId: null,
        incidentId: incident.id,
        createdAtMs: now,
        notBeforeMs: message.notBeforeMs,
        onlyWhileUnresolved: (WHILE_OPEN_KINDS as readonly string[]).includes(message.kind),
      });
    }
    this.queued = true;
  }


  // ---- plumbing -----------------------------------------------------------------------------

  private queued = false;

  /** One transaction; the dispatcher is woken after it commits if it queued SMS. */
  private write<T>(work: () => T): T {
    const outer = !this.inTransaction;
    if (!outer) return work();
    this.inTransaction = true;
    try {
      const result = this.options.store.transaction(work);
      return result;
    } finally {
      this.inTransaction = false;
      if (this.queued) {
        this.queued = false;
        this.options.wakeDispatcher();
      }
    }
  }

  private inTransaction = false;

  private save(incident: Incident, kind?: IncidentEventKind, actor: Actor = 'rules', detail: string | null = null): void {
    this.options.store.incidents.update(incident);
    if (kind) this.event(incident, kind, actor, detail, this.options.now());
  }

  private event(incident: Incident, kind: IncidentEventKind, actor: Actor, detail: string | null, atMs: number): void {
    this.options.store.incidents.recordEvent({ incidentId: incident.id, atMs, kind, state: incident.state, actor, detail });
    this.options.events?.changed(kind);
    this.options.log.info({ incidentId: incident.id, code: incident.code, boreholeId: incident.boreholeId, kind, state: incident.state, cause: incident.cause, actor }, 'incident changed');
  }

  private findByCode(code: number): Incident | null {
    const repo = this.options.store.incidents;
    const direct = repo.byCode(code);
    if (direct) return direct;
    // The code of a later alert of the incident names it too.
    const alert = this.options.store.alertByCode(code);
    return alert ? repo.ofAlert(alert.id) : null;
  }

  private snapshot(boreholeId: string, atMs: number): ReadingsSnapshot | null {
    const state = this.options.rules.stateOf(boreholeId);
    if (!state) return null;
    return { atMs, running: state.running, flowLpm: state.flowLpm, depthM: state.depthM, lastTsMs: state.lastTsMs };
  }
}

function toVerificationReading(reading: Reading): VerificationReading {
  if (reading.kind === 'pump') return { kind: 'pump', tsMs: reading.tsMs, running: reading.values.running, fault: (reading.values.fault ?? '') !== '' };
  if (reading.kind === 'flow') return { kind: 'flow', tsMs: reading.tsMs, flowLpm: reading.values.rate_lpm };
  return { kind: reading.kind, tsMs: reading.tsMs };
}

/** `HH:MM` when the due time is within a day, else `dd/MM HH:MM`. */
function dueLocal(dueMs: number, nowMs: number, timeZone: string): string {
  if (dueMs - nowMs < 86_400_000) return localTime(dueMs, timeZone);
  const { day, month } = localParts(dueMs, timeZone);
  return `${String(day).padStart(2, '0')}/${String(month).padStart(2, '0')} ${localTime(dueMs, timeZone)}`;
}
