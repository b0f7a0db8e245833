/**
 * Dead letters that can be replayed (issue 16): readings of a borehole the registry does not know
 * yet are refused and kept; once the registry file names it and is reloaded, `POST
 * /api/dead-letters/replay?reason=unknown_borehole` sends them through ingest again. They are
 * stored once, judged by the rules at their own time, and a second replay (or a replay of the
 * same letters brought back, as after a crash before the log was rewritten) stores and opens
 * nothing twice. A running service: embedded broker and store, device messages over MQTT.
 */
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveRegistry, readRegistryFile } from '../../src/config/live-registry.js';
import { startService, type RunningService } from '../../src/service.js';
import { OPERATOR_TOKEN, registryEntry, tempDir, testConfig, VIEWER_TOKEN } from '../support/fixtures.js';
import { connectPublisher } from '../support/mqtt.js';
import { freePort } from '../support/servers.js';

const ADMIN_TOKEN = 'admin-token-for-replay-tests-01';
const MINUTE_MS = 60_000;

type Alert = { id: string; borehole: string; rule: string; state: string; opened_at: string; historical: boolean };
type Letter = { topic: string; reason: string; index?: number; received_at: string };

const registryText = (ids: readonly string[]): string => stringify({ boreholes: ids.map((id, index) => registryEntry(id, index)) });

describe('dead letters replayed once the registry knows their borehole', () => {
  const dir = tempDir('dead-letter-replay');
  const dataDir = join(dir, 'data');
  const file = join(dir, 'boreholes.yaml');
  /** The dead-letter files as they were before any replay: brought back to play a crash. */
  const keptCopy = join(dir, 'dead-letters-before-replay');
  const t0 = Date.now();
  let service: RunningService | null = null;
  let publisher: MqttClient;

  const start = async (): Promise<RunningService> => {
    const port = await freePort();
    const config = testConfig({
      DATA_DIR: dataDir,
      BOREHOLES_FILE: file,
      MQTT_EMBEDDED_PORT: String(port),
      API_TOKENS: `viewer:${VIEWER_TOKEN},operator:${OPERATOR_TOKEN},admin:${ADMIN_TOKEN}`,
    });
    const initial = await readRegistryFile(file);
    const started = await startService({ config, registry: new LiveRegistry(initial.registry, initial.version), registryFile: file, log: pino({ level: 'silent' }) });
    publisher = await connectPublisher(`mqtt://127.0.0.1:${port}`);
    return started;
  };

  beforeAll(async () => {
    writeFileSync(file, registryText(['dr-a']));
    service = await start();
  });

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
  });

  const running = (): RunningService => {
    if (!service) throw new Error('the service is not running');
    return service;
  };
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const replay = (query: string, token = ADMIN_TOKEN) => running().app.inject({ method: 'POST', url: `/api/dead-letters/replay?${query}`, headers: as(token) });
  const letters = async (reason: string): Promise<Letter[]> =>
    (await running().app.inject({ url: `/api/dead-letters?reason=${reason}&limit=1000`, headers: as(VIEWER_TOKEN) })).json<{ items: Letter[] }>().items;
  const alerts = async (): Promise<Alert[]> => (await running().app.inject({ url: '/api/alerts?limit=100', headers: as(ADMIN_TOKEN) })).json<{ items: Alert[] }>().items;
  const metric = async (pattern: RegExp): Promise<number> => Number(pattern.exec((await running().app.inject('/metrics')).body)?.[1] ?? NaN);
  const publish = (id: string, kind: string, payload: unknown) => publisher.publishAsync(`boreholes/${id}/${kind}`, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });

  /** Times (ms) of the points of one field of one borehole in the embedded store. */
  function storedTimes(measurement: string, field: string, boreholeId: string): number[] {
    const db = new Database(join(dataDir, 'telemetry.db'), { readonly: true });
    try {
      return db
        .prepare<[string, string, string], { ts: number }>(
          `SELECT s.ts_ms AS ts FROM samples s JOIN streams t ON t.id = s.stream
            WHERE t.measurement = ? AND t.field = ? AND t.borehole = ? ORDER BY s.ts_ms`,
        )
        .all(measurement, field, boreholeId)
        .map((row) => Number(row.ts));
    } finally {
      db.close();
    }
  }
  const stored = () => ({
    pump: storedTimes('pump', 'running', 'dr-new').length,
    flow: storedTimes('flow', 'rate_lpm', 'dr-new').length,
    level: storedTimes('level', 'depth_m', 'dr-new').length,
  });
  /** Everything journaled is in the store: nothing left for the drain. */
  const drained = () => metric(/^journal_pending_points (\d+)$/m);

  it('keeps the readings of an unregistered borehole as dead letters, and stores none of them', async () => {
    // A pump that ran, then stopped on an overload 9 minutes ago; its flow; a level batch whose
    // third reading is invalid; a flow reading without `ts` (stamped with its receive time).
    await publish('dr-new', 'pump', { ts: t0 - 10 * MINUTE_MS, running: true, current_a: 5.2, voltage_v: 230, fault: null });
    await publish('dr-new', 'pump', { ts: t0 - 9 * MINUTE_MS, running: false, current_a: 0, voltage_v: 230, fault: 'overload' });
    await publish('dr-new', 'flow', { ts: t0 - 10 * MINUTE_MS, rate_lpm: 42 });
    await publish('dr-new', 'flow', { ts: t0 - 9 * MINUTE_MS, rate_lpm: 0 });
    await publish('dr-new', 'level', [
      { ts: t0 - 10 * MINUTE_MS, depth_m: 20.5 },
      { ts: t0 - 9 * MINUTE_MS, depth_m: 21 },
      { ts: t0 - 8 * MINUTE_MS, depth_m: -1 },
    ]);
    await publish('dr-new', 'flow', { rate_lpm: 0 });
    // A borehole that stays unknown, and a registered one's broken message.
    await publish('dr-stranger', 'pump', { ts: t0 - 5 * MINUTE_MS, running: false, fault: 'dry_run' });
    await publish('dr-a', 'flow', '{"rate_lpm": ');

    await expect.poll(async () => (await letters('unknown_borehole')).length).toBe(7);
    expect(await letters('bad_json')).toHaveLength(1);
    expect(await metric(/^ingest_rejected_total\{reason="unknown_borehole"\} (\d+)$/m)).toBe(7);
    expect(stored()).toEqual({ pump: 0, flow: 0, level: 0 });
    expect(await alerts()).toEqual([]);
    cpSync(join(dataDir, 'dead-letters'), keptCopy, { recursive: true });
  });

  it('answers 403 to a viewer and an operator, and 400 to a reason a replay cannot cure', async () => {
    expect((await replay('reason=unknown_borehole', VIEWER_TOKEN)).statusCode).toBe(403);
    expect((await replay('reason=unknown_borehole', OPERATOR_TOKEN)).statusCode).toBe(403);
    const badJson = await replay('reason=bad_json');
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toMatchObject({ error: 'not_replayable', message: expect.stringContaining('bad_json') as unknown });
    const storeRejected = await replay('reason=store_rejected');
    expect(storeRejected.statusCode).toBe(400);
    expect(storeRejected.json<{ message: string }>().message).toMatch(/time-series store/);
    // Nothing was touched by the refused calls.
    expect(await letters('unknown_borehole')).toHaveLength(7);
    expect(await letters('bad_json')).toHaveLength(1);
  });

  it('stores exactly those readings once the registry knows the borehole, and the rules judge them at their own time', async () => {
    writeFileSync(file, registryText(['dr-a', 'dr-new']));
    const reload = await running().app.inject({ method: 'POST', url: '/api/admin/reload', headers: as(ADMIN_TOKEN) });
    expect(reload.json()).toMatchObject({ result: 'applied', added: ['dr-new'] });
    const readingsBefore = await metric(/^ingest_readings_total\{kind="pump"\} (\d+)$/m).then((n) => (Number.isNaN(n) ? 0 : n));
    const replayedAtMs = Date.now();

    const first = await replay('reason=unknown_borehole');
    expect(first.statusCode).toBe(200);
    // dr-stranger is still unknown; the level batch's invalid reading keeps a letter of its own.
    expect(first.json()).toEqual({ replayed: 7, accepted_readings: 7, still_refused: { unknown_borehole: 1, invalid_reading: 1 }, remaining: 1 });

    await expect.poll(async () => (await drained()) === 0 && stored().level === 2, { timeout: 15_000 }).toBe(true);
    expect(stored()).toEqual({ pump: 2, flow: 3, level: 2 });
    // The reading without `ts` keeps the time it was first received, not the replay's.
    const flowTimes = storedTimes('flow', 'rate_lpm', 'dr-new');
    expect(flowTimes.at(-1)).toBeGreaterThanOrEqual(t0);
    expect(flowTimes.at(-1)).toBeLessThan(replayedAtMs);
    expect(await metric(/^ingest_readings_total\{kind="pump"\} (\d+)$/m)).toBe(readingsBefore + 2);
    // Counted once, when they arrived: the replay refuses nothing anew.
    expect(await metric(/^ingest_rejected_total\{reason="unknown_borehole"\} (\d+)$/m)).toBe(7);

    // The overload, judged at its own time; still holding at the newest reading, so live.
    await expect.poll(async () => (await alerts()).map((a) => `${a.borehole}/${a.rule}/${a.state}`)).toEqual(['dr-new/pump_fault/open']);
    const [fault] = await alerts();
    expect(fault).toMatchObject({ opened_at: new Date(t0 - 9 * MINUTE_MS).toISOString(), historical: false });

    // The log: accepted letters gone, the refused ones kept once, the new verdict in place.
    expect((await letters('unknown_borehole')).map((l) => l.topic)).toEqual(['boreholes/dr-stranger/pump']);
    expect(await letters('invalid_reading')).toMatchObject([{ topic: 'boreholes/dr-new/level', index: 2 }]);
    expect(await letters('bad_json')).toHaveLength(1);
    expect(await metric(/^dead_letters (\d+)$/m)).toBe(3);
  });

  it('stores nothing twice and opens nothing twice when replayed again', async () => {
    const [fault] = await alerts();
    const second = await replay('reason=unknown_borehole');
    expect(second.json()).toEqual({ replayed: 1, accepted_readings: 0, still_refused: { unknown_borehole: 1 }, remaining: 1 });
    // Narrowed to a borehole with nothing left: nothing to do.
    expect((await replay('reason=unknown_borehole&borehole=dr-new')).json()).toEqual({ replayed: 0, accepted_readings: 0, still_refused: {}, remaining: 0 });
    expect(await letters('unknown_borehole')).toHaveLength(1);
    expect(await letters('invalid_reading')).toHaveLength(1);
    expect(stored()).toEqual({ pump: 2, flow: 3, level: 2 });
    expect(await alerts()).toEqual([fault]);
  });

  it('stores and opens nothing twice when the same letters come back (a crash before the log was rewritten) and are replayed after a restart', async () => {
    const [fault] = await alerts();
    await publisher.endAsync();
    await running().stop();
    service = null;
    rmSync(join(dataDir, 'dead-letters'), { recursive: true, force: true });
    cpSync(keptCopy, join(dataDir, 'dead-letters'), { recursive: true });
    service = await start();
    expect(await letters('unknown_borehole')).toHaveLength(7);

    const again = await replay('reason=unknown_borehole&limit=100');
    expect(again.json()).toEqual({ replayed: 7, accepted_readings: 7, still_refused: { unknown_borehole: 1, invalid_reading: 1 }, remaining: 1 });
    await expect.poll(() => drained(), { timeout: 15_000 }).toBe(0);
    // Same series and time: each point overwritten by itself.
    expect(stored()).toEqual({ pump: 2, flow: 3, level: 2 });
    // The rules had judged these readings: nothing new opens, the one alert stays as it was.
    await expect.poll(() => metric(/^rules_late_readings (\d+)$/m), { timeout: 5_000 }).toBeGreaterThan(0);
    expect(await alerts()).toEqual([fault]);
    expect(await metric(/^alert_changes_total\{kind="opened",severity="critical"\} (\d+)$/m).then((n) => (Number.isNaN(n) ? 0 : n))).toBe(0);
  });
});
