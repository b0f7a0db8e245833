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

  it('cover every event type, one file each, plus the Khabou demo', () => {
    const names = files.map((name) => name.replace(/\.yaml$/, ''));
    expect(names.sort()).toEqual([...EVENT_TYPES.map((type) => type.replace(/_/g, '-')), 'khabou-demo'].sort());
  });

  it.each(files)('%s is valid against the example registry and starts in the past', async (name) => {
    const scenario = await loadScenario(join(SCENARIO_DIR, name));
    expect(scenarioBoreholes(scenario, exampleRegistry())).toHaveLength(5);
    expect(scenario.from).toMatch(/^-\d/);
    expect(scenario.events.length).toBeGreaterThan(0);
  });

  it('khabou-demo: a week of normal life, then a dry-run fault at Khabou, then a repair', async () => {
    const scenario = await loadScenario(join(SCENARIO_DIR, 'khabou-demo.yaml'));
    expect(scenario.from).toBe('-7d');
    expect(scenario.events.map(({ type, borehole }) => `${type} ${borehole}`)).toEqual(['dry_run khabou', 'repair khabou']);
    const [fault, repair] = scenario.events;
    expect(fault?.at).toBeGreaterThan(6 * DAY_MS);
    expect(repair?.at).toBeGreaterThan(fault?.at ?? Infinity);
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
