/**
 * The README's demo command, run the way the README writes it: `npm run demo` on a bare machine
 * (no broker, no InfluxDB, no SMS gateway), in a fresh data directory. Khabou has data in
 * `GET /api/boreholes` within 2 minutes, the scripted dry-run fault opens an alert, its SMS is in
 * the console, Ctrl-C (SIGINT to the process group, as a terminal sends it) stops it within 10 s,
 * and a restart shows the same alerts and the same history.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '../support/fixtures.js';
import { freePort } from '../support/servers.js';

const MINUTE = 60_000;

interface Alert {
  id: string;
  borehole: string;
  rule: string;
  state: string;
}

interface Bucket {
  time: string;
  flow_lpm_mean: number | null;
  depth_m_mean: number | null;
  running_fraction: number | null;
  volume_m3: number | null;
}

/** The demo command of the README's quick start, checked to be the one this test runs. */
function readmeDemoCommand(): string {
  const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
  const line = readme.split('\n').find((text) => /^npm ci && npm run demo\b/.test(text.trim()));
  if (!line) throw new Error('README.md has no `npm ci && npm run demo` line in its quick start');
  // `npm ci` is what the machine running these tests has already done.
  return line.trim().split('#')[0]!.trim().replace(/^npm ci && /, '');
}

interface Demo {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startDemo(command: string, env: NodeJS.ProcessEnv): Demo {
  // npm itself, as a terminal's shell starts it, in a process group of its own: SIGINT to the group
  // reaches npm and the service together, as Ctrl-C does.
  const [program, ...args] = command.split(/\s+/) as [string, ...string[]];
  const child = spawn(program, args, { cwd: join(import.meta.dirname, '..', '..'), env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

function ctrlC(demo: Demo): void {
  if (demo.child.pid !== undefined) process.kill(-demo.child.pid, 'SIGINT');
}

describe('npm run demo (README quick start)', () => {
  const running: Demo[] = [];
  afterEach(() => {
    for (const demo of running.splice(0)) {
      if (demo.child.exitCode === null && demo.child.pid !== undefined) {
        try {
          process.kill(-demo.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });

  it('shows Khabou with data, opens an alert for the scripted fault with its SMS, stops on Ctrl-C, and carries on after a restart', { timeout: 12 * MINUTE }, async () => {
    const command = readmeDemoCommand();
    expect(command).toBe('npm run demo');
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { ...process.env, HTTP_PORT: String(httpPort), MQTT_EMBEDDED_PORT: String(mqttPort), DATA_DIR: join(tempDir('demo'), 'data') };
    for (const name of ['MQTT_URL', 'INFLUX_URL', 'API_TOKENS', 'SMS_PROVIDER', 'BOREHOLES_FILE', 'LOG_LEVEL']) delete env[name];
    const base = `http://127.0.0.1:${httpPort}`;

    const startedAt = Date.now();
    const first = startDemo(command, env);
    running.push(first);

    // The banner names the URLs and the tokens.
    await expect.poll(() => first.output(), { timeout: 2 * MINUTE, interval: 200 }).toMatch(/viewer token\s+(\S+)/);
    const out = first.output();
    for (const url of [`${base}/`, `${base}/api/boreholes`, `${base}/api/alerts`, `${base}/metrics`]) expect(out).toContain(url);
    const reportUrl = new RegExp(`${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/reports\\?(from=\\d{4}-\\d\\d-\\d\\d&to=\\d{4}-\\d\\d-\\d\\d)`).exec(out);
    expect(reportUrl, 'the banner links the uptime report of the simulated week').not.toBeNull();
    const viewerToken = /viewer token\s+(\S+)/.exec(out)?.[1] as string;
    expect(out).toMatch(/operator token\s+\S{16,}/);
    const get = async <T>(path: string): Promise<T> => {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${viewerToken}` } });
      if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
      return (await response.json()) as T;
    };
    const khabouSeenAt = async (): Promise<string | null> => {
      const list = await get<{ items: { id: string; last_seen_at: string | null }[] }>('/api/boreholes');
      return list.items.find((borehole) => borehole.id === 'khabou')?.last_seen_at ?? null;
    };

    // Khabou has data within 2 minutes of the command.
    await expect.poll(() => khabouSeenAt().catch(() => null), { timeout: 2 * MINUTE - (Date.now() - startedAt), interval: 500 }).not.toBeNull();
    // And the week of history shortly after (a bucket an hour).
    const weekBuckets = async (): Promise<number> =>
      (await get<{ buckets: Bucket[] }>(`/api/boreholes/khabou/readings?from=${Date.now() - 7 * 24 * 60 * MINUTE}&every=1h`)).buckets.length;
    await expect.poll(() => weekBuckets().catch(() => 0), { timeout: MINUTE, interval: 500 }).toBeGreaterThanOrEqual(7 * 24 - 1);

    // The scripted dry run trips at the first reading of real time (pump idle) or 2 minutes later
    // (pump running); its alert opens with that reading.
    const openFault = async (): Promise<Alert | undefined> =>
      (await get<{ items: Alert[] }>('/api/alerts?borehole=khabou&state=open')).items.find((alert) => alert.rule === 'pump_fault');
    await expect.poll(() => openFault().catch(() => undefined), { timeout: 6 * MINUTE, interval: 1000 }).toBeDefined();
    const fault = (await openFault()) as Alert;
    // The SMS to Khabou's committee, written to the console (SMS_PROVIDER=console). It names the
    // incident's cause: the water at the intake or the dry run it stops, whichever of the two
    // readings (level, pump: two topics) the service heard first; when the level was first heard
    // low but not yet at the intake (a warning, for the technician alone), the committee's first
    // SMS is the URGENT one of its rise to critical.
    await expect
      .poll(() => first.output(), { timeout: MINUTE })
      .toMatch(/"text":"(URGENT )?Forage de Khabou: (panne pompe \(marche a sec\)|plus d'eau au niveau de la pompe) \d\d:\d\d[^"]*Repondre OK \d+ pour confirmer\."/);

    // The report the banner links covers the simulated week: Khabou's data, and its failure.
    const report = await get<{ boreholes: { borehole: string; coverage_pct: number | null; failures: number }[] }>(`/api/reports/uptime?${reportUrl?.[1] ?? ''}`);
    const khabouRow = report.boreholes.find((row) => row.borehole === 'khabou');
    expect(khabouRow?.failures).toBeGreaterThanOrEqual(1);
    // The week starts at a midnight, the history at the same time of day as now: at least 7 of 8 days.
    expect(khabouRow?.coverage_pct).toBeGreaterThan(85);

    const alertsBefore = await get<{ items: Alert[] }>('/api/alerts?limit=100');
    const stopAt = Date.now();
    // The hours that were complete before the stop must come back exactly.
    const historyPath = `/api/boreholes/khabou/readings?from=${stopAt - 7 * 24 * 60 * MINUTE}&to=${Math.floor((stopAt - 2 * MINUTE) / (60 * MINUTE)) * 60 * MINUTE}&every=1h`;
    const historyBefore = await get<{ buckets: Bucket[] }>(historyPath);

    ctrlC(first);
    expect(await first.exited).toBe(0);
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(first.output()).toContain('stopping cleanly');

    const second = startDemo(command, env);
    running.push(second);
    await expect.poll(() => second.output(), { timeout: 2 * MINUTE, interval: 200 }).toContain('live from now on');
    // The same tokens: they are kept with the demo's data.
    expect(second.output()).toContain(viewerToken);
    const alertsAfter = await get<{ items: Alert[] }>('/api/alerts?limit=100');
    for (const alert of alertsBefore.items) expect(alertsAfter.items.map((a) => a.id)).toContain(alert.id);
    expect(alertsAfter.items.find((alert) => alert.id === fault.id)).toMatchObject({ rule: 'pump_fault', borehole: 'khabou' });
    expect(await get<{ buckets: Bucket[] }>(historyPath)).toEqual(historyBefore);

    const stoppingAt = Date.now();
    ctrlC(second);
    expect(await second.exited).toBe(0);
    expect(Date.now() - stoppingAt).toBeLessThan(10_000);
  });
});
