/**
 * current_rising: a pump that draws more and more current for the same water is wearing or
 * clogging. The clock is the readings' own time and the `nowMs` each call is given.
 */
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../src/domain/reading.js';
import { recordMaintenance } from '../../../src/rules/evaluate.js';
import { at, Borehole, flow, hours, minutes, SECOND_MS } from './borehole.js';

function runningPump(t: number, currentA: number): Reading {
  return { boreholeId: 'khabou', kind: 'pump', tsMs: at(t), values: { running: true, current_a: currentA } };
}

/**
 * The pump running for `hoursOfPumping` hours, a pump and a flow reading every 10 minutes (the
 * flow 5 s after the pump); hour k draws `currentOf(k)` and delivers `flowOf(k)`.
 */
function pumping(hoursOfPumping: number, currentOf: (hour: number) => number, flowOf: (hour: number) => number = () => 40): Reading[] {
  const readings: Reading[] = [];
  for (let t = 0; t <= hours(hoursOfPumping); t += minutes(10)) {
    const hour = Math.floor(t / hours(1));
    readings.push(runningPump(t, currentOf(hour)), flow(t + 5 * SECOND_MS, flowOf(hour)));
  }
  return readings;
}

/** Each reading received the moment it was measured, as a live device sends it. */
function live(readings: readonly Reading[]): Borehole {
  const khabou = new Borehole();
  for (const reading of readings) khabou.receive([reading]);
  return khabou;
}

const rising = (hour: number): number => 4.0 + 0.1 * hour;

describe('current_rising', () => {
  it('warns once 12 hours of pumping show the current up 19 % at a constant flow', () => {
    const khabou = live(pumping(14, rising));
    const raised = khabou.events.filter((event) => event.rule === 'current_rising');
    // Judged on complete hours: hours 0 to 11 are complete at 12:00 of pumping (06:00 + 12 h).
    expect(khabou.history.filter((line) => line.includes('current_rising'))).toEqual(['raised current_rising warning 18:00:00']);
    expect(raised[0]).toMatchObject({ type: 'raised', severity: 'warning', live: true });
    expect(raised[0]?.type === 'raised' ? raised[0].detail : '').toMatch(/^courant \+19 % en 12 h de pompage .* débit stable 40 l\/min$/);
  });

  it('says nothing while the current stays level', () => {
    expect(live(pumping(30, () => 4.2)).history).toEqual([]);
  });

  it('says nothing about a rise below current_rise_ratio (15 %)', () => {
    expect(live(pumping(30, (hour) => 4.0 + 0.05 * Math.min(hour, 11))).history).toEqual([]);
  });

  it('says nothing when the flow rose with the current: more water takes more power', () => {
    expect(live(pumping(14, rising, (hour) => 40 + 2 * hour)).history).toEqual([]);
  });

  it('says nothing before it has 12 hours of pumping to judge', () => {
    expect(live(pumping(11.5, (hour) => 4.0 + 0.3 * hour)).history).toEqual([]);
  });

  it('judges a store-and-forward backlog as it happened, whichever topic arrives first', () => {
    const readings = pumping(14, rising);
    const sentAtMs = at(hours(14) + minutes(30));
    const inOrder = live(readings).history;
    for (const first of ['pump', 'flow'] as const) {
      const khabou = new Borehole();
      khabou.receive(readings.filter((r) => r.kind === first), sentAtMs);
      khabou.receive(readings.filter((r) => r.kind !== first), sentAtMs + 20 * SECOND_MS);
      expect(khabou.history).toEqual(inOrder);
    }
  });

  it('clears after a maintenance visit, which starts the window again', () => {
    const khabou = live(pumping(14, rising));
    // The first joint instant after the visit (the flow of 20:00:05, judged once the pump reached it) no longer holds.
    khabou.state = recordMaintenance(khabou.state);
    for (let t = hours(14) + minutes(10); t <= hours(14) + minutes(30); t += minutes(10)) {
      khabou.receive([runningPump(t, 4.0)]);
      khabou.receive([flow(t + 5 * SECOND_MS, 40)]);
    }
    expect(khabou.history.filter((line) => line.includes('current_rising'))).toEqual(['raised current_rising warning 18:00:00', 'cleared current_rising 20:00:05']);
  });
});
