/**
 * The report worker's thread (report-worker.ts starts it): computes the reports it is sent with
 * the same functions as the event loop does (report.ts `computeUptimeReport`, results-report.ts
 * `computeResultsReport`), on its own connection to the time-series store, opened at the first
 * report by the module the composition root named and kept for the next ones.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import { computeUptimeReport, type UptimeBorehole } from './report.js';
import { PART_SIZE, type FromWorker, type OpenedTelemetry, type ReportRequest, type ToWorker, type WorkerTelemetry } from './report-worker.js';
import { computeResultsReport, type ResultsBorehole } from './results-report.js';

const port = parentPort;
if (!port) throw new Error('report-worker-thread.ts runs in a worker thread (report-worker.ts starts it)');

const post = (reply: FromWorker): void => port.postMessage(reply);

// The service's logger cannot cross: lines go to the main thread, which writes them with its own.
const log: Logger = pino({ level: (workerData as { logLevel?: string } | null)?.logLevel ?? 'silent' }, { write: (line: string) => post({ log: line }) });

let opened: { module: string; store: OpenedTelemetry } | null = null;

/**
 * A `.ts` module (tsx, vitest) is required: this thread runs TypeScript through tsx's CommonJS
 * hook, the only one Node 20 applies in a worker (report-worker.ts `startWorker`). Built `.js` is imported.
 */
async function load(module: string): Promise<unknown> {
  if (module.endsWith('.ts')) return createRequire(import.meta.url)(fileURLToPath(module)) as unknown;
  return import(module) as Promise<unknown>;
}

async function telemetryOf(telemetry: WorkerTelemetry): Promise<OpenedTelemetry> {
  if (opened?.module === telemetry.module) return opened.store;
  const module = (await load(telemetry.module)) as { openReportTelemetry(options: unknown, log: Logger): OpenedTelemetry };
  opened = { module: telemetry.module, store: module.openReportTelemetry(telemetry.options, log) };
  return opened.store;
}

/** Boreholes received for each report id, until the report itself comes. */
const boreholesOf = new Map<number, unknown[]>();

async function compute(request: ReportRequest): Promise<{ report: Record<string, unknown>; list: 'boreholes' | 'rows' }> {
  const boreholes = boreholesOf.get(request.id) ?? [];
  boreholesOf.delete(request.id);
  const { telemetry } = await telemetryOf(request.telemetry);
  if (request.kind === 'uptime') {
    return { report: await computeUptimeReport(telemetry, request.period, boreholes as UptimeBorehole[], request.inputs), list: 'boreholes' };
  }
  return { report: await computeResultsReport(telemetry, request.quarter, boreholes as ResultsBorehole[], request.inputs), list: 'rows' };
}

/** The report's rows in parts (report-worker.ts PART_SIZE), then the rest of it. */
function reply(id: number, report: Record<string, unknown>, list: 'boreholes' | 'rows'): void {
  const { [list]: rows, ...rest } = report;
  const all = rows as unknown[];
  for (let start = 0; start < all.length; start += PART_SIZE) post({ id, part: all.slice(start, start + PART_SIZE) });
  post({ id, report: rest, list });
}

port.on('message', (message: ToWorker) => {
  if ('part' in message) {
    const list = boreholesOf.get(message.id) ?? [];
    for (const borehole of message.part) list.push(borehole);
    boreholesOf.set(message.id, list);
    return;
  }
  compute(message).then(
    ({ report, list }) => reply(message.id, report, list),
    (error: unknown) => {
      const err = error instanceof Error ? error : new Error(String(error));
      post({ id: message.id, error: { name: err.name, message: err.message, stack: err.stack } });
    },
  );
});

port.on('close', () => opened?.store.close());
