/**
 * The incident and work-order transitions of src/incidents/incident.ts, pure, with explicit times.
 */
import { describe, expect, it } from 'vitest';
import {
  acknowledgeIncident,
  arriveOnSite,
  claimRepair,
  confirmedByData,
  incidentTimes,
  IncidentTransitionError,
  observeReading,
  openIncident,
  reopenIncident,
  respondMet,
  startVerification,
  verifyIncident,
  waitForPart,
  type Incident,
  type NewIncident,
  type Verification,
} from '../../../src/incidents/incident.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 1, 5, 10, 0);
const TECH = 'sms:+22379000003';
const PRES = 'sms:+22376000001';

function fresh(overrides: Partial<NewIncident> = {}): Incident {
  return openIncident({
    id: 'i1',
    code: 17,
    boreholeId: 'khabou',
    cause: 'pump_fault',
    fault: 'dry_run',
    severity: 'critical',
    alertId: 'a17',
    workOrder: true,
    manual: null,
    historical: false,
    atMs: T0,
    assignee: { name: 'Technicien', phone: '+22379000003' },
    respondHours: 72,
    repairHours: 168,
    groupMs: 60_000,
    snapshot: null,
    ...overrides,
  });
}

describe('openIncident', () => {
  it('opens reported with its targets and the grouping wait', () => {
    const incident = fresh();
    expect(incident).toMatchObject({ state: 'reported', alertIds: ['a17'], respondByMs: T0 + 72 * HOUR, repairByMs: T0 + 168 * HOUR, announceAtMs: T0 + MIN, failedRepairs: 0 });
  });

  it('has no targets and no assignee without a work order', () => {
    expect(fresh({ workOrder: false, severity: 'warning' })).toMatchObject({ respondByMs: null, repairByMs: null, assignee: null });
  });
});

describe('acknowledge', () => {
  it('moves reported to acknowledged, with who and when', () => {
    expect(acknowledgeIncident(fresh(), PRES, T0 + 2 * HOUR)).toMatchObject({ state: 'acknowledged', acknowledgedAtMs: T0 + 2 * HOUR, acknowledgedBy: PRES });
  });

  it('moves reopened to acknowledged, keeping the first acknowledgement', () => {
    const first = acknowledgeIncident(fresh(), PRES, T0 + HOUR);
    const claimed = claimRepair(first, null, TECH, T0 + 5 * HOUR);
    const reopened = reopenIncident(claimed, 'unconfirmed', T0 + 30 * HOUR, 168);
    const again = acknowledgeIncident(reopened, TECH, T0 + 31 * HOUR);
    expect(again).toMatchObject({ state: 'acknowledged', acknowledgedAtMs: T0 + HOUR, acknowledgedBy: PRES });
  });

  it('keeps a later state: an OK after the technician arrived changes nothing', () => {
    const onSite = arriveOnSite(fresh(), TECH, T0 + HOUR);
    expect(acknowledgeIncident(onSite, PRES, T0 + 2 * HOUR)).toMatchObject({ state: 'on_site', acknowledgedAtMs: T0 + HOUR, acknowledgedBy: TECH });
  });

  it('never dates an acknowledgement before the opening', () => {
    expect(acknowledgeIncident(fresh(), PRES, T0 - HOUR).acknowledgedAtMs).toBe(T0);
  });
});

describe('arrive, parts, repair', () => {
  it('arriving implies acknowledged', () => {
    expect(arriveOnSite(fresh(), TECH, T0 + 3 * HOUR)).toMatchObject({ state: 'on_site', onSiteAtMs: T0 + 3 * HOUR, acknowledgedAtMs: T0 + 3 * HOUR, acknowledgedBy: TECH });
  });

  it('accumulates parts, and sums the time waiting across two waits', () => {
    let incident = arriveOnSite(fresh(), TECH, T0 + HOUR);
    incident = waitForPart(incident, 'roulement', TECH, T0 + 2 * HOUR);
    incident = waitForPart(incident, 'joint', TECH, T0 + 3 * HOUR);
    expect(incident.parts.map((p) => [p.part, p.atMs, p.by])).toEqual([
      ['roulement', T0 + 2 * HOUR, TECH],
      ['joint', T0 + 3 * HOUR, TECH],
    ]);
    // The second part does not restart the wait.
    expect(incident.waitingPartsSinceMs).toBe(T0 + 2 * HOUR);
    incident = arriveOnSite(incident, TECH, T0 + 12 * HOUR);
    expect(incident).toMatchObject({ state: 'on_site', waitingPartsMs: 10 * HOUR, waitingPartsSinceMs: null, onSiteAtMs: T0 + HOUR });
    incident = waitForPart(incident, 'cable', TECH, T0 + 13 * HOUR);
    incident = claimRepair(incident, 'cable change', TECH, T0 + 18 * HOUR);
    expect(incident.waitingPartsMs).toBe(15 * HOUR);
    expect(incidentTimes(incident, T0 + 20 * HOUR).waitingParts).toBe(15 * HOUR);
  });

  it('counts a wait still under way up to now in the times', () => {
    const waiting = waitForPart(arriveOnSite(fresh(), TECH, T0 + HOUR), 'roulement', TECH, T0 + 2 * HOUR);
    expect(incidentTimes(waiting, T0 + 7 * HOUR).waitingParts).toBe(5 * HOUR);
  });

  it('claiming the repair starts the verification from the claim, and does not close', () => {
    const claimed = claimRepair(arriveOnSite(fresh(), TECH, T0 + HOUR), 'pompe changee', TECH, T0 + 4 * HOUR);
    expect(claimed).toMatchObject({ state: 'repair_claimed', repairClaimedAtMs: T0 + 4 * HOUR, repairClaimedBy: TECH, repairNote: 'pompe changee', verifiedAtMs: null, closedAtMs: null });
    expect(claimed.verification).toEqual(startVerification(T0 + 4 * HOUR));
  });

  it('verifying closes, by whom it says', () => {
    const claimed = claimRepair(fresh(), null, TECH, T0 + 4 * HOUR);
    expect(verifyIncident(claimed, 'data', T0 + 5 * HOUR)).toMatchObject({ state: 'verified', verifiedBy: 'data', verifiedAtMs: T0 + 5 * HOUR, closedAtMs: T0 + 5 * HOUR, verification: null });
  });
});

describe('reopen', () => {
  const claimed = (): Incident => claimRepair(fresh(), null, TECH, T0 + 4 * HOUR);

  it('a relapse after verification counts a failed repair and sets a new repair target', () => {
    const verified = verifyIncident(claimed(), 'data', T0 + 5 * HOUR);
    const reopened = reopenIncident(verified, 'relapse', T0 + 15 * HOUR, 168);
    expect(reopened).toMatchObject({ state: 'reopened', reopenedAtMs: T0 + 15 * HOUR, closedAtMs: null, failedRepairs: 1, repairByMs: T0 + 15 * HOUR + 168 * HOUR });
    // The first repair stays in the record; a second relapse counts a second failure.
    const twice = reopenIncident(verifyIncident(claimRepair(reopened, null, TECH, T0 + 20 * HOUR), 'data', T0 + 21 * HOUR), 'relapse', T0 + 22 * HOUR, 168);
    expect(twice.failedRepairs).toBe(2);
  });

  it('an unconfirmed claim counts a failed repair', () => {
    expect(reopenIncident(claimed(), 'unconfirmed', T0 + 28 * HOUR, 168)).toMatchObject({ state: 'reopened', failedRepairs: 1, verification: null });
  });

  it('refuses the wrong state', () => {
    expect(() => reopenIncident(claimed(), 'relapse', T0 + 5 * HOUR, 168)).toThrow(IncidentTransitionError);
    expect(() => reopenIncident(fresh(), 'unconfirmed', T0 + 5 * HOUR, 168)).toThrow(expect.objectContaining({ reason: 'not_claimed' }) as Error);
    const verified = verifyIncident(claimed(), 'data', T0 + 5 * HOUR);
    expect(() => reopenIncident(verified, 'unconfirmed', T0 + 6 * HOUR, 168)).toThrow(expect.objectContaining({ reason: 'not_claimed' }) as Error);
  });
});

describe('a closed incident', () => {
  const closed = verifyIncident(claimRepair(fresh(), null, TECH, T0 + HOUR), 'data', T0 + 2 * HOUR);
  it.each([
    ['acknowledge', () => acknowledgeIncident(closed, PRES, T0 + 3 * HOUR)],
    ['arrive', () => arriveOnSite(closed, TECH, T0 + 3 * HOUR)],
    ['part', () => waitForPart(closed, 'joint', TECH, T0 + 3 * HOUR)],
    ['repair', () => claimRepair(closed, null, TECH, T0 + 3 * HOUR)],
    ['verify', () => verifyIncident(closed, PRES, T0 + 3 * HOUR)],
  ])('refuses %s with IncidentTransitionError(closed)', (_what, act) => {
    expect(act).toThrow(IncidentTransitionError);
    expect(act).toThrow(expect.objectContaining({ reason: 'closed' }) as Error);
  });
});

describe('observeReading', () => {
  const NO_FLOW = 2;
  const fold = (v: Verification, ...readings: Parameters<typeof observeReading>[1][]): Verification => readings.reduce((acc, r) => observeReading(acc, r, NO_FLOW), v);
  const running = (ts: number, fault = false) => ({ kind: 'pump' as const, tsMs: ts, running: true, fault });
  const stopped = (ts: number) => ({ kind: 'pump' as const, tsMs: ts, running: false, fault: false });
  const flowAt = (ts: number, lpm: number) => ({ kind: 'flow' as const, tsMs: ts, flowLpm: lpm });
  /** The pump's state and the flow, reported together (a flow reading minutes from the pump's is stale). */
  const both = (ts: number, lpm: number) => [running(ts), flowAt(ts, lpm)];

  it('counts pumping with flow, in event time', () => {
    const v = fold(startVerification(T0), running(T0), flowAt(T0 + 1_000, 40), ...both(T0 + 5 * MIN, 40), ...both(T0 + 10 * MIN, 40), ...both(T0 + 15 * MIN, 41), ...both(T0 + 20 * MIN, 41));
    expect(v.normalMs).toBe(20 * MIN - 1_000);
  });

  it('a pause keeps the count; pumping again adds to it', () => {
    let v = fold(startVerification(T0), ...both(T0, 40), ...both(T0 + 5 * MIN, 40), ...both(T0 + 10 * MIN, 40), stopped(T0 + 15 * MIN));
    expect(v.normalMs).toBe(15 * MIN);
    v = fold(v, flowAt(T0 + 60 * MIN, 0), ...both(T0 + 61 * MIN, 40), ...both(T0 + 66 * MIN, 40), ...both(T0 + 71 * MIN, 40));
    expect(v.normalMs).toBe(25 * MIN);
  });

  it('a fault while running starts again from zero', () => {
    const v = fold(startVerification(T0), ...both(T0, 40), ...both(T0 + 5 * MIN, 40), ...both(T0 + 10 * MIN, 40), running(T0 + 11 * MIN, true));
    expect(v.normalMs).toBe(0);
    expect(v.segmentStartMs).toBeNull();
  });

  it('a dry pipe while running starts again from zero', () => {
    const v = fold(startVerification(T0), ...both(T0, 40), ...both(T0 + 5 * MIN, 40), ...both(T0 + 10 * MIN, 40), flowAt(T0 + 11 * MIN, 1));
    expect(v.normalMs).toBe(0);
    // And counts afresh from the next good stretch.
    expect(fold(v, ...both(T0 + 12 * MIN, 40), ...both(T0 + 16 * MIN, 40)).normalMs).toBe(4 * MIN);
  });

  it('a stale flow reading counts nothing: it says nothing of this run', () => {
    const v = fold(startVerification(T0), flowAt(T0, 40), running(T0 + 30 * MIN), running(T0 + 50 * MIN));
    expect(v.normalMs).toBe(0);
    // Nor does a stale zero reset a run: only a fresh one says the pipe is dry.
    const counted = fold(startVerification(T0), ...both(T0, 40), ...both(T0 + 5 * MIN, 40));
    expect(fold(counted, running(T0 + 20 * MIN)).normalMs).toBeGreaterThan(0);
  });

  it('ignores readings before it started and takes an older one of a topic as a sign of life only', () => {
    const before = fold(startVerification(T0), running(T0 - MIN), flowAt(T0 - MIN, 40));
    expect(before).toEqual(startVerification(T0));
    const v = fold(startVerification(T0), running(T0 + 10 * MIN), flowAt(T0 + 10 * MIN, 40), running(T0 + 5 * MIN, true));
    expect(v.fault).toBe(false);
    expect(v.heardAtMs).toBe(T0 + 10 * MIN);
  });
});

describe('confirmedByData', () => {
  const claimed = (cause: Incident['cause']): Incident => claimRepair(fresh({ cause }), null, TECH, T0);

  it('needs verify_minutes of normal pumping', () => {
    const incident = claimed('pump_fault');
    const at = (minutes: number): Incident => ({
      ...incident,
      verification: [
        { kind: 'pump' as const, tsMs: T0, running: true, fault: false },
        { kind: 'flow' as const, tsMs: T0, flowLpm: 40 },
        { kind: 'flow' as const, tsMs: T0 + minutes * MIN, flowLpm: 40 },
      ].reduce((v, r) => observeReading(v, r, 2), incident.verification as Verification),
    });
    expect(confirmedByData(at(29), 30)).toBe(false);
    expect(confirmedByData(at(30), 30)).toBe(true);
  });

  it('for offline, any reading after the claim', () => {
    const incident = claimed('offline');
    expect(confirmedByData(incident, 30)).toBe(false);
    const heard = { ...incident, verification: observeReading(incident.verification as Verification, { kind: 'status', tsMs: T0 + MIN }, 2) };
    expect(confirmedByData(heard, 30)).toBe(true);
    // A pump fault is not verified by a mere sign of life.
    const pumpHeard = { ...claimed('pump_fault'), verification: heard.verification };
    expect(confirmedByData(pumpHeard, 30)).toBe(false);
  });

  it('is false without a verification under way', () => {
    expect(confirmedByData({ ...fresh(), verification: null }, 30)).toBe(false);
  });
});

describe('incidentTimes and respondMet', () => {
  it('measures each step from the opening, verification from the claim', () => {
    let incident = acknowledgeIncident(fresh(), PRES, T0 + 2 * HOUR);
    incident = arriveOnSite(incident, TECH, T0 + 26 * HOUR);
    incident = waitForPart(incident, 'roulement', TECH, T0 + 27 * HOUR);
    incident = claimRepair(incident, null, TECH, T0 + 47 * HOUR);
    incident = verifyIncident(incident, 'data', T0 + 48 * HOUR);
    expect(incidentTimes(incident, T0 + 100 * HOUR)).toEqual({ toAcknowledge: 2 * HOUR, toArrive: 26 * HOUR, waitingParts: 20 * HOUR, toRepair: 47 * HOUR, toVerify: HOUR });
  });

  it('is null where a step was not reached', () => {
    expect(incidentTimes(fresh(), T0 + HOUR)).toEqual({ toAcknowledge: null, toArrive: null, waitingParts: null, toRepair: null, toVerify: null });
  });

  it('respond_hours met when acknowledged or on site in time; missed after; undecided before', () => {
    expect(respondMet(fresh(), T0 + 71 * HOUR)).toBeNull();
    expect(respondMet(fresh(), T0 + 73 * HOUR)).toBe(false);
    expect(respondMet(acknowledgeIncident(fresh(), PRES, T0 + 71 * HOUR), T0 + 100 * HOUR)).toBe(true);
    expect(respondMet(arriveOnSite(fresh(), TECH, T0 + 73 * HOUR), T0 + 100 * HOUR)).toBe(false);
    expect(respondMet(fresh({ workOrder: false }), T0 + 100 * HOUR)).toBeNull();
  });
});
