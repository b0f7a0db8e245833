/**
 * `maintenance_due`: pump running hours since the last recorded maintenance over `service_hours`.
 * Info; clears when a maintenance visit is recorded.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, HOUR_MS, staleAfterMs } from './definition.js';

export const maintenanceDue = defineRule({
  id: 'maintenance_due',
  severities: ['info'],
  timeline: 'pump',
  params: z.object({
    service_hours: z.number().positive().default(2000),
  }),
  facts: z.object({ runningMsSinceService: z.number() }),
  initialFacts: () => ({ runningMsSinceService: 0 }),
  absorb(facts, reading, before, params) {
    if (reading.kind !== 'pump' || before.running !== true || before.lastPumpTsMs === null) return facts;
    // Running time between two readings, but never across a gap the device was silent for.
    return { runningMsSinceService: facts.runningMsSinceService + Math.min(reading.tsMs - before.lastPumpTsMs, staleAfterMs(params)) };
  },
  maintained: () => ({ runningMsSinceService: 0 }),
  judge({ runningMsSinceService }, { params }) {
    const runningHours = runningMsSinceService / HOUR_MS;
    return runningHours > params.service_hours ? { severity: 'info', detail: `${Math.round(runningHours)} h de pompage depuis le dernier entretien` } : null;
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
