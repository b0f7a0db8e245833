/**
 * The live status of every borehole in the Water Point Data Exchange's terms (WPdx standard), so
 * that the ministry can merge it into national water-point inventories. docs/reports.md lists the
 * columns and how our statuses map onto WPdx's.
 */
import { z } from 'zod';
import type { Alert } from '../alerts/alert.js';
import type { Borehole } from '../config/registry.js';
import type { KnownFaultCode } from '../contract/payloads.js';
import type { BoreholeStatus, BoreholeSummary } from '../domain/borehole-status.js';
import { toCsv, type CsvSeparator } from './csv.js';
import { localDate } from './periods.js';

const OLC_ALPHABET = '23456789CFGHJMPQRVWX';

/**
 * The Open Location Code (plus code) of a point, 11 digits (about 3 m × 3 m): WPdx derives
 * `wpdx_id` from it. Google's reference algorithm, in integer arithmetic as the reference does so
 * that codes match digit for digit; the npm packages of it disagree with their own type definitions.
 */
export function plusCode(lat: number, lon: number): string {
  const latPrecision = 8000 * 5 ** 5;
  const lonPrecision = 8000 * 4 ** 5;
  const clippedLat = Math.min(Math.max(lat, -90), 90);
  const normalLon = ((((lon + 180) % 360) + 360) % 360) - 180;
  let latVal = Math.floor(Math.round((clippedLat + 90) * latPrecision * 1e6) / 1e6);
  let lonVal = Math.floor(Math.round((normalLon + 180) * lonPrecision * 1e6) / 1e6);
  // The north pole itself has no cell above it: it belongs to the last one.
  latVal = Math.min(latVal, 180 * latPrecision - 1);
  let grid = '';
  for (let i = 0; i < 5; i += 1) {
    grid = (OLC_ALPHABET[(latVal % 5) * 4 + (lonVal % 4)] ?? '') + grid;
    latVal = Math.floor(latVal / 5);
    lonVal = Math.floor(lonVal / 4);
  }
  let pairs = '';
  for (let i = 0; i < 5; i += 1) {
    pairs = (OLC_ALPHABET[latVal % 20] ?? '') + (OLC_ALPHABET[lonVal % 20] ?? '') + pairs;
    latVal = Math.floor(latVal / 20);
    lonVal = Math.floor(lonVal / 20);
  }
  return `${pairs.slice(0, 8)}+${pairs.slice(8)}${grid.slice(0, 1)}`;
}

export const WPDX_STATUS_IDS = ['Yes', 'No', 'Unknown'] as const;
export type WpdxStatusId = (typeof WPDX_STATUS_IDS)[number];

/** One water point in WPdx columns, in the order of the CSV. */
export const wpdxRowSchema = z.object({
  wpdx_id: z.string().describe('plus code (Open Location Code, 11 digits) of the location'),
  report_date: z.string(),
  lat_deg: z.number(),
  lon_deg: z.number(),
  status_id: z.enum(WPDX_STATUS_IDS).describe('is there water now'),
  status_clean: z.string(),
  water_source_clean: z.string(),
  water_tech_clean: z.string(),
  management_clean: z.string(),
  clean_adm1: z.string().describe('region'),
  clean_adm3: z.string().describe('commune'),
  water_point_name: z.string(),
  village: z.string(),
  orig_id: z.string().describe('borehole id in this system'),
  source: z.string(),
});
export type WpdxRow = z.infer<typeof wpdxRowSchema>;

export const wpdxReportSchema = z.object({ report_date: z.string(), items: z.array(wpdxRowSchema) });
export type WpdxReport = z.infer<typeof wpdxReportSchema>;

export const WPDX_COLUMNS: readonly (keyof WpdxRow)[] = wpdxRowSchema.keyof().options;

/** A pump that stopped because the water fell to its intake: the well is dry, not the pump broken. */
const DRY_FAULT: KnownFaultCode = 'dry_run';

/** The `source` column: who supplies the data to WPdx. */
export const WPDX_SOURCE = 'borehole-monitor';

/** WPdx's "is there water today" and its cleaned status, from our status and unresolved alerts. */
export function wpdxStatus(status: BoreholeStatus, unresolved: readonly Pick<Alert, 'rule' | 'severity' | 'fault'>[]): Pick<WpdxRow, 'status_id' | 'status_clean'> {
  // A device that went quiet says nothing about the water: WPdx's "Unknown", not a guess.
  if (status === 'unknown' || status === 'offline') return { status_id: 'Unknown', status_clean: '' };
  const critical = unresolved.filter((alert) => alert.severity === 'critical');
  if (critical.length > 0) {
    const dry = critical.some((alert) => alert.rule === 'low_water' || alert.fault === DRY_FAULT);
    return { status_id: 'No', status_clean: dry ? 'Non-Functional, dry' : 'Non-Functional' };
  }
  if (unresolved.length > 0) return { status_id: 'Yes', status_clean: 'Functional, needs repair' };
  return { status_id: 'Yes', status_clean: 'Functional' };
}

export function wpdxRow(
  borehole: Borehole,
  status: BoreholeStatus,
  unresolved: readonly Pick<Alert, 'rule' | 'severity' | 'fault'>[],
  reportDate: string,
  source: string,
): WpdxRow {
  return {
    wpdx_id: plusCodeOf(borehole),
    report_date: reportDate,
    lat_deg: borehole.location.lat,
    lon_deg: borehole.location.lon,
    ...wpdxStatus(status, unresolved),
    water_source_clean: 'Borehole',
    water_tech_clean: 'Motorized Pump',
    management_clean: 'Community Management',
    clean_adm1: borehole.region,
    clean_adm3: borehole.commune,
    water_point_name: borehole.name,
    village: borehole.village,
    orig_id: borehole.id,
    source,
  };
}

/** What a WPdx row is made of: a borehole of the registry, its status and its unresolved alerts. */
export type WpdxSummary = BoreholeSummary<Borehole, Pick<Alert, 'boreholeId' | 'rule' | 'severity' | 'fault'>>;

/** The given boreholes in WPdx columns, as of `nowMs`. */
export function wpdxReport(summaries: readonly WpdxSummary[], nowMs: number, source: string = WPDX_SOURCE): WpdxReport {
  // One date for the whole export: a country's 100,000 rows formatted it 100,000 times.
  const reportDate = new Date(nowMs).toISOString();
  return { report_date: reportDate, items: summaries.map((summary) => wpdxRow(summary.borehole, summary.status, summary.openAlerts, reportDate, source)) };
}

/** A borehole's plus code, computed once per registry entry: a borehole does not move between exports. */
const plusCodes = new WeakMap<Borehole, string>();
function plusCodeOf(borehole: Borehole): string {
  let code = plusCodes.get(borehole);
  if (code === undefined) {
    code = plusCode(borehole.location.lat, borehole.location.lon);
    plusCodes.set(borehole, code);
  }
  return code;
}

export const wpdxCsv = (rows: readonly WpdxRow[], separator: CsvSeparator = 'comma'): string => toCsv(WPDX_COLUMNS, rows, separator);

/** The download's name: the local date it was made. */
export const wpdxFilename = (nowMs: number, timeZone: string): string => `wpdx-${localDate(nowMs, timeZone)}.csv`;
