import { describe, expect, it } from 'vitest';
import { DAY_MS, formatDuration, HOUR_MS, MINUTE_MS, parseDuration, parseSpeed, parseStart, scaledClock, simulatedNow, wallDelayUntil } from '../../../firmware-sim/clock.js';
import { joinNegativeValues } from '../../../firmware-sim/cli.js';

describe('durations', () => {
  it.each([
    ['7d', 7 * DAY_MS],
    ['2h30m', 2 * HOUR_MS + 30 * MINUTE_MS],
    ['1d12h', 36 * HOUR_MS],
    ['90s', 90_000],
    ['500ms', 500],
    ['-7d', -7 * DAY_MS],
    ['1.5h', 90 * MINUTE_MS],
    ['0', 0],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '7', '7x', '30m2h', '1h1h', 'd'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow();
  });

  it('writes them back the same way', () => {
    expect(formatDuration(2 * HOUR_MS + 30 * MINUTE_MS)).toBe('2h30m');
    expect(formatDuration(-7 * DAY_MS)).toBe('-7d');
  });
});

describe('the start of a run', () => {
  const now = Date.UTC(2026, 1, 5, 10, 42);

  it('is now, an offset into the past, or an instant', () => {
    expect(parseStart('now', now)).toBe(now);
    expect(parseStart('-7d', now)).toBe(now - 7 * DAY_MS);
    expect(parseStart('2026-02-01T00:00:00Z', now)).toBe(Date.UTC(2026, 1, 1));
  });

  it('is never in the future', () => {
    expect(() => parseStart('2h', now)).toThrow('in the future');
    expect(() => parseStart('2026-03-01T00:00:00Z', now)).toThrow('in the future');
  });

  it('takes --from -7d on the command line, which parseArgs alone refuses', () => {
    expect(joinNegativeValues(['--from', '-7d', '--speed', '600', '--load'])).toEqual(['--from=-7d', '--speed', '600', '--load']);
  });
});

describe('simulated time', () => {
  const start = Date.UTC(2026, 1, 1);
  const wallStart = start + 7 * DAY_MS;

  it('runs speed times faster than the wall clock, and never ahead of it', () => {
    expect(simulatedNow(start, wallStart, 600, wallStart + 1000)).toBe(start + 600_000);
    expect(simulatedNow(start, wallStart, 600, wallStart + 7 * DAY_MS)).toBe(wallStart + 7 * DAY_MS);
  });

  it('says how long to wait for a simulated instant', () => {
    expect(wallDelayUntil(start + 600_000, start, wallStart, 600, wallStart)).toBe(1000);
    expect(wallDelayUntil(wallStart + MINUTE_MS, start, wallStart, 600, wallStart + 2 * DAY_MS)).toBe(0);
    // Past the catch-up, simulated time is wall time: a minute ahead is a minute away.
    const later = wallStart + DAY_MS;
    expect(wallDelayUntil(later + MINUTE_MS, start, wallStart, 600, later)).toBe(MINUTE_MS);
  });

  it('reads speeds', () => {
    expect(parseSpeed('600')).toBe(600);
    expect(parseSpeed('max')).toBe('max');
    expect(() => parseSpeed('0.5')).toThrow();
  });
});

describe('scaledClock', () => {
  it('runs factor times faster than its base from the instant it is given, and sleeps for 1/factor of the time', async () => {
    const base = { nowMs: 1_000, now() { return this.nowMs; }, async sleep(ms: number) { this.nowMs += ms; } };
    const clock = scaledClock(600, Date.UTC(2026, 0, 1, 7), base);
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1, 7));
    base.nowMs += 1_000;
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1, 7, 10));
    await clock.sleep(600_000);
    expect(clock.now()).toBe(Date.UTC(2026, 0, 1, 7, 20));
    expect(() => scaledClock(0, 0)).toThrow(/positive/);
  });
});
