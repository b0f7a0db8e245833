/**
 * The layering of docs/architecture.md, checked: every import in src/ and firmware-sim/ is read
 * (static `import`/`export … from`, dynamic `import()`, `import('…')` types) and held to four
 * rules.
 *
 * 1. A folder of src/ imports only folders of lower layers (LAYERS, lowest first); folders of
 *    one layer may import each other as long as no cycle forms (rule 4). The one relaxation is
 *    TYPE_ONLY_UPWARD: `import type` of config/ from any layer (why: see there).
 * 2. Nothing imports a composition root (main.ts, service.ts, demo.ts, check.ts) but another root.
 * 3. firmware-sim/ imports only src/contract, src/domain and src/config; src/ imports firmware-sim
 *    only from a root (the demo runs the simulator).
 * 4. No cycle between folders, through the imports that rules 1 to 3 allow (the type-only
 *    imports of config/ set aside: config's two-way tie with rules/ and notify/, types one way and
 *    values the other, is the relaxation itself).
 *
 * What breaks them today is listed in EXCEPTIONS, file by file with the reason and the way out. A
 * new import against the rules fails; so does an exception whose import is gone (delete its line:
 * the list only shrinks).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** Lowest first. A folder of src/ is the first directory under it (src/notify/gateways → notify). */
const LAYERS: readonly (readonly string[])[] = [
  ['contract'], // MQTT topics and payloads: what the devices and the simulator share
  ['domain'], // boreholes, readings, status, phones: plain types and pure functions
  ['alerts'], // the alert record and its lifecycle, pure
  ['rules'], // the catalogue, the evaluation, the engine that drives the alert lifecycle
  ['notify'], // outbox, dispatcher, texts, routing, SMS gateways and their declarations
  ['config'], // environment and registry schemas, assembled from the rules' and the gateways' declarations
  ['incidents'], // the cause table, incidents and the desk that tells people through notify
  ['reports'], // uptime, service and results reports, the scheduler, WPdx
  ['storage'], // InfluxDB and the embedded telemetry store; the SQLite repositories behind the ports
  ['ingest'], // MQTT subscription, decoding, the journal and its drain into storage
  ['observability', 'http'], // the shells: logging and metrics; fastify, routes, pages
];

const ROOTS: readonly string[] = ['src/main.ts', 'src/service.ts', 'src/demo.ts', 'src/check.ts'];

/** What firmware-sim/ may import of src/ (besides nothing else of src/). */
const SIMULATOR_MAY_IMPORT: readonly string[] = ['contract', 'domain', 'config'];

/**
 * `from → to`: a type-only import allowed against the order. config/ sits above rules/ and notify/
 * because it assembles its schemas from their declarations (config/rule-params.ts from
 * rules/catalogue, config/env.ts from notify/gateways), while every layer is handed the parsed
 * result (Registry, Borehole, Contact, Language, RuleParams): the shapes are config's, the layers
 * below read them. A type import is erased at build, so it adds no edge at run time.
 */
const TYPE_ONLY_UPWARD: readonly string[] = ['alerts → config', 'rules → config', 'notify → config'];

/**
 * The imports against the rules today, `importing file → imported file` with why and the way out.
 * They are issue 14's work in progress; each one fixed is a line deleted here.
 */
const EXCEPTIONS: Readonly<Record<string, string>> = {
  // Vocabulary in the wrong folder: rule ids, severities, rule titles and the alert rules
  // (`AlertRule`, `reported_by_person`) belong in domain/ ("one concept, one place").
  'src/alerts/alert.ts → src/rules/types.ts': 'severityRank and Severity: rule vocabulary, to move to domain/',
  'src/alerts/alert.ts → src/rules/messages.ts': "RULE_TITLES for the alert's message: to move to domain/ (or alerts/) with the rule ids",
  // Ports and records defined in the adapter instead of where they are used (issue 14, "ports
  // defined where they are used"): storage/ should import them, not the other way round.
  'src/rules/engine.ts → src/storage/sqlite-store.ts': "OperationalStore and MaintenanceRecord: the rules engine's store, a port to define in rules/",
  'src/alerts/removed-boreholes.ts → src/storage/sqlite-store.ts': 'OperationalStore: the alert store, a port to define in alerts/',
  'src/notify/dispatcher.ts → src/storage/sqlite-store.ts': 'OutboxEntry and OutboxMessage: the records of the OutboxStore port defined in this file, to move here',
  'src/notify/gateways/receipts.ts → src/storage/sqlite-store.ts': "ReceiptMatch and SmsDelivery: delivery receipts' records, to move to notify/",
  'src/incidents/desk.ts → src/storage/sqlite-store.ts': "OutboxEntry: the outbox's record, to read from notify/ once it lives there",
  'src/incidents/desk.ts → src/storage/sqlite-incidents.ts': 'IncidentRepository, the adapter class, as a type: DeskStore (desk.ts) or a port in incidents/port.ts should name what the desk needs',
  'src/reports/report.ts → src/storage/sqlite-store.ts': "CriticalAlertRecord: the report's source record, to define in reports/ (or alerts/)",
  'src/reports/report.ts → src/storage/telemetry.ts': 'TelemetryStore and PeriodTotals: the telemetry port lives beside its adapters; the part reports read belongs in reports/',
  'src/reports/results-report.ts → src/storage/telemetry.ts': 'PeriodTotals: as above',
  // The rest.
  'src/ingest/ingest.ts → src/observability/metrics.ts': 'the whole Metrics object, as a type: ingest should report through small event callbacks that observability/ subscribes to (issue 14, "ingest seams")',
  'src/notify/gateways/config.ts → src/config/errors.ts': "ConfigError, a value: the gateways' parser throws config's error (config → notify → config at run time); return the problems and let config/env.ts wrap them, or move ConfigError below both",
};

interface ImportEdge {
  /** Repository-relative, `src/…` or `firmware-sim/…`. */
  from: string;
  /** Repository-relative, `.js` read as `.ts`. */
  to: string;
  /** `import type`, every name `type`, `export type … from`, or an `import('…')` type. */
  typeOnly: boolean;
}

/** The unit a file belongs to: a folder of src/, a root (its own path), `firmware-sim`, or another top-level directory. */
function unitOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'src') return parts.length > 2 ? (parts[1] ?? file) : file;
  return parts[0] ?? file;
}

function rankOf(unit: string): number | undefined {
  const index = LAYERS.findIndex((layer) => layer.includes(unit));
  return index === -1 ? undefined : index;
}

const edgeKey = (edge: Pick<ImportEdge, 'from' | 'to'>): string => `${edge.from} → ${edge.to}`;

/** Every relative import of one file. Package imports (`zod`, `node:fs`) are not the layering's business. */
function importsOf(file: string, text: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (specifier: string, typeOnly: boolean): void => {
    if (!specifier.startsWith('.')) return;
    const to = relative(root, resolve(root, dirname(file), specifier)).split('\\').join('/').replace(/\.js$/, '.ts');
    edges.push({ from: file, to, typeOnly });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allNamedTypes = !!named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier.text, !!clause && (clause.isTypeOnly || (!clause.name && allNamedTypes)));
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const named = node.exportClause;
      const allNamedTypes = !!named && ts.isNamedExports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      add(node.moduleSpecifier.text, node.isTypeOnly || allNamedTypes);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteralLike(argument)) add(argument.text, false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      add(node.argument.literal.text, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** What breaks rules 1 to 3, one sentence each; `null` when the import is allowed. */
function isTypeOnlyUpward(edge: ImportEdge): boolean {
  const from = rankOf(unitOf(edge.from));
  const to = rankOf(unitOf(edge.to));
  return edge.typeOnly && from !== undefined && to !== undefined && to > from && TYPE_ONLY_UPWARD.includes(`${unitOf(edge.from)} → ${unitOf(edge.to)}`);
}

function ruleBroken(edge: ImportEdge): string | null {
  const from = unitOf(edge.from);
  const to = unitOf(edge.to);
  if (from === to) return null;
  const importer = `${edge.from} imports ${edge.to}${edge.typeOnly ? ' (type only)' : ''}`;
  if (ROOTS.includes(edge.to) && !ROOTS.includes(edge.from)) {
    return `${importer}: a composition root is imported only by another root`;
  }
  if (from === 'firmware-sim') {
    if (edge.to.startsWith('src/') && !SIMULATOR_MAY_IMPORT.includes(to)) {
      return `${importer}: firmware-sim imports only src/${SIMULATOR_MAY_IMPORT.join(', src/')}`;
    }
    return null;
  }
  if (!edge.from.startsWith('src/') || ROOTS.includes(edge.from)) return null; // roots wire everything
  if (to === 'firmware-sim') return `${importer}: src/ imports firmware-sim only from a composition root`;
  if (!edge.to.startsWith('src/')) return `${importer}: src/ imports nothing outside src/ but firmware-sim, from a root`;
  const fromRank = rankOf(from);
  const toRank = rankOf(to);
  if (fromRank === undefined) return `${edge.from}: its folder ${from}/ has no layer in LAYERS (give it one in tests/unit/architecture.test.ts and docs/architecture.md)`;
  if (toRank === undefined) return `${importer}: ${to}/ has no layer in LAYERS`;
  if (toRank <= fromRank) return null;
  if (isTypeOnlyUpward(edge)) return null;
  return `${importer}: ${from}/ (layer ${fromRank}) may not import ${to}/ (layer ${toRank}), a higher layer${
    edge.typeOnly ? ' (type-only imports upward are allowed only into config/)' : ''
  }`;
}

/** Cycles between units among the given edges, each as `a → b → … → a`. */
function folderCycles(edges: readonly ImportEdge[]): string[] {
  const graph = new Map<string, Set<string>>();
  for (const edge of edges) {
    const from = unitOf(edge.from);
    const to = unitOf(edge.to);
    if (from === to) continue;
    graph.set(from, (graph.get(from) ?? new Set()).add(to));
    if (!graph.has(to)) graph.set(to, new Set());
  }
  // Tarjan's strongly connected components; a component of more than one unit is a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  const connect = (unit: string): void => {
    index.set(unit, counter);
    low.set(unit, counter);
    counter += 1;
    stack.push(unit);
    onStack.add(unit);
    for (const next of graph.get(unit) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(unit, Math.min(low.get(unit) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(unit) !== index.get(unit)) return;
    const component: string[] = [];
    let member: string | undefined;
    do {
      member = stack.pop();
      if (member === undefined) break;
      onStack.delete(member);
      component.push(member);
    } while (member !== unit);
    if (component.length > 1) cycles.push(`${[...component].sort().join(' ↔ ')}: an import cycle between folders`);
  };
  for (const unit of [...graph.keys()].sort()) if (!index.has(unit)) connect(unit);
  return cycles;
}

/**
 * Every violation of the four rules among `edges`, the exceptions set aside, and every exception
 * whose import is not among them (stale).
 */
function checkLayering(edges: readonly ImportEdge[], exceptions: Readonly<Record<string, string>> = EXCEPTIONS): { violations: string[]; stale: string[] } {
  const violations: string[] = [];
  const allowed: ImportEdge[] = [];
  const seen = new Set<string>();
  for (const edge of edges) {
    seen.add(edgeKey(edge));
    if (edgeKey(edge) in exceptions) continue;
    const broken = ruleBroken(edge);
    if (broken !== null) violations.push(broken);
    else if (!isTypeOnlyUpward(edge)) allowed.push(edge);
  }
  violations.push(...folderCycles(allowed));
  const stale = Object.keys(exceptions).filter((key) => !seen.has(key));
  return { violations: [...new Set(violations)], stale };
}

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function repositoryEdges(): ImportEdge[] {
  return [...tsFiles('src'), ...tsFiles('firmware-sim')].flatMap((file) => importsOf(file, readFileSync(join(root, file), 'utf8')));
}

describe('the layering of docs/architecture.md', () => {
  const edges = repositoryEdges();

  it('reads the imports of src/ and firmware-sim/', () => {
    expect(edges.length).toBeGreaterThan(100);
    expect(edges.some((edge) => edge.from === 'src/service.ts' && unitOf(edge.to) === 'http')).toBe(true);
  });

  it('gives every folder of src/ a layer, once', () => {
    const folders = readdirSync(join(root, 'src'), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
    expect(folders.filter((folder) => rankOf(folder) === undefined)).toEqual([]);
    const listed = LAYERS.flat();
    expect(listed.length).toBe(new Set(listed).size);
    expect(ROOTS.filter((file) => !edges.some((edge) => edge.from === file))).toEqual([]);
  });

  it('finds no import against the layers, the roots, the simulator or between folders in a cycle', () => {
    expect(checkLayering(edges).violations).toEqual([]);
  });

  it('keeps no exception whose import is gone (delete its line)', () => {
    expect(checkLayering(edges).stale).toEqual([]);
  });

  it('gives every exception a reason', () => {
    for (const [key, reason] of Object.entries(EXCEPTIONS)) {
      expect(key).toMatch(/^src\/\S+\.ts → \S+\.ts$/);
      expect(reason.length, key).toBeGreaterThan(20);
    }
  });
});

describe('the checker', () => {
  const edge = (from: string, to: string, typeOnly = false): ImportEdge => ({ from, to, typeOnly });

  it('reads static, re-exported, dynamic and type imports, and which are type only', () => {
    const text = [
      "import { z } from 'zod';",
      "import type { Registry } from '../config/registry.js';",
      "import { type Alert, type AlertChange } from '../alerts/alert.js';",
      "import { openAlert, type Actor } from '../alerts/lifecycle.js';",
      "export { CATALOGUE } from './catalogue/index.js';",
      "export type { RuleId } from './types.js';",
      "import './side-effect.js';",
      "const m = await import('../http/app.js');",
      "let t: import('../storage/telemetry.js').TelemetryStore;",
    ].join('\n');
    expect(importsOf('src/rules/engine.ts', text)).toEqual([
      edge('src/rules/engine.ts', 'src/config/registry.ts', true),
      edge('src/rules/engine.ts', 'src/alerts/alert.ts', true),
      edge('src/rules/engine.ts', 'src/alerts/lifecycle.ts', false),
      edge('src/rules/engine.ts', 'src/rules/catalogue/index.ts', false),
      edge('src/rules/engine.ts', 'src/rules/types.ts', true),
      edge('src/rules/engine.ts', 'src/rules/side-effect.ts', false),
      edge('src/rules/engine.ts', 'src/http/app.ts', false),
      edge('src/rules/engine.ts', 'src/storage/telemetry.ts', true),
    ]);
  });

  it('reports made-up imports against each rule, naming the file, the import and the rule', () => {
    const { violations } = checkLayering(
      [
        edge('src/domain/reading.ts', 'src/rules/types.ts'), // upward
        edge('src/alerts/alert.ts', 'src/storage/sqlite-store.ts', true), // upward, type only, not into config
        edge('src/reports/report.ts', 'src/service.ts'), // a root
        edge('firmware-sim/device.ts', 'src/ingest/decode.ts'), // the simulator beyond what it may
        edge('firmware-sim/device.ts', 'src/main.ts'), // the simulator importing a root
        edge('src/notify/dispatcher.ts', 'firmware-sim/device.ts'), // src/ importing the simulator
        edge('src/http/app.ts', 'src/observability/metrics.ts'), // one layer, both ways: a cycle
        edge('src/observability/metrics.ts', 'src/http/app.ts'),
        edge('src/newfolder/thing.ts', 'src/domain/reading.ts'), // a folder with no layer
      ],
      {},
    );
    expect(violations).toEqual([
      'src/domain/reading.ts imports src/rules/types.ts: domain/ (layer 1) may not import rules/ (layer 3), a higher layer',
      'src/alerts/alert.ts imports src/storage/sqlite-store.ts (type only): alerts/ (layer 2) may not import storage/ (layer 8), a higher layer (type-only imports upward are allowed only into config/)',
      'src/reports/report.ts imports src/service.ts: a composition root is imported only by another root',
      'firmware-sim/device.ts imports src/ingest/decode.ts: firmware-sim imports only src/contract, src/domain, src/config',
      'firmware-sim/device.ts imports src/main.ts: a composition root is imported only by another root',
      'src/notify/dispatcher.ts imports firmware-sim/device.ts: src/ imports firmware-sim only from a composition root',
      'src/newfolder/thing.ts: its folder newfolder/ has no layer in LAYERS (give it one in tests/unit/architecture.test.ts and docs/architecture.md)',
      'http ↔ observability: an import cycle between folders',
    ]);
  });

  it('allows imports downward, within a folder, of config types, from the roots, and the exceptions; reports a stale exception', () => {
    const { violations, stale } = checkLayering(
      [
        edge('src/http/app.ts', 'src/domain/reading.ts'),
        edge('src/rules/engine.ts', 'src/rules/types.ts'),
        edge('src/notify/routing.ts', 'src/config/registry.ts', true),
        edge('src/service.ts', 'src/http/app.ts'),
        edge('src/main.ts', 'src/service.ts'),
        edge('src/demo.ts', 'firmware-sim/runner.ts'),
        edge('firmware-sim/cli.ts', 'src/config/registry.ts'),
        edge('src/alerts/alert.ts', 'src/rules/types.ts'),
      ],
      { 'src/alerts/alert.ts → src/rules/types.ts': 'made up', 'src/a/gone.ts → src/b/gone.ts': 'made up' },
    );
    expect(violations).toEqual([]);
    expect(stale).toEqual(['src/a/gone.ts → src/b/gone.ts']);
    // A value import of config from below is not covered by the type-only allowance.
    expect(checkLayering([edge('src/notify/routing.ts', 'src/config/registry.ts')], {}).violations).toHaveLength(1);
  });
});
