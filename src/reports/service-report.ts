/**
 * The service report of CONTRACT.md section 9 (`GET /api/reports/service`): how fast incidents
 * were answered and repaired, per borehole, technician, maintenance provider and region. A pure
 * function of the incidents, the registry and the time; the route gathers them.
 *
 * Definitions the contract leaves open, chosen for a district officer and a provider paid on
 * results (docs/reports.md, "Service report"):
 * - The incidents of a period are those opened in [from, to), historical ones included (found in
 *   late data, nobody was told, but the village was without water all the same). Their steps are
 *   measured as they stand at `nowMs`, so a report of last month shows repairs done this month.
 * - `verified_repairs`: those incidents closed as verified (by the data or a person's
 *   confirmation) and not reopened since; `failed_repairs`: every failed repair of them (a repair
 *   that did not hold, or a claim the data did not confirm), so one incident may count twice.
 * - Technician: the borehole's technician as the registry names it, even where a backup took the
 *   work order, since the officer asks how the boreholes in that person's charge were served. Key
 *   "Name (+223…)"; two boreholes naming the same phone are one technician (the first borehole's
 *   spelling of the name).
 * - Median: of an even count, the mean of the two middle values. p90: nearest rank, the value at
 *   rank ⌈0.9 × n⌉ of the sorted values (one incident: itself; ten: the ninth shortest), a time
 *   some incident really took rather than an interpolation. Both in minutes, rounded to 0.01.
 * - Every borehole, technician, provider and region of the boreholes given has a row, with zero
 *   incidents where there were none: a row missing would read as "not monitored".
 */
import { z } from 'zod';
import type { Borehole } from '../config/registry.js';
import { incidentTimes, respondMet, type Incident, type IncidentTimes } from '../incidents/incident.js';
import { toCsv, type CsvSeparator } from './csv.js';
import { round } from './uptime.js';

const MINUTE_MS = 60_000;

export const SERVICE_SCOPES = ['borehole', 'technician', 'provider', 'region'] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

const durationSchema = (what: string) =>
  z
    .object({ median: z.number(), p90: z.number() })
    .nullable()
    .describe(`${what}, in minutes: median and 90th percentile (nearest rank); null when no incident reached that step`);
export type DurationSummary = { median: number; p90: number } | null;

export const serviceRowSchema = z.object({
  scope: z.enum(SERVICE_SCOPES),
  key: z.string().nullable().describe('borehole id, technician "Name (+223…)", provider (null: boreholes without one) or region'),
  incidents: z.number().int().describe('incidents opened in [from, to), historical ones included'),
  verified_repairs: z.number().int().describe('of those, closed as verified and not reopened since'),
  failed_repairs: z.number().int().describe('repairs of those that failed: reopened within reopen_hours, or a claim not verified within verify_hours'),
  time_to_ack: durationSchema('opening to acknowledgement'),
  time_to_arrive: durationSchema('opening to on_site'),
  time_waiting_parts: durationSchema('time spent in waiting_parts'),
  time_to_repair: durationSchema('opening to repair_claimed'),
  time_to_verify: durationSchema('repair_claimed to verified'),
  respond_met: z.number().int().describe('work orders acknowledged (or on site) within respond_hours'),
  respond_missed: z.number().int().describe('work orders not acknowledged within respond_hours (those still within it count in neither)'),
});
export type ServiceRow = z.infer<typeof serviceRowSchema>;

export const serviceReportSchema = z.object({
  from: z.string().describe('start of the period, RFC 3339 UTC'),
  to: z.string().describe('end of the period, excluded'),
  rows: z.array(serviceRowSchema),
});
export type ServiceReport = z.infer<typeof serviceReportSchema>;

/** Median of sorted values: the middle one, or the mean of the two middle ones. */
export function median(sorted: readonly number[]): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const middle = Math.floor(n / 2);
  return n % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Nearest-rank percentile of sorted values: the value at rank ⌈p/100 × n⌉ (1-based). */
export function nearestRank(sorted: readonly number[], percentile: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil((percentile / 100) * n));
  return sorted[Math.min(rank, n) - 1] as number;
}

/** Durations in milliseconds, any order, as the report shows them: minutes, median and p90. */
export function summarizeDurations(durationsMs: readonly number[]): DurationSummary {
  if (durationsMs.length === 0) return null;
  const sorted = [...durationsMs].sort((a, b) => a - b);
  return { median: round((median(sorted) as number) / MINUTE_MS, 2), p90: round((nearestRank(sorted, 90) as number) / MINUTE_MS, 2) };
}

/** Label of a technician as an officer reads it, and the key the report groups by. */
export const technicianKey = (technician: { name: string; phone: string }): string => `${technician.name} (${technician.phone})`;

/** One incident as the rows add it up. */
interface Measured {
  verified: boolean;
  failed: number;
  times: IncidentTimes;
  respond: boolean | null;
}

class Tally {
  incidents = 0;
  verified = 0;
  failed = 0;
  met = 0;
  missed = 0;
  readonly ack: number[] = [];
  readonly arrive: number[] = [];
  readonly parts: number[] = [];
  readonly repair: number[] = [];
  readonly verify: number[] = [];

  add(measured: Measured): void {
    this.incidents += 1;
    if (measured.verified) this.verified += 1;
    this.failed += measured.failed;
    if (measured.respond === true) this.met += 1;
    if (measured.respond === false) this.missed += 1;
    const { toAcknowledge, toArrive, waitingParts, toRepair, toVerify } = measured.times;
    if (toAcknowledge !== null) this.ack.push(toAcknowledge);
    if (toArrive !== null) this.arrive.push(toArrive);
    if (waitingParts !== null) this.parts.push(waitingParts);
    if (toRepair !== null) this.repair.push(toRepair);
    if (toVerify !== null) this.verify.push(toVerify);
  }

  row(scope: ServiceScope, key: string | null): ServiceRow {
    return {
      scope,
      key,
      incidents: this.incidents,
      verified_repairs: this.verified,
      failed_repairs: this.failed,
      time_to_ack: summarizeDurations(this.ack),
      time_to_arrive: summarizeDurations(this.arrive),
      time_waiting_parts: summarizeDurations(this.parts),
      time_to_repair: summarizeDurations(this.repair),
      time_to_verify: summarizeDurations(this.verify),
      respond_met: this.met,
      respond_missed: this.missed,
    };
  }
}

/** The figures of one set of incidents (one borehole's of a month, for the monthly report). */
export function incidentFigures(incidents: readonly Incident[], nowMs: number): Omit<ServiceRow, 'scope' | 'key'> {
  const tally = new Tally();
  for (const incident of incidents) tally.add(measure(incident, nowMs));
  const { scope: _scope, key: _key, ...figures } = tally.row('borehole', null);
  return figures;
}

function measure(incident: Incident, nowMs: number): Measured {
  return { verified: incident.state === 'verified', failed: incident.failedRepairs, times: incidentTimes(incident, nowMs), respond: respondMet(incident, nowMs) };
}

/** Null (no provider) last, the others in French alphabetical order, as an officer looks them up. */
const byKey = (a: string | null, b: string | null): number => (a === null ? (b === null ? 0 : 1) : b === null ? -1 : a.localeCompare(b, 'fr'));

/** The incidents of a period opened in [fromMs, toMs), of the boreholes given. */
export function incidentsOpenedIn(incidents: readonly Incident[], period: { fromMs: number; toMs: number }, boreholeIds: ReadonlySet<string>): Incident[] {
  return incidents.filter((incident) => incident.openedAtMs >= period.fromMs && incident.openedAtMs < period.toMs && boreholeIds.has(incident.boreholeId));
}

export function buildServiceReport(incidents: readonly Incident[], boreholes: readonly Borehole[], period: { fromMs: number; toMs: number }, nowMs: number): ServiceReport {
  const groups: Record<ServiceScope, Map<string | null, Tally>> = { borehole: new Map(), technician: new Map(), provider: new Map(), region: new Map() };
  const keysOf = new Map<string, Record<ServiceScope, string | null>>();
  const technicianByPhone = new Map<string, string>();
  for (const borehole of boreholes) {
    const technician = technicianByPhone.get(borehole.technician.phone) ?? technicianKey(borehole.technician);
    technicianByPhone.set(borehole.technician.phone, technician);
    const keys = { borehole: borehole.id, technician, provider: borehole.provider, region: borehole.region };
    keysOf.set(borehole.id, keys);
    for (const scope of SERVICE_SCOPES) if (!groups[scope].has(keys[scope])) groups[scope].set(keys[scope], new Tally());
  }
  for (const incident of incidentsOpenedIn(incidents, period, new Set(keysOf.keys()))) {
    const keys = keysOf.get(incident.boreholeId);
    if (!keys) continue;
    const measured = measure(incident, nowMs);
    for (const scope of SERVICE_SCOPES) groups[scope].get(keys[scope])?.add(measured);
  }
  const rows: ServiceRow[] = [];
  for (const scope of SERVICE_SCOPES) {
    for (const [key, tally] of [...groups[scope].entries()].sort(([a], [b]) => byKey(a, b))) rows.push(tally.row(scope, key));
  }
  return { from: new Date(period.fromMs).toISOString(), to: new Date(period.toMs).toISOString(), rows };
}

const STEPS = ['time_to_ack', 'time_to_arrive', 'time_waiting_parts', 'time_to_repair', 'time_to_verify'] as const;

/** The CSV's columns: a row's fields, each duration as two columns (`time_to_ack_median`, `time_to_ack_p90`). */
export const SERVICE_CSV_COLUMNS = [
  'scope',
  'key',
  'incidents',
  'verified_repairs',
  'failed_repairs',
  ...STEPS.flatMap((step) => [`${step}_median`, `${step}_p90`] as const),
  'respond_met',
  'respond_missed',
] as const;
type ServiceCsvColumn = (typeof SERVICE_CSV_COLUMNS)[number];

export function serviceCsvRows(report: ServiceReport): Record<ServiceCsvColumn, string | number | null>[] {
  return report.rows.map((row) => {
    const cells: Record<string, string | number | null> = {
      scope: row.scope,
      key: row.key,
      incidents: row.incidents,
      verified_repairs: row.verified_repairs,
      failed_repairs: row.failed_repairs,
      respond_met: row.respond_met,
      respond_missed: row.respond_missed,
    };
    for (const step of STEPS) {
      cells[`${step}_median`] = row[step]?.median ?? null;
      cells[`${step}_p90`] = row[step]?.p90 ?? null;
    }
    return cells;
  });
}

export const serviceCsv = (report: ServiceReport, separator: CsvSeparator = 'comma'): string => toCsv(SERVICE_CSV_COLUMNS, serviceCsvRows(report), separator);
