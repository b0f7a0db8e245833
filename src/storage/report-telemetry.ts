/**
 * The telemetry store a report worker opens for itself (reports/report-worker.ts): a second,
 * read-only connection to the embedded store's file, or an InfluxDB client built from the same
 * settings as the service's. A store object cannot cross into a worker thread; what crosses is
 * this module's URL and its options, so that reports/ names no storage/ module (the layering of
 * docs/architecture.md) and the composition root chooses the store, as it does for the service.
 */
import type { Logger } from 'pino';
import type { OpenedTelemetry, WorkerTelemetry } from '../reports/report-worker.js';
import { EmbeddedTelemetry } from './embedded-telemetry.js';
import { InfluxClient, type InfluxSettings } from './influx.js';
import { InfluxTelemetry } from './influx-telemetry.js';

export type ReportTelemetryOptions =
  /** `DATA_DIR/telemetry.db`, which the service's own connection has created. */
  | { kind: 'embedded'; path: string }
  /** The service's INFLUX_* settings; the clock stays behind (a function cannot be sent to a thread). */
  | { kind: 'influx'; settings: Omit<InfluxSettings, 'now'> };

/** What ReportWorker is given: this module, to be imported in the worker, and its options. */
export function reportTelemetry(options: ReportTelemetryOptions): WorkerTelemetry {
  return { module: import.meta.url, options };
}

/** Called in the worker, with the options `reportTelemetry` was given (the only way they are made). */
export function openReportTelemetry(options: unknown, log: Logger): OpenedTelemetry {
  const chosen = options as ReportTelemetryOptions;
  if (chosen.kind === 'embedded') {
    const store = EmbeddedTelemetry.openReadOnly({ path: chosen.path });
    return { telemetry: store, close: () => store.close() };
  }
  return { telemetry: new InfluxTelemetry(new InfluxClient(chosen.settings, log)), close: () => undefined };
}
