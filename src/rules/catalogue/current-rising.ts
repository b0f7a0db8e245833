/**
 * `current_rising`: the pump draws more and more current for the same water, the sign of a pump
 * wearing (worn impeller, failing bearings) or clogging (sand, scale) before it breaks. Warning.
 *
 * Facts: for each clock hour (event time) in which the running pump reported `current_a`, the sum
 * and count of that current (from the pump's readings) and of the flow above zero at each instant
 * of the joint pump and flow timeline in that hour. Absent for a pump that never reports a
 * current. Judged on the joint pump and flow timeline (docs/rules.md, "Across topics"), on
 * complete hours only (hours that ended before the instant judged), so the same readings give the
 * same judgement whatever order the two topics arrive in. The condition holds when, over the last `current_window_hours` such hours:
 * - the mean current of the newest third is more than `current_rise_ratio` above that of the
 *   oldest third, and
 * - every hour's mean flow is within `current_flow_tolerance` of the median of those hours
 *   (a pump lifting more water, or from deeper, draws more current for a good reason).
 * Clears when that is no longer so (the repaired pump draws its old current) for `clear_minutes`,
 * or with a maintenance visit, which starts the window again.
 */
import { z } from 'zod';
import { clearAfterClearMinutes, defineRule, HOUR_MS, staleAfterMs } from './definition.js';

/**
 * One hour of pumping, as a tuple to keep the saved state small:
 * [hour (ms since the epoch / HOUR_MS), sum of current_a, its count, sum of flow l/min, its count].
 */
const hourSchema = z.tuple([z.number().int(), z.number(), z.number().int(), z.number(), z.number().int()]);
type Hour = z.infer<typeof hourSchema>;

/** Sums kept to a milliampere and a millilitre: enough, and the JSON stays short. */
const round3 = (value: number): number => Math.round(value * 1000) / 1000;
const mean = (values: readonly number[]): number => values.reduce((sum, value) => sum + value, 0) / values.length;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

/** Adds one value to its hour, keeping the hours in time order. */
function addTo(hours: readonly Hour[], tsMs: number, field: 'current' | 'flow', value: number): Hour[] {
  const h = Math.floor(tsMs / HOUR_MS);
  const out = [...hours];
  let index = out.findIndex((hour) => hour[0] >= h);
  if (index === -1 || out[index]?.[0] !== h) {
    index = index === -1 ? out.length : index;
    out.splice(index, 0, [h, 0, 0, 0, 0]);
  }
  const [hour, sumA, countA, sumLpm, countLpm] = out[index] as Hour;
  out[index] = field === 'current' ? [hour, round3(sumA + value), countA + 1, sumLpm, countLpm] : [hour, sumA, countA, round3(sumLpm + value), countLpm + 1];
  return out;
}

/** Hours that ended by `tMs` with both a current and a flow measured: what is judged. */
const completeBy = (hours: readonly Hour[], tMs: number): Hour[] => hours.filter((hour) => (hour[0] + 1) * HOUR_MS <= tMs && hour[2] > 0 && hour[4] > 0);

export const currentRising = defineRule({
  id: 'current_rising',
  severities: ['warning'],
  timeline: 'joint',
  params: z.object({
    current_window_hours: z.number().int().min(3).default(12),
    current_rise_ratio: z.number().positive().default(0.15),
    current_flow_tolerance: z.number().gt(0).lt(1).default(0.1),
  }),
  // Absent until the pump reports a current: a borehole without a current sensor pays nothing.
  facts: z.object({ currentHours: z.array(hourSchema).optional() }),
  initialFacts: () => ({}),
  absorb(facts, reading) {
    if (reading.kind === 'pump' && reading.values.running && reading.values.current_a !== undefined) {
      return { currentHours: addTo(facts.currentHours ?? [], reading.tsMs, 'current', reading.values.current_a) };
    }
    return facts;
  },
  absorbJoint(facts, joint, params) {
    // Only the window's complete hours and those still to come are needed; pruned on the joint
    // timeline, not on arrival, so a topic that runs ahead never drops an hour still to be judged.
    const atMs = joint.atMs;
    if (atMs === null || facts.currentHours === undefined) return facts;
    let currentHours = facts.currentHours;
    // The flow as it stood at this instant of the joint timeline, counted in an hour the pump
    // reported a current (every pump reading up to this instant has arrived: the joint timeline
    // waits for both topics).
    const flowFresh = joint.flowTsMs !== null && atMs - joint.flowTsMs <= staleAfterMs(params);
    const hourOf = Math.floor(atMs / HOUR_MS);
    if (joint.running === true && flowFresh && joint.flowLpm !== null && joint.flowLpm > 0 && currentHours.some((hour) => hour[0] === hourOf)) {
      currentHours = addTo(currentHours, atMs, 'flow', joint.flowLpm);
    }
    if (currentHours.length > params.current_window_hours + 2) {
      // Only the window's complete hours and those still to come are needed; pruned on the joint
      // timeline, not on arrival, so a pump batch that runs ahead never drops an hour still to be judged.
      const kept = completeBy(currentHours, atMs).slice(-params.current_window_hours);
      currentHours = [...kept, ...currentHours.filter((hour) => (hour[0] + 1) * HOUR_MS > atMs)];
    }
    return currentHours === facts.currentHours ? facts : { currentHours };
  },
  maintained: (facts) => (facts.currentHours === undefined ? facts : { currentHours: [] }),
  judge({ currentHours = [] }, { tMs, topics: { joint }, params, fresh }) {
    if (!fresh(joint.pumpTsMs)) return 'unknown';
    const window = completeBy(currentHours, tMs).slice(-params.current_window_hours);
    if (window.length < params.current_window_hours) return null;
    const third = Math.floor(window.length / 3);
    const ampsOf = (hours: readonly Hour[]): number => mean(hours.map((hour) => hour[1] / hour[2]));
    const firstA = ampsOf(window.slice(0, third));
    const lastA = ampsOf(window.slice(-third));
    if (!(firstA > 0) || lastA <= firstA * (1 + params.current_rise_ratio)) return null;
    const flows = window.map((hour) => hour[3] / hour[4]);
    const typicalLpm = median(flows);
    if (flows.some((lpm) => Math.abs(lpm - typicalLpm) > params.current_flow_tolerance * typicalLpm)) return null;
    const risePercent = Math.round((lastA / firstA - 1) * 100);
    return {
      severity: 'warning',
      detail: `courant +${risePercent} % en ${window.length} h de pompage (${firstA.toFixed(1)} → ${lastA.toFixed(1)} A), débit stable ${typicalLpm.toFixed(0)} l/min`,
    };
  },
  durationMs: () => 0,
  clearMs: clearAfterClearMinutes,
});
