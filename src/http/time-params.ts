/** Instants and durations as people write them in a query string. */

const RFC3339 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/i;
const EPOCH_MS = /^\d{1,15}$/;

/**
 * `2026-02-05T10:42:00Z`, `2026-02-05T10:42:00+00:00`, `2026-02-05` (midnight UTC, which is
 * midnight in Bamako) or epoch milliseconds; null for anything else.
 */
export function parseInstant(text: string): number | null {
  const trimmed = text.trim();
  if (EPOCH_MS.test(trimmed)) return Number(trimmed);
  if (!RFC3339.test(trimmed) || !realCalendarTime(trimmed)) return null;
  const ms = Date.parse(trimmed.length === 10 ? `${trimmed}T00:00:00Z` : trimmed);
  return Number.isFinite(ms) ? ms : null;
}

/** Date.parse rolls 30 February over into March: refuse what no calendar or clock shows. */
function realCalendarTime(text: string): boolean {
  const [year, month, day, hour = 0, minute = 0, second = 0] = (text.match(/\d+/g) ?? []).slice(0, 6).map(Number);
  if (year === undefined || month === undefined || day === undefined) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60;
}

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d{1,6})(m|h|d)$/;

/** `15m`, `1h`, `1d`: a bucket width in ms; null for anything else. */
export function parseEvery(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  return ms > 0 ? ms : null;
}

/** The shortest spelling of a bucket width: 86400000 → `1d`, 5400000 → `90m`. */
export function formatEvery(ms: number): string {
  if (ms % UNIT_MS.d === 0) return `${ms / UNIT_MS.d}d`;
  if (ms % UNIT_MS.h === 0) return `${ms / UNIT_MS.h}h`;
  return `${Math.round(ms / UNIT_MS.m)}m`;
}
