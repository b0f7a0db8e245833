/**
 * The uptime and results reports computed in a worker thread (issue 19, "reports that do not stop
 * the service"). On the embedded store every query of a report is synchronous SQLite on the event
 * loop that also takes MQTT messages and HTTP requests: sliced per borehole and month the loop
 * still waits for each slice, and a month of 10,000 boreholes is minutes of such waits. In a
 * worker the queries and the computation run on another thread, with the worker's own connection
 * to the store (storage/report-telemetry.ts); the main thread keeps what is cheap: the period's
 * critical alerts and incidents from the state database, and the clock (docs/reports.md, "Where
 * reports are computed").
 *
 * One worker, started at the first report and kept; reports run one at a time in the order asked.
 * A worker that dies rejects the report it was computing, and the next report starts a new one.
 */
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Incident } from '../incidents/incident.js';
import type { Period } from './periods.js';
import { gatherInputs, type ReportInputs, type ReportSources, type UptimeBorehole, type UptimeReport } from './report.js';
import { gatherResultsInputs, type Quarter, type ResultsBorehole, type ResultsReport } from './results-report.js';
import { reportedEnd } from './uptime.js';

/** How the worker opens its own store: a module exporting `openReportTelemetry(options, log)`, and its options. */
export interface WorkerTelemetry {
  /** A file URL (storage/report-telemetry.ts `reportTelemetry` gives its own). */
  module: string;
  /** Structured-cloneable: they are sent to the thread. */
  options: unknown;
}

/** What `openReportTelemetry` returns in the worker. */
export interface OpenedTelemetry {
  telemetry: ReportSources['telemetry'];
  close(): void;
}

export interface ReportWorkerOptions {
  telemetry: WorkerTelemetry;
  /** The main thread's half: the state database's alerts and incidents, and the clock. */
  sources: Omit<ReportSources, 'telemetry'>;
  log?: Logger | undefined;
}

/** One report, with everything but the time-series store and the boreholes (sent before it, in parts). */
export type ReportRequest =
  | { id: number; kind: 'uptime'; telemetry: WorkerTelemetry; period: Period; inputs: ReportInputs }
  | { id: number; kind: 'results'; telemetry: WorkerTelemetry; quarter: Quarter; inputs: ReportInputs & { incidents: readonly Incident[] } };

/** A part of a report's boreholes (main thread → worker) or of its rows (worker → main thread). */
export interface ReportPart {
  id: number;
  part: unknown[];
}

/** Main thread → worker: the boreholes of a report in parts, then the report. */
export type ToWorker = ReportPart | ReportRequest;

/**
 * Worker → main thread: the rows of a report in parts, then the report without them (`list` names
 * where they go); or a report's failure; or a line the worker's logger wrote.
 */
export type FromWorker =
  | ReportPart
  | { id: number; report: Record<string, unknown>; list: 'boreholes' | 'rows' }
  | { id: number; error: { name: string; message: string; stack?: string | undefined } }
  | { log: string };

/**
 * Boreholes or rows a message. A structured clone is read on the receiving thread's loop at once:
 * the 10,000 rows of a report in one message held the main loop 180 ms (bench/report-worker.ts),
 * 100,000 would hold it near two seconds; 2,000 a message are tens of milliseconds each, with
 * turns of the loop between them.
 */
export const PART_SIZE = 2000;

export class ReportWorkerError extends Error {
  override name = 'ReportWorkerError';
}

interface Pending {
  id: number;
  /** Rows received so far. */
  parts: unknown[];
  resolve(report: unknown): void;
  reject(error: Error): void;
}

/** What a report sends: its request and its boreholes, with the function that keeps their needed fields. */
interface Outgoing<B> {
  request: Omit<ReportRequest, 'id' | 'telemetry'>;
  boreholes: readonly B[];
  fields: (borehole: B) => B;
}

/**
 * The worker, on its entry beside this file: built, `report-worker-thread.js`. Run as TypeScript
 * (`node --import tsx`, vitest), `report-worker-thread.ts`, which the thread cannot load by
 * itself: on Node 20 neither an inherited `--import tsx` nor `module.register` in a thread applies
 * to it ("Unknown file extension .ts"), while tsx's CommonJS hook does. So the thread registers
 * that hook and requires the entry.
 */
function startWorker(workerData: unknown): Worker {
  const extension = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./report-worker-thread${extension}`, import.meta.url);
  if (extension !== '.ts') return new Worker(entry, { workerData });
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(fileURLToPath(entry))});`, { eval: true, workerData });
}

/** Only what the computation reads of a borehole: a registry entry carries contacts, pump, location and more. */
const uptimeFields = (b: UptimeBorehole): UptimeBorehole => ({ id: b.id, name: b.name, village: b.village, commune: b.commune, region: b.region, rules: { offline_minutes: b.rules.offline_minutes } });
const resultsFields = (b: ResultsBorehole): ResultsBorehole => ({
  id: b.id,
  provider: b.provider,
  rules: { offline_minutes: b.rules.offline_minutes, functional_max_down_hours: b.rules.functional_max_down_hours, results_threshold_pct: b.rules.results_threshold_pct },
});

export class ReportWorker {
  private worker: Worker | null = null;
  private pending: Pending | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: ReportWorkerOptions) {}

  /** buildUptimeReport's report, computed in the worker. */
  uptime(period: Period, boreholes: readonly UptimeBorehole[]): Promise<UptimeReport> {
    return this.enqueue(() => {
      const inputs = gatherInputs(this.options.sources, period.fromMs, (nowMs) => reportedEnd({ ...period, nowMs }));
      return { request: { kind: 'uptime', period, inputs }, boreholes, fields: uptimeFields };
    }) as Promise<UptimeReport>;
  }

  /** buildResultsReport's report, computed in the worker. */
  results(quarter: Quarter, boreholes: readonly ResultsBorehole[]): Promise<ResultsReport> {
    return this.enqueue(() => {
      const { incidents } = this.options.sources;
      if (!incidents) throw new ReportWorkerError('the results report needs the incidents (sources.incidents)');
      const inputs = gatherResultsInputs({ ...this.options.sources, incidents }, quarter);
      return { request: { kind: 'results', quarter, inputs }, boreholes, fields: resultsFields };
    }) as Promise<ResultsReport>;
  }

  /** Ends the worker; a report under way is rejected, and so is any asked afterwards. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    this.fail(new ReportWorkerError('the report worker was closed before the report was done'));
    if (worker) await worker.terminate();
  }

  /**
   * One report at a time: its inputs are gathered when its turn comes, so that `now` and the
   * alerts are those of the moment it is computed, as on the event loop.
   */
  private enqueue<B>(outgoing: () => Outgoing<B>): Promise<unknown> {
    const run = this.queue.then(() => this.send(outgoing));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send<B>(outgoing: () => Outgoing<B>): Promise<unknown> {
    if (this.closed) throw new ReportWorkerError('the report worker is closed');
    const { request, boreholes, fields } = outgoing();
    const id = this.nextId++;
    const worker = this.start();
    const done = new Promise((resolve, reject) => {
      this.pending = { id, parts: [], resolve, reject };
    });
    // Kept alive while it computes, not while it waits for the next report.
    worker.ref();
    for (let start = 0; start < boreholes.length; start += PART_SIZE) {
      // A worker that died meanwhile has rejected `done`: posting to it does nothing.
      worker.postMessage({ id, part: boreholes.slice(start, start + PART_SIZE).map(fields) } satisfies ReportPart);
      await yieldToEventLoop();
    }
    worker.postMessage({ ...request, id, telemetry: this.options.telemetry });
    return done;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker({ logLevel: this.options.log?.level ?? 'silent' });
    worker.unref();
    let crash: Error | null = null;
    worker.on('message', (reply: FromWorker) => this.receive(worker, reply));
    worker.on('error', (error) => {
      crash = error;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      if (this.closed) return;
      const cause = crash ? `: ${crash.message}` : '';
      this.options.log?.error({ code, err: crash }, 'report worker stopped');
      this.fail(new ReportWorkerError(`the report worker stopped (exit code ${code}) before the report was done${cause}`, crash ? { cause: crash } : undefined));
    });
    this.worker = worker;
    return worker;
  }

  private receive(worker: Worker, reply: FromWorker): void {
    if ('log' in reply) {
      this.forwardLog(reply.log);
      return;
    }
    const pending = this.pending;
    if (!pending || pending.id !== reply.id) return;
    if ('part' in reply) {
      for (const row of reply.part) pending.parts.push(row);
      return;
    }
    this.pending = null;
    worker.unref();
    if ('error' in reply) {
      const error = new Error(reply.error.message);
      error.name = reply.error.name;
      if (reply.error.stack !== undefined) error.stack = reply.error.stack;
      pending.reject(error);
    } else {
      pending.resolve({ ...reply.report, [reply.list]: pending.parts });
    }
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = null;
    pending?.reject(error);
  }

  /** A line of the worker's pino logger, written again by the service's. */
  private forwardLog(line: string): void {
    const log = this.options.log;
    if (!log) return;
    try {
      const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = JSON.parse(line) as Record<string, unknown> & { level: number; msg?: string };
      const label = log.levels.labels[level] ?? 'info';
      const write = (log as unknown as Record<string, (fields: object, msg?: string) => void>)[label];
      write?.call(log, { ...fields, component: 'report-worker' }, msg);
    } catch {
      // not a pino line: nothing to forward
    }
  }
}
