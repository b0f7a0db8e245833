/**
 * The repair loop of CONTRACT.md section 9 on the real desk, rules engine, store and dispatcher,
 * with an injected clock: Khabou's dry run is one incident and one SMS per person; the work order
 * moves with ARRIVE / PIECE / REPARE; the data, not the technician's word, closes it; a relapse
 * reopens it; targets remind and escalate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { flow, HOUR_MS, level, MINUTE_MS, PRESIDENT, pump, BACKUP, REGIONAL, registryWith, startDesk, STRANGER, T0_MS, TECHNICIAN, TREASURER, type Desk } from './harness.js';

let h: Desk;
afterEach(async () => {
  await h.stop();
});

/** The pump protects itself from running dry and the water is below the intake, seconds apart. */
async function dryRun(at = T0_MS): Promise<void> {
  await h.read(pump(at, false, 'dry_run'));
  await h.advance(5_000);
  await h.read(level(at + 5_000, 56));
}

/** The pump runs normally for `minutes`, a reading of each topic a minute. */
async function pumpNormally(minutes: number): Promise<void> {
  for (let i = 0; i <= minutes; i += 1) {
    await h.read(pump(h.clock.nowMs, true), flow(h.clock.nowMs + 2_000, 42), level(h.clock.nowMs, 30));
    await h.advance(MINUTE_MS);
  }
}

describe('incidents from alerts', () => {
  it('makes the dry run one incident: one SMS per person, naming the cause, after the grouping wait', async () => {
    h = startDesk();
    await dryRun();
    // Two alerts (pump_fault, low_water), one incident; nobody told before the wait.
    expect(h.store.listAlerts({ state: 'unresolved', limit: 10, offset: 0 }).alerts.map((a) => a.rule).sort()).toEqual(['low_water', 'pump_fault']);
    expect(h.incidents()).toHaveLength(1);
    expect(h.gateway.delivered).toEqual([]);
    await h.advance(60_000);
    const [incident] = h.incidents();
    expect(incident).toMatchObject({ cause: 'pump_fault', fault: 'dry_run', severity: 'critical', state: 'reported', workOrder: true });
    expect(incident?.alertIds).toHaveLength(2);
    for (const phone of [PRESIDENT, TREASURER, TECHNICIAN]) expect(h.received(phone)).toHaveLength(1);
    expect(h.received(PRESIDENT)[0]).toContain(String(incident?.code));
    expect(h.gateway.delivered).toHaveLength(3);
    // More of the same (a no_flow joining later) adds nothing.
    await h.read(pump(h.clock.nowMs, true), flow(h.clock.nowMs, 0));
    await h.advance(15 * MINUTE_MS);
    expect(h.incidents()).toHaveLength(1);
    expect(h.gateway.delivered).toHaveLength(3);
  });

  it('tells once whatever the order: low water first, then the dry-run fault, keeps low water as the cause', async () => {
    h = startDesk();
    await h.read(level(T0_MS, 56));
    await h.advance(5_000);
    await h.read(pump(T0_MS + 5_000, false, 'dry_run'));
    await h.advance(60_000);
    expect(h.incidents()).toHaveLength(1);
    expect(h.incidents()[0]).toMatchObject({ cause: 'low_water' });
    expect(h.gateway.delivered).toHaveLength(3);
  });
});

describe('the work order', () => {
  it('moves with ARRIVE, PIECE and REPARE, and only the data closes it', async () => {
    h = startDesk();
    await dryRun();
    await h.advance(60_000);
    const code = h.incidents()[0]?.code ?? -1;

    expect(await h.sms(PRESIDENT, `OK ${code}`)).toBe('acknowledged');
    expect(h.incidents()[0]).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}` });
    await h.advance(3 * HOUR_MS);
    expect(await h.sms(TECHNICIAN, `arrivé ${code}`)).toBe('on_site');
    await h.advance(HOUR_MS);
    expect(await h.sms(TECHNICIAN, `Piece ${code} roulement`)).toBe('waiting_parts');
    expect(h.incidents()[0]?.parts.map((p) => p.part)).toEqual(['roulement']);
    await h.advance(20 * HOUR_MS);
    // A committee member cannot claim the repair.
    expect(await h.sms(TREASURER, `REPARE ${code}`)).toBe('not_allowed');
    expect(await h.sms(TECHNICIAN, `REPARE ${code} pompe changee`)).toBe('repair_claimed');
    const claimed = h.incidents()[0];
    expect(claimed).toMatchObject({ state: 'repair_claimed', repairNote: 'pompe changee' });
    expect(claimed?.waitingPartsMs).toBe(20 * HOUR_MS);
    // Still open: the pump has not pumped yet.
    await h.advance(10 * MINUTE_MS);
    expect(h.incidents()[0]?.state).toBe('repair_claimed');

    await pumpNormally(40);
    const verified = h.incidents()[0];
    expect(verified).toMatchObject({ state: 'verified', verifiedBy: 'data' });
    expect(verified?.closedAtMs).not.toBeNull();
    // The committee hears the water is back, once each.
    expect(h.received(PRESIDENT).at(-1)).toMatch(/revenue/i);
    // The incident, the answer to the REPARE she was not allowed, the water back.
    expect(h.received(TREASURER)).toHaveLength(3);
    expect(h.received(TREASURER).at(-1)).toMatch(/revenue/i);
  });

  it('reopens a verified repair when the same fault comes back within reopen_hours: a failed repair', async () => {
    h = startDesk();
    await dryRun();
    await h.advance(60_000);
    const code = h.incidents()[0]?.code ?? -1;
    await h.sms(TECHNICIAN, `REPARE ${code}`);
    await pumpNormally(40);
    expect(h.incidents()[0]?.state).toBe('verified');
    await h.advance(10 * HOUR_MS);
    await h.read(pump(h.clock.nowMs, false, 'dry_run'));
    await h.advance(MINUTE_MS);
    const [incident, ...others] = h.incidents();
    expect(others).toEqual([]);
    expect(incident).toMatchObject({ state: 'reopened', failedRepairs: 1, code });
  });

  it('sends a claim the data does not confirm within verify_hours back to the technician', async () => {
    h = startDesk();
    await dryRun();
    await h.advance(60_000);
    const code = h.incidents()[0]?.code ?? -1;
    await h.sms(TECHNICIAN, `REPARE ${code}`);
    await h.advance(25 * HOUR_MS);
    expect(h.incidents()[0]).toMatchObject({ state: 'reopened', failedRepairs: 1 });
    expect(h.received(TECHNICIAN).length).toBeGreaterThanOrEqual(2);
  });

  it('escalates to the backup technician and the region when nobody acknowledges in time, once', async () => {
    h = startDesk(registryWith({ rules: { escalate_after_minutes: 30 } }));
    await dryRun();
    await h.advance(60_000);
    await h.advance(40 * MINUTE_MS);
    expect(h.incidents()[0]?.assignee?.phone).toBe(BACKUP);
    expect(h.received(BACKUP)).toHaveLength(1);
    expect(h.received(REGIONAL)).toHaveLength(1);
    await h.advance(2 * HOUR_MS);
    expect(h.received(REGIONAL)).toHaveLength(1);
    // The backup may act on the work order.
    const code = h.incidents()[0]?.code ?? -1;
    expect(await h.sms(BACKUP, `ARRIVE ${code}`)).toBe('on_site');
  });

  it('gives a warning that becomes critical hours later its whole delay before escalating', async () => {
    h = startDesk(registryWith({ rules: { escalate_after_minutes: 30 } }));
    // Within the margin above the intake: a warning, no work order.
    await h.read(level(T0_MS, 53));
    await h.advance(60_000);
    expect(h.incidents()[0]).toMatchObject({ severity: 'warning', workOrder: false });
    await h.advance(3 * HOUR_MS);
    await h.read(level(h.clock.nowMs, 56));
    await h.advance(MINUTE_MS);
    expect(h.incidents()[0]).toMatchObject({ severity: 'critical', workOrder: true });
    await h.advance(20 * MINUTE_MS);
    expect(h.received(REGIONAL)).toEqual([]);
    await h.advance(15 * MINUTE_MS);
    expect(h.received(REGIONAL)).toHaveLength(1);
  });
});

describe('PANNE', () => {
  it('opens a manual incident that the committee closes with OK after the repair, when no data comes', async () => {
    h = startDesk();
    expect(await h.sms(PRESIDENT, 'PANNE la pompe a main est cassee')).toBe('fault_opened');
    const [incident] = h.incidents();
    expect(incident).toMatchObject({ cause: 'reported_by_person', severity: 'critical', workOrder: true, manual: { text: 'la pompe a main est cassee' } });
    // The technician and the other committee member hear of it; the reporter gets the confirmation.
    expect(h.received(TECHNICIAN)).toHaveLength(1);
    expect(h.received(TREASURER)).toHaveLength(1);
    expect(h.received(PRESIDENT)).toHaveLength(1);
    const code = incident?.code ?? -1;
    await h.sms(TECHNICIAN, `REPARE ${code}`);
    expect(h.incidents()[0]).toMatchObject({ state: 'repair_claimed' });
    expect(h.incidents()[0]?.confirmationAskedAtMs).not.toBeNull();
    expect(await h.sms(TREASURER, `OK ${code}`)).toBe('repair_confirmed');
    expect(h.incidents()[0]).toMatchObject({ state: 'verified', verifiedBy: `sms:${TREASURER}` });
  });

  it('ignores an unknown number', async () => {
    h = startDesk();
    expect(await h.sms(STRANGER, 'PANNE')).toBe('ignored_unknown_number');
    expect(h.incidents()).toEqual([]);
    expect(h.gateway.delivered).toEqual([]);
  });
});
