/**
 * Static checks of the Grafana provisioning and dashboards: what would make a dashboard fail to
 * load, point at the wrong datasource, break on another Grafana version, only work for the
 * example villages, reach for the internet (a district office often has none), or speak English
 * to the officers who read it in French. Whether the queries answer with data is the integration suite's job
 * (tests/integration/grafana-dashboards.test.ts).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  allPanels,
  BACKEND_MACROS,
  DASHBOARDS_DIR,
  dashboardQueries,
  DATASOURCE_UID,
  fieldProperty,
  GLOBAL_VARIABLES,
  GRAFANA_DIR,
  interpolate,
  isAliasPattern,
  loadDashboards,
  panelIntervalMs,
  queryColumns,
  renamedFields,
  variableQuery,
  variableReferences,
  type Dashboard,
  type DataLink,
  type DatasourceRef,
  type Panel,
  type VariableState,
} from '../../support/grafana.js';
import { registryEntry } from '../../support/fixtures.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXPECTED_UIDS = ['boreholes-overview', 'borehole-detail', 'boreholes-uptime'];
/** Where docker-compose.yml mounts ./grafana/dashboards in the Grafana container. */
const CONTAINER_DASHBOARDS_PATH = '/var/lib/grafana/dashboards';
const CONTAINER_PROVISIONING_PATH = '/etc/grafana/provisioning';
/** The environment docker-compose.yml gives the Grafana container for the datasource. */
const DATASOURCE_ENV = ['INFLUX_URL', 'INFLUX_BUCKET', 'INFLUX_TOKEN'];

/**
 * What the dashboards may name: CONTRACT.md section 2, plus the `registry` and `uptime`
 * measurements the service writes for them. Every point carries borehole, region and commune.
 */
const SCHEMA: Record<string, { fields: string[]; tags: string[] }> = {
  flow: { fields: ['rate_lpm', 'total_m3'], tags: [] },
  pump: { fields: ['running', 'current_a', 'voltage_v', 'fault'], tags: [] },
  level: { fields: ['depth_m'], tags: [] },
  device: { fields: ['online', 'rssi_dbm', 'battery_v'], tags: [] },
  alert: { fields: ['state', 'message'], tags: ['rule', 'severity'] },
  registry: { fields: ['name', 'village', 'lat', 'lon', 'intake_depth_m', 'rated_flow_lpm'], tags: [] },
  uptime: {
    fields: ['hours_total', 'hours_down', 'hours_no_data', 'coverage_pct', 'pumping_hours', 'volume_m3', 'failures', 'uptime_pct', 'mttr_hours'],
    tags: ['period'],
  },
};
const COMMON_TAGS = ['borehole', 'region', 'commune'];

const dashboards = loadDashboards();
const byTitle = dashboards.map(({ file, dashboard }) => [dashboard.title ?? file, dashboard] as const);

function readYaml(path: string): unknown {
  return parseYaml(readFileSync(path, 'utf8'));
}

function isInfluxRef(ref: DatasourceRef | string | null | undefined): boolean {
  return typeof ref === 'object' && ref !== null && ref.type === 'influxdb' && ref.uid === DATASOURCE_UID;
}

/** Every string in a JSON value, with the path to it. */
function strings(value: unknown, path = ''): { path: string; text: string }[] {
  if (typeof value === 'string') return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => strings(item, `${path}[${index}]`));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => [{ path: `${path}.${key} (key)`, text: key }, ...strings(item, `${path}.${key}`)]);
  }
  return [];
}

/** Double-quoted identifiers of an InfluxQL query, outside single-quoted string literals. */
function identifiers(query: string): string[] {
  const withoutStrings = query.replace(/'(?:[^'\\]|\\.)*'/g, "''");
  return [...withoutStrings.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1] ?? '');
}

describe('Grafana dashboards', () => {
  it('are the three expected dashboards, each with a unique stable uid, a title and a schema version', () => {
    expect(dashboards.map(({ dashboard }) => dashboard.uid).sort()).toEqual([...EXPECTED_UIDS].sort());
    const titles = dashboards.map(({ dashboard }) => dashboard.title);
    expect(new Set(titles).size).toBe(titles.length);
    for (const { file, dashboard } of dashboards) {
      expect(dashboard.title, file).toMatch(/\S/);
      expect(dashboard.uid, file).toMatch(/^[a-z0-9-]{1,40}$/);
      expect(typeof dashboard.schemaVersion, file).toBe('number');
      // An exported dashboard keeps the numeric id of the Grafana it came from; provisioning wants none.
      expect(dashboard.id ?? null, file).toBeNull();
    }
  });

  it('carry no import placeholders (${DS_...}, __inputs, __requires)', () => {
    for (const { file, dashboard } of dashboards) {
      const json = JSON.stringify(dashboard);
      expect(json, file).not.toMatch(/\$\{DS_/);
      expect(Object.keys(dashboard), file).not.toContain('__inputs');
      expect(Object.keys(dashboard), file).not.toContain('__requires');
    }
  });

  it.each(byTitle)('%s: every panel, query, variable and annotation uses datasource uid influxdb-boreholes', (_title, dashboard) => {
    const problems: string[] = [];
    const ids = new Set<number>();
    for (const panel of allPanels(dashboard)) {
      const name = `panel "${panel.title ?? ''}" (id ${panel.id ?? '?'})`;
      if (panel.id === undefined || ids.has(panel.id)) problems.push(`${name}: missing or duplicate id`);
      else ids.add(panel.id);
      if (panel.type === 'row' || panel.type === 'text') continue;
      if (!isInfluxRef(panel.datasource)) problems.push(`${name}: datasource is ${JSON.stringify(panel.datasource)}`);
      if ((panel.targets ?? []).length === 0) problems.push(`${name}: no query`);
      const refIds = new Set<string>();
      for (const target of panel.targets ?? []) {
        if (!isInfluxRef(target.datasource)) problems.push(`${name} query ${target.refId ?? '?'}: datasource is ${JSON.stringify(target.datasource)}`);
        if (target.rawQuery !== true || !target.query) problems.push(`${name} query ${target.refId ?? '?'}: not a raw InfluxQL query`);
        if (target.refId === undefined || refIds.has(target.refId)) problems.push(`${name}: missing or duplicate refId ${target.refId ?? ''}`);
        else refIds.add(target.refId);
      }
    }
    for (const variable of dashboard.templating?.list ?? []) {
      if (variable.type === 'query' && !isInfluxRef(variable.datasource)) problems.push(`variable $${variable.name}: datasource is ${JSON.stringify(variable.datasource)}`);
    }
    for (const annotation of dashboard.annotations?.list ?? []) {
      const name = `annotation "${annotation.name ?? ''}"`;
      if (!isInfluxRef(annotation.datasource)) problems.push(`${name}: datasource is ${JSON.stringify(annotation.datasource)}`);
      if (!isInfluxRef(annotation.target?.datasource)) problems.push(`${name}: target datasource is ${JSON.stringify(annotation.target?.datasource)}`);
      if (!annotation.target?.query) problems.push(`${name}: no InfluxQL query in its target`);
      if (!annotation.target?.textColumn) problems.push(`${name}: no textColumn, the annotations would have no text`);
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: every variable it uses is defined, before any variable query that uses it', (_title, dashboard) => {
    const problems: string[] = [];
    const variables = dashboard.templating?.list ?? [];
    const defined = new Set(variables.map((variable) => variable.name));
    const known = (name: string): boolean => defined.has(name) || (BACKEND_MACROS as readonly string[]).includes(name) || (GLOBAL_VARIABLES as readonly string[]).includes(name);

    // Variable queries run in order: each may use only those defined above it.
    const above = new Set<string>();
    for (const variable of variables) {
      for (const reference of variableReferences(variableQuery(variable) ?? '')) {
        if (!above.has(reference.name) && !known(reference.name)) problems.push(`variable $${variable.name} uses undefined ${reference.text}`);
        else if (defined.has(reference.name) && !above.has(reference.name)) problems.push(`variable $${variable.name} uses ${reference.text}, defined below it`);
      }
      above.add(variable.name);
    }
    for (const query of dashboardQueries(dashboard)) {
      for (const reference of variableReferences(query.query)) {
        if (!known(reference.name)) problems.push(`${query.where} uses undefined ${reference.text}`);
      }
      for (const reference of variableReferences(query.target?.alias ?? '')) {
        if (!known(reference.name) && !isAliasPattern(reference.name)) problems.push(`${query.where}: alias uses undefined ${reference.text}`);
      }
    }
    // Titles and descriptions are interpolated too: a typo there shows as a literal "$regoin".
    for (const panel of allPanels(dashboard)) {
      for (const text of [panel.title ?? '', (panel as { description?: string }).description ?? '']) {
        for (const reference of variableReferences(text)) if (!known(reference.name)) problems.push(`panel "${panel.title ?? ''}" text uses undefined ${reference.text}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: queries use the InfluxQL macros, and multi-value variables only as ${var:regex}', (_title, dashboard) => {
    const problems: string[] = [];
    const multi = new Map((dashboard.templating?.list ?? []).map((variable) => [variable.name, variable.multi === true || variable.includeAll === true]));
    for (const variable of dashboard.templating?.list ?? []) {
      // Without a custom all value, All becomes an alternation of every borehole, which grows with the registry.
      if (variable.includeAll === true && !variable.allValue) problems.push(`variable $${variable.name}: include All without an allValue`);
    }
    for (const query of dashboardQueries(dashboard)) {
      // $__timeFilter is a macro of the SQL datasources; InfluxQL would receive it as written.
      if (query.query.includes('$__timeFilter')) problems.push(`${query.where}: $__timeFilter is not an InfluxQL macro, use $timeFilter`);
      if (query.query.includes('$__rate_interval')) problems.push(`${query.where}: $__rate_interval is a Prometheus variable`);
      for (const reference of variableReferences(query.query)) {
        // Grafana versions disagree on how they join several values by default (with or without
        // parentheses); the explicit regex format means the same everywhere.
        if (multi.get(reference.name) === true && reference.format !== 'regex') {
          problems.push(`${query.where}: multi-value variable ${reference.text} must be written \${${reference.name}:regex}`);
        }
      }
      if (query.kind !== 'variable' && /^\s*SELECT\b/i.test(query.query) && !query.query.includes('$timeFilter') && !/time\s*>=?\s*now\(\)\s*-\s*\d+[smhdw]/i.test(query.query)) {
        problems.push(`${query.where}: a SELECT without $timeFilter or a bounded "time > now() - ..." window scans all history`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: queries name only measurements, fields and tags of the schema', (_title, dashboard) => {
    const problems: string[] = [];
    const everything = new Set([...Object.keys(SCHEMA), ...COMMON_TAGS, ...Object.values(SCHEMA).flatMap((m) => [...m.fields, ...m.tags])]);
    for (const query of dashboardQueries(dashboard)) {
      const aliases = new Set([...query.query.matchAll(/\bAS\s+"([^"]+)"/gi)].map((match) => match[1] ?? ''));
      const measurements = [...query.query.matchAll(/\bFROM\s+"([^"]+)"/gi)].map((match) => match[1] ?? '');
      for (const measurement of measurements) if (!SCHEMA[measurement]) problems.push(`${query.where}: unknown measurement "${measurement}"`);
      const subquery = /\bFROM\s*\(/i.test(query.query);
      const only = measurements.length === 1 && !subquery ? SCHEMA[measurements[0] ?? ''] : undefined;
      const allowed = only ? new Set([...measurements, ...COMMON_TAGS, ...only.fields, ...only.tags]) : everything;
      for (const name of identifiers(query.query)) {
        if (!allowed.has(name) && !aliases.has(name)) problems.push(`${query.where}: "${name}" is not in the schema${only ? ` of "${measurements[0] ?? ''}"` : ''}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('name no borehole, village, commune or region of the example registry or the test fixtures', () => {
    const names = new Set<string>();
    const collect = (value: unknown, inBoreholes = false): void => {
      if (Array.isArray(value)) {
        for (const item of value) collect(item, inBoreholes);
        return;
      }
      if (typeof value !== 'object' || value === null) return;
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (typeof item === 'string' && (key === 'borehole' || (inBoreholes && ['id', 'name', 'village', 'commune', 'region'].includes(key)))) names.add(item);
        if (key === 'escalation' && typeof item === 'object' && item !== null) for (const region of Object.keys(item)) names.add(region);
        if (key === 'boreholes' && Array.isArray(item)) for (const id of item) if (typeof id === 'string') names.add(id);
        collect(item, key === 'boreholes');
      }
    };
    const yamlFiles = (dir: string): string[] =>
      existsSync(dir)
        ? readdirSync(dir, { recursive: true, encoding: 'utf8' })
            .filter((file) => /\.(ya?ml|json)$/.test(file))
            .map((file) => join(dir, file))
        : [];
    for (const file of [...yamlFiles(join(ROOT, 'config')), ...yamlFiles(join(ROOT, 'tests/fixtures')), ...yamlFiles(join(ROOT, 'firmware-sim/scenarios'))]) {
      collect(readYaml(file));
    }
    // The registry the test helpers build (tests/support/fixtures.ts) names regions and communes too.
    for (const index of [0, 1]) {
      const entry = registryEntry('x', index);
      names.add(entry.region);
      names.add(entry.commune);
    }
    expect(names.size).toBeGreaterThan(10);

    const problems: string[] = [];
    for (const { file, dashboard } of dashboards) {
      for (const { path, text } of strings(dashboard)) {
        const lower = text.toLowerCase();
        for (const name of names) {
          const needle = name.toLowerCase();
          const at = lower.indexOf(needle);
          if (at < 0) continue;
          const before = lower[at - 1] ?? ' ';
          const after = lower[at + needle.length] ?? ' ';
          if (!/[\p{L}\p{N}_]/u.test(before) && !/[\p{L}\p{N}_]/u.test(after)) problems.push(`${file}${path}: "${name}" in ${JSON.stringify(text.slice(0, 80))}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('Grafana provisioning', () => {
  const datasourceFile = join(GRAFANA_DIR, 'provisioning/datasources/influxdb.yaml');
  const providerFile = join(GRAFANA_DIR, 'provisioning/dashboards/boreholes.yaml');

  it('provisions one InfluxQL datasource with the stable uid, its settings and token from the environment only', () => {
    const config = readYaml(datasourceFile) as { apiVersion: number; datasources: Record<string, unknown>[] };
    expect(config.apiVersion).toBe(1);
    expect(config.datasources).toHaveLength(1);
    const datasource = config.datasources[0] as {
      uid: string;
      type: string;
      access: string;
      url: string;
      jsonData: Record<string, unknown>;
      secureJsonData: Record<string, unknown>;
    };
    expect(datasource).toMatchObject({ uid: DATASOURCE_UID, type: 'influxdb', access: 'proxy', url: '$INFLUX_URL' });
    // Grafana's provisioning docs: `database` is deprecated in favour of jsonData.dbName.
    expect(datasource.jsonData).toMatchObject({ version: 'InfluxQL', dbName: '$INFLUX_BUCKET', httpHeaderName1: 'Authorization' });
    expect(datasource.secureJsonData).toEqual({ httpHeaderValue1: 'Token $INFLUX_TOKEN' });
    expect(Object.keys(datasource)).not.toContain('password');
    expect(Object.keys(datasource)).not.toContain('basicAuthPassword');

    const text = readFileSync(datasourceFile, 'utf8');
    const used = [...text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{?([A-Z_][A-Z0-9_]*)\}?/g)].map((match) => match[1]);
    expect([...new Set(used)].sort()).toEqual([...DATASOURCE_ENV].sort());
  });

  it('every dashboard references the provisioned datasource uid', () => {
    const config = readYaml(datasourceFile) as { datasources: { uid: string }[] };
    const uids = new Set(config.datasources.map((datasource) => datasource.uid));
    for (const { file, dashboard } of dashboards) {
      const referenced = new Set(strings(dashboard).filter(({ path }) => path.endsWith('.datasource.uid')).map(({ text }) => text));
      expect([...referenced], file).toEqual([DATASOURCE_UID]);
      expect(uids.has(DATASOURCE_UID)).toBe(true);
    }
  });

  it('loads the dashboards from the path docker-compose mounts grafana/dashboards at', () => {
    const config = readYaml(providerFile) as { apiVersion: number; providers: { type: string; options: { path: string }; allowUiUpdates?: boolean }[] };
    expect(config.apiVersion).toBe(1);
    expect(config.providers).toHaveLength(1);
    const provider = config.providers[0];
    expect(provider?.type).toBe('file');
    expect(provider?.options.path).toBe(CONTAINER_DASHBOARDS_PATH);
    expect(statSync(DASHBOARDS_DIR).isDirectory()).toBe(true);
    expect(dashboards.length).toBeGreaterThanOrEqual(EXPECTED_UIDS.length);
  });

  it('docker-compose.yml runs Grafana with these mounts and the datasource environment', () => {
    const compose = readYaml(join(ROOT, 'docker-compose.yml')) as { services?: Record<string, { image?: string; volumes?: unknown[]; environment?: unknown }> };
    const grafana = Object.entries(compose.services ?? {}).find(([, service]) => service.image?.startsWith('grafana/'));
    expect(grafana, 'docker-compose.yml has no service running a grafana/ image').toBeDefined();
    const [, service] = grafana ?? ['', {}];
    const mounts = new Map(
      (service.volumes ?? [])
        .filter((volume): volume is string => typeof volume === 'string')
        .map((volume) => volume.split(':'))
        .map(([source = '', target = '']) => [relative(ROOT, join(ROOT, source)), target]),
    );
    expect(mounts.get('grafana/provisioning')).toBe(CONTAINER_PROVISIONING_PATH);
    expect(mounts.get('grafana/dashboards')).toBe(CONTAINER_DASHBOARDS_PATH);
    const environment = service.environment ?? {};
    const names = Array.isArray(environment) ? environment.map((entry) => String(entry).split('=')[0]) : Object.keys(environment);
    for (const name of DATASOURCE_ENV) expect(names, `Grafana's environment lacks ${name}`).toContain(name);
  });
});

/**
 * The interpolation the integration suite relies on, pinned to what Grafana does (template_srv,
 * the InfluxDB datasource's interpolateQueryExpr, the InfluxQL backend's Build).
 */
describe('Grafana interpolation as the tests reproduce it', () => {
  const region = (value: string | string[]): VariableState => ({
    name: 'region',
    multi: true,
    includeAll: true,
    allValue: '.*',
    value,
    options: ['Kayes', 'Koulikoro', 'Ségou'],
  });
  const borehole: VariableState = { name: 'borehole', multi: false, includeAll: false, value: 'kayes-nord', options: ['kayes-nord'] };
  const context = (value: string | string[]) => ({
    fromMs: 1_700_000_000_000,
    toMs: 1_700_172_800_000,
    intervalMs: 120_000,
    variables: new Map([
      ['region', region(value)],
      ['borehole', borehole],
    ]),
  });

  it('puts the range in $timeFilter and the panel interval in $__interval, $interval and $__interval_ms', () => {
    expect(interpolate('WHERE $timeFilter GROUP BY time($__interval), time($interval) LIMIT $__interval_ms', context('Kayes'))).toBe(
      'WHERE time >= 1700000000000ms and time <= 1700172800000ms GROUP BY time(2m), time(2m) LIMIT 120000',
    );
  });

  it('inserts a custom All value as written, and joins several values in parentheses with :regex', () => {
    expect(interpolate('/^${region:regex}$/', context(['$__all']))).toBe('/^.*$/');
    expect(interpolate('/^${region:regex}$/', context(['Kayes', 'Ségou']))).toBe('/^(Kayes|Ségou)$/');
    expect(interpolate('/^${region:regex}$/', context(['Kayes']))).toBe('/^Kayes$/');
  });

  it('joins several values without parentheses by default, the trap the lint keeps the dashboards out of', () => {
    expect(interpolate('/^$region$/', context(['Kayes', 'Ségou']))).toBe('/^Kayes|Ségou$/');
  });

  it('regex-escapes a single-value variable, supports [[var]] and leaves unknown names alone', () => {
    expect(interpolate("'$borehole' [[borehole]] ${borehole}", context('Kayes'))).toBe("'kayes-nord' kayes-nord kayes-nord");
    expect(interpolate('$__timeFilter $nothing', context('Kayes'))).toBe('$__timeFilter $nothing');
  });

  it('computes the interval from the range, rounded, and never below the minimum', () => {
    expect(panelIntervalMs(0, 2 * 86_400_000, { minIntervalMs: 60_000 })).toBe(120_000);
    expect(panelIntervalMs(0, 3_600_000, { minIntervalMs: 60_000 })).toBe(60_000);
    expect(panelIntervalMs(0, 30 * 86_400_000, { minIntervalMs: 60_000 })).toBe(1_800_000);
  });
});

// ------------------------------------------------------------------------------------------------
// An office without internet, and officers who read French

interface ComposeService {
  image?: string;
  volumes?: unknown[];
  environment?: Record<string, unknown> | string[];
}
const compose = readYaml(join(ROOT, 'docker-compose.yml')) as { services?: Record<string, ComposeService> };
const grafanaService = Object.values(compose.services ?? {}).find((service) => service.image?.startsWith('grafana/')) ?? {};
/** Where Grafana's image keeps the files it serves under /public/ (its static root). */
const GRAFANA_PUBLIC_PATH = '/usr/share/grafana/public';
/** Hosts of the stack itself: the compose services, and this machine. */
const STACK_HOSTS = new Set([...Object.keys(compose.services ?? {}), 'localhost', '127.0.0.1']);
/** Layers that draw only what the panel's data or a file served by Grafana holds. */
const LOCAL_LAYER_TYPES = new Set(['markers', 'geojson', 'heatmap']);
/** Base layers that fetch tiles or styles from a server ('default' is CARTO unless configured). */
const TILE_LAYER_TYPES = new Set(['default', 'xyz', 'carto', 'osm-standard', 'esri-xyz', 'maplibre']);
const NUMERIC_PANEL_TYPES = new Set(['timeseries', 'stat', 'barchart', 'bargauge', 'gauge', 'histogram']);
/** Tags that are columns of a table answer but never numbers. */
const TAG_COLUMNS = new Set(['borehole', 'region', 'commune', 'rule', 'severity', 'period']);
/** Units live in names (shared/STYLE.md): the Grafana unit each suffix must be shown with. */
const UNIT_OF_SUFFIX: [RegExp, string][] = [
  [/_lpm$/, 'flowlpm'],
  [/_m3$/, 'm3'],
  [/_m$/, 'lengthm'],
  [/_a$/, 'amp'],
  [/_v$/, 'volt'],
  [/_pct$/, 'percent'],
  [/_dbm$/, 'dBm'],
  [/(^|_)hours(_|$)/, 'h'],
];
/** How a unit reads in a title. Units without a symbol (counts) need none. */
const UNIT_SYMBOL: Record<string, string> = { flowlpm: 'L/min', m3: 'm³', lengthm: 'm', amp: 'A', volt: 'V', percent: '%', dBm: 'dBm', h: 'h' };
/**
 * English words the dashboards used to say, and their kin: none may be left in what an officer
 * reads. Words that are French too (signal, village, commune, message, info) are not listed.
 */
const ENGLISH_WORDS = new Set(
  `the of and per by with from for since when each every all whole none no not without
  water flow level levels pump pumps running stopped current voltage battery device devices
  borehole boreholes network overview detail status open opened alerts alert acknowledged resolved
  critical warning uptime coverage failures failure hours hour delivered day days daily
  name online offline fault faults rated intake depth region regions reading readings last
  data map marker markers hover range chosen intake show shows`.split(/\s+/),
);

function composeMounts(): Map<string, string> {
  return new Map(
    (grafanaService.volumes ?? [])
      .filter((volume): volume is string => typeof volume === 'string')
      .map((volume) => volume.split(':'))
      .map(([source = '', target = '']) => [target, relative(ROOT, join(ROOT, source))]),
  );
}

function composeEnvironment(): Record<string, string> {
  const environment = grafanaService.environment ?? {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      environment.map((entry): [string, string] => {
        const [key = '', value = ''] = String(entry).split(/=(.*)/s);
        return [key, value];
      }),
    );
  }
  return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, String(value)]));
}

/** The repository file Grafana serves at a `public/...` path, through a compose mount. */
function servedFile(src: string): string | undefined {
  const container = `${GRAFANA_PUBLIC_PATH}/${src.replace(/^\/?public\//, '')}`;
  return composeMounts().get(container);
}

/** Addresses with a scheme (http://, https://, ws://...) and their host. */
function addresses(text: string): { url: string; host: string }[] {
  return [...text.matchAll(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'`<>)\]]+/gi)].map((match) => ({ url: match[0], host: /^[^:]+:\/\/([^/:?#]+)/.exec(match[0])?.[1] ?? '' }));
}

interface MapLayer {
  type?: string;
  name?: string;
  config?: { src?: string; style?: { color?: { field?: string } } };
  location?: { mode?: string; latitude?: string; longitude?: string };
}

function geomapLayers(panel: Panel): { basemap: MapLayer | undefined; layers: MapLayer[] } {
  const options = (panel.options ?? {}) as { basemap?: MapLayer; layers?: MapLayer[] };
  return { basemap: options.basemap, layers: options.layers ?? [] };
}

/** The columns of every query of a panel. */
function panelColumns(panel: Panel): Set<string> {
  return new Set((panel.targets ?? []).flatMap((target) => queryColumns(target.query ?? '')));
}

/** Every text an officer reads on a dashboard, with where it is. */
function readableTexts(dashboard: Dashboard): { where: string; text: string }[] {
  const texts: { where: string; text: string }[] = [
    { where: 'title', text: dashboard.title ?? '' },
    { where: 'description', text: dashboard.description ?? '' },
    ...(dashboard.links ?? []).map((link) => ({ where: 'link', text: link.title ?? '' })),
    ...(dashboard.templating?.list ?? []).flatMap((variable) => [
      { where: `variable $${variable.name} label`, text: variable.label ?? '' },
      { where: `variable $${variable.name} description`, text: (variable as { description?: string }).description ?? '' },
    ]),
    ...(dashboard.annotations?.list ?? []).map((annotation) => ({ where: 'annotation', text: annotation.name ?? '' })),
  ];
  for (const panel of allPanels(dashboard)) {
    const where = `panel ${panel.id ?? '?'}`;
    texts.push({ where: `${where} title`, text: panel.title ?? '' }, { where: `${where} description`, text: panel.description ?? '' });
    for (const name of Object.values(renamedFields(panel))) texts.push({ where: `${where} column`, text: name });
    for (const target of panel.targets ?? []) if (target.alias && !target.alias.startsWith('$')) texts.push({ where: `${where} legend`, text: target.alias });
    const { basemap, layers } = geomapLayers(panel);
    for (const layer of [basemap, ...layers]) if (layer?.name) texts.push({ where: `${where} layer`, text: layer.name });
    for (const override of panel.fieldConfig?.overrides ?? []) {
      for (const property of override.properties ?? []) if (property.id === 'displayName') texts.push({ where: `${where} field`, text: String(property.value) });
    }
    // Value mapping texts and data link titles, wherever they sit in the field config.
    for (const { path, text } of strings(panel.fieldConfig ?? {})) {
      if (/\.text$/.test(path) || /links\[\d+\]\.title$/.test(path)) texts.push({ where: `${where} ${path}`, text });
    }
  }
  return texts;
}

/** The words of a text, leaving out `code`, ${variables} and identifiers such as rate_lpm. */
function words(text: string): string[] {
  return text
    .replace(/`[^`]*`/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ')
    .split(/\s+/)
    .filter((token) => !token.includes('_'))
    .flatMap((token) => token.toLowerCase().match(/\p{L}+/gu) ?? []);
}

/** Every data link of a panel (its fields' links, default and per field, and its own). */
function panelLinks(panel: Panel): DataLink[] {
  const links = [...(panel.fieldConfig?.defaults?.links ?? []), ...(panel.links ?? [])];
  for (const override of panel.fieldConfig?.overrides ?? []) {
    for (const property of override.properties ?? []) if (property.id === 'links' && Array.isArray(property.value)) links.push(...(property.value as DataLink[]));
  }
  return links;
}

type Ring = [number, number][];
interface RegionFeature {
  type: string;
  properties?: { name?: unknown };
  geometry?: { type: string; coordinates: unknown };
}

function polygonsOf(feature: RegionFeature): Ring[][] {
  const geometry = feature.geometry;
  if (geometry?.type === 'Polygon') return [geometry.coordinates as Ring[]];
  if (geometry?.type === 'MultiPolygon') return geometry.coordinates as Ring[][];
  return [];
}

/** Even-odd ray casting: inside the outer ring and outside its holes. */
function contains(polygon: Ring[], lon: number, lat: number): boolean {
  let inside = false;
  for (const ring of polygon) {
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
      const [xi = 0, yi = 0] = ring[i] ?? [];
      const [xj = 0, yj = 0] = ring[j] ?? [];
      if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
    }
  }
  return inside;
}

describe('Grafana in an office without internet', () => {
  it('no dashboard, provisioning file or Grafana setting names an address outside the stack', () => {
    const problems: string[] = [];
    for (const { file, dashboard } of dashboards) {
      for (const { path, text } of strings(dashboard)) {
        for (const { url, host } of addresses(text)) if (!STACK_HOSTS.has(host)) problems.push(`${file}${path}: ${url}`);
      }
    }
    const provisioning = join(GRAFANA_DIR, 'provisioning');
    for (const file of readdirSync(provisioning, { recursive: true, encoding: 'utf8' }).filter((name) => /\.(ya?ml|json)$/.test(name))) {
      for (const { url, host } of addresses(readFileSync(join(provisioning, file), 'utf8'))) if (!STACK_HOSTS.has(host)) problems.push(`provisioning/${file}: ${url}`);
    }
    for (const [name, value] of Object.entries(composeEnvironment())) {
      for (const { url, host } of addresses(value)) if (!STACK_HOSTS.has(host)) problems.push(`docker-compose.yml grafana ${name}: ${url}`);
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: every map draws on outlines Grafana serves from the repository, never on map tiles', (_title, dashboard) => {
    const problems: string[] = [];
    for (const panel of allPanels(dashboard).filter((candidate) => candidate.type === 'geomap')) {
      const { basemap, layers } = geomapLayers(panel);
      const name = `panel "${panel.title ?? ''}"`;
      // Without a basemap Grafana draws its default one: CARTO's tiles, from the internet.
      if (!basemap?.type) problems.push(`${name}: no basemap, so Grafana's default (internet tiles)`);
      for (const layer of [basemap, ...layers]) {
        if (!layer?.type) continue;
        if (TILE_LAYER_TYPES.has(layer.type) || !LOCAL_LAYER_TYPES.has(layer.type)) problems.push(`${name}: layer "${layer.name ?? ''}" is of type ${layer.type}`);
        if (layer.type === 'geojson') {
          const src = layer.config?.src ?? 'public/maps/countries.geojson';
          if (!/^public\/maps\/[\w.-]+\.geojson$/.test(src)) problems.push(`${name}: GeoJSON ${src} is not a file Grafana serves under public/maps/`);
          else if (!src.startsWith('public/maps/countries.geojson')) {
            const file = servedFile(src);
            if (!file) problems.push(`${name}: docker-compose.yml mounts nothing at ${GRAFANA_PUBLIC_PATH}/${src.slice('public/'.length)}`);
            else if (!existsSync(join(ROOT, file))) problems.push(`${name}: ${file} does not exist`);
          }
        }
      }
      if (basemap?.type !== 'geojson') problems.push(`${name}: the basemap should be the region outlines (geojson), not ${basemap?.type ?? 'none'}`);
    }
    expect(problems).toEqual([]);
  });

  it('Grafana gives any new map the same outlines as its default base layer', () => {
    const config = JSON.parse(composeEnvironment().GF_GEOMAP_DEFAULT_BASELAYER_CONFIG ?? 'null') as MapLayer | null;
    expect(config?.type).toBe('geojson');
    const src = config?.config?.src ?? '';
    expect(servedFile(src), `${src} is not mounted into Grafana`).toBe('grafana/maps/mali-regions.geojson');
  });

  it('the region outlines are closed polygons over Mali, and put each example borehole in the region its registry names', () => {
    const collection = JSON.parse(readFileSync(join(GRAFANA_DIR, 'maps/mali-regions.geojson'), 'utf8')) as { type: string; features: RegionFeature[] };
    expect(collection.type).toBe('FeatureCollection');
    const problems: string[] = [];
    const all: [number, number][] = [];
    for (const feature of collection.features) {
      const name = typeof feature.properties?.name === 'string' ? feature.properties.name : '';
      if (!name) problems.push('a feature without a name');
      const polygons = polygonsOf(feature);
      if (polygons.length === 0) problems.push(`${name}: ${feature.geometry?.type ?? 'no geometry'} is not a polygon`);
      for (const ring of polygons.flat()) {
        const [first, last] = [ring[0], ring[ring.length - 1]];
        if (ring.length < 4 || first?.[0] !== last?.[0] || first?.[1] !== last?.[1]) problems.push(`${name}: a ring that does not close`);
        all.push(...ring);
      }
    }
    expect(problems).toEqual([]);
    expect(collection.features.length).toBeGreaterThanOrEqual(9);
    const lons = all.map(([lon]) => lon);
    const lats = all.map(([, lat]) => lat);
    // Mali spans about 12.2° W to 4.3° E and 10.1° N to 25° N.
    expect([Math.min(...lons), Math.max(...lons), Math.min(...lats), Math.max(...lats)]).toEqual([
      expect.closeTo(-12.24, 0),
      expect.closeTo(4.24, 0),
      expect.closeTo(10.15, 0),
      expect.closeTo(25, 0),
    ]);

    const registry = readYaml(join(ROOT, 'config/boreholes.example.yaml')) as { boreholes: { id: string; region: string; location: { lat: number; lon: number } }[] };
    expect(registry.boreholes.length).toBeGreaterThan(0);
    for (const borehole of registry.boreholes) {
      const inside = collection.features.filter((feature) => polygonsOf(feature).some((polygon) => contains(polygon, borehole.location.lon, borehole.location.lat)));
      expect(
        inside.map((feature) => feature.properties?.name),
        borehole.id,
      ).toEqual([borehole.region]);
    }
  });
});

describe('Grafana in French, with units', () => {
  it.each(byTitle)('%s: titles, columns, legends, values and descriptions are French', (_title, dashboard) => {
    const problems: string[] = [];
    for (const { where, text } of readableTexts(dashboard)) {
      const english = words(text).filter((word) => ENGLISH_WORDS.has(word));
      if (english.length > 0) problems.push(`${where} "${text.slice(0, 60)}": ${[...new Set(english)].join(', ')}`);
    }
    for (const panel of allPanels(dashboard)) if (!panel.title?.trim()) problems.push(`panel ${panel.id ?? '?'} has no title`);
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: every numeric panel has a unit, and its title says it', (_title, dashboard) => {
    const problems: string[] = [];
    for (const panel of allPanels(dashboard).filter((candidate) => NUMERIC_PANEL_TYPES.has(candidate.type ?? ''))) {
      const unit = panel.fieldConfig?.defaults?.unit;
      if (!unit) {
        problems.push(`panel "${panel.title ?? ''}": no unit`);
        continue;
      }
      const units = new Set([unit]);
      for (const override of panel.fieldConfig?.overrides ?? []) {
        for (const property of override.properties ?? []) if (property.id === 'unit') units.add(String(property.value));
      }
      for (const one of units) {
        const symbol = UNIT_SYMBOL[one];
        if (symbol && !(panel.title ?? '').includes(`(${symbol})`)) problems.push(`panel "${panel.title ?? ''}": the title does not say its unit (${symbol})`);
        if (!symbol && one !== 'none') problems.push(`panel "${panel.title ?? ''}": unit ${one} has no symbol this lint knows`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: every column whose name carries a unit is shown with that unit', (_title, dashboard) => {
    const problems: string[] = [];
    for (const panel of allPanels(dashboard)) {
      const rename = renamedFields(panel);
      for (const target of panel.targets ?? []) {
        for (const column of queryColumns(target.query ?? '')) {
          if (TAG_COLUMNS.has(column)) continue;
          const expected = UNIT_OF_SUFFIX.find(([suffix]) => suffix.test(column))?.[1];
          if (!expected) continue;
          const names = [column, rename[column] ?? column, ...(target.alias && !target.alias.startsWith('$') ? [target.alias] : [])];
          const unit = fieldProperty(panel, names, 'unit');
          if (unit !== expected) problems.push(`panel "${panel.title ?? ''}" column ${column}: unit ${String(unit)}, expected ${expected}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(byTitle)('%s: is in Bamako time, and its days run from midnight to midnight in Bamako', (_title, dashboard) => {
    expect(dashboard.timezone).toBe('Africa/Bamako');
    const problems = dashboardQueries(dashboard)
      .filter((query) => /GROUP BY[^()]*time\(\s*1d\s*\)/i.test(query.query) && !/\btz\('Africa\/Bamako'\)\s*$/.test(query.query))
      .map((query) => `${query.where}: daily buckets without tz('Africa/Bamako') at the end`);
    expect(problems).toEqual([]);
  });

  it('the daily queries docs/grafana.md offers to copy count Bamako days too', () => {
    const documented = [...readFileSync(join(ROOT, 'docs/grafana.md'), 'utf8').matchAll(/```sql\n([\s\S]*?)```/g)].map((match) => (match[1] ?? '').trim());
    const daily = documented.filter((query) => /time\(1d\)/.test(query));
    expect(daily.length).toBeGreaterThan(0);
    for (const query of daily) expect(query).toMatch(/\btz\('Africa\/Bamako'\)$/);
  });

  it.each(byTitle)('%s: data links open a dashboard that exists, with variables it has, for a field the panel has', (_title, dashboard) => {
    const uids = new Map(dashboards.map(({ dashboard: one }) => [one.uid ?? '', new Set((one.templating?.list ?? []).map((variable) => variable.name))]));
    const problems: string[] = [];
    for (const panel of allPanels(dashboard)) {
      const columns = panelColumns(panel);
      for (const link of panelLinks(panel)) {
        const where = `panel "${panel.title ?? ''}" link "${link.title ?? ''}"`;
        const match = /^\/d\/([a-z0-9-]+)(?:\/[\w-]*)?(?:\?(.*))?$/.exec(link.url ?? '');
        if (!match) {
          problems.push(`${where}: ${link.url ?? '(no url)'} is not a /d/<uid> link`);
          continue;
        }
        const variables = uids.get(match[1] ?? '');
        if (!variables) problems.push(`${where}: no dashboard has uid ${match[1] ?? ''}`);
        for (const parameter of (match[2] ?? '').split('&').filter(Boolean)) {
          if (parameter === '${__url_time_range}') continue;
          const [key = '', value = ''] = parameter.split('=');
          if (key.startsWith('var-') && variables && !variables.has(key.slice(4))) problems.push(`${where}: ${match[1] ?? ''} has no variable ${key.slice(4)}`);
          else if (!key.startsWith('var-') && !['from', 'to', 'orgId', 'refresh'].includes(key)) problems.push(`${where}: unknown parameter ${key}`);
          for (const field of value.matchAll(/\$\{__data\.fields\.(\w+)(?::\w+)?\}/g)) {
            if (!columns.has(field[1] ?? '')) problems.push(`${where}: the panel's queries have no column ${field[1] ?? ''}`);
          }
        }
        for (const field of (link.title ?? '').matchAll(/\$\{__data\.fields\.(\w+)\}/g)) if (!columns.has(field[1] ?? '')) problems.push(`${where}: title names missing column ${field[1] ?? ''}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the network map and status table open the borehole detail, and the map colours each borehole by its device status', () => {
    const overview = dashboards.find(({ dashboard }) => dashboard.uid === 'boreholes-overview')?.dashboard ?? {};
    const map = allPanels(overview).find((panel) => panel.type === 'geomap');
    const table = allPanels(overview).find((panel) => panel.type === 'table' && panelColumns(panel).has('online'));
    for (const panel of [map, table]) {
      expect(panelLinks(panel ?? {}).map((link) => link.url), panel?.title).toContain('/d/borehole-detail?var-borehole=${__data.fields.borehole:percentencode}&${__url_time_range}');
    }
    const markers = geomapLayers(map ?? {}).layers.find((layer) => layer.type === 'markers');
    const colourField = markers?.config?.style?.color?.field ?? '';
    // The colour comes from the device's last status (contract section 2, `device.online`).
    expect(colourField).toBe('online');
    const statusQuery = (map?.targets ?? []).find((target) => queryColumns(target.query ?? '').includes(colourField));
    expect(statusQuery?.query).toMatch(/FROM "device"/);
    const names = [colourField, renamedFields(map ?? {})[colourField] ?? colourField];
    expect(fieldProperty(map ?? {}, names, 'color')).toEqual({ mode: 'thresholds' });
    const steps = (fieldProperty(map ?? {}, names, 'thresholds') as { steps: { color: string; value: number | null }[] }).steps;
    expect(steps).toEqual([
      { color: 'red', value: null },
      { color: 'green', value: 1 },
    ]);
    expect(markers?.location).toMatchObject({ mode: 'coords', latitude: 'lat', longitude: 'lon' });
  });
});
