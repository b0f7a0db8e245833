/**
 * `/metrics` as Prometheus reads it: the running service, over the real Mosquitto and InfluxDB of
 * the global setup, after it has ingested readings, stored them, sent one SMS and failed another
 * for good (a faithful Africa's Talking fake), is scraped over HTTP and checked by
 * `promtool check metrics` (Debian's `prometheus` package): no error, and no lint problem but the
 * ones of prom-client's own Node.js metrics, which are not ours to rename. Every metric that
 * deploy/prometheus/alerts.yml reads is in that scrape.
 */
import { spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildRegistry, registryFileSchema } from '../../src/config/registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { FakeAfricasTalking } from '../support/fake-sms-providers.js';
import { registryEntry, tempDir, testConfig, uniqueName } from '../support/fixtures.js';
import { connectPublisher, publishAll } from '../support/mqtt.js';
import { alertRules, metricNames, requirePromtool } from '../support/promtool.js';
import { serverEnv } from '../support/service.js';
import { isReady, waitUntil } from '../support/wait.js';

const serverSource = inject('serverSource');
if (serverSource === 'none') console.warn('!!! /metrics promtool suite SKIPPED: no MQTT broker or InfluxDB (see tests/support/global-setup.ts)');

const promtool = requirePromtool('/metrics promtool suite');

/**
 * promtool's lint findings on prom-client's default metrics (collectDefaultMetrics): gauges whose
 * names end in _total. They are the library's names, read by every Node.js dashboard.
 */
const PROM_CLIENT_LINT = [
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

const AT_USERNAME = 'sandbox-user';
const AT_API_KEY = 'at-key-for-metrics-tests-01';

describe.skipIf(serverSource === 'none' || !promtool)('/metrics checked by promtool', () => {
  const unique = uniqueName('promtool').toLowerCase().replace(/_/g, '-');
  const sent = `${unique}-sent`;
  const failed = `${unique}-failed`;
  const registry = buildRegistry(
    registryFileSchema.parse({
      boreholes: [sent, failed].map((id, index) => ({
        ...registryEntry(id, index),
        committee: { language: 'fr', contacts: [{ name: 'Président', phone: `+2237670${index}001` }] },
        technician: { name: 'Technicien', phone: `+2237970${index}002` },
      })),
      rules: { offline_minutes: 100_000, escalate_after_minutes: 100_000 },
    }),
  );
  const provider = new FakeAfricasTalking({ username: AT_USERNAME, apiKey: AT_API_KEY });
  let service: RunningService;
  let publisher: MqttClient;

  /** What Prometheus gets: an HTTP GET of /metrics, no token. */
  const scrape = async (): Promise<{ status: number; contentType: string; body: string }> => {
    const response = await fetch(`${service.url}/metrics`);
    return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: await response.text() };
  };
  const value = async (series: string): Promise<number> => {
    const escaped = series.replace(/[{}"]/g, (c) => `\\${c}`);
    return Number(new RegExp(`^${escaped} (\\S+)$`, 'm').exec((await scrape()).body)?.[1] ?? 0);
  };

  beforeAll(async () => {
    await provider.start();
    const config = testConfig({
      ...serverEnv(unique),
      DATA_DIR: tempDir('promtool'),
      SMS_PROVIDER: 'africastalking',
      AT_USERNAME,
      AT_API_KEY,
      AT_BASE_URL: provider.url,
    });
    service = await startService({ config, registry, log: pino({ level: 'silent' }), tickIntervalMs: 200 });
    await waitUntil(isReady(service.app), 'the service to be ready');
    publisher = await connectPublisher(inject('mqttUrl'));
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
    await provider.close();
  });

  it('passes promtool check metrics after readings, an SMS sent and one failed for good', async () => {
    const start = Date.now() - 30 * 60_000;
    await publishAll(
      publisher,
      [sent, failed].flatMap((id) => Array.from({ length: 10 }, (_, i) => ({ topic: `${unique}/${id}/flow`, payload: JSON.stringify({ ts: start + i * 60_000, rate_lpm: 40 + i }) }))),
    );
    await expect.poll(() => value('store_points_written_total'), { timeout: 30_000 }).toBeGreaterThanOrEqual(20);

    const fault = (id: string) => publisher.publishAsync(`${unique}/${id}/pump`, JSON.stringify({ ts: Date.now(), running: false, current_a: 0.4, fault: 'dry_run' }), { qos: 1 });
    await fault(sent);
    await expect.poll(() => value('sms_sent_total{kind="incident"}'), { timeout: 15_000 }).toBe(2);
    provider.mode = 'invalid-number';
    await fault(failed);
    await expect.poll(() => value('sms_failed_messages'), { timeout: 15_000 }).toBe(2);

    const { status, contentType, body } = await scrape();
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const check = spawnSync(promtool ?? 'promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    const findings = `${check.stdout}${check.stderr}`.split('\n').filter((line) => line.trim() !== '');
    // 0: clean; 3: lint findings only; anything else (1) is a text promtool could not parse.
    expect([0, 3], findings.join('\n')).toContain(check.status);
    expect(findings.filter((line) => !PROM_CLIENT_LINT.includes(line))).toEqual([]);
    // promtool checks nothing in an empty text: it was this scrape, with what the test did in it.
    expect(body).toMatch(/^ingest_readings_total\{kind="flow"\} 20$/m);
    expect(body).toMatch(/^sms_send_failures_total\{kind="incident",retryable="false"\} 2$/m);
    expect(body).toMatch(/^alert_changes_total\{kind="opened",severity="critical"\} 2$/m);
  });

  it('exports every metric the alerting rules read', async () => {
    const exported = new Set([...(await scrape()).body.matchAll(/^([a-zA-Z_:][\w:]*)(?:\{| )/gm)].map((m) => m[1]));
    // `up` is Prometheus' own, about the scrape.
    const read = new Set(alertRules().flatMap((rule) => metricNames(rule.expr)).filter((name) => name !== 'up'));
    expect(read.size).toBeGreaterThan(15);
    expect([...read].filter((name) => !exported.has(name)).sort()).toEqual([]);
  });
});
