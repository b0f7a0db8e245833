/**
 * Registry changes without a restart (issue 16): the running service reads its registry file again
 * when the file changes, on SIGHUP and on `POST /api/admin/reload`. An added borehole is judged, a
 * removed one is retired (its alerts resolved by "registry"), a changed threshold applies from the
 * next reading; an invalid file is refused with every problem said, and the service keeps judging
 * with the registry it had.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LiveRegistry, readRegistryFile } from '../../src/config/live-registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { registryEntry, tempDir, testConfig, VIEWER_TOKEN } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { freePort } from '../support/servers.js';

const ADMIN_TOKEN = 'admin-token-for-reload-tests-01';

type Alert = { id: string; borehole: string; rule: string; state: string };

/** A registry of these boreholes, with per-borehole rule overrides. */
function registryText(entries: { id: string; rules?: Record<string, number> }[]): string {
  return stringify({ boreholes: entries.map(({ id, rules }, index) => ({ ...registryEntry(id, index), ...(rules ? { rules } : {}) })) });
}

describe('the registry reloaded while the service runs', () => {
  let service: RunningService;
  let publisher: MqttClient;
  let file: string;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    const dir = tempDir('registry-reload');
    file = join(dir, 'boreholes.yaml');
    writeFileSync(file, registryText([{ id: 'rl-a' }, { id: 'rl-b' }]));
    const port = await freePort();
    const config = testConfig({
      DATA_DIR: join(dir, 'data'),
      BOREHOLES_FILE: file,
      MQTT_EMBEDDED_PORT: String(port),
      API_TOKENS: `viewer:${VIEWER_TOKEN},admin:${ADMIN_TOKEN}`,
      LOG_LEVEL: 'info',
    });
    const initial = await readRegistryFile(file);
    // The log lines an operator reads, kept to check what they say.
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    service = await startService({ config, registry: new LiveRegistry(initial.registry, initial.version), registryFile: file, watchRegistry: true, log });
    publisher = await connectPublisher(`mqtt://127.0.0.1:${port}`);
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
  });

  const publish = (id: string, kind: string, payload: Record<string, unknown>) => publisher.publishAsync(`boreholes/${id}/${kind}`, JSON.stringify({ ts: Date.now(), ...payload }), { qos: 1 });
  const metrics = async () => (await service.app.inject('/metrics')).body;
  const alerts = async (): Promise<Alert[]> => (await service.app.inject({ url: '/api/alerts?limit=100', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json<{ items: Alert[] }>().items;
  const reloads = async (result: string) => Number(new RegExp(`^registry_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(await metrics())?.[1] ?? 0);
  const version = async () => /^registry_info\{version="([0-9a-f]+)"\} 1$/m.exec(await metrics())?.[1];

  it('applies an edited file by itself: added judged, removed retired, a changed threshold from the next reading', async () => {
    const before = await version();
    expect(before).toBe(service.registry.version);
    // rl-b has a pump fault open; rl-c is not registered yet, so its reading is refused.
    await publish('rl-b', 'pump', { running: false, current_a: 0, voltage_v: 230, fault: 'overload' });
    await publish('rl-c', 'pump', { running: false, current_a: 0, voltage_v: 230, fault: 'overload' });
    // 50 m below ground with the intake at 55 m: outside the default 3 m margin, no low_water.
    await publish('rl-a', 'level', { depth_m: 50 });
    await expect.poll(async () => (await alerts()).map((a) => `${a.borehole}/${a.rule}`)).toEqual(['rl-b/pump_fault']);
    expect(await metrics()).toMatch(/^ingest_rejected_total\{reason="unknown_borehole"\} 1$/m);

    writeFileSync(file, registryText([{ id: 'rl-a', rules: { low_water_margin_m: 6 } }, { id: 'rl-c' }]));
    await expect.poll(() => reloads('applied'), { timeout: 10_000 }).toBe(1);
    expect(await version()).not.toBe(before);
    expect(await metrics()).toMatch(/^registry_boreholes 2$/m);
    const reloaded = lines.find((line) => line.msg === 'registry reloaded');
    expect(reloaded).toMatchObject({ trigger: 'file', added: ['rl-c'], removed: ['rl-b'], changed: ['rl-a'], alertsResolved: 1 });

    // rl-b: retired, its alert resolved by the registry; rl-c judged; rl-a at its new margin.
    await publish('rl-c', 'pump', { running: false, current_a: 0, voltage_v: 230, fault: 'overload' });
    await publish('rl-a', 'level', { depth_m: 50 });
    await expect.poll(async () => (await alerts()).map((a) => `${a.borehole}/${a.rule}/${a.state}`).sort()).toEqual(['rl-a/low_water/open', 'rl-b/pump_fault/resolved', 'rl-c/pump_fault/open']);
    const retired = (await alerts()).find((a) => a.borehole === 'rl-b');
    const history = (await service.app.inject({ url: `/api/alerts/${retired?.id ?? ''}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json<{ history: { kind: string; actor: string | null }[] }>().history;
    expect(history.at(-1)).toMatchObject({ kind: 'resolved', actor: 'registry' });
    // A reading of the removed borehole is now refused as unknown, and judged by nobody.
    await publish('rl-b', 'pump', { running: false, current_a: 0, voltage_v: 230, fault: 'overheat' });
    await expect.poll(async () => /^ingest_rejected_total\{reason="unknown_borehole"\} (\d+)$/m.exec(await metrics())?.[1]).toBe('2');
  });

  it('refuses a broken file, says every problem, and keeps judging with the registry it has', async () => {
    const running = service.registry.version;
    writeFileSync(file, `${registryText([{ id: 'rl-a' }, { id: 'rl-c' }])}\n  - id: "Not An Id"\n    name: 12\n`);
    await expect.poll(() => reloads('refused'), { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(service.registry.version).toBe(running);
    const refused = lines.find((line) => line.msg === 'registry reload refused: the running registry stays in use');
    expect(refused).toMatchObject({ trigger: 'file', version: running });
    expect((refused?.problems as string[]).length).toBeGreaterThanOrEqual(1);

    // Still judging rl-c, still refusing rl-b.
    await publish('rl-c', 'pump', { running: true, current_a: 5, voltage_v: 230, fault: null });
    await publish('rl-a', 'pump', { running: false, current_a: 0, voltage_v: 230, fault: 'dry_run' });
    await expect.poll(async () => (await alerts()).some((a) => a.borehole === 'rl-a' && a.rule === 'pump_fault')).toBe(true);
  });

  it('reloads on POST /api/admin/reload, for an admin only, with the problems of a refused file', async () => {
    const viewer = await service.app.inject({ method: 'POST', url: '/api/admin/reload', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(viewer.statusCode).toBe(403);
    const broken = await service.app.inject({ method: 'POST', url: '/api/admin/reload', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(broken.statusCode).toBe(422);
    expect(broken.json()).toMatchObject({ error: 'registry_invalid', version: service.registry.version, problems: expect.arrayContaining([expect.any(String)]) as unknown });

    writeFileSync(file, registryText([{ id: 'rl-a' }, { id: 'rl-c' }, { id: 'rl-d' }]));
    const applied = await service.app.inject({ method: 'POST', url: '/api/admin/reload', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(applied.statusCode).toBe(200);
    // The watcher may have applied it first: then the API finds the file unchanged.
    expect(['applied', 'unchanged']).toContain(applied.json<{ result: string }>().result);
    expect(applied.json()).toMatchObject({ boreholes: 3, version: service.registry.version });
    expect(service.registry.boreholes.has('rl-d')).toBe(true);
  });
});

describe('npm start: SIGHUP reads the registry again', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
  });

  it('logs the reload asked by the signal and keeps running', async () => {
    const dir = tempDir('registry-sighup');
    const file = join(dir, 'boreholes.yaml');
    writeFileSync(file, registryText([{ id: 'hup-a' }]));
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, BOREHOLES_FILE: file, DATA_DIR: join(dir, 'data'), HTTP_PORT: String(port), MQTT_EMBEDDED_PORT: String(await freePort()), LOG_LEVEL: 'info' };
    for (const name of ['MQTT_URL', 'INFLUX_URL', 'SMS_PROVIDER', 'API_TOKENS']) delete env[name];
    let output = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await expect.poll(() => output.includes('service ready'), { timeout: 30_000 }).toBe(true);
    child.kill('SIGHUP');
    await expect.poll(() => output.includes('registry file unchanged'), { timeout: 10_000 }).toBe(true);
    expect(output).toMatch(/"trigger":"signal"/);
    const healthz = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(healthz.status).toBe(200);
  });
});
