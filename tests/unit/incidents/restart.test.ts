/**
 * Restart in every state (issue 15, "What must hold"): the service stops with Khabou's incident
 * in each state of its work order, a new service starts on the same SQLite file and clock, and the
 * repair loop carries on to verification. Nothing is lost (state, parts, times) and no SMS goes
 * twice across the two runs; the run with a restart ends as the one without.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Incident, IncidentState } from '../../../src/incidents/incident.js';
import { flow, HOUR_MS, level, MINUTE_MS, PRESIDENT, pump, registryWith, startDesk, T0_MS, TECHNICIAN, type Desk } from './harness.js';

const registry = registryWith();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Run {
  h: Desk;
  /** Every SMS delivered, by every service that ran. */
  delivered: { to: string; text: string }[];
}

const code = (run: Run): number => run.h.incidents()[0]?.code ?? -1;

async function pumpNormally(run: Run, minutes: number): Promise<void> {
  for (let i = 0; i <= minutes; i += 1) {
    const now = run.h.clock.nowMs;
    await run.h.read(pump(now, true), flow(now + 2_000, 42), level(now, 30));
    await run.h.advance(MINUTE_MS);
  }
}

/** The repair loop, step by step; after each, the incident is in the state named. */
const STEPS: { state: IncidentState; label: string; act: (run: Run) => Promise<void> }[] = [
  {
    label: 'reported, before the grouping wait ended',
    state: 'reported',
    act: async (run) => {
      await run.h.read(pump(T0_MS, false, 'dry_run'));
      await run.h.advance(5_000);
      await run.h.read(level(T0_MS + 5_000, 56));
    },
  },
  { label: 'reported, announced', state: 'reported', act: (run) => run.h.advance(MINUTE_MS) },
  { label: 'acknowledged', state: 'acknowledged', act: async (run) => void (await run.h.sms(PRESIDENT, `OK ${code(run)}`)) },
  {
    label: 'on_site',
    state: 'on_site',
    act: async (run) => {
      await run.h.advance(3 * HOUR_MS, MINUTE_MS);
      await run.h.sms(TECHNICIAN, `ARRIVE ${code(run)}`);
    },
  },
  {
    label: 'waiting_parts',
    state: 'waiting_parts',
    act: async (run) => {
      await run.h.advance(HOUR_MS, MINUTE_MS);
      await run.h.sms(TECHNICIAN, `PIECE ${code(run)} roulement`);
    },
  },
  {
    label: 'repair_claimed',
    state: 'repair_claimed',
    act: async (run) => {
      await run.h.advance(20 * HOUR_MS, MINUTE_MS);
      await run.h.sms(TECHNICIAN, `REPARE ${code(run)} pompe changee`);
    },
  },
  { label: 'verified', state: 'verified', act: (run) => pumpNormally(run, 40) },
  {
    label: 'reopened (relapse)',
    state: 'reopened',
    act: async (run) => {
      await run.h.advance(10 * HOUR_MS, MINUTE_MS);
      await run.h.read(pump(run.h.clock.nowMs, false, 'dry_run'));
      await run.h.advance(MINUTE_MS);
    },
  },
  {
    label: 'verified again',
    state: 'verified',
    act: async (run) => {
      await run.h.sms(TECHNICIAN, `REPARE ${code(run)} deuxieme fois`);
      await run.h.advance(MINUTE_MS);
      await pumpNormally(run, 40);
    },
  },
];

/** Runs the whole loop, restarting the service after step `restartAfter` (none when null). */
async function runLoop(restartAfter: number | null): Promise<{ incident: Incident; delivered: Run['delivered'] }> {
  const dir = mkdtempSync(join(tmpdir(), 'incident-restart-'));
  dirs.push(dir);
  const path = join(dir, 'ops.sqlite');
  const clock = { nowMs: T0_MS };
  const run: Run = { h: startDesk(registry, path, clock), delivered: [] };
  const collect = (): void => {
    run.delivered.push(...run.h.gateway.delivered.map((m) => ({ to: m.to, text: m.text })));
  };
  for (const [index, step] of STEPS.entries()) {
    await step.act(run);
    const incidents = run.h.incidents();
    expect(incidents, step.label).toHaveLength(1);
    expect(incidents[0]?.state, step.label).toBe(step.state);
    if (index === restartAfter) {
      const before = incidents[0];
      collect();
      await run.h.stop();
      run.h = startDesk(registry, path, clock);
      // What the new service reads back is what the old one left.
      expect(run.h.incidents(), step.label).toEqual([before]);
    }
  }
  collect();
  const incident = run.h.incidents()[0] as Incident;
  await run.h.stop();
  return { incident, delivered: run.delivered };
}

/** What a restart must not change: the work order's record. */
const record = (incident: Incident) => ({
  code: incident.code,
  cause: incident.cause,
  state: incident.state,
  alerts: incident.alertIds.length,
  parts: incident.parts,
  acknowledgedAtMs: incident.acknowledgedAtMs,
  acknowledgedBy: incident.acknowledgedBy,
  onSiteAtMs: incident.onSiteAtMs,
  waitingPartsMs: incident.waitingPartsMs,
  repairClaimedAtMs: incident.repairClaimedAtMs,
  repairNote: incident.repairNote,
  verifiedAtMs: incident.verifiedAtMs,
  verifiedBy: incident.verifiedBy,
  reopenedAtMs: incident.reopenedAtMs,
  failedRepairs: incident.failedRepairs,
  announcedAtMs: incident.announcedAtMs,
});

const sms = (delivered: Run['delivered']): string[] => delivered.map((m) => `${m.to} ← ${m.text}`);

describe('restart in every state', () => {
  let reference: { incident: Incident; delivered: Run['delivered'] } | null = null;
  const referenceRun = async () => (reference ??= await runLoop(null));

  it('the loop without a restart: verified twice, one failed repair', async () => {
    const { incident, delivered } = await referenceRun();
    expect(record(incident)).toMatchObject({ state: 'verified', verifiedBy: 'data', failedRepairs: 1, parts: [expect.objectContaining({ part: 'roulement' })] });
    // Twice the same text only where it happened twice: the answer to each REPARE, the water back after each repair.
    const texts = sms(delivered);
    const repeated = texts.filter((text, i) => texts.indexOf(text) !== i);
    expect(repeated.length).toBeGreaterThan(0);
    for (const text of repeated) expect(text).toMatch(/REPARE \d+ recu|l'eau est revenue/);
  }, 120_000);

  it.each(STEPS.slice(0, -1).map((step, index) => [step.label, index] as const))('restarted when %s: nothing lost, nothing sent twice', async (_label, index) => {
    const { incident, delivered } = await runLoop(index);
    const ref = await referenceRun();
    expect(record(incident)).toEqual(record(ref.incident));
    // Every SMS of the run without a restart, each as many times: one more would be a message sent again.
    expect(sms(delivered).sort()).toEqual(sms(ref.delivered).sort());
  }, 120_000);
});
