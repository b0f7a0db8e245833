/**
 * Reports on a schedule (issues 7 and 15): every night just after midnight in REPORT_TZ, the
 * periods that have ended are reported: the day (written to the time-series store as `uptime`
 * points, which the Grafana uptime dashboard sums over any range), and on Mondays and the 1st the
 * week and the month (archived in the state store as well, for the ministry). On the 1st the
 * service report of the month ended (`service-month`) and, when a quarter ended, its results
 * report (`results-quarter`) are archived too: what a provider is paid on must stay as it was
 * when the quarter closed, not move with every late reading.
 *
 * node-cron never runs a job that fell while the service was down, so the schedule keeps a
 * watermark per kind (the end of the last period reported) and catches up from it at start-up.
 * Re-running is harmless: the archive keeps the first report of a period, and the same points
 * written twice are the same points.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Borehole } from '../config/registry.js';
import type { IncidentsPort } from '../incidents/port.js';
import { completedPeriods, localDate, periodContaining, type Period, type PeriodKind } from './periods.js';
import type { UptimeReport } from './report.js';
import { quarterContaining, type Quarter, type ResultsReport } from './results-report.js';
import { buildServiceReport, technicianKey, type ServiceReport, type ServiceScope } from './service-report.js';
import { reportedEnd } from './uptime.js';

/** The section 9 reports the schedule archives, besides the uptime week and month. */
export const INCIDENT_ARCHIVE_KINDS = ['service-month', 'results-quarter'] as const;
export type IncidentArchiveKind = (typeof INCIDENT_ARCHIVE_KINDS)[number];

/**
 * A service report as archived: the report, and for each of its rows the regions of the boreholes
 * it was computed from. A technician or provider row sums up boreholes of several regions, and a
 * median cannot be taken apart afterwards: the archive route shows such a row to a token limited
 * to regions only when all of them are its own, and needs to know them as they were that month.
 */
export type ArchivedServiceReport = ServiceReport & { row_regions?: string[][] };

export interface ReportArchive {
  archiveReport(report: { kind: string; fromMs: number; toMs: number; tz: string; generatedAtMs: number; body: string }): boolean;
  reportWatermark(kind: string): number | null;
  setReportWatermark(kind: string, throughMs: number): void;
}

export interface ReportSchedulerOptions {
  tz: string;
  now: () => number;
  log: Logger;
  archive: ReportArchive;
  build: (period: Period) => Promise<UptimeReport>;
  /** Points for the time-series store: a day's `uptime` lines, and the `registry` lines. */
  writeUptime: (report: UptimeReport, kind: PeriodKind, period: Period) => void;
  writeRegistry: () => void;
  /** The service report of a month ended (`serviceMonthReport`); absent: no `service-month` archive. */
  buildService?: ((period: Period) => ArchivedServiceReport | Promise<ArchivedServiceReport>) | undefined;
  /** The results report of a quarter ended (results-report.ts `buildResultsReport`); absent: no `results-quarter` archive. */
  buildResults?: ((quarter: Quarter) => Promise<ResultsReport>) | undefined;
  /**
   * How long after start-up the catching up waits (default 2 minutes): devices that held readings
   * while the service was down send them when it comes back, and a report made before they arrive
   * would call those hours "no data" in the archive for good.
   */
  startDelayMs?: number;
}

/** Five past midnight: readings of the last minutes of the day have had time to arrive. */
export const NIGHTLY = '5 0 * * *';

/**
 * How far back a first start reports, so that a new installation (or the demo, with its week of
 * history) has something to show; older periods can still be asked of the API.
 */
const FIRST_RUN_BACKLOG: Record<PeriodKind, number> = { day: 7, week: 1, month: 1 };

/** Days are not archived: a year of them for thousands of boreholes is the time-series store's job. */
const ARCHIVED: ReadonlySet<PeriodKind> = new Set(['week', 'month']);

/** Quarters owed are bounded as periods are (periods.ts `completedPeriods`): ten years of them. */
const MAX_QUARTERS = 40;

/** Quarters that ended after `afterMs` and by `nowMs`, oldest first. */
export function completedQuarters(afterMs: number, nowMs: number, tz: string, max = MAX_QUARTERS): Quarter[] {
  const quarters: Quarter[] = [];
  let quarter = quarterContaining(nowMs, tz);
  while (quarters.length < max) {
    quarter = quarterContaining(quarter.fromMs - 1, tz);
    if (quarter.toMs <= afterMs) break;
    quarters.push(quarter);
  }
  return quarters.reverse();
}

/**
 * The service report of a month as the schedule archives it: incidents opened in the month, their
 * steps as they stand now (just after the month ended), every borehole of the registry; with the
 * regions of each row's boreholes (`ArchivedServiceReport`).
 */
export function serviceMonthReport(incidents: Pick<IncidentsPort, 'between'>, boreholes: readonly Borehole[], period: Period, nowMs: number): ArchivedServiceReport {
  const endMs = reportedEnd({ ...period, nowMs });
  const report = buildServiceReport(endMs > period.fromMs ? incidents.between(period.fromMs, endMs) : [], boreholes, period, nowMs);
  return { ...report, row_regions: rowRegions(report, boreholes) };
}

/** The regions of the boreholes behind each row, grouped as service-report.ts groups them. */
function rowRegions(report: ServiceReport, boreholes: readonly Borehole[]): string[][] {
  const regions = new Map<string, Set<string>>();
  const at = (scope: ServiceScope, key: string | null): string => JSON.stringify([scope, key]);
  const technicianByPhone = new Map<string, string>();
  for (const borehole of boreholes) {
    // Two boreholes giving one phone are one technician, under the first one's spelling (service-report.ts).
    const technician = technicianByPhone.get(borehole.technician.phone) ?? technicianKey(borehole.technician);
    technicianByPhone.set(borehole.technician.phone, technician);
    const keys: [ServiceScope, string | null][] = [
      ['borehole', borehole.id],
      ['technician', technician],
      ['provider', borehole.provider],
      ['region', borehole.region],
    ];
    for (const [scope, key] of keys) {
      const set = regions.get(at(scope, key)) ?? new Set<string>();
      set.add(borehole.region);
      regions.set(at(scope, key), set);
    }
  }
  return report.rows.map((row) => [...(regions.get(at(row.scope, row.key)) ?? [])].sort());
}

const DEFAULT_START_DELAY_MS = 2 * 60_000;

/** After a failed run (the store down at start-up, say), the next try comes sooner than the next night. */
const RETRY_MS = 10 * 60_000;

export class ReportScheduler {
  private task: ScheduledTask | null = null;
  private running: Promise<void> | null = null;
  private retry: NodeJS.Timeout | null = null;
  private firstRun: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly options: ReportSchedulerOptions) {}

  /** Runs every night, and catches up shortly after start-up. */
  start(): void {
    this.task = cron.schedule(NIGHTLY, () => this.runDue(), { timezone: this.options.tz, name: 'uptime-reports', noOverlap: true });
    this.firstRun = setTimeout(() => void this.runDue(), this.options.startDelayMs ?? DEFAULT_START_DELAY_MS).unref();
  }

  get nextRun(): Date | null {
    return this.task?.getNextRun() ?? null;
  }

  /** Reports every period that ended since the watermark. Never throws: a failure is logged and retried next night. */
  runDue(): Promise<void> {
    this.running ??= this.catchUp()
      .catch((error: unknown) => {
        if (this.stopped) return;
        this.options.log.error({ err: error, retryInMinutes: RETRY_MS / 60_000 }, 'scheduled reports failed; they will be tried again');
        this.retry ??= setTimeout(() => {
          this.retry = null;
          void this.runDue();
        }, RETRY_MS).unref();
      })
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async catchUp(): Promise<void> {
    const { tz, now, archive, log } = this.options;
    this.options.writeRegistry();
    for (const kind of ['day', 'week', 'month'] as const) {
      const watermark = archive.reportWatermark(kind) ?? this.firstWatermark(kind);
      for (const period of completedPeriods(kind, watermark, now(), tz)) {
        if (this.stopped) return;
        const report = await this.options.build(period);
        if (ARCHIVED.has(kind)) {
          archive.archiveReport({ kind, fromMs: period.fromMs, toMs: period.toMs, tz, generatedAtMs: now(), body: JSON.stringify(report) });
        }
        this.options.writeUptime(report, kind, period);
        archive.setReportWatermark(kind, period.toMs);
        log.info({ kind, from: localDate(period.fromMs, tz), boreholes: report.boreholes.length }, 'uptime report generated');
      }
    }
    await this.archiveIncidentReports();
  }

  /**
   * The section 9 reports, each kind with its own watermark: a first start archives last month's
   * and last quarter's only, later starts every one that ended since (a quarter once it is over,
   * never one under way: its functional days would still change).
   */
  private async archiveIncidentReports(): Promise<void> {
    const { tz, now, archive, log, buildService, buildResults } = this.options;
    const archiveOne = (kind: IncidentArchiveKind, period: { fromMs: number; toMs: number }, body: unknown): void => {
      archive.archiveReport({ kind, fromMs: period.fromMs, toMs: period.toMs, tz, generatedAtMs: now(), body: JSON.stringify(body) });
      archive.setReportWatermark(kind, period.toMs);
      log.info({ kind, from: localDate(period.fromMs, tz) }, 'report archived');
    };
    if (buildService) {
      const watermark = archive.reportWatermark('service-month') ?? this.firstWatermark('month');
      for (const period of completedPeriods('month', watermark, now(), tz)) {
        if (this.stopped) return;
        archiveOne('service-month', period, await buildService(period));
      }
    }
    if (buildResults) {
      const watermark = archive.reportWatermark('results-quarter') ?? quarterContaining(quarterContaining(now(), tz).fromMs - 1, tz).fromMs;
      for (const quarter of completedQuarters(watermark, now(), tz)) {
        if (this.stopped) return;
        archiveOne('results-quarter', quarter, await buildResults(quarter));
      }
    }
  }

  private firstWatermark(kind: PeriodKind): number {
    let period = periodContaining(kind, this.options.now(), this.options.tz);
    for (let i = 0; i < FIRST_RUN_BACKLOG[kind]; i += 1) period = periodContaining(kind, period.fromMs - 1, this.options.tz);
    return period.fromMs;
  }

  /** Does not wait for a run under way: it stops between two periods, and the watermark says where. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.firstRun) clearTimeout(this.firstRun);
    await this.task?.destroy();
    this.task = null;
  }
}
