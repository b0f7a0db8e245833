/**
 * What `/metrics` shows before anything happened, and the free space of DATA_DIR, as the alerting
 * rules of deploy/prometheus/alerts.yml read them.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics, type MetricSources } from '../../../src/observability/metrics.js';
import { tempDir } from '../../support/fixtures.js';
import { fillUp, mountTmpfs, tmpfsSupport, type Tmpfs } from '../../support/tmpfs.js';

const support = tmpfsSupport();
if (!support.ok) {
  if (process.env.CI === 'true') throw new Error(`the DATA_DIR free-space tests need a tmpfs: ${support.reason}`);
  console.warn(`!!! DATA_DIR free-space tests on a tmpfs SKIPPED: ${support.reason}`);
}

const sources = (extra: Partial<MetricSources> = {}): MetricSources => ({
  journalStats: () => ({ pendingPoints: 0, pendingBytes: 0, segments: 0, oldestAtMs: null }),
  now: () => 1_770_000_000_000,
  ...extra,
});

async function scrape(extra: Partial<MetricSources> = {}): Promise<string> {
  return createMetrics(sources(extra)).registry.metrics();
}

/** The value of one unlabelled sample, or undefined when the metric is not exported. */
function sample(text: string, name: string): number | undefined {
  const value = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}

describe('metrics a rule watches for an increase', () => {
  it('exports every escalation and registry reload series at 0 from the start, so the first one is an increase', async () => {
    const text = await scrape();
    for (const severity of ['info', 'warning', 'critical']) {
      expect(text).toMatch(new RegExp(`^alert_changes_total\\{kind="escalated",severity="${severity}"\\} 0$`, 'm'));
    }
    for (const result of ['applied', 'unchanged', 'refused']) expect(text).toMatch(new RegExp(`^registry_reloads_total\\{result="${result}"\\} 0$`, 'm'));
  });
});

describe('the free space of DATA_DIR', () => {
  const disks: Tmpfs[] = [];
  afterEach(() => {
    for (const disk of disks.splice(0)) disk.unmount();
  });

  it('is not exported without a data directory, rather than as 0 (a full disk)', async () => {
    const text = await scrape();
    expect(text).not.toContain('data_dir_available_bytes');
    expect(text).not.toContain('data_dir_size_bytes');
  });

  it('is NaN, not 0, when the directory cannot be read', async () => {
    const dir = tempDir('metrics-gone');
    const metrics = createMetrics(sources({ dataDir: join(dir, 'data') }));
    mkdirSync(join(dir, 'data'));
    expect(sample(await metrics.registry.metrics(), 'data_dir_available_bytes')).toBeGreaterThan(0);
    rmSync(dir, { recursive: true });
    const text = await metrics.registry.metrics();
    expect(sample(text, 'data_dir_available_bytes')).toBeNaN();
    expect(sample(text, 'data_dir_size_bytes')).toBeNaN();
  });

  it.skipIf(!support.ok)('follows the disk as it fills, down to nothing, and back when space is freed', async () => {
    const disk = mountTmpfs(1024 * 1024, 'metrics-disk');
    disks.push(disk);
    const metrics = createMetrics(sources({ dataDir: disk.dir }));
    let text = await metrics.registry.metrics();
    expect(sample(text, 'data_dir_size_bytes')).toBe(1024 * 1024);
    expect(sample(text, 'data_dir_available_bytes')).toBe(1024 * 1024);

    writeFileSync(join(disk.dir, 'quarter'), Buffer.alloc(256 * 1024));
    expect(sample(await metrics.registry.metrics(), 'data_dir_available_bytes')).toBe(768 * 1024);

    const filler = fillUp(disk.dir);
    text = await metrics.registry.metrics();
    expect(sample(text, 'data_dir_available_bytes')).toBe(0);
    expect(sample(text, 'data_dir_size_bytes')).toBe(1024 * 1024);
    filler.remove();
    expect(sample(await metrics.registry.metrics(), 'data_dir_available_bytes')).toBe(768 * 1024);
  });
});
