/**
 * A report worker's telemetry module (reports/report-worker.ts `WorkerTelemetry`) whose thread
 * dies when a report reaches one borehole: the embedded store read-only, as in service, except
 * that asking `crashOn`'s minutes ends the thread (`process.exit` in a worker ends the thread
 * only). For the test that a dead worker rejects its report and the next report gets a new one.
 */
import type { Logger } from 'pino';
import type { OpenedTelemetry } from '../../src/reports/report-worker.js';
import { openReportTelemetry as openStore } from '../../src/storage/report-telemetry.js';

export interface CrashingOptions {
  path: string;
  crashOn: string;
}

export function openReportTelemetry(options: unknown, log: Logger): OpenedTelemetry {
  const { path, crashOn } = options as CrashingOptions;
  const opened = openStore({ kind: 'embedded', path }, log);
  const { telemetry } = opened;
  return {
    close: () => opened.close(),
    telemetry: {
      totals: (ids, fromMs, toMs) => telemetry.totals(ids, fromMs, toMs),
      activeMinutes: (id, fromMs, toMs) => {
        if (id === crashOn) process.exit(3);
        return telemetry.activeMinutes(id, fromMs, toMs);
      },
    },
  };
}
