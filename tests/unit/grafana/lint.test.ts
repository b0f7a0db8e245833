/**
 * Static checks of the Grafana provisioning and dashboards: what would make a dashboard fail to
 * load, point at the wrong datasource, break on another Grafana version, or only work for the
 * example villages. Whether the queries answer with data is the integration suite's job
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
  GLOBAL_VARIABLES,
  GRAFANA_DIR,
  interpolate,
  isAliasPattern,
  loadDashboards,
  panelIntervalMs,
  variableQuery,
  variableReferences,
  type DatasourceRef,
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
