import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/errors.js';
import { DAY_MS, HOUR_MS, MINUTE_MS } from '../../../firmware-sim/clock.js';
import { EVENT_TYPES, loadScenario, parseScenario, scenarioBoreholes, scheduleEvents } from '../../../firmware-sim/scenarios.js';
import { exampleRegistry, SCENARIO_DIR } from '../../../firmware-sim/test-helpers.js';

function problems(yaml: string, source = 'firmware-sim/scenarios/broken.yaml'): string[] {
  try {
    parseScenario(yaml, source);
  } catch (error) {
    if (error instanceof ConfigError) return [error.message, ...error.problems];
    throw error;
  }
  throw new Error('the scenario was accepted');
}

describe('the shipped scenarios', () => {
  const files = readdirSync(SCENARIO_DIR).filter((name) => name.endsWith('.yaml'));

  // What people do (sms) has no file of its own: the repair stories carry it.
  const STORIES = ['khabou-demo', 'khabou-repair', 'khabou-relapse', 'panne-no-sensor'];

  it('cover every device and borehole event type, one file each, plus the Khabou demo and the repair stories', () => {
    const names = files.map((name) => name.replace(/\.yaml$/, ''));
    expect(names.sort()).toEqual([...EVENT_TYPES.filter((type) => type !== 'sms').map((type) => type.replace(/_/g, '-')), ...STORIES].sort());
  });

  it('every story has people sending SMS', async () => {
    for (const name of STORIES) {
      const scenario = await loadScenario(join(SCENARIO_DIR, `${name}.yaml`));
      expect(scenario.events.some((event) => event.type === 'sms'), name).toBe(true);
    }
  });

  it.each(files)('%s is valid against the example registry and starts in the past', async (name) => {
    const scenario = await loadScenario(join(SCENARIO_DIR, name));
    // panne-no-sensor leaves Khabou (a handpump, no telemetry unit) out of its devices.
    expect(scenarioBoreholes(scenario, exampleRegistry())).toHaveLength(name === 'panne-no-sensor.yaml' ? 4 : 5);
    expect(scenario.from).toMatch(/^-\d/);
    expect(scenario.events.length).toBeGreaterThan(0);
  });

  it('khabou-demo: a week of normal life, then a dry-run fault at Khabou, the SMS loop and the repair in the first minutes of real time', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-demo.yaml'));
    expect(scenario.from).toBe('-7d');
    const story = scenario.events.map((event) => (event.type === 'sms' ? `${event.from}: ${event.text}` : `${event.type} ${event.borehole}`));
    expect(story).toEqual([
      'dry_run khabou',
      'committee[0]: OK {code}',
      'technician: ARRIVE {code}',
      'technician: PIECE {code} 2 tuyaux de colonne 3 m',
      'repair khabou',
      'technician: REPARE {code} pompe descendue de 6 m',
    ]);
    const [fault, ...rest] = scenario.events;
    expect(fault?.at).toBeGreaterThan(6 * DAY_MS);
    // Everything after the fault falls in real time (the run reaches now at 7d), within 15 minutes.
    for (const event of rest) {
      expect(event.at).toBeGreaterThan(7 * DAY_MS);
      expect(event.at).toBeLessThanOrEqual(7 * DAY_MS + 15 * MINUTE_MS);
    }
    const repair = scenario.events.find((event) => event.type === 'repair');
    const claim = scenario.events.find((event) => event.type === 'sms' && event.text.startsWith('REPARE'));
    expect(claim?.at).toBe(repair?.at);
  });

  it('khabou-repair: the fault, OK, ARRIVE after hours, one PIECE, and the repair with its REPARE 26 h after the fault', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-repair.yaml'));
    const fault = scenario.events.find((event) => event.type === 'dry_run');
    const at = (prefix: string): number[] => scenario.events.filter((event) => event.type === 'sms' && event.text.startsWith(prefix)).map((event) => event.at);
    const repairs = scenario.events.filter((event) => event.type === 'repair');
    expect(repairs).toHaveLength(1);
    expect(at('PIECE ')).toHaveLength(1);
    expect((at('ARRIVE ')[0] ?? 0) - (fault?.at ?? 0)).toBeGreaterThanOrEqual(2 * HOUR_MS);
    expect(at('REPARE ')).toEqual([(fault?.at ?? 0) + 26 * HOUR_MS]);
    expect(repairs[0]?.at).toBe((fault?.at ?? 0) + 26 * HOUR_MS);
    // Nothing breaks after the repair: the readings that follow verify it.
    expect(scenario.events.filter((event) => event.at > (repairs[0]?.at ?? 0))).toEqual([]);
  });

  it('khabou-relapse: the same fault 10 h after the repair', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-relapse.yaml'));
    const faults = scenario.events.filter((event) => event.type === 'dry_run').map((event) => event.at);
    const repair = scenario.events.find((event) => event.type === 'repair');
    expect(faults).toHaveLength(2);
    expect((faults[1] ?? 0) - (repair?.at ?? 0)).toBe(10 * HOUR_MS);
    expect((repair?.at ?? 0) - (faults[0] ?? 0)).toBe(26 * HOUR_MS);
  });

  it('panne-no-sensor: PANNE from the committee at a borehole without a device, REPARE from the technician, then the committee\'s OK', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'panne-no-sensor.yaml'));
    expect(scenario.boreholes).not.toContain('khabou');
    const sms = scenario.events.flatMap((event) => (event.type === 'sms' ? [`${event.borehole} ${event.from}: ${event.text}`] : []));
    expect(sms[0]).toBe('khabou committee[0]: PANNE la pompe a main est cassee');
    expect(sms.at(-1)).toBe('khabou committee[0]: OK {code}');
    expect(sms.findIndex((line) => line.startsWith('khabou technician: REPARE {code}'))).toBeGreaterThan(0);
    expect(scenario.events.every((event) => event.type === 'sms')).toBe(true);
  });
});

describe('scenario validation', () => {
  it('names the file, the event (index, type, borehole) and the field of every problem at once', () => {
    const found = problems(`
events:
  - { at: 1d, borehole: khabou, type: dry_run }
  - { at: 7x, borehole: khabou, type: offline, for: 6h }
  - { at: 2h, borehole: segala, type: offline }
  - { at: 3h, borehole: diamou, type: pipe_leak, lost_fraction: 1.5 }
  - { at: 3h, borehole: diamou, type: sensor_stuck, sensor: pressure }
  - { at: 3h, borehole: marena, type: dry_run, duration: 2h }
`);
    expect(found[0]).toContain('scenario firmware-sim/scenarios/broken.yaml is invalid');
    expect(found).toContain('events[1] (offline on khabou).at: "7x" is not a duration such as 7d, 2h30m, 45m, 90s or 0');
    expect(found).toContain('events[2] (offline on segala).for: is required: a duration such as 7d, 2h30m, 45m, 90s or 0');
    expect(found).toContain('events[3] (pipe_leak on diamou).lost_fraction: must be below 1');
    expect(found.some((line) => line.startsWith('events[4] (sensor_stuck on diamou).sensor:'))).toBe(true);
    expect(found.some((line) => line.startsWith('events[5] (dry_run on marena)') && line.includes('duration'))).toBe(true);
    expect(found.some((line) => line.startsWith('events[0]'))).toBe(false);
  });

  it('lists the event types when the type is unknown', () => {
    const found = problems('events: [{ at: 1h, borehole: khabou, type: flood }]');
    expect(found).toContain(`events[0] (flood on khabou).type: must be one of ${EVENT_TYPES.join(', ')}`);
  });

  it('refuses a number without a unit, a negative time and an empty offset', () => {
    const found = problems(`
events:
  - { at: 90, borehole: khabou, type: dry_run }
  - { at: -1h, borehole: khabou, type: dry_run }
  - { at: 1h, borehole: khabou, type: clock_skew, offset: 0 }`);
    expect(found.some((line) => line.startsWith('events[0] (dry_run on khabou).at: 90 has no unit'))).toBe(true);
    expect(found).toContain('events[1] (dry_run on khabou).at: must not be negative: events happen after the simulation start');
    expect(found).toContain('events[2] (clock_skew on khabou).offset: must not be 0');
  });

  it('says when the file is not YAML at all', () => {
    expect(problems('events: [unclosed', 'x.yaml')[1]).toMatch(/^cannot be parsed/);
  });

  it('refuses boreholes the registry does not know, naming the event', () => {
    const scenario = parseScenario('boreholes: [khabou, segala]\nevents: [{ at: 1h, borehole: diamou, type: repair }]', 'only-two.yaml');
    expect(() => scenarioBoreholes(scenario, exampleRegistry())).toThrow(
      'events[0] (repair on diamou).borehole: "diamou" is not among the scenario\'s boreholes (khabou, segala)',
    );
  });

  it('places events on the time line of the run in time order, file order on ties', () => {
    const scenario = parseScenario(
      `events:
  - { at: 2h30m, borehole: khabou, type: repair }
  - { at: 1h, borehole: khabou, type: dry_run }
  - { at: 2h30m, borehole: segala, type: repair }`,
      'order.yaml',
    );
    const start = Date.UTC(2026, 0, 1);
    expect(scheduleEvents(scenario.events, start).map((event) => [event.atMs - start, event.borehole])).toEqual([
      [HOUR_MS, 'khabou'],
      [2 * HOUR_MS + 30 * MINUTE_MS, 'khabou'],
      [2 * HOUR_MS + 30 * MINUTE_MS, 'segala'],
    ]);
  });
});
