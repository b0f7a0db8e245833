/**
 * Reports for the ministry (CONTRACT.md sections 6, 7 and 9): the uptime report of any period, the
 * reports archived by the schedule, the network's live status in WPdx columns, and the service and
 * results reports of incidents and repairs. Reads need `viewer`; a region-limited token's reports
 * hold only its regions' boreholes.
 */
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { DateTime } from 'luxon';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Borehole } from '../../config/registry.js';
import type { IncidentsPort } from '../../incidents/port.js';
import { dayStart, localDate, PERIOD_KINDS, PeriodError, reportPeriod, type Period, type PeriodKind } from '../../reports/periods.js';
import { uptimeCsv, uptimeReportSchema, type UptimeReport } from '../../reports/report.js';
import { parseQuarter, quarterContaining, resultsCsv, resultsReportSchema, type Quarter, type ResultsProvider, type ResultsReport } from '../../reports/results-report.js';
import { INCIDENT_ARCHIVE_KINDS, type ArchivedServiceReport } from '../../reports/scheduler.js';
import { buildServiceReport, serviceCsv, serviceReportSchema, type ServiceReport } from '../../reports/service-report.js';
import { reportedEnd, round } from '../../reports/uptime.js';
import { wpdxCsv, wpdxFilename, wpdxReport, wpdxReportSchema, type WpdxReport } from '../../reports/wpdx.js';
import type { ArchivedReport } from '../../storage/sqlite-store.js';
import { QueryRangeError } from '../../storage/telemetry.js';
import type { Identity, TokenAuth } from '../auth.js';
import { csvSeparatorParam, sendCsv, wantsCsv, type CsvSeparator } from '../csv.js';
import type { NetworkPort, Scope } from '../network.js';
import { errorSchema } from '../schemas.js';
import type { AlertsPort } from './alerts.js';
import { networkSummaries } from './boreholes.js';

/** What these routes and the report page need of the service. */
export interface ReportsPort {
  build(period: Period, boreholes: readonly Borehole[]): Promise<UptimeReport>;
  /** Newest first, without bodies. */
  archived(limit: number): Omit<ArchivedReport, 'body'>[];
  archivedReport(kind: ArchiveKind, fromMs: number, tz: string): ArchivedReport | null;
  /** The results report of a quarter (results-report.ts `buildResultsReport`); absent: no such route. */
  results?: ((quarter: Quarter, boreholes: readonly Borehole[]) => Promise<ResultsReport>) | undefined;
}

export interface ReportRouteOptions {
  auth: TokenAuth;
  reports: ReportsPort;
  alerts: AlertsPort;
  network: NetworkPort;
  scope: Scope;
  /** The service report's incidents; absent: no `/api/reports/service`. */
  incidents?: Pick<IncidentsPort, 'between'> | undefined;
  now: () => number;
  timeZone: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const date = (what: string) => z.string().regex(DATE, `\`${what}\` must be a date as YYYY-MM-DD`).optional();

const uptimeQuery = z.object({
  from: date('from').describe('first day, YYYY-MM-DD (default: the first day of last month)'),
  to: date('to').describe('day after the last, excluded (default: the first day of this month)'),
  tz: z.string().max(64).optional().describe('IANA time zone of the days (default REPORT_TZ)'),
  region: z.string().max(100).optional().describe('only this region'),
  format: z.enum(['json', 'csv']).optional().describe('csv, or Accept: text/csv'),
  sep: csvSeparatorParam,
});

const serviceQuery = uptimeQuery.extend({
  from: date('from').describe('first day, YYYY-MM-DD (default: the first day of last month); incidents opened from then'),
  to: date('to').describe('day after the last, excluded (default: the first day of this month)'),
});

const resultsQuery = z.object({
  quarter: z.string().max(16).optional().describe('YYYY-Qn, e.g. 2026-Q4 (default: this quarter)'),
  tz: z.string().max(64).optional().describe('IANA time zone of the days (default REPORT_TZ)'),
  region: z.string().max(100).optional().describe('only this region'),
  format: z.enum(['json', 'csv']).optional().describe('csv, or Accept: text/csv'),
  sep: csvSeparatorParam,
});

/** What `/api/reports/archive/{kind}` serves: the uptime periods (days are never archived: 404), and the section 9 reports. */
export const ARCHIVE_KINDS = [...PERIOD_KINDS, ...INCIDENT_ARCHIVE_KINDS] as const;
export type ArchiveKind = PeriodKind | (typeof INCIDENT_ARCHIVE_KINDS)[number];

const archiveItemSchema = z.object({
  kind: z.enum(ARCHIVE_KINDS).describe('week, month (uptime, section 7), service-month (service report), results-quarter (results report, section 9)'),
  from: z.string(),
  to: z.string(),
  tz: z.string(),
  generated_at: z.string(),
  url: z.string().describe('the archived report'),
});

/** The boreholes of a report: those the token sees, of one region if asked. */
export function reportBoreholes(scope: Scope, identity: Identity | undefined, region: string | undefined): Borehole[] {
  const visible = scope.visible(identity);
  return region === undefined ? visible : visible.filter((borehole) => borehole.region === region);
}

/** An archived report as the token may see it: rows of other regions left out. */
function visibleRows(report: UptimeReport, scope: Scope, identity: Identity | undefined): UptimeReport {
  const visible = new Set(scope.visible(identity).map((borehole) => borehole.id));
  return { ...report, boreholes: report.boreholes.filter((row) => visible.has(row.borehole)) };
}

/**
 * An archived service report as the token may see it, without the regions it was archived with.
 * A token for every region gets it as generated. A region-limited token: borehole and region rows
 * of its regions; a technician or provider row only when every borehole behind it was of its
 * regions, since the figures of the others cannot be taken out of a median afterwards.
 */
export function visibleServiceRows(archived: ArchivedServiceReport, scope: Scope, identity: Identity | undefined): ServiceReport {
  const { row_regions: rowRegions, ...report } = archived;
  const regions = identity === undefined ? new Set<string>() : identity.regions;
  if (regions === null) return report;
  const boreholes = new Set(scope.visible(identity).map((borehole) => borehole.id));
  const rows = report.rows.filter((row, index) => {
    if (row.scope === 'borehole') return row.key !== null && boreholes.has(row.key);
    if (row.scope === 'region') return row.key !== null && regions.has(row.key);
    const behind = rowRegions?.[index];
    return behind !== undefined && behind.length > 0 && behind.every((region) => regions.has(region));
  });
  return { ...report, rows };
}

/**
 * An archived results report as the token may see it. A region-limited token gets the rows of its
 * boreholes, and the provider totals summed again over those rows alone (the same sums as the
 * report makes: its functional days over its days with data), judged against the threshold of
 * the report as generated.
 */
export function visibleResults(report: ResultsReport, scope: Scope, identity: Identity | undefined): ResultsReport {
  if (identity !== undefined && identity.regions === null) return report;
  const boreholes = new Set(scope.visible(identity).map((borehole) => borehole.id));
  const rows = report.rows.filter((row) => boreholes.has(row.borehole));
  const sums = new Map<string | null, { boreholes: number; functional: number; withData: number }>();
  for (const row of rows) {
    const sum = sums.get(row.provider) ?? { boreholes: 0, functional: 0, withData: 0 };
    sum.boreholes += 1;
    sum.functional += row.functional_days;
    sum.withData += row.days - row.no_data_days;
    sums.set(row.provider, sum);
  }
  const providers = [...sums.entries()].map(([provider, sum]): ResultsProvider => {
    const functionalPct = sum.withData > 0 ? round((100 * sum.functional) / sum.withData, 2) : null;
    return { provider, boreholes: sum.boreholes, functional_days: sum.functional, functional_pct: functionalPct, threshold_met: functionalPct === null ? null : functionalPct >= report.threshold_pct };
  });
  return { ...report, rows, providers };
}

/** An archived report of any kind, as the token may see it (the API and the report page's downloads). */
export type VisibleArchive = { kind: 'uptime'; report: UptimeReport } | { kind: 'service'; report: ServiceReport } | { kind: 'results'; report: ResultsReport };

export function visibleArchive(archived: Pick<ArchivedReport, 'kind' | 'body'>, scope: Scope, identity: Identity | undefined): VisibleArchive {
  if (archived.kind === 'service-month') return { kind: 'service', report: visibleServiceRows(JSON.parse(archived.body) as ArchivedServiceReport, scope, identity) };
  if (archived.kind === 'results-quarter') return { kind: 'results', report: visibleResults(JSON.parse(archived.body) as ResultsReport, scope, identity) };
  return { kind: 'uptime', report: visibleRows(JSON.parse(archived.body) as UptimeReport, scope, identity) };
}

export function archiveCsv(archive: VisibleArchive, separator: CsvSeparator): string {
  if (archive.kind === 'service') return serviceCsv(archive.report, separator);
  if (archive.kind === 'results') return resultsCsv(archive.report, separator);
  return uptimeCsv(archive.report, separator);
}

/**
 * The archive route answers any of the three reports. One object schema that lets their fields
 * through, rather than a union: the OpenAPI document keeps a `type: object` answer, and each
 * report's fields are documented by its own route.
 */
const archivedReportSchema = z
  .looseObject({ from: z.string(), to: z.string() })
  .describe('as generated: for week and month the uptime report (GET /api/reports/uptime), for service-month the service report (GET /api/reports/service), for results-quarter the results report (GET /api/reports/results)');

/** Every borehole the identity sees, in WPdx columns, as of `nowMs`. */
export function wpdxReportFor(options: Pick<ReportRouteOptions, 'alerts' | 'network' | 'scope' | 'now'>, identity: Identity | undefined, nowMs: number): WpdxReport {
  return wpdxReport(networkSummaries(options, identity), nowMs);
}

/** The service report of a period for what the identity sees (the API and the page's download). */
export function serviceReportFor(
  options: Pick<ReportRouteOptions, 'scope' | 'now'> & { incidents: Pick<IncidentsPort, 'between'> },
  identity: Identity | undefined,
  period: Period,
  region: string | undefined,
): ServiceReport {
  const nowMs = options.now();
  const endMs = reportedEnd({ ...period, nowMs });
  const incidents = endMs > period.fromMs ? options.incidents.between(period.fromMs, endMs) : [];
  return buildServiceReport(incidents, reportBoreholes(options.scope, identity, region), period, nowMs);
}

/**
 * The quarter asked (this one without `quarter`), refused when it has not begun: a report of no
 * days would read as a provider with nothing to show.
 */
export function resultsQuarter(asked: string | undefined, tz: string, nowMs: number): Quarter {
  if (!DateTime.local().setZone(tz).isValid) throw new PeriodError(`unknown time zone "${tz}"`);
  const quarter = asked === undefined ? quarterContaining(nowMs, tz) : parseQuarter(asked, tz);
  if (quarter.fromMs > nowMs) throw new PeriodError(`${quarter.label} has not begun: a results report covers a quarter up to today`);
  return quarter;
}

function sendReport(reply: FastifyReply, report: UptimeReport, csv: CsvSeparator | false, name: string): FastifyReply | UptimeReport {
  return csv ? sendCsv(reply, `${name}.csv`, uptimeCsv(report, csv)) : report;
}

export const reportRoutes: FastifyPluginAsync<ReportRouteOptions> = async (app, options) => {
  const { auth, reports, scope, now, timeZone } = options;
  const typed = app.withTypeProvider<ZodTypeProvider>();

  typed.get(
    '/api/reports/uptime',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'Uptime report of a period, per borehole',
        description:
          'CONTRACT.md section 7 for [from, to) in local days of `tz` (REPORT_TZ by default), computed now from the alerts and the time-series store. ' +
          'A period not yet over is reported up to now (`complete: false`). CSV with `format=csv` or `Accept: text/csv`; `sep=semicolon` for a spreadsheet in French. See docs/reports.md.',
        tags: ['reports'],
        security: [{ bearer: [] }],
        querystring: uptimeQuery,
        produces: ['application/json', 'text/csv'],
        response: { 200: uptimeReportSchema, 400: errorSchema, 401: errorSchema, 503: errorSchema },
      },
    },
    async (request, reply) => {
      let period: Period;
      try {
        period = reportPeriod(request.query, now(), timeZone);
      } catch (error) {
        if (error instanceof PeriodError) return reply.code(400).send({ error: 'invalid_period', message: error.message });
        throw error;
      }
      let report: UptimeReport;
      try {
        report = await reports.build(period, reportBoreholes(scope, request.identity, request.query.region));
      } catch (error) {
        if (error instanceof QueryRangeError) return reply.code(400).send({ error: 'invalid_period', message: error.message });
        // A bug is a 500, not an outage of the store.
        if (error instanceof TypeError || error instanceof RangeError) throw error;
        request.log.error({ err: error }, 'uptime report failed');
        return reply.code(503).send({ error: 'store_unavailable', message: 'the time-series store did not answer; try again shortly' });
      }
      const name = `uptime-${localDate(period.fromMs, period.tz)}-${localDate(period.toMs, period.tz)}`;
      return sendReport(reply, report, wantsCsv(request.query.format, request.headers.accept) && (request.query.sep ?? 'comma'), name);
    },
  );

  const { incidents } = options;
  if (incidents) {
    typed.get(
      '/api/reports/service',
      {
        preHandler: auth.require('viewer'),
        schema: {
          summary: 'Service report: incidents and repairs per borehole, technician, provider and region',
          description:
            'CONTRACT.md section 9 for the incidents opened in [from, to) (local days of `tz`, REPORT_TZ by default; default last month), their steps as they stand now. ' +
            'Durations in minutes, median and p90 (nearest rank). CSV with `format=csv` or `Accept: text/csv`, each duration as `_median` and `_p90` columns; `sep=semicolon` for a spreadsheet in French. See docs/reports.md.',
          tags: ['reports'],
          security: [{ bearer: [] }],
          querystring: serviceQuery,
          produces: ['application/json', 'text/csv'],
          response: { 200: serviceReportSchema, 400: errorSchema, 401: errorSchema },
        },
      },
      async (request, reply) => {
        let period: Period;
        try {
          period = reportPeriod(request.query, now(), timeZone);
        } catch (error) {
          if (error instanceof PeriodError) return reply.code(400).send({ error: 'invalid_period', message: error.message });
          throw error;
        }
        const report = serviceReportFor({ scope, now, incidents }, request.identity, period, request.query.region);
        if (wantsCsv(request.query.format, request.headers.accept)) {
          return sendCsv(reply, `service-${localDate(period.fromMs, period.tz)}-${localDate(period.toMs, period.tz)}.csv`, serviceCsv(report, request.query.sep ?? 'comma'));
        }
        return report;
      },
    );
  }

  const { results } = reports;
  if (results) {
    typed.get(
      '/api/reports/results',
      {
        preHandler: auth.require('viewer'),
        schema: {
          summary: 'Results report of a quarter: functional days per borehole and provider',
          description:
            'CONTRACT.md section 9: calendar days of `tz` (REPORT_TZ by default) from the first day of the quarter to its last, or to today included. ' +
            'A quarter not yet begun is a 400. CSV with `format=csv` or `Accept: text/csv`, one line per borehole (`rows`); `sep=semicolon` for a spreadsheet in French. See docs/reports.md.',
          tags: ['reports'],
          security: [{ bearer: [] }],
          querystring: resultsQuery,
          produces: ['application/json', 'text/csv'],
          response: { 200: resultsReportSchema, 400: errorSchema, 401: errorSchema, 503: errorSchema },
        },
      },
      async (request, reply) => {
        let quarter: Quarter;
        try {
          quarter = resultsQuarter(request.query.quarter, request.query.tz ?? timeZone, now());
        } catch (error) {
          if (error instanceof PeriodError) return reply.code(400).send({ error: 'invalid_quarter', message: error.message });
          throw error;
        }
        let report: ResultsReport;
        try {
          report = await results(quarter, reportBoreholes(scope, request.identity, request.query.region));
        } catch (error) {
          if (error instanceof QueryRangeError) return reply.code(400).send({ error: 'invalid_quarter', message: error.message });
          if (error instanceof TypeError || error instanceof RangeError) throw error;
          request.log.error({ err: error }, 'results report failed');
          return reply.code(503).send({ error: 'store_unavailable', message: 'the time-series store did not answer; try again shortly' });
        }
        if (wantsCsv(request.query.format, request.headers.accept)) return sendCsv(reply, `results-${quarter.label}.csv`, resultsCsv(report, request.query.sep ?? 'comma'));
        return report;
      },
    );
  }

  typed.get(
    '/api/reports',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'Reports archived by the schedule, newest first',
        description:
          'Weekly (ISO weeks) and monthly uptime reports, the service report of each month and the results report of each quarter, generated just after each period ends, kept as generated. See docs/reports.md.',
        tags: ['reports'],
        security: [{ bearer: [] }],
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) }),
        response: { 200: z.object({ items: z.array(archiveItemSchema) }), 400: errorSchema, 401: errorSchema },
      },
    },
    async (request) => ({
      items: reports.archived(request.query.limit).flatMap((item) => {
        const kind = ARCHIVE_KINDS.find((known) => known === item.kind);
        if (kind === undefined) return [];
        return [
          {
            kind,
            from: new Date(item.fromMs).toISOString(),
            to: new Date(item.toMs).toISOString(),
            tz: item.tz,
            generated_at: new Date(item.generatedAtMs).toISOString(),
            url: `/api/reports/archive/${kind}/${localDate(item.fromMs, item.tz)}${item.tz === timeZone ? '' : `?tz=${encodeURIComponent(item.tz)}`}`,
          },
        ];
      }),
    }),
  );

  typed.get(
    '/api/reports/archive/:kind/:from',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: 'One archived report, as generated',
        description:
          '`from` is the first day of the period: a Monday, the 1st of a month, the 1st of a quarter (results-quarter/2026-10-01 is 2026-Q4). ' +
          "A region-limited token gets its regions' rows (docs/reports.md, \"Schedule and archive\"). CSV with `format=csv` or `Accept: text/csv`; `sep=semicolon` for a spreadsheet in French.",
        tags: ['reports'],
        security: [{ bearer: [] }],
        params: z.object({ kind: z.enum(ARCHIVE_KINDS), from: z.string().regex(DATE, '`from` must be a date as YYYY-MM-DD') }),
        querystring: z.object({ tz: z.string().max(64).optional(), format: z.enum(['json', 'csv']).optional(), sep: csvSeparatorParam }),
        produces: ['application/json', 'text/csv'],
        response: { 200: archivedReportSchema, 400: errorSchema, 401: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const tz = request.query.tz ?? timeZone;
      let fromMs: number;
      try {
        fromMs = dayStart(request.params.from, tz, 'from');
      } catch (error) {
        if (error instanceof PeriodError) return reply.code(400).send({ error: 'invalid_period', message: error.message });
        throw error;
      }
      const archived = reports.archivedReport(request.params.kind, fromMs, tz);
      if (!archived) return reply.code(404).send({ error: 'not_found', message: `no ${request.params.kind} report archived from ${request.params.from} (${tz})` });
      const visible = visibleArchive(archived, scope, request.identity);
      if (!wantsCsv(request.query.format, request.headers.accept)) return visible.report;
      const name = visible.kind === 'uptime' ? `uptime-${request.params.kind}-${request.params.from}` : `${request.params.kind}-${request.params.from}`;
      return sendCsv(reply, `${name}.csv`, archiveCsv(visible, request.query.sep ?? 'comma'));
    },
  );

  typed.get(
    '/api/reports/wpdx',
    {
      preHandler: auth.require('viewer'),
      schema: {
        summary: "Every borehole's status now, in Water Point Data Exchange columns",
        description: 'For merging live status into national inventories. CSV with `format=csv` or `Accept: text/csv`; `sep=semicolon` for a spreadsheet in French. docs/reports.md maps statuses.',
        tags: ['reports'],
        security: [{ bearer: [] }],
        querystring: z.object({ format: z.enum(['json', 'csv']).optional(), sep: csvSeparatorParam }),
        produces: ['application/json', 'text/csv'],
        response: { 200: wpdxReportSchema, 401: errorSchema },
      },
    },
    async (request, reply) => {
      const nowMs = now();
      const report = wpdxReportFor(options, request.identity, nowMs);
      if (wantsCsv(request.query.format, request.headers.accept)) return sendCsv(reply, wpdxFilename(nowMs, timeZone), wpdxCsv(report.items, request.query.sep));
      return report;
    },
  );
};
