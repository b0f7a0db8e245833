/**
 * Prometheus' promtool (Debian's `prometheus` package, which scripts/test.sh installs) and the
 * shipped alerting rules, for the tests of deploy/prometheus and of /metrics. With CI=true a
 * missing promtool fails the suite that needs it; elsewhere the suite says it is skipped.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PROMETHEUS_DIR = join(ROOT, 'deploy', 'prometheus');

/** The promtool to run, or undefined (after failing on CI, or warning that `suite` is skipped). */
export function requirePromtool(suite: string): string | undefined {
  const found = ['promtool', '/usr/bin/promtool'].find((candidate) => spawnSync(candidate, ['--version']).status === 0);
  if (found) return found;
  if (process.env.CI === 'true') throw new Error(`CI=true but promtool is not installed (${suite}); install it with: apt-get install -y --no-install-recommends prometheus`);
  console.warn(`!!! ${suite} SKIPPED: promtool not installed (apt-get install prometheus)`);
  return undefined;
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const file = parseYaml(readFileSync(join(PROMETHEUS_DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

/** Metric names a PromQL expression reads: what is left once strings, label clauses, ranges, functions and keywords are gone. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"[^"]*"/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const keywords = new Set(['and', 'or', 'unless', 'offset', 'bool']);
  return [...stripped.matchAll(/[a-zA-Z_:][\w:]*\b(?!\s*\()/g)].map((m) => m[0]).filter((name) => !keywords.has(name));
}
