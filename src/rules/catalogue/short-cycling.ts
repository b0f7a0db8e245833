/**
 * `short_cycling`: more than `max_starts_per_hour` pump starts (stopped → running) within an hour.
 * Warning; clears when the last hour has that many or fewer.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, HOUR_MS } from './definition.js';

export const shortCycling = defineRule({
  id: 'short_cycling',
  severities: ['warning'],
  timeline: 'pump',
  params: z.object({
    max_starts_per_hour: z.number().int().positive().default(6),
  }),
  /** Pump start times within the last hour. */
  facts: z.object({ starts: z.array(z.number()) }),
  initialFacts: () => ({ starts: [] }),
  absorb(facts, reading, before, params) {
    if (reading.kind !== 'pump') return facts;
    const t = reading.tsMs;
    const started = reading.values.running && before.running !== true;
    // One more start than the limit is all it takes to judge "more than the limit": a relay
    // chattering every few seconds must not grow the state.
    const starts = (started ? [...facts.starts, t] : facts.starts).filter((s) => s > t - HOUR_MS).slice(-(params.max_starts_per_hour + 1));
    return { starts };
  },
  judge({ starts }, { tMs, params }) {
    const startsInHour = starts.filter((s) => s > tMs - HOUR_MS).length;
    return startsInHour > params.max_starts_per_hour ? { severity: 'warning', detail: `${startsInHour} démarrages en une heure` } : null;
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
