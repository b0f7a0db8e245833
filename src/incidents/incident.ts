/**
 * Incidents and their work orders (CONTRACT.md section 9). An incident groups the alerts of one
 * borehole that share a cause; one that needs a technician carries a work order whose state runs
 * `reported` → `acknowledged` → `on_site` → `waiting_parts` → `repair_claimed` → `verified`, with
 * `reopened` when the fault returns or the repair is not confirmed. Pure functions of values with
 * the time passed in; the desk (desk.ts) stores and tells.
 *
 * Which instants are kept when an incident goes round twice (a repair that did not hold): the
 * first acknowledgement and the first arrival (how fast people answered the village), the latest
 * repair claim and verification (when the water really came back). docs/incidents.md says so.
 */
import { z } from 'zod';
import { SEVERITIES, severityRank, type AlertRule, type Severity } from '../rules/types.js';

export const INCIDENT_STATES = ['reported', 'acknowledged', 'on_site', 'waiting_parts', 'repair_claimed', 'verified', 'reopened'] as const;
export type IncidentState = (typeof INCIDENT_STATES)[number];

/** Who or what made a change: `rules`, `data`, `sms:+223…`, `call:+223…`, `operator:<role>`. */
export type Actor = string;

const partSchema = z.object({ part: z.string(), atMs: z.number(), by: z.string() });
export type PartRecord = z.infer<typeof partSchema>;

const contactSchema = z.object({ name: z.string(), phone: z.string() });

/**
 * How far the telemetry has gone towards confirming the repair: pumping time with flow and no
 * fault, accumulated in event time since `fromMs` (a pause in pumping keeps it, a fault or a dry
 * pipe starts it again).
 */
export const verificationSchema = z.object({
  /** Only readings at or after this instant count (the incident's opening, or the repair claim). */
  fromMs: z.number(),
  normalMs: z.number(),
  /** Start of the normal pumping stretch under way, event time. */
  segmentStartMs: z.number().nullable(),
  running: z.boolean().nullable(),
  fault: z.boolean(),
  pumpTsMs: z.number().nullable(),
  flowLpm: z.number().nullable(),
  flowTsMs: z.number().nullable(),
  /** Newest reading (any topic) since `fromMs`: an offline incident is verified by any. */
  heardAtMs: z.number().nullable(),
});
export type Verification = z.infer<typeof verificationSchema>;

/** What the readings said at a moment (the newest of each topic then): the page shows it. */
export const snapshotSchema = z.object({
  atMs: z.number(),
  running: z.boolean().nullable(),
  flowLpm: z.number().nullable(),
  depthM: z.number().nullable(),
  lastTsMs: z.number().nullable(),
});
export type ReadingsSnapshot = z.infer<typeof snapshotSchema>;

export const INCIDENT_VERSION = 1;

export const incidentSchema = z.object({
  version: z.literal(INCIDENT_VERSION),
  id: z.string(),
  /** The code of its first alert: what people type (`ARRIVE 17`). */
  code: z.number(),
  boreholeId: z.string(),
  cause: z.string() as z.ZodType<AlertRule>,
  fault: z.string().nullable(),
  severity: z.enum(SEVERITIES),
  state: z.enum(INCIDENT_STATES),
  alertIds: z.array(z.string()),
  /** A technician must act: every critical incident, and warnings of the rules the registry names. */
  workOrder: z.boolean(),
  /** A `PANNE` (or the API's manual report): what the person wrote, and who. */
  manual: z.object({ text: z.string(), by: z.string() }).nullable(),
  /** Found only in late data and no longer holding: recorded and reported, nobody told. */
  historical: z.boolean(),
  openedAtMs: z.number(),
  acknowledgedAtMs: z.number().nullable(),
  acknowledgedBy: z.string().nullable(),
  onSiteAtMs: z.number().nullable(),
  parts: z.array(partSchema),
  waitingPartsSinceMs: z.number().nullable(),
  waitingPartsMs: z.number(),
  repairClaimedAtMs: z.number().nullable(),
  repairClaimedBy: z.string().nullable(),
  repairNote: z.string().nullable(),
  verifiedAtMs: z.number().nullable(),
  verifiedBy: z.string().nullable(),
  reopenedAtMs: z.number().nullable(),
  closedAtMs: z.number().nullable(),
  assignee: contactSchema.nullable(),
  respondByMs: z.number().nullable(),
  repairByMs: z.number().nullable(),
  /** Verified and then back within `reopen_hours`, or claimed and not confirmed within `verify_hours`. */
  failedRepairs: z.number(),
  /** Notification bookkeeping, so that a restart sends nothing twice. */
  announcedAtMs: z.number().nullable(),
  announcedSeverity: z.enum(SEVERITIES).nullable(),
  /** When the first announcement may go (alerts seconds apart are grouped first). */
  announceAtMs: z.number(),
  escalatedAtMs: z.number().nullable(),
  remindedRespondAtMs: z.number().nullable(),
  remindedRepairAtMs: z.number().nullable(),
  missedRespondAtMs: z.number().nullable(),
  missedRepairAtMs: z.number().nullable(),
  /** A PANNE repaired with no data since: the committee was asked to answer OK. */
  confirmationAskedAtMs: z.number().nullable(),
  verification: verificationSchema.nullable(),
  snapshots: z.object({ opened: snapshotSchema.nullable(), verified: snapshotSchema.nullable() }),
});
export type Incident = z.infer<typeof incidentSchema>;

export function isClosed(incident: Pick<Incident, 'state'>): boolean {
  return incident.state === 'verified';
}

export class IncidentTransitionError extends Error {
  override name = 'IncidentTransitionError';
  constructor(
    readonly reason: 'closed' | 'not_claimed' | 'no_work_order',
    message: string,
  ) {
    super(message);
  }
}

export interface NewIncident {
  id: string;
  code: number;
  boreholeId: string;
  cause: AlertRule;
  fault: string | null;
  severity: Severity;
  alertId: string;
  workOrder: boolean;
  manual: { text: string; by: Actor } | null;
  historical: boolean;
  atMs: number;
  assignee: { name: string; phone: string } | null;
  respondHours: number;
  repairHours: number;
  /** How long after opening the first announcement waits for related alerts. */
  groupMs: number;
  snapshot: ReadingsSnapshot | null;
}

const HOUR_MS = 3_600_000;

export function openIncident(input: NewIncident): Incident {
  return {
    version: INCIDENT_VERSION,
    id: input.id,
    code: input.code,
    boreholeId: input.boreholeId,
    cause: input.cause,
    fault: input.fault,
    severity: input.severity,
    state: 'reported',
    alertIds: [input.alertId],
    workOrder: input.workOrder,
    manual: input.manual,
    historical: input.historical,
    openedAtMs: input.atMs,
    acknowledgedAtMs: null,
    acknowledgedBy: null,
    onSiteAtMs: null,
    parts: [],
    waitingPartsSinceMs: null,
    waitingPartsMs: 0,
    repairClaimedAtMs: null,
    repairClaimedBy: null,
    repairNote: null,
    verifiedAtMs: null,
    verifiedBy: null,
    reopenedAtMs: null,
    closedAtMs: null,
    assignee: input.workOrder ? input.assignee : null,
    respondByMs: input.workOrder ? input.atMs + input.respondHours * HOUR_MS : null,
    repairByMs: input.workOrder ? input.atMs + input.repairHours * HOUR_MS : null,
    failedRepairs: 0,
    announcedAtMs: null,
    announcedSeverity: null,
    announceAtMs: input.atMs + input.groupMs,
    escalatedAtMs: null,
    remindedRespondAtMs: null,
    remindedRepairAtMs: null,
    missedRespondAtMs: null,
    missedRepairAtMs: null,
    confirmationAskedAtMs: null,
    verification: null,
    snapshots: { opened: input.snapshot, verified: null },
  };
}

/** The time in `waiting_parts` ends when the work order leaves that state. */
function endWaiting(incident: Incident, atMs: number): Incident {
  if (incident.waitingPartsSinceMs === null) return incident;
  return { ...incident, waitingPartsMs: incident.waitingPartsMs + Math.max(0, atMs - incident.waitingPartsSinceMs), waitingPartsSinceMs: null };
}

function open(incident: Incident, what: string): void {
  if (isClosed(incident)) throw new IncidentTransitionError('closed', `incident ${incident.code} is closed: ${what} refused`);
}

/**
 * A person says they know (`OK 17`, a missed call, the API). From `reported` or `reopened` the
 * work order moves to `acknowledged`; later states keep theirs (a committee member's `OK` after
 * the technician arrived changes nothing but is answered).
 */
export function acknowledgeIncident(incident: Incident, actor: Actor, atMs: number): Incident {
  open(incident, 'acknowledgement');
  const at = Math.max(atMs, incident.openedAtMs);
  const first = incident.acknowledgedAtMs === null ? { acknowledgedAtMs: at, acknowledgedBy: actor } : {};
  const state: IncidentState = incident.state === 'reported' || incident.state === 'reopened' ? 'acknowledged' : incident.state;
  return { ...incident, ...first, state };
}

/** `ARRIVE 17`: the technician is at the borehole (back with a part, too). Implies they know. */
export function arriveOnSite(incident: Incident, actor: Actor, atMs: number): Incident {
  open(incident, 'arrival');
  const at = Math.max(atMs, incident.openedAtMs);
  const acknowledged = incident.acknowledgedAtMs === null ? { acknowledgedAtMs: at, acknowledgedBy: actor } : {};
  return { ...endWaiting(incident, at), ...acknowledged, onSiteAtMs: incident.onSiteAtMs ?? at, state: 'on_site' };
}

/** `PIECE 17 roulement`: waiting for a part; each part is kept with its time. */
export function waitForPart(incident: Incident, part: string, actor: Actor, atMs: number): Incident {
  open(incident, 'part');
  const at = Math.max(atMs, incident.openedAtMs);
  const acknowledged = incident.acknowledgedAtMs === null ? { acknowledgedAtMs: at, acknowledgedBy: actor } : {};
  return {
    ...incident,
    ...acknowledged,
    parts: [...incident.parts, { part, atMs: at, by: actor }],
    waitingPartsSinceMs: incident.waitingPartsSinceMs ?? at,
    state: 'waiting_parts',
  };
}

/**
 * `REPARE 17 [note]`: the technician says it is repaired. It does not close the incident: the
 * telemetry (or, for a PANNE without data, the committee) does. Verification counts from here.
 */
export function claimRepair(incident: Incident, note: string | null, actor: Actor, atMs: number): Incident {
  open(incident, 'repair claim');
  const at = Math.max(atMs, incident.openedAtMs);
  const acknowledged = incident.acknowledgedAtMs === null ? { acknowledgedAtMs: at, acknowledgedBy: actor } : {};
  return {
    ...endWaiting(incident, at),
    ...acknowledged,
    state: 'repair_claimed',
    repairClaimedAtMs: at,
    repairClaimedBy: actor,
    repairNote: note,
    confirmationAskedAtMs: null,
    verification: startVerification(at),
  };
}

/** Closed: by the data, or by a person's confirmation (the committee's OK, an operator). */
export function verifyIncident(incident: Incident, by: Actor, atMs: number): Incident {
  open(incident, 'verification');
  const at = Math.max(atMs, incident.openedAtMs);
  return { ...endWaiting(incident, at), state: 'verified', verifiedAtMs: at, verifiedBy: by, closedAtMs: at, verification: null };
}

/**
 * The fault came back within `reopen_hours` of the verification (`relapse`), or the repair was not
 * confirmed within `verify_hours` (`unconfirmed`): back to the technician, a failed repair.
 */
export function reopenIncident(incident: Incident, why: 'relapse' | 'unconfirmed', atMs: number, repairHours: number): Incident {
  if (why === 'relapse' && incident.state !== 'verified') throw new IncidentTransitionError('closed', `incident ${incident.code} is not verified: nothing to reopen`);
  if (why === 'unconfirmed' && incident.state !== 'repair_claimed') throw new IncidentTransitionError('not_claimed', `incident ${incident.code} has no repair claim to refuse`);
  return {
    ...incident,
    state: 'reopened',
    reopenedAtMs: atMs,
    closedAtMs: null,
    failedRepairs: incident.failedRepairs + 1,
    repairByMs: incident.workOrder ? atMs + repairHours * HOUR_MS : null,
    remindedRepairAtMs: null,
    missedRepairAtMs: null,
    // The village is told afresh that it is broken again, and the technician asked again.
    escalatedAtMs: null,
    verification: null,
    confirmationAskedAtMs: null,
  };
}

/** An alert of the incident rose (a warning reaching critical): a critical one needs a technician. */
export function raiseSeverity(incident: Incident, severity: Severity, atMs: number, respondHours: number, repairHours: number): Incident {
  if (severityRank(severity) <= severityRank(incident.severity)) return incident;
  const needsOrder = severity === 'critical' && !incident.workOrder;
  return {
    ...incident,
    severity,
    ...(needsOrder ? { workOrder: true, respondByMs: atMs + respondHours * HOUR_MS, repairByMs: atMs + repairHours * HOUR_MS } : {}),
  };
}

export function startVerification(fromMs: number): Verification {
  return { fromMs, normalMs: 0, segmentStartMs: null, running: null, fault: false, pumpTsMs: null, flowLpm: null, flowTsMs: null, heardAtMs: null };
}

/** A flow reading older than this beside the pump's says nothing of the pump's present run. */
export const FLOW_FRESH_MS = 5 * 60_000;

export interface VerificationReading {
  kind: 'pump' | 'flow' | 'level' | 'status';
  tsMs: number;
  running?: boolean;
  fault?: boolean;
  flowLpm?: number;
}

/**
 * Folds one reading into the verification: pumping counts while the pump runs without fault and
 * its flow is above `noFlowLpm`; a pause keeps what was counted, a fault or a dry pipe while
 * running starts again from zero. Readings are taken in event time; one older than what its topic
 * already gave is only a sign of life.
 */
export function observeReading(verification: Verification, reading: VerificationReading, noFlowLpm: number): Verification {
  if (reading.tsMs < verification.fromMs) return verification;
  let next: Verification = { ...verification, heardAtMs: Math.max(verification.heardAtMs ?? reading.tsMs, reading.tsMs) };
  if (reading.kind === 'pump') {
    if (next.pumpTsMs !== null && reading.tsMs < next.pumpTsMs) return next;
    next = closeSegment(next, reading.tsMs);
    // A flow reading from before the pump started (0 while it stood) says nothing of this run:
    // kept, it made every restart after a pause a "dry pipe" and wiped the count the pause keeps
    // (tests/unit/incidents/incident.test.ts, "a pause keeps the count").
    const starting = reading.running === true && next.running !== true;
    next = { ...next, running: reading.running ?? null, fault: reading.fault ?? false, pumpTsMs: reading.tsMs, ...(starting ? { flowLpm: null, flowTsMs: null } : {}) };
  } else if (reading.kind === 'flow') {
    if (next.flowTsMs !== null && reading.tsMs < next.flowTsMs) return next;
    next = closeSegment(next, reading.tsMs);
    next = { ...next, flowLpm: reading.flowLpm ?? null, flowTsMs: reading.tsMs };
  } else {
    return next;
  }
  const at = Math.max(next.pumpTsMs ?? reading.tsMs, next.flowTsMs ?? reading.tsMs);
  const flowFresh = next.flowTsMs !== null && next.pumpTsMs !== null && Math.abs(next.pumpTsMs - next.flowTsMs) <= FLOW_FRESH_MS;
  const bad = next.running === true && (next.fault || (flowFresh && (next.flowLpm ?? 0) <= noFlowLpm));
  if (bad) return { ...next, normalMs: 0, segmentStartMs: null };
  const normal = next.running === true && !next.fault && flowFresh && (next.flowLpm ?? 0) > noFlowLpm;
  if (normal && next.segmentStartMs === null) return { ...next, segmentStartMs: at };
  if (!normal) return { ...next, segmentStartMs: null };
  return next;
}

/** Adds the stretch of normal pumping up to `tsMs` to the count, and keeps the stretch going. */
function closeSegment(verification: Verification, tsMs: number): Verification {
  if (verification.segmentStartMs === null || tsMs <= verification.segmentStartMs) return verification;
  return { ...verification, normalMs: verification.normalMs + (tsMs - verification.segmentStartMs), segmentStartMs: tsMs };
}

/** Whether the data confirms the repair: `verify_minutes` of normal pumping, or any sign of life for `offline`. */
export function confirmedByData(incident: Incident, verifyMinutes: number): boolean {
  const verification = incident.verification;
  if (!verification) return false;
  if (incident.cause === 'offline') return verification.heardAtMs !== null;
  return verification.normalMs >= verifyMinutes * 60_000;
}

/** Durations the service report measures, in milliseconds, null where the step was not reached. */
export interface IncidentTimes {
  toAcknowledge: number | null;
  toArrive: number | null;
  waitingParts: number | null;
  toRepair: number | null;
  toVerify: number | null;
}

export function incidentTimes(incident: Incident, nowMs: number): IncidentTimes {
  const since = (at: number | null): number | null => (at === null ? null : Math.max(0, at - incident.openedAtMs));
  const waiting = incident.waitingPartsMs + (incident.waitingPartsSinceMs === null ? 0 : Math.max(0, nowMs - incident.waitingPartsSinceMs));
  return {
    toAcknowledge: since(incident.acknowledgedAtMs),
    toArrive: since(incident.onSiteAtMs),
    waitingParts: incident.parts.length > 0 ? waiting : null,
    toRepair: since(incident.repairClaimedAtMs),
    toVerify:
      incident.verifiedAtMs !== null && incident.repairClaimedAtMs !== null && incident.verifiedAtMs >= incident.repairClaimedAtMs
        ? incident.verifiedAtMs - incident.repairClaimedAtMs
        : null,
  };
}

/** Acknowledged (or on site) within `respond_hours`: null while it can still be met. */
export function respondMet(incident: Incident, nowMs: number): boolean | null {
  if (!incident.workOrder || incident.respondByMs === null) return null;
  const answeredAt = [incident.acknowledgedAtMs, incident.onSiteAtMs].filter((at): at is number => at !== null);
  const first = answeredAt.length > 0 ? Math.min(...answeredAt) : null;
  if (first !== null) return first <= incident.respondByMs;
  return nowMs > incident.respondByMs ? false : null;
}
