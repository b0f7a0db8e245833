/**
 * Uptime reports on a schedule (issue 7): every night just after midnight in REPORT_TZ, the
 * periods that have ended are reported: the day (written to the time-series store as `uptime`
 * points, which the Grafana uptime dashboard sums over any range), and on Mondays and the 1st the
 * week and the month (archived in the state store as well, for the ministry).
 *
 * node-cron never runs a job that fell while the service was down, so the schedule keeps a
 * watermark per kind (the end of the last period reported) and catches up from it at start-up.
 * Re-running is harmless: the archive keeps the first report of a period, and the same points
 * written twice are the same points.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { completedPeriods, localDate, periodContaining, type Period, type PeriodKind } from './periods.js';
import type { UptimeReport } from './report.js';

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
        this.options.log.error({ err: error, retryInMinutes: RETRY_MS / 60_000 }, 'uptime reports failed; they will be tried again');
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
