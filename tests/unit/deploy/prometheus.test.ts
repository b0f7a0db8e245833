/**
 * deploy/prometheus/: the alerting rules and the configuration that loads them, checked by
 * Prometheus' own promtool (Debian's `prometheus` package, as scripts/test.sh installs it), the
 * rules' expressions run on the recorded series of alerts*.test.yml, and the rules held to the
 * metrics the service really exports and to what docs/operations.md tells the operator.
 */
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createMetrics } from '../../../src/observability/metrics.js';
import { tempDir } from '../../support/fixtures.js';
import { PROMETHEUS_DIR, alertRules, metricNames, requirePromtool } from '../../support/promtool.js';
import { ROOT, readRootFile } from './support.js';

const DIR = PROMETHEUS_DIR;
const TEST_FILES = ['alerts.test.yml', 'alerts-days.test.yml'];
const promtool = requirePromtool('promtool checks of deploy/prometheus');

function run(args: string[], cwd = ROOT): { status: number | null; output: string } {
  const result = spawnSync(promtool ?? 'promtool', args, { cwd, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

interface RuleTest {
  name: string;
  input_series: { series: string; values: string }[];
  alert_rule_test: { eval_time: string; alertname: string; exp_alerts: { exp_labels: Record<string, string> }[] }[];
}

const rules = alertRules();
const ruleTests: RuleTest[] = TEST_FILES.flatMap((file) => (parseYaml(readFileSync(join(DIR, file), 'utf8')) as { tests: RuleTest[] }).tests);

/** The names /metrics shows, with a histogram's series and Prometheus' own `up`. */
async function exportedNames(): Promise<Set<string>> {
  const metrics = createMetrics({ journalStats: () => ({ pendingPoints: 0, pendingBytes: 0, segments: 0, oldestAtMs: null }), now: Date.now, dataDir: tempDir('prometheus-names') });
  const names = new Set(['up']);
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${metric.name}${suffix}`);
  }
  return names;
}

// GitHub's heading anchors, as tests/unit/docs/links.test.ts computes them.
function anchors(markdown: string): Set<string> {
  const slug = (heading: string): string =>
    heading.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N} -]/gu, '').replace(/ /g, '-');
  return new Set(markdown.split('\n').flatMap((line) => /^#{1,6}\s+(.*)$/.exec(line)?.slice(1, 2).map((h) => slug(h)) ?? []));
}

function sectionOf(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) return '';
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

describe.skipIf(!promtool)('promtool on deploy/prometheus', () => {
  it('accepts the alerting rules', () => {
    const { status, output } = run(['check', 'rules', 'deploy/prometheus/alerts.yml']);
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status, output).toBe(0);
  });

  it('accepts the configuration, and finds the rules it loads beside it', () => {
    // From elsewhere: rule_files resolve against the configuration file, as in the container.
    const { status, output } = run(['check', 'config', join(DIR, 'prometheus.yml')], tempDir('promtool-cwd'));
    expect(output).toContain('SUCCESS: 1 rule files found');
    expect(output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(status, output).toBe(0);
  });

  it('fires every alert on its recorded series once its for: has passed, with its labels and annotations, and no other', { timeout: 30_000 }, () => {
    const { status, output } = run(['test', 'rules', ...TEST_FILES.map((file) => `deploy/prometheus/${file}`)]);
    expect(output.match(/SUCCESS/g)).toHaveLength(TEST_FILES.length);
    expect(status, output).toBe(0);
  });

  it('finds nothing to say about the service\'s metrics but prom-client\'s own names, the free-space gauges included', async () => {
    const metrics = createMetrics({ journalStats: () => ({ pendingPoints: 3, pendingBytes: 300, segments: 1, oldestAtMs: Date.now() - 1000 }), now: Date.now, dataDir: tempDir('promtool-metrics') });
    metrics.storeWriteSeconds.observe(0.2);
    metrics.smsFailures.inc({ kind: 'alert', retryable: 'false' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^data_dir_available_bytes \d+$/m);
    const result = spawnSync(promtool ?? 'promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const findings = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
    // prom-client's gauges named *_total (collectDefaultMetrics): not ours to rename.
    expect(findings.filter((line) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(line))).toEqual([]);
    expect([0, 3]).toContain(result.status);
  });

  it('fails those series when a threshold or a for: is changed, so they do pin them', async () => {
    const mutations: [string, string][] = [
      ['journal_oldest_age_seconds > 300', 'journal_oldest_age_seconds > 3000'],
      ['store_write_consecutive_failures > 0\n        for: 5m', 'store_write_consecutive_failures > 0\n        for: 1m'],
      ['hour() >= 7 and hour() < 21', 'hour() >= 0'],
    ];
    const original = readRootFile('deploy', 'prometheus', 'alerts.yml');
    const results = await Promise.all(
      mutations.map(async ([from, to]) => {
        expect(original, from).toContain(from);
        const dir = tempDir('promtool-mutant');
        writeFileSync(join(dir, 'alerts.yml'), original.replace(from, to));
        copyFileSync(join(DIR, 'alerts.test.yml'), join(dir, 'alerts.test.yml'));
        try {
          await promisify(execFile)(promtool ?? 'promtool', ['test', 'rules', join(dir, 'alerts.test.yml')]);
          return { to, status: 0, output: '' };
        } catch (error) {
          const failed = error as { code?: number; stdout?: string; stderr?: string };
          return { to, status: failed.code, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
        }
      }),
    );
    for (const { to, status, output } of results) {
      expect(status, `${to}\n${output}`).toBe(1);
      expect(output).toContain('FAILED');
    }
  }, 60_000);
});

describe('the alerting rules', () => {
  it('give every alert a for:, a severity, a French summary and an English description', () => {
    expect(rules.length).toBeGreaterThan(10);
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.for, rule.alert).toMatch(/^\d+[smhd]$/);
      expect(['critical', 'warning'], rule.alert).toContain(rule.labels?.severity);
      expect(Object.keys(rule.annotations ?? {}).sort(), rule.alert).toEqual(['description', 'summary']);
      // French: accents or the words of the district officers' messages.
      expect(rule.annotations?.summary, rule.alert).toMatch(/[éèêàçù]|\b(le|la|les|des|du|de)\b/);
      expect(rule.annotations?.description, rule.alert).toMatch(/\b(the|is|has|check)\b/i);
    }
  });

  it('read only metrics the service exports (or Prometheus\' own up)', async () => {
    const exported = await exportedNames();
    for (const rule of rules) {
      const names = metricNames(rule.expr);
      expect(names.length, rule.alert).toBeGreaterThan(0);
      expect(names.filter((name) => !exported.has(name)), rule.alert).toEqual([]);
    }
  });

  it('link each description to a section of docs/operations.md that exists, and the docs name every alert', () => {
    const operations = readRootFile('docs', 'operations.md');
    for (const rule of rules) {
      const links = [...(rule.annotations?.description ?? '').matchAll(/docs\/([\w-]+\.md)#([\w-]+)/g)].map((m) => ({ file: m[1] ?? '', anchor: m[2] ?? '' }));
      expect(links.filter((l) => l.file === 'operations.md').length, `${rule.alert} links to no section of docs/operations.md`).toBeGreaterThan(0);
      for (const { file, anchor } of links) expect(anchors(readRootFile('docs', file)).has(anchor), `${rule.alert}: docs/${file}#${anchor}`).toBe(true);
    }
    const section = sectionOf(operations, 'Alerting with Prometheus');
    expect(section).not.toBe('');
    for (const rule of rules) expect(section, rule.alert).toContain(`\`${rule.alert}\``);
  });

  it('are each tested with series that fire them and series that stay quiet', () => {
    for (const rule of rules) {
      const firing = ruleTests.flatMap((test) =>
        test.alert_rule_test.filter((t) => t.alertname === rule.alert && t.exp_alerts.length > 0).map((t) => ({ test, t })),
      );
      expect(firing.length, `${rule.alert} is never seen firing`).toBeGreaterThan(0);
      for (const { test, t } of firing) {
        const firingInstances = new Set(t.exp_alerts.map((a) => a.exp_labels.instance));
        const instances = new Set(test.input_series.map((s) => /instance="([^"]+)"/.exec(s.series)?.[1]));
        const quiet = [...instances].filter((instance) => !firingInstances.has(instance));
        // A series that does not fire at the same instant, or an earlier instant where nothing fires yet.
        const earlier = test.alert_rule_test.some((other) => other.alertname === rule.alert && other.exp_alerts.length === 0);
        expect(quiet.length > 0 || earlier, `${test.name}: nothing shows ${rule.alert} staying quiet`).toBe(true);
      }
    }
  });
});
