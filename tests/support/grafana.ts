/**
 * The provisioned Grafana dashboards as the tests see them: loading, walking every query (panel
 * targets, annotations, variables), and interpolating a query the way Grafana does before it
 * reaches InfluxDB, so the tests can run the exact text Grafana would send.
 *
 * Grafana is not available here, so its rules are reproduced from its source and documentation:
 *   - the frontend template service (public/app/features/templating/template_srv.ts): the syntaxes
 *     `$var`, `${var}`, `${var:format}`, `[[var]]`, `[[var:format]]`; the All value (a custom
 *     `allValue` is inserted as is, without formatting; otherwise every option is); the formats;
 *   - the InfluxDB datasource's own default format for raw InfluxQL (interpolateQueryExpr in
 *     public/app/plugins/datasource/influxdb/datasource.ts): a plain single-value variable is
 *     regex-escaped; a multi-value or include-All one has its values regex-escaped and joined with
 *     `|`, without parentheses, which is why the dashboards always write `${var:regex}` for those;
 *   - the InfluxQL backend (pkg/tsdb/influxdb/influxql/models/query.go Build): `$timeFilter`
 *     becomes `time >= <from>ms and time <= <to>ms`, then `$interval`, `$__interval_ms` and
 *     `$__interval` the panel's interval (the frontend leaves those three to it).
 * `$__timeFilter` is a macro of Grafana's SQL datasources only: InfluxQL queries that use it reach
 * InfluxDB unreplaced and fail, so it is not replaced here either (and the lint refuses it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const GRAFANA_DIR = fileURLToPath(new URL('../../grafana/', import.meta.url));
export const DASHBOARDS_DIR = join(GRAFANA_DIR, 'dashboards');
export const DATASOURCE_UID = 'influxdb-boreholes';

// ------------------------------------------------------------------------------------------------
// The dashboard JSON model (only what the tests read; Grafana's own model has far more)

export interface DatasourceRef {
  type?: string;
  uid?: string;
}

export interface Target {
  refId?: string;
  datasource?: DatasourceRef | string | null;
  query?: string;
  rawQuery?: boolean;
  resultFormat?: string;
  alias?: string;
  hide?: boolean;
}

/** A data link (fieldConfig `links`): Grafana interpolates `${__data.fields.x}` and the like. */
export interface DataLink {
  title?: string;
  url?: string;
  targetBlank?: boolean;
}

export interface FieldConfigOverride {
  matcher?: { id?: string; options?: unknown };
  properties?: { id: string; value?: unknown }[];
}

export interface FieldConfig {
  defaults?: { unit?: string; links?: DataLink[]; mappings?: unknown[]; [key: string]: unknown };
  overrides?: FieldConfigOverride[];
}

export interface Transformation {
  id: string;
  options?: Record<string, unknown>;
}

export interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: DatasourceRef | string | null;
  targets?: Target[];
  panels?: Panel[];
  interval?: string;
  maxDataPoints?: number;
  fieldConfig?: FieldConfig;
  transformations?: Transformation[];
  options?: Record<string, unknown>;
  links?: DataLink[];
}

export interface Variable {
  name: string;
  type: string;
  label?: string;
  datasource?: DatasourceRef | string | null;
  query?: string | { query?: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: string | string[]; text?: string | string[] };
  options?: { value: string; text?: string }[];
}

export interface Annotation {
  name?: string;
  datasource?: DatasourceRef | string | null;
  enable?: boolean;
  query?: string;
  target?: Target & { fromAnnotations?: boolean; textColumn?: string; tagsColumn?: string };
}

export interface Dashboard {
  id?: number | null;
  uid?: string;
  title?: string;
  description?: string;
  timezone?: string;
  links?: (DataLink & { type?: string; tags?: string[] })[];
  schemaVersion?: number;
  time?: { from: string; to: string };
  panels?: Panel[];
  templating?: { list?: Variable[] };
  annotations?: { list?: Annotation[] };
}

export interface DashboardFile {
  file: string;
  dashboard: Dashboard;
}

export function loadDashboards(dir = DASHBOARDS_DIR): DashboardFile[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

/** Every panel, including those inside rows (a collapsed row keeps its panels in `panels`). */
export function allPanels(dashboard: Dashboard): Panel[] {
  const out: Panel[] = [];
  const walk = (panels: readonly Panel[] | undefined): void => {
    for (const panel of panels ?? []) {
      out.push(panel);
      walk(panel.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

/**
 * The columns a query answers with, as Grafana names the fields of a table: the outer SELECT's
 * aliases (or bare field names, or the function name InfluxDB gives an unaliased call), then the
 * tags of its GROUP BY. Enough for the dashboards' own queries, not a full InfluxQL parser.
 */
export function queryColumns(query: string): string[] {
  const topLevel = (text: string, separator: RegExp): string[] => {
    const parts: string[] = [];
    let depth = 0;
    let quote: string | undefined;
    let start = 0;
    for (let index = 0; index < text.length; index += 1) {
      const char = text[index] ?? '';
      if (quote) {
        if (char === '\\') index += 1;
        else if (char === quote) quote = undefined;
      } else if (char === '"' || char === "'") quote = char;
      else if (char === '(') depth += 1;
      else if (char === ')') depth -= 1;
      else if (depth === 0 && separator.test(text.slice(index))) {
        parts.push(text.slice(start, index));
        start = index + (separator.exec(text.slice(index))?.[0].length ?? 1);
        index = start - 1;
      }
    }
    parts.push(text.slice(start));
    return parts;
  };
  const [select = '', ...rest] = topLevel(query.replace(/^\s*SELECT\s+/i, ''), /^\s+FROM\s+/i);
  const columns = topLevel(select, /^,/).map((item) => {
    const alias = /\bAS\s+"([^"]+)"\s*$/i.exec(item);
    if (alias) return alias[1] ?? '';
    const field = /^\s*"([^"]+)"\s*$/.exec(item);
    if (field) return field[1] ?? '';
    return /^\s*(\w+)\s*\(/.exec(item)?.[1] ?? item.trim();
  });
  const outer = topLevel(rest.join(' FROM '), /^\s+GROUP\s+BY\s+/i);
  const groupBy = outer.length > 1 ? (outer[outer.length - 1] ?? '') : '';
  const tags = [...groupBy.replace(/\s+(fill|tz|LIMIT|SLIMIT|ORDER)\b[\s\S]*$/i, '').matchAll(/"([^"]+)"/g)].map((match) => match[1] ?? '');
  return [...columns, ...tags];
}

/** The organize transformation's new names (what the officer reads), by the field's name in the answer. */
export function renamedFields(panel: Panel): Record<string, string> {
  const organize = (panel.transformations ?? []).find((transformation) => transformation.id === 'organize');
  return ((organize?.options ?? {}) as { renameByName?: Record<string, string> }).renameByName ?? {};
}

/** A field config property for a field known by any of `names`: its byName override, else the defaults. */
export function fieldProperty(panel: Panel, names: readonly string[], property: string): unknown {
  for (const override of panel.fieldConfig?.overrides ?? []) {
    if (override.matcher?.id !== 'byName' || !names.includes(String(override.matcher.options))) continue;
    const found = override.properties?.find((candidate) => candidate.id === property);
    if (found) return found.value;
  }
  return (panel.fieldConfig?.defaults ?? {})[property];
}

export function variableQuery(variable: Variable): string | undefined {
  return typeof variable.query === 'string' ? variable.query : variable.query?.query;
}

export type QueryKind = 'panel' | 'annotation' | 'variable';

export interface DashboardQuery {
  kind: QueryKind;
  /** Names the dashboard and the place, for failure messages. */
  where: string;
  query: string;
  panel?: Panel;
  target?: Target;
  variable?: Variable;
}

/** Every InfluxQL query of a dashboard: visible panel targets, annotations, query variables. */
export function dashboardQueries(dashboard: Dashboard): DashboardQuery[] {
  const title = dashboard.title ?? dashboard.uid ?? '(untitled)';
  const queries: DashboardQuery[] = [];
  for (const variable of dashboard.templating?.list ?? []) {
    const query = variableQuery(variable);
    if (variable.type === 'query' && query !== undefined) {
      queries.push({ kind: 'variable', where: `${title} / variable $${variable.name}`, query, variable });
    }
  }
  for (const panel of allPanels(dashboard)) {
    for (const target of panel.targets ?? []) {
      if (target.hide === true) continue;
      queries.push({
        kind: 'panel',
        where: `${title} / panel "${panel.title ?? ''}" (id ${panel.id ?? '?'}) / query ${target.refId ?? '?'}`,
        query: target.query ?? '',
        panel,
        target,
      });
    }
  }
  for (const annotation of dashboard.annotations?.list ?? []) {
    const query = annotation.target?.query ?? annotation.query;
    if (query === undefined) continue;
    queries.push({ kind: 'annotation', where: `${title} / annotation "${annotation.name ?? ''}"`, query });
  }
  return queries;
}

// ------------------------------------------------------------------------------------------------
// Variable references

/** Grafana's variableRegex (template_srv), with its groups: $var | [[var:fmt]] | ${var.path:fmt}. */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}/g;

export interface VariableReference {
  name: string;
  format: string | undefined;
  text: string;
}

export function variableReferences(text: string): VariableReference[] {
  const references: VariableReference[] = [];
  for (const match of text.matchAll(VARIABLE_REGEX)) {
    const name = match[1] ?? match[2] ?? match[4];
    if (name !== undefined) references.push({ name, format: match[3] ?? match[6], text: match[0] });
  }
  return references;
}

/** Replaced by the InfluxQL backend after the frontend is done (models/query.go Build). */
export const BACKEND_MACROS = ['timeFilter', 'interval', '__interval', '__interval_ms'] as const;
/** Global variables of the frontend template service that the tests give values to. */
export const GLOBAL_VARIABLES = ['__from', '__to', '__range', '__range_s', '__range_ms', '__dashboard'] as const;
/** Alias patterns of the InfluxDB datasource (`$tag_borehole`, `$col`...), not template variables. */
export function isAliasPattern(name: string): boolean {
  return /^(tag_\w+|col|m|measurement|\d)$/.test(name);
}

// ------------------------------------------------------------------------------------------------
// Interpolation

const ALL_VALUE = '$__all';

export interface VariableState {
  name: string;
  multi: boolean;
  includeAll: boolean;
  allValue?: string | null | undefined;
  /** The current selection: one value, several, or `$__all`. */
  value: string | string[];
  /** The options the variable's query offered (without the All option). */
  options: string[];
}

export interface InterpolationContext {
  fromMs: number;
  toMs: number;
  /** The panel's interval, as Grafana computes it (see panelIntervalMs). */
  intervalMs: number;
  dashboardTitle?: string;
  variables: ReadonlyMap<string, VariableState>;
}

/** @grafana/data escapeRegex */
function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/** influxSpecialRegexEscape of the InfluxDB datasource. */
function influxSpecialRegexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

/** The InfluxDB datasource's default format for raw InfluxQL (interpolateQueryExpr). */
function influxDefaultFormat(value: string | string[], variable: VariableState): string {
  if (!variable.multi && !variable.includeAll) {
    const single = Array.isArray(value) ? value.join(',') : value;
    return Number.isNaN(Number.parseFloat(single)) ? escapeRegex(single) : single;
  }
  if (typeof value === 'string') return influxSpecialRegexEscape(value);
  const escaped = value.map(influxSpecialRegexEscape);
  return escaped.length === 1 ? (escaped[0] ?? '') : escaped.join('|');
}

const list = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]);

/** Grafana's format registry, for the formats a dashboard may name explicitly. */
function formatValue(value: string | string[], format: string, variable: VariableState): string {
  switch (format) {
    case 'regex': {
      if (typeof value === 'string') return escapeRegex(value);
      const escaped = value.map(escapeRegex);
      return escaped.length === 1 ? (escaped[0] ?? '') : `(${escaped.join('|')})`;
    }
    case 'raw':
    case 'csv':
      return list(value).join(',');
    case 'pipe':
      return list(value).join('|');
    case 'glob':
      return Array.isArray(value) && value.length > 1 ? `{${value.join(',')}}` : list(value).join(',');
    case 'singlequote':
      return list(value)
        .map((v) => `'${v.replace(/'/g, "\\'")}'`)
        .join(',');
    case 'doublequote':
      return list(value)
        .map((v) => `"${v.replace(/"/g, '\\"')}"`)
        .join(',');
    case 'sqlstring':
      return list(value)
        .map((v) => `'${v.replace(/'/g, "''")}'`)
        .join(',');
    case 'json':
      return JSON.stringify(value);
    case 'text':
      return list(value).join(' + ');
    default:
      throw new Error(`variable $${variable.name}: format "${format}" is not one this emulation of Grafana knows`);
  }
}

function isAll(value: string | string[]): boolean {
  return Array.isArray(value) ? value[0] === ALL_VALUE : value === ALL_VALUE;
}

function formatDate(ms: number, format: string | undefined): string {
  if (format === undefined) return String(ms);
  if (format === 'date' || format === 'date:iso') return new Date(ms).toISOString();
  if (format === 'date:seconds') return String(Math.floor(ms / 1000));
  throw new Error(`time variable format "${format}" is not one this emulation of Grafana knows`);
}

/** The frontend step: template variables and global variables; backend macros are left alone. */
export function interpolateFrontend(text: string, context: InterpolationContext): string {
  const rangeMs = context.toMs - context.fromMs;
  return text.replace(VARIABLE_REGEX, (match, var1?: string, var2?: string, fmt2?: string, var3?: string, _path?: string, fmt3?: string) => {
    const name = var1 ?? var2 ?? var3 ?? '';
    const format = fmt2 ?? fmt3;
    switch (name) {
      case '__from':
        return formatDate(context.fromMs, format);
      case '__to':
        return formatDate(context.toMs, format);
      case '__range_ms':
        return String(rangeMs);
      case '__range_s':
        return String(Math.round(rangeMs / 1000));
      case '__range':
        return `${Math.round(rangeMs / 1000)}s`;
      case '__dashboard':
        return context.dashboardTitle ?? '';
      default:
        break;
    }
    const variable = context.variables.get(name);
    if (!variable) return match;
    let value = variable.value;
    if (isAll(value)) {
      // template_srv: a custom all value is inserted as written, whatever the format.
      if (variable.allValue && format !== 'text' && format !== 'queryparam') return variable.allValue;
      value = variable.options;
    }
    return format === undefined ? influxDefaultFormat(value, variable) : formatValue(value, format, variable);
  });
}

/** gtime.FormatInterval: the largest whole unit, as the backend writes `$__interval`. */
export function formatInterval(ms: number): string {
  const units: [number, string][] = [
    [365 * 86_400_000, 'y'],
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
    [1, 'ms'],
  ];
  for (const [size, unit] of units) {
    if (ms >= size) return `${Math.floor(ms / size)}${unit}`;
  }
  return '1ms';
}

/** The backend step (models/query.go Build): $timeFilter, then the interval macros. */
export function interpolateBackend(text: string, context: InterpolationContext): string {
  const intervalText = formatInterval(context.intervalMs);
  return text
    .replaceAll('$timeFilter', `time >= ${context.fromMs}ms and time <= ${context.toMs}ms`)
    .replaceAll('$interval', intervalText)
    .replaceAll('$__interval_ms', String(context.intervalMs))
    .replaceAll('$__interval', intervalText);
}

/** The text Grafana sends to InfluxDB for a raw InfluxQL query. */
export function interpolate(text: string, context: InterpolationContext): string {
  return interpolateBackend(interpolateFrontend(text, context), context);
}

// ------------------------------------------------------------------------------------------------
// The interval

/** Grafana's roundInterval (gtime): the calculated interval snaps to these. */
const ROUNDED_INTERVALS: [number, number][] = [
  [15, 10],
  [35, 20],
  [75, 50],
  [150, 100],
  [350, 200],
  [750, 500],
  [1500, 1000],
  [3500, 2000],
  [7500, 5000],
  [12_500, 10_000],
  [17_500, 15_000],
  [25_000, 20_000],
  [45_000, 30_000],
  [90_000, 60_000],
  [210_000, 120_000],
  [450_000, 300_000],
  [750_000, 600_000],
  [1_050_000, 900_000],
  [1_500_000, 1_200_000],
  [2_700_000, 1_800_000],
  [5_400_000, 3_600_000],
  [9_000_000, 7_200_000],
  [16_200_000, 10_800_000],
  [24_300_000, 21_600_000],
  [64_800_000, 43_200_000],
  [129_600_000, 86_400_000],
  [432_000_000, 604_800_000],
  [3_888_000_000, 2_592_000_000],
];

export function roundInterval(ms: number): number {
  if (ms <= 10) return 1;
  for (const [limit, rounded] of ROUNDED_INTERVALS) if (ms <= limit) return rounded;
  return 31_536_000_000;
}

/** Parses Grafana's interval strings (`1m`, `30s`, `1h`), as in the datasource's timeInterval. */
export function parseInterval(text: string): number {
  const match = /^>?(\d+)(ms|s|m|h|d|w|y)$/.exec(text.trim());
  if (!match) throw new Error(`"${text}" is not a Grafana interval such as 1m or 30s`);
  const size = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 }[match[2] as string] ?? 1;
  return Number(match[1]) * size;
}

/**
 * The panel's `$__interval`: the range over the number of points the panel can show (its width in
 * pixels, about 1,000 for a half-width panel, unless the panel sets maxDataPoints), rounded, and
 * never below the panel's or the datasource's minimum interval.
 */
export function panelIntervalMs(fromMs: number, toMs: number, options: { maxDataPoints?: number | undefined; minIntervalMs: number }): number {
  const calculated = roundInterval((toMs - fromMs) / (options.maxDataPoints ?? 1000));
  return Math.max(calculated, options.minIntervalMs);
}

// ------------------------------------------------------------------------------------------------
// The provisioned datasource, and variables resolved the way a dashboard does on load

export interface ProvisionedDatasource {
  uid: string;
  jsonData?: { timeInterval?: string };
}

export function provisionedDatasource(): ProvisionedDatasource {
  const text = readFileSync(join(GRAFANA_DIR, 'provisioning/datasources/influxdb.yaml'), 'utf8');
  const parsed = parseYaml(text) as { datasources?: ProvisionedDatasource[] };
  const datasource = parsed.datasources?.find((candidate) => candidate.uid === DATASOURCE_UID);
  if (!datasource) throw new Error(`no datasource with uid ${DATASOURCE_UID} is provisioned`);
  return datasource;
}

/** The `$__interval` Grafana gives a panel over [fromMs, toMs]. */
export function intervalForPanel(panel: Panel | undefined, fromMs: number, toMs: number): number {
  const minInterval = panel?.interval ?? provisionedDatasource().jsonData?.timeInterval ?? '1ms';
  return panelIntervalMs(fromMs, toMs, { maxDataPoints: panel?.maxDataPoints, minIntervalMs: parseInterval(minInterval) });
}

/** One InfluxQL statement's series (the shape of InfluxDB's /query answer). */
export interface QuerySeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export type RunQuery = (text: string) => Promise<QuerySeries[]>;

/** What a variable query offers: the `value` column of SHOW TAG VALUES, or the first column. */
export function optionsFrom(series: readonly QuerySeries[]): string[] {
  const values = new Set<string>();
  for (const one of series) {
    const column = one.columns.includes('value') ? one.columns.indexOf('value') : one.columns.findIndex((name) => name !== 'time');
    for (const row of one.values) {
      const value = row[column];
      if (typeof value === 'string' || typeof value === 'number') values.add(String(value));
    }
  }
  return [...values];
}

/**
 * Resolves the dashboard's variables in order, as Grafana does on load: each query variable runs
 * its query (interpolated with those above it) and keeps its saved selection (All when saved so),
 * or the selection the caller asks for, or else its first option.
 */
export async function resolveVariables(
  dashboard: Dashboard,
  run: RunQuery,
  range: { fromMs: number; toMs: number },
  selections: Readonly<Record<string, string | string[]>> = {},
): Promise<Map<string, VariableState>> {
  const states = new Map<string, VariableState>();
  for (const variable of dashboard.templating?.list ?? []) {
    const query = variableQuery(variable);
    if (variable.type !== 'query' || query === undefined) throw new Error(`variable $${variable.name}: only query variables are supported here`);
    const context: InterpolationContext = { ...range, intervalMs: intervalForPanel(undefined, range.fromMs, range.toMs), dashboardTitle: dashboard.title, variables: states };
    const options = optionsFrom(await run(interpolate(query, context))).sort((a, b) => a.localeCompare(b));
    const saved = variable.current?.value;
    const selected = selections[variable.name] ?? (saved !== undefined && isAll(saved) ? saved : options[0]);
    if (selected === undefined) throw new Error(`variable $${variable.name}: its query offers nothing to select`);
    states.set(variable.name, {
      name: variable.name,
      multi: variable.multi === true,
      includeAll: variable.includeAll === true,
      allValue: variable.allValue,
      value: selected,
      options,
    });
  }
  return states;
}

/** Whether a statement's answer has at least one value that is not null in a column other than time. */
export function hasData(series: readonly QuerySeries[]): boolean {
  return series.some((one) => one.values.some((row) => row.some((value, index) => one.columns[index] !== 'time' && value !== null && value !== undefined)));
}
