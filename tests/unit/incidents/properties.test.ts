/**
 * Properties of the incident desk (issue 15, "What must hold"), on the real desk, rules engine,
 * store and dispatcher (harness.ts): one SMS per person per incident whatever the order in which
 * its alerts open; every incident ends verified or open, never closed without data or a person.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../src/domain/reading.js';
import { flow, level, MINUTE_MS, PRESIDENT, pump, startDesk, TECHNICIAN, TREASURER, type Desk } from './harness.js';

const RUNS = { seed: 15, numRuns: 20 } as const;
const PEOPLE = [PRESIDENT, TREASURER, TECHNICIAN] as const;

type Symptom = 'dry_run' | 'low_water' | 'no_flow';
/** The readings that make each alert of Khabou's dry run, at `at`. */
function symptom(kind: Symptom, at: number): Reading[] {
  if (kind === 'dry_run') return [pump(at, false, 'dry_run')];
  if (kind === 'low_water') return [level(at, 56)];
  return [pump(at, true), flow(at, 0)];
}

const incidentMessages = (h: Desk, phone: string): number => h.store.listSms(10_000).filter((m) => m.recipient === phone && m.kind === 'incident').length;

describe('one SMS per person per incident', () => {
  it('whatever the order and timing of the dry run, low water and no flow', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray<Symptom>(['dry_run', 'low_water', 'no_flow'], { minLength: 3, maxLength: 3 }),
        fc.array(fc.integer({ min: 1, max: 5 * 60 }), { minLength: 3, maxLength: 3 }),
        async (order, gapsSeconds) => {
          const h = startDesk();
          try {
            for (const [i, kind] of order.entries()) {
              await h.read(...symptom(kind, h.clock.nowMs));
              await h.advance((gapsSeconds[i] ?? 1) * 1000);
            }
            // Long enough for no_flow to open (no_flow_minutes 10) and every wait to end.
            await h.advance(20 * MINUTE_MS, MINUTE_MS);
            const incidents = h.incidents();
            expect(incidents).toHaveLength(1);
            for (const phone of PEOPLE) expect(incidentMessages(h, phone), phone).toBe(1);
            // The gateway delivered that one message, and perhaps one more if it became critical later, no more.
            for (const phone of PEOPLE) expect(h.received(phone).length, phone).toBeLessThanOrEqual(2);
          } finally {
            await h.stop();
          }
        },
      ),
      RUNS,
    );
  }, 300_000);
});

type Step =
  | { kind: 'command'; from: string; word: 'OK' | 'ARRIVE' | 'PIECE' | 'REPARE' }
  | { kind: 'normal'; minutes: number }
  | { kind: 'fault' }
  | { kind: 'wait'; minutes: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('command' as const), from: fc.constantFrom(...PEOPLE), word: fc.constantFrom('OK' as const, 'ARRIVE' as const, 'PIECE' as const, 'REPARE' as const) }),
  fc.record({ kind: fc.constant('normal' as const), minutes: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('fault' as const) }),
  fc.record({ kind: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 6 * 60 }) }),
);

describe('closed only by data or a person', () => {
  it('every incident ends verified or open; verified only by normal pumping of verify_minutes, or by a person', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
        const h = startDesk();
        /** Stretches of normal pumping the sequence produced, event time. */
        const normal: { fromMs: number; toMs: number }[] = [];
        try {
          await h.read(pump(h.clock.nowMs, false, 'dry_run'), level(h.clock.nowMs, 56));
          await h.advance(2 * MINUTE_MS);
          for (const step of steps) {
            const code = h.incidents()[0]?.code ?? 0;
            if (step.kind === 'command') {
              await h.sms(step.from, `${step.word} ${code}${step.word === 'PIECE' ? ' joint' : ''}`);
              await h.advance(MINUTE_MS);
            } else if (step.kind === 'normal') {
              const fromMs = h.clock.nowMs;
              for (let i = 0; i <= step.minutes; i += 1) {
                await h.read(pump(h.clock.nowMs, true), flow(h.clock.nowMs + 2_000, 42), level(h.clock.nowMs, 30));
                await h.advance(MINUTE_MS, MINUTE_MS);
              }
              // The last reading's stretch lasts until the next reading: up to now.
              normal.push({ fromMs, toMs: h.clock.nowMs });
            } else if (step.kind === 'fault') {
              await h.read(pump(h.clock.nowMs, false, 'dry_run'));
              await h.advance(MINUTE_MS);
            } else {
              await h.advance(step.minutes * MINUTE_MS, MINUTE_MS);
            }
          }
          const verifyMs = (h.registry.boreholes.get('khabou')?.rules.verify_minutes ?? 30) * MINUTE_MS;
          for (const incident of h.incidents()) {
            expect(['reported', 'acknowledged', 'on_site', 'waiting_parts', 'repair_claimed', 'verified', 'reopened']).toContain(incident.state);
            if (incident.state !== 'verified') {
              expect(incident.closedAtMs).toBeNull();
              continue;
            }
            const person = PEOPLE.some((phone) => incident.verifiedBy === `sms:${phone}`) || (incident.verifiedBy ?? '').startsWith('operator:');
            if (person) continue;
            expect(incident.verifiedBy).toBe('data');
            // Never by REPARE alone: a stretch of normal pumping at least verify_minutes long
            // after the repair claim (or the opening) came before the verification.
            const since = incident.repairClaimedAtMs ?? incident.openedAtMs;
            const verifiedAt = incident.verifiedAtMs ?? 0;
            const pumped = normal.reduce((sum, s) => sum + Math.max(0, Math.min(s.toMs, verifiedAt) - Math.max(s.fromMs, since)), 0);
            expect(pumped).toBeGreaterThanOrEqual(verifyMs - MINUTE_MS);
          }
        } finally {
          await h.stop();
        }
      }),
      RUNS,
    );
  }, 600_000);
});
