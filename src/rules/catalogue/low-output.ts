/**
 * `low_output`: a day's pumped volume below `low_output_ratio` of the median of the up to 14 days
 * before it (at least 7 needed). Warning; judged when a day completes, and it stands until the
 * next day completes normal. Days are UTC calendar days (Mali is UTC+0 all year).
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, MINUTE_MS, staleAfterMs, type SharedParams, type TopicFacts } from './definition.js';

const MEDIAN_DAYS = 14;
/** Fewer completed days than this and low_output does not judge: there is no baseline yet. */
const MIN_BASELINE_DAYS = 7;
/** A tick closes a day this long after midnight, when no reading of the next day did it before. */
const DAY_CLOSE_GRACE_MS = 15 * MINUTE_MS;

const dailyVolumeSchema = z.object({
  /** UTC calendar day, YYYY-MM-DD. */
  day: z.string(),
  m3: z.number(),
});
export type DailyVolume = z.infer<typeof dailyVolumeSchema>;

const factsSchema = z.object({
  /** The day being accumulated. */
  day: z.object({ key: z.string(), m3: z.number(), lastTotalM3: z.number().nullable() }).nullable(),
  /** Completed days, oldest first, at most 15. */
  days: z.array(dailyVolumeSchema),
  /** Whether the last completed day was judged low; stands until the next day completes. */
  lowOutput: z.object({ holds: z.boolean(), detail: z.string() }),
});
type Facts = z.infer<typeof factsSchema>;
type Params = { low_output_ratio: number } & SharedParams;

const dayKey = (tsMs: number): string => new Date(tsMs).toISOString().slice(0, 10);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/**
 * Adds a flow reading to the day's pumped volume: from the meter total where the device sends one
 * (a total that goes down is a meter reset: counting restarts from the new value), else from the
 * flow rate held since the previous reading.
 */
function accumulateVolume(facts: Facts, before: TopicFacts, totalM3: number | undefined, tMs: number, params: Params): Facts {
  const key = dayKey(tMs);
  let state = facts;
  if (state.day && key < state.day.key) {
    // Measured before a midnight that a tick already passed: its water belongs to the day before,
    // which is kept as counted; the day being accumulated starts from this meter reading.
    const closed = state.days.at(-1);
    const added = totalM3 !== undefined && state.day.lastTotalM3 !== null && totalM3 >= state.day.lastTotalM3 ? totalM3 - state.day.lastTotalM3 : 0;
    const days = closed?.day === key ? [...state.days.slice(0, -1), { day: key, m3: closed.m3 + added }] : state.days;
    return { ...state, days, day: { ...state.day, lastTotalM3: totalM3 ?? state.day.lastTotalM3 } };
  }
  if (state.day && state.day.key !== key) {
    // A day that ends in silence was not seen whole: kept, but not judged.
    const seenToTheEnd = before.lastFlowTsMs !== null && tMs - before.lastFlowTsMs <= staleAfterMs(params);
    state = closeDay(state, params, seenToTheEnd);
  }
  const day = state.day ?? { key, m3: 0, lastTotalM3: null };
  let added = 0;
  if (totalM3 !== undefined && day.lastTotalM3 !== null) {
    added = totalM3 >= day.lastTotalM3 ? totalM3 - day.lastTotalM3 : 0;
  } else if (totalM3 === undefined && before.lastFlowTsMs !== null && before.flowLpm !== null) {
    const spanMs = Math.min(tMs - before.lastFlowTsMs, staleAfterMs(params), tMs - Date.parse(`${key}T00:00:00Z`));
    added = (before.flowLpm * Math.max(0, spanMs)) / MINUTE_MS / 1000;
  }
  return { ...state, day: { key, m3: day.m3 + added, lastTotalM3: totalM3 ?? day.lastTotalM3 } };
}

/** A day is over: keep its volume and judge it against the median of the 14 days before it. */
function closeDay(state: Facts, params: Params, judgeIt: boolean): Facts {
  if (!state.day) return state;
  const previousDays = state.days.at(-1)?.day === state.day.key ? state.days.slice(0, -1) : state.days;
  const carried = state.days.at(-1)?.day === state.day.key ? (state.days.at(-1)?.m3 ?? 0) : 0;
  const finished = { day: state.day.key, m3: state.day.m3 + carried };
  const baseline = previousDays.slice(-MEDIAN_DAYS);
  // A day not seen whole tells nothing: whatever stood (an open low_output) stands.
  let lowOutput = judgeIt ? { holds: false, detail: '' } : state.lowOutput;
  if (judgeIt && baseline.length >= MIN_BASELINE_DAYS) {
    const typical = median(baseline.map((d) => d.m3));
    if (typical > 0 && finished.m3 < params.low_output_ratio * typical) {
      lowOutput = {
        holds: true,
        detail: `${finished.m3.toFixed(1)} m3 le ${finished.day}, médiane ${typical.toFixed(1)} m3`,
      };
    }
  }
  const days = [...previousDays, finished].slice(-(MEDIAN_DAYS + 1));
  return { ...state, days, lowOutput, day: { key: state.day.key, m3: 0, lastTotalM3: state.day.lastTotalM3 } };
}

export const lowOutput = defineRule({
  id: 'low_output',
  severities: ['warning'],
  timeline: 'flow',
  params: z.object({
    low_output_ratio: z.number().gt(0).lt(1).default(0.5),
  }),
  facts: factsSchema,
  initialFacts: (): Facts => ({ day: null, days: [], lowOutput: { holds: false, detail: '' } }),
  absorb(facts, reading, before, params) {
    if (reading.kind !== 'flow') return facts;
    const { day, days, lowOutput: low } = accumulateVolume(facts, before, reading.values.total_m3, reading.tsMs, params);
    return { day, days, lowOutput: low };
  },
  tick(facts, { tMs, elapsedMs, params }) {
    // A day also ends without a reading after midnight, provided the device was still talking.
    // The grace lets the last readings before midnight arrive before the day is judged.
    const closeAtMs = tMs - DAY_CLOSE_GRACE_MS;
    if (!facts.day || dayKey(closeAtMs) <= facts.day.key || elapsedMs > staleAfterMs(params)) return facts;
    const closed = closeDay(facts, params, true);
    return { days: closed.days, lowOutput: closed.lowOutput, day: { key: dayKey(closeAtMs), m3: 0, lastTotalM3: closed.day?.lastTotalM3 ?? null } };
  },
  judge({ lowOutput: low }) {
    return low.holds ? { severity: 'warning', detail: low.detail } : null;
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
