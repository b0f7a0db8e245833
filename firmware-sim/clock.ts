/**
 * Time for the simulator: durations as people write them in scenario files and on the command
 * line, the wall clock as an injected dependency, and the mapping from wall time to simulated
 * time that lets a run start in the past, go faster than real time, and never overtake now.
 */

/** The wall clock. Injected so tests can run hours of real-time mode in milliseconds. */
export interface Clock {
  now(): number;
  /** Resolves after `ms` of this clock's time, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

const UNIT_MS: Record<string, number> = { d: DAY_MS, h: HOUR_MS, m: MINUTE_MS, s: SECOND_MS, ms: 1 };
const DURATION_PATTERN = /^([+-]?)((?:\d+(?:\.\d+)?(?:d|h|ms|m|s))+)$/;
const PART_PATTERN = /(\d+(?:\.\d+)?)(d|h|ms|m|s)/g;

export const DURATION_HINT = 'a duration such as 7d, 2h30m, 45m, 90s or 0';

/**
 * `7d`, `2h30m`, `1d12h`, `90s`, `500ms`, `-5m`, or `0`. Units must come largest first and at most
 * once each, so a typo such as `30m2h` is an error rather than a surprise.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^[+-]?0+$/.test(trimmed)) return 0;
  const match = DURATION_PATTERN.exec(trimmed);
  if (!match) throw new Error(`"${text}" is not ${DURATION_HINT}`);
  const sign = match[1] === '-' ? -1 : 1;
  const order = ['d', 'h', 'm', 's', 'ms'];
  let last = -1;
  let total = 0;
  for (const part of (match[2] ?? '').matchAll(PART_PATTERN)) {
    const unit = part[2] ?? '';
    const rank = order.indexOf(unit);
    if (rank <= last) throw new Error(`"${text}" is not ${DURATION_HINT} (units largest first, each once)`);
    last = rank;
    total += Number(part[1]) * (UNIT_MS[unit] ?? 0);
  }
  return sign * Math.round(total);
}

/** `3d4h5m`, for progress lines and error messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(Math.round(ms));
  let out = '';
  for (const [unit, size] of [['d', DAY_MS], ['h', HOUR_MS], ['m', MINUTE_MS], ['s', SECOND_MS]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${count}${unit}`;
    rest -= count * size;
  }
  if (out === '') out = `${rest}ms`;
  return sign + out;
}

/**
 * The simulation start for `--from`: `now`, a negative offset from now (`-7d`), or an RFC 3339
 * instant. A start in the future is refused: devices never report what has not happened yet.
 */
export function parseStart(text: string, nowMs: number): number {
  const trimmed = text.trim();
  if (trimmed === 'now') return nowMs;
  let startMs: number;
  if (/^[+-]?\d/.test(trimmed) && !/^\d{4}-\d{2}-\d{2}/.test(trimmed)) {
    startMs = nowMs + parseDuration(trimmed);
  } else {
    startMs = Date.parse(trimmed);
    if (Number.isNaN(startMs)) throw new Error(`"${text}" is neither now, an offset such as -7d, nor an RFC 3339 time`);
  }
  if (startMs > nowMs) throw new Error(`"${text}" is in the future; the simulator starts now or in the past (e.g. -7d)`);
  return startMs;
}

/** `max` runs as fast as the broker takes the messages while catching up with now. */
export type Speed = number | 'max';

export function parseSpeed(text: string): Speed {
  if (text.trim() === 'max') return 'max';
  const speed = Number(text);
  if (!Number.isFinite(speed) || speed < 1) throw new Error(`"${text}" is not a speed: a factor of at least 1, or max`);
  return speed;
}

/**
 * Simulated time for a run that starts at `startAtMs` and goes `speed` times faster than the wall
 * clock until it reaches it, then at the wall clock's pace. It is never ahead of the wall clock,
 * which is what keeps device timestamps out of the future.
 */
export function simulatedNow(startAtMs: number, wallStartMs: number, speed: number, wallNowMs: number): number {
  return Math.min(wallNowMs, startAtMs + (wallNowMs - wallStartMs) * speed);
}

/** Wall milliseconds until simulated time reaches `simMs` (0 when it already has). */
export function wallDelayUntil(simMs: number, startAtMs: number, wallStartMs: number, speed: number, wallNowMs: number): number {
  if (simulatedNow(startAtMs, wallStartMs, speed, wallNowMs) >= simMs) return 0;
  // Simulated time is the lesser of the accelerated clock and the wall clock: wait for both.
  const accelerated = wallStartMs + (simMs - startAtMs) / speed;
  return Math.max(0, Math.ceil(Math.max(accelerated, simMs) - wallNowMs));
}

/** RFC 3339 UTC to the minute, for progress lines. */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
}

/**
 * A clock that runs `factor` times faster than `base`, reading `startAtMs` at the moment it is
 * made. Given to the simulator and, as its `now`, to a service started in the same process, it
 * plays a day of scenario (a fault, the technician's SMS, the repair, the data that confirms it)
 * in minutes while both sides see every reading as live: simulated time still never passes this
 * clock, and the service judges by this clock too. Only for a service that shares it: a service on
 * the wall clock would take the readings for ones from the future (or the past).
 */
export function scaledClock(factor: number, startAtMs: number, base: Clock = systemClock): Clock {
  if (!Number.isFinite(factor) || factor <= 0) throw new Error(`a clock factor must be a positive number, not ${factor}`);
  const baseStartMs = base.now();
  return {
    now: () => startAtMs + Math.floor((base.now() - baseStartMs) * factor),
    sleep: (ms, signal) => base.sleep(ms / factor, signal),
  };
}
