/**
 * The physical model against the ranges docs/simulator.md guarantees. The numbers here are the
 * documentation's, written out again on purpose: a change to the model that breaks a promise
 * made to the people reading the docs fails here.
 */
import { describe, expect, it } from 'vitest';
import { localHour, staticDepthM, step, boreholeParams, initialState } from '../../../firmware-sim/model.js';
import { DAY, events, exampleBorehole, exampleRegistry, HOUR, simulate, type SimulatedRun } from '../../../firmware-sim/test-helpers.js';

/** A dry-season week and a rainy-season week (so the seasonal level is exercised), two seeds. */
const WEEKS = [
  { seed: 1, startAtMs: Date.UTC(2026, 1, 2) },
  { seed: 42, startAtMs: Date.UTC(2026, 7, 3) },
];

interface Day {
  volumeM3: number;
  pumpingHours: number;
  drawdownM: number;
  starts: number;
  maxStartsInAnHour: number;
}

function days(run: SimulatedRun): Day[] {
  const out: Day[] = [];
  for (let first = 0; first + 1440 <= run.readings.length; first += 1440) {
    const day = run.readings.slice(first, first + 1440);
    const before = first === 0 ? undefined : run.readings[first - 1];
    const startTotal = before?.flow.total_m3 ?? (day[0]?.flow.total_m3 ?? 0) - (day[0]?.flow.rate_lpm ?? 0) / 1000;
    const predawn = day.filter((r) => localHour(r.atMs) < 6).map((r) => r.level.depth_m);
    const daytime = day.filter((r) => localHour(r.atMs) >= 7 && localHour(r.atMs) < 18).map((r) => r.level.depth_m);
    const startMinutes: number[] = [];
    day.forEach((reading, index) => {
      const previous = index === 0 ? before : day[index - 1];
      if (reading.pump.running && previous?.pump.running === false) startMinutes.push(index);
    });
    const maxStartsInAnHour = Math.max(0, ...startMinutes.map((minute) => startMinutes.filter((other) => other >= minute && other < minute + 60).length));
    out.push({
      volumeM3: (day.at(-1)?.flow.total_m3 ?? 0) - startTotal,
      pumpingHours: day.filter((r) => r.pump.running).length / 60,
      drawdownM: Math.max(...daytime) - Math.min(...predawn),
      starts: startMinutes.length,
      maxStartsInAnHour,
    });
  }
  return out;
}

const normalWeeks = [...exampleRegistry().boreholes.values()].flatMap((borehole) =>
  WEEKS.map(({ seed, startAtMs }) => ({ label: `${borehole.id}, seed ${seed}, week of ${new Date(startAtMs).toISOString().slice(0, 10)}`, borehole, seed, startAtMs })),
);

describe('a normal borehole over a simulated week', () => {
  describe.each(normalWeeks)('$label', ({ borehole, seed, startAtMs }) => {
    const run = simulate(borehole, seed, startAtMs, 7 * DAY);
    const { params } = run;
    const ratedM3PerHour = (params.ratedFlowLpm * 60) / 1000;

    const daily = days(run);
    const at = (atMs: number): string => new Date(atMs).toISOString();

    it('pumps 4 to 7 hours of rated flow a day', () => {
      const volumes = daily.map((day) => day.volumeM3 / ratedM3PerHour);
      expect(volumes.filter((hours) => hours < 4 || hours > 7)).toEqual([]);
      expect(volumes).toHaveLength(7);
    });

    it('runs the pump 4 to 8 hours a day, starting at most twice in any hour and 6 times a day', () => {
      expect(daily.filter((day) => day.pumpingHours < 4 || day.pumpingHours > 8)).toEqual([]);
      expect(daily.filter((day) => day.starts < 1 || day.starts > 6 || day.maxStartsInAnHour > 2)).toEqual([]);
    });

    it('never runs the pump at night (before 07:00 or from 18:00, Bamako time)', () => {
      const atNight = run.readings.filter((r) => r.pump.running && (localHour(r.atMs) < 7 || localHour(r.atMs) >= 18));
      expect(atNight.map((r) => at(r.atMs))).toEqual([]);
    });

    it('draws the water down by 12% to 25% of the intake depth each day, and keeps it within 35% to 80% of it', () => {
      const drawdowns = daily.map((day) => day.drawdownM / params.intakeDepthM);
      expect(drawdowns.filter((share) => share < 0.12 || share > 0.25)).toEqual([]);
      const outside = run.readings.filter((r) => r.level.depth_m < 0.35 * params.intakeDepthM || r.level.depth_m > 0.8 * params.intakeDepthM);
      expect(outside.map((r) => `${at(r.atMs)} ${r.level.depth_m} m`)).toEqual([]);
    });

    it('gives 60% to 105% of the rated flow while running, and none when stopped', () => {
      const wrong = run.readings.filter(({ flow, pump }) =>
        pump.running ? flow.rate_lpm < 0.6 * params.ratedFlowLpm || flow.rate_lpm > 1.05 * params.ratedFlowLpm : flow.rate_lpm !== 0,
      );
      expect(wrong.map((r) => `${at(r.atMs)} running ${r.pump.running} ${r.flow.rate_lpm} l/min`)).toEqual([]);
    });

    it('draws 70% to 110% of the rated current while pumping water, none when stopped, and reports no fault', () => {
      const wrong = run.readings.filter(({ pump }) =>
        pump.fault !== null ||
        (pump.running ? pump.current_a < 0.7 * params.ratedCurrentA || pump.current_a > 1.1 * params.ratedCurrentA : pump.current_a !== 0),
      );
      expect(wrong.map((r) => `${at(r.atMs)} ${JSON.stringify(r.pump)}`)).toEqual([]);
    });

    it('keeps the meter total increasing', () => {
      const totals = run.readings.map((r) => r.flow.total_m3);
      expect(totals).toEqual([...totals].sort((a, b) => a - b));
    });
  });

  it('derives the rated current from the rated flow and the head (Khabou: about 6.4 A)', () => {
    expect(boreholeParams(exampleBorehole('khabou'), 1).ratedCurrentA).toBeCloseTo(6.36, 1);
  });
});

describe('the seasonal water level', () => {
  const params = boreholeParams(exampleBorehole('khabou'), 1);
  const weekly = (from: number, to: number): number[] => {
    const out: number[] = [];
    for (let atMs = from; atMs <= to; atMs += 7 * DAY) out.push(staticDepthM(params, atMs));
    return out;
  };

  it('sinks from 1 October to the end of the dry season (20 June) and rises again with the rains', () => {
    const decline = weekly(Date.UTC(2025, 9, 1), Date.UTC(2026, 5, 20));
    const rise = weekly(Date.UTC(2026, 5, 20), Date.UTC(2026, 9, 1));
    expect(decline).toEqual([...decline].sort((a, b) => a - b));
    expect(rise).toEqual([...rise].sort((a, b) => b - a));
  });

  it('is 8% of the intake depth deeper in June than in October, and moves at most 1% of it a week', () => {
    const june = staticDepthM(params, Date.UTC(2026, 5, 20));
    const october = staticDepthM(params, Date.UTC(2026, 9, 1));
    expect(june - october).toBeCloseTo(0.08 * params.intakeDepthM, 1);
    const year = weekly(Date.UTC(2026, 0, 1), Date.UTC(2027, 0, 1));
    for (let index = 1; index < year.length; index += 1) {
      expect(Math.abs((year[index] ?? 0) - (year[index - 1] ?? 0))).toBeLessThanOrEqual(0.01 * params.intakeDepthM);
    }
  });
});

describe('dry_run', () => {
  const khabou = exampleBorehole('khabou');
  const start = Date.UTC(2026, 1, 2);

  it.each([
    ['while the pump runs', '1d10h'],
    ['while the pump is idle at night', '1d2h30m'],
  ])('trips the controller at the scheduled time and not before, %s', (_label, at) => {
    const timed = events(`events: [{ at: ${at}, borehole: khabou, type: dry_run }]`, start);
    const atMs = timed[0]?.atMs ?? 0;
    const run = simulate(khabou, 42, start, 2 * DAY, timed);
    const faulted = run.readings.filter((r) => r.pump.fault === 'dry_run');
    const first = faulted[0];
    expect(first).toBeDefined();
    expect(run.readings.filter((r) => r.atMs < atMs && r.pump.fault !== null)).toEqual([]);
    expect(first?.atMs).toBeGreaterThanOrEqual(atMs);
    expect(first?.atMs).toBeLessThanOrEqual(atMs + 10 * 60_000);
    // Latched until a repair: stopped, and the water at (or within 2 m of) the intake.
    for (const reading of run.readings.filter((r) => r.atMs >= (first?.atMs ?? 0))) {
      expect(reading.pump).toMatchObject({ running: false, fault: 'dry_run', current_a: 0 });
      expect(reading.level.depth_m).toBeGreaterThanOrEqual(khabou.pump.intake_depth_m - 2.1);
    }
    expect(first?.level.depth_m).toBeGreaterThanOrEqual(khabou.pump.intake_depth_m);
  });

  it('runs dry on a low current for two minutes before the trip when the pump was running', () => {
    const timed = events('events: [{ at: 1d10h, borehole: khabou, type: dry_run }]', start);
    const run = simulate(khabou, 42, start, 2 * DAY, timed);
    const atMs = timed[0]?.atMs ?? 0;
    expect(run.readings.find((r) => r.atMs === atMs)?.pump.running).toBe(true);
    const dry = run.readings.filter((r) => r.pump.running && r.flow.rate_lpm === 0 && r.atMs > atMs);
    expect(dry.length).toBeGreaterThanOrEqual(1);
    for (const reading of dry) {
      expect(reading.pump.current_a).toBeGreaterThanOrEqual(0.3 * run.params.ratedCurrentA);
      expect(reading.pump.current_a).toBeLessThanOrEqual(0.4 * run.params.ratedCurrentA);
    }
  });

  it('is cleared by a repair, after which the pump runs again the same day', () => {
    const timed = events(
      `events:
        - { at: 1d9h, borehole: khabou, type: dry_run }
        - { at: 1d11h, borehole: khabou, type: repair }`,
      start,
    );
    const run = simulate(khabou, 42, start, 2 * DAY, timed);
    const repairAtMs = timed[1]?.atMs ?? 0;
    const after = run.readings.filter((r) => r.atMs >= repairAtMs);
    expect(after.every((r) => r.pump.fault === null)).toBe(true);
    expect(after.some((r) => r.pump.running && r.atMs < repairAtMs + 6 * HOUR)).toBe(true);
  });
});

describe('faults other than dry_run', () => {
  const start = Date.UTC(2026, 1, 2);

  it('pump_failure: running with no flow, a low current, and no fault reported', () => {
    const timed = events('events: [{ at: 1d, borehole: segala, type: pump_failure }]', start);
    const run = simulate(exampleBorehole('segala'), 1, start, 2 * DAY, timed);
    const after = run.readings.filter((r) => r.atMs >= (timed[0]?.atMs ?? 0) && r.pump.running);
    expect(after.length).toBeGreaterThan(4 * 60);
    for (const { flow, pump } of after) {
      expect(flow.rate_lpm).toBe(0);
      expect(pump.fault).toBeNull();
      expect(pump.current_a).toBeGreaterThanOrEqual(0.3 * run.params.ratedCurrentA);
      expect(pump.current_a).toBeLessThanOrEqual(0.4 * run.params.ratedCurrentA);
    }
  });

  it('pipe_leak: the delivered daily volume falls under half the median of the days before', () => {
    const timed = events('events: [{ at: 5d, borehole: kouniakary, type: pipe_leak }]', start);
    const run = simulate(exampleBorehole('kouniakary'), 1, start, 7 * DAY, timed);
    const volumes = days(run).map((day) => day.volumeM3);
    const before = volumes.slice(0, 5).sort((a, b) => a - b);
    const median = before[2] ?? 0;
    expect(volumes[5]).toBeLessThan(0.5 * median);
    expect(volumes[6]).toBeLessThan(0.5 * median);
  });

  it('sensor_stuck: the level sensor repeats one value for its duration, then reads again', () => {
    const timed = events('events: [{ at: 1d, borehole: diamou, type: sensor_stuck, sensor: level, for: 12h }]', start);
    const run = simulate(exampleBorehole('diamou'), 1, start, 2 * DAY, timed);
    const atMs = timed[0]?.atMs ?? 0;
    const stuck = run.readings.filter((r) => r.atMs >= atMs && r.atMs < atMs + 12 * HOUR).map((r) => r.level.depth_m);
    expect(new Set(stuck).size).toBe(1);
    const after = run.readings.filter((r) => r.atMs >= atMs + 12 * HOUR).map((r) => r.level.depth_m);
    expect(new Set(after).size).toBeGreaterThan(10);
  });

  it('short_cycling: more than 6 pump starts an hour while the sun is up', () => {
    const timed = events('events: [{ at: 1d, borehole: diamou, type: short_cycling, for: 1d }]', start);
    const run = simulate(exampleBorehole('diamou'), 1, start, 2 * DAY, timed);
    const noon = run.readings.filter((r) => r.atMs >= start + DAY + 12 * HOUR && r.atMs < start + DAY + 13 * HOUR);
    const starts = noon.filter((r, index) => index > 0 && r.pump.running && noon[index - 1]?.pump.running === false).length;
    expect(starts).toBeGreaterThan(6);
  });
});

describe('determinism', () => {
  const khabou = exampleBorehole('khabou');
  const start = Date.UTC(2026, 1, 2);

  it('gives the same readings for the same seed', () => {
    expect(simulate(khabou, 42, start, DAY).readings).toEqual(simulate(khabou, 42, start, DAY).readings);
  });

  it('gives different readings for a different seed', () => {
    expect(simulate(khabou, 43, start, DAY).readings).not.toEqual(simulate(khabou, 42, start, DAY).readings);
  });

  it('never changes the state it is given', () => {
    const params = boreholeParams(khabou, 1);
    const state = initialState(params, start + 10 * HOUR);
    const snapshot = structuredClone(state);
    const timed = events('events: [{ at: 0, borehole: khabou, type: dry_run }, { at: 0, borehole: khabou, type: sensor_stuck }]', start + 10 * HOUR);
    let next = step(state, 60_000, start + 10 * HOUR + 60_000, timed).state;
    for (let minute = 2; minute < 30; minute += 1) next = step(next, 60_000, start + 10 * HOUR + minute * 60_000, []).state;
    expect(state).toEqual(snapshot);
  });
});
