/**
 * DATA_DIR on a small tmpfs that the test fills up while devices publish QoS 1 readings through
 * the real Mosquitto, into the real InfluxDB. What must hold: nothing the service could not
 * journal is acknowledged (the broker keeps it in the persistent session), the service neither
 * crashes nor spins, it says what is wrong (metric, readiness, one log line per attempt, each
 * attempt later than the one before), and once space returns it takes everything in on its own,
 * every reading stored exactly once. Dead letters and the SQLite state on the same full disk
 * cost nothing that matters and crash nothing.
 *
 * Then a journal left damaged by a previous run (a torn tail, a record changed in the middle of a
 * segment): the service starts, says what it found, stores every valid reading and carries on.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Journal } from '../../src/ingest/journal.js';
import { startService, type RunningService } from '../../src/service.js';
import { ReadingEncoder, boreholeTags } from '../../src/storage/points.js';
import { OPERATOR_TOKEN, VIEWER_TOKEN, tempDir, testConfig, testRegistry, uniqueName } from '../support/fixtures.js';
import { countPoints, influxClient } from '../support/influx.js';
import { connectPublisher, publishAll, type Message } from '../support/mqtt.js';
import { serverEnv } from '../support/service.js';
import { waitUntil } from '../support/wait.js';
import { fillUp, mountTmpfs, openDeletedFiles, tmpfsSupport, type Filler, type Tmpfs } from '../support/tmpfs.js';

const serverSource = inject('serverSource');
const tmpfs = tmpfsSupport();
const skipReason = serverSource === 'none' ? 'no MQTT broker or InfluxDB (see tests/support/global-setup.ts)' : tmpfs.ok ? null : tmpfs.reason;
if (skipReason !== null) {
  if (process.env.CI === 'true') throw new Error(`the disk-full suite cannot run: ${skipReason}`);
  console.warn(`!!! disk-full integration suite SKIPPED: ${skipReason}`);
}

/** Room for SQLite's state.db and its WAL, the journal's segments and the dead letters, before the filler. */
const TMPFS_BYTES = 16 * 1024 * 1024;
const BASE_TS = Date.UTC(2026, 1, 5, 6, 0, 0);
const PER_PHASE = 400;

interface LogEntry {
  level: number;
  msg: string;
  [key: string]: unknown;
}

function flowMessages(root: string, id: string, from: number, count: number): Message[] {
  return Array.from({ length: count }, (_, k) => ({
    topic: `${root}/${id}/flow`,
    payload: JSON.stringify({ ts: BASE_TS + (from + k) * 60_000, rate_lpm: 40 + ((from + k) % 17) }),
  }));
}

describe.skipIf(skipReason !== null)('DATA_DIR on a disk that fills up', () => {
  const unique = uniqueName('diskfull').toLowerCase().replace(/_/g, '-');
  const id = `${unique}-b`;
  const env = serverEnv(unique);
  const logs: LogEntry[] = [];
  let disk: Tmpfs;
  let filler: Filler | null = null;
  let service: RunningService;
  let publisher: MqttClient;

  const metric = async (name: string): Promise<number> => {
    const body = (await service.app.inject('/metrics')).body;
    const match = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(body);
    return match ? Number(match[1]) : Number.NaN;
  };
  const logged = (msg: string): LogEntry[] => logs.filter((entry) => entry.msg === msg);
  const influx = influxClient({ name: 'influx', url: env.INFLUX_URL ?? '', token: env.INFLUX_TOKEN ?? '', org: env.INFLUX_ORG ?? '', bucket: () => '' }, env.INFLUX_BUCKET ?? '');
  const stored = () => countPoints(influx, 'flow', 'rate_lpm', [id]).catch(() => -1);

  beforeAll(async () => {
    disk = mountTmpfs(TMPFS_BYTES, 'disk-full');
    const config = testConfig({ ...env, DATA_DIR: disk.dir, JOURNAL_FSYNC_MS: '50' });
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogEntry) });
    service = await startService({ config, registry: testRegistry([id]), log });
    publisher = await connectPublisher(env.MQTT_URL ?? '');
    // Until the service's subscription is in place the broker queues nothing for it: probe with a
    // reading of a time of its own, counted in the total below (stored once however often sent).
    await waitUntil(async () => {
      await publishAll(publisher, [{ topic: `${unique}/${id}/flow`, payload: JSON.stringify({ ts: BASE_TS - 60_000, rate_lpm: 1 }) }]);
      return (await metric('ingest_readings_total{kind="flow"}')) > 0;
    }, 'the service to take a probe reading', 30_000, 250);
  });

  afterAll(async () => {
    filler?.remove();
    await publisher?.endAsync();
    await service?.stop();
    disk?.unmount();
  });

  it('acknowledges nothing it could not journal, backs off, recovers by itself, and stores every reading once', async () => {
    // Phase A, plenty of space: stored, and the journal empties (no segment holds a block).
    await publishAll(publisher, flowMessages(unique, id, 0, PER_PHASE));
    await expect.poll(stored, { timeout: 30_000, interval: 200 }).toBe(PER_PHASE + 1);
    await expect.poll(() => metric('journal_pending_points'), { timeout: 10_000 }).toBe(0);
    const acceptedBefore = await metric('ingest_readings_total{kind="flow"}');

    // A deleted segment's blocks come free when the journal closes it (at its next sync): wait for
    // that, or the disk would get space back behind the filler's back.
    await expect.poll(() => openDeletedFiles(disk.dir), { timeout: 10_000, interval: 20 }).toEqual([]);
    filler = fillUp(disk.dir);
    expect(filler.bytes).toBeGreaterThan(TMPFS_BYTES / 2);

    // Dead letters on the full disk: kept in memory, one log line, no crash. Sent on their own so
    // that the journal has nothing to write in their turns (rejected messages are acknowledged).
    await publishAll(publisher, [1, 2, 3].map((n) => ({ topic: `${unique}/${id}/flow`, payload: `not json ${n}` })));
    await expect.poll(() => metric('ingest_rejected_total{reason="bad_json"}'), { timeout: 10_000 }).toBe(3);
    expect(logged('dead letters cannot be written to disk; kept in memory only until the disk takes them again')).toHaveLength(1);
    const deadLetters = await service.app.inject({ url: '/api/dead-letters?reason=bad_json', headers: { authorization: `Bearer ${VIEWER_TOKEN}` } });
    expect(deadLetters.statusCode).toBe(200);
    expect(JSON.stringify(deadLetters.json())).toContain('not json 3');

    // Still full: nothing was freed behind the filler's back.
    expect(filler.topUp()).toBe(0);

    // Phase B, the disk full: the broker takes them from the device, the service cannot journal them.
    await publishAll(publisher, flowMessages(unique, id, PER_PHASE, PER_PHASE));
    await expect.poll(() => metric('ingest_journal_errors_total'), { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(3);

    const ready = await service.app.inject('/readyz');
    expect(ready.statusCode).toBe(503);
    expect(ready.json<{ checks: { journal: { ok: boolean; detail?: string } } }>().checks.journal).toMatchObject({ ok: false });
    expect((await service.app.inject('/healthz')).statusCode).toBe(200);
    // Nothing of phase B was accepted, so nothing of it can have been acknowledged.
    expect(await metric('ingest_readings_total{kind="flow"}')).toBe(acceptedBefore);
    expect(await stored()).toBe(PER_PHASE + 1);

    // One log line per attempt (not per message), each attempt waiting twice as long as the last.
    const failures = logged('journal commit failed; dropping the connection so that nothing uncommitted is acknowledged');
    const errorsCounted = await metric('ingest_journal_errors_total');
    expect(failures.length).toBe(errorsCounted);
    const waits = failures.map((entry) => entry.retryInMs as number);
    expect(waits.slice(0, 3)).toEqual([1000, 2000, 4000]);
    for (let i = 1; i < waits.length; i += 1) expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1] ?? 0);
    expect(failures.every((entry) => /ENOSPC|no space/i.test(JSON.stringify(entry.err)))).toBe(true);

    // SQLite (alerts, rule state) on the full disk: a write either fits in the blocks its WAL
    // already has or fails with SQLITE_FULL and is rolled back; the service answers either way.
    const visit = await service.app.inject({ method: 'POST', url: `/api/boreholes/${id}/maintenance`, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, payload: { note: 'on a full disk' } });
    expect([201, 500]).toContain(visit.statusCode);

    // Space returns: at its next attempt the service takes the broker's queue in, on its own.
    filler.remove();
    filler = null;
    await expect.poll(stored, { timeout: 60_000, interval: 250 }).toBe(2 * PER_PHASE + 1);
    expect(logged('journal commits work again; taking messages')).toHaveLength(1);
    await expect.poll(async () => (await service.app.inject('/readyz')).statusCode, { timeout: 10_000 }).toBe(200);

    // Phase C: business as usual, dead letters reach the disk again, and so does SQLite.
    await publishAll(publisher, [...flowMessages(unique, id, 2 * PER_PHASE, PER_PHASE), { topic: `${unique}/${id}/flow`, payload: 'not json 4' }]);
    await expect.poll(stored, { timeout: 30_000, interval: 200 }).toBe(3 * PER_PHASE + 1);
    await expect.poll(() => logged('dead letters are written to disk again').length, { timeout: 10_000 }).toBe(1);
    const visitAfter = await service.app.inject({ method: 'POST', url: `/api/boreholes/${id}/maintenance`, headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, payload: { note: 'space is back' } });
    expect(visitAfter.statusCode).toBe(201);

    // Exactly once: every timestamp published, each once, and no other.
    const [series] = await influx.query(`SELECT "rate_lpm" FROM "flow" WHERE "borehole" = '${id}'`);
    const times = (series?.[0]?.values ?? []).map((row) => row[0] as number);
    const expected = [BASE_TS - 60_000, ...Array.from({ length: 3 * PER_PHASE }, (_, k) => BASE_TS + k * 60_000)];
    expect(times).toEqual(expected);
    await expect.poll(() => metric('journal_pending_points'), { timeout: 10_000 }).toBe(0);
  });
});

describe.skipIf(serverSource === 'none')('a journal left torn and damaged by a previous run', () => {
  const unique = uniqueName('tornjournal').toLowerCase().replace(/_/g, '-');
  const id = `${unique}-b`;
  const env = serverEnv(unique);
  const registry = testRegistry([id]);
  const logs: LogEntry[] = [];
  let service: RunningService | undefined;
  let publisher: MqttClient | undefined;

  afterAll(async () => {
    await publisher?.endAsync();
    await service?.stop();
  });

  it('starts, reports and counts the damage, keeps the damaged segment, stores every valid reading and carries on', async () => {
    const dataDir = tempDir('torn-journal');
    const journalDir = join(dataDir, 'journal');
    const encoder = new ReadingEncoder((borehole) => boreholeTags(registry, borehole));
    const reading = (k: number): string => encoder.line({ boreholeId: id, kind: 'flow', tsMs: BASE_TS + k * 60_000, values: { rate_lpm: 30 + (k % 7) } });
    // Two segments as a previous run leaves them, 50 one-reading records each.
    for (const from of [0, 50]) {
      const previous = new Journal({ dir: journalDir, fsyncIntervalMs: 0, now: () => BASE_TS });
      await previous.open();
      for (let k = from; k < from + 50; k += 1) {
        previous.append([reading(k)], BASE_TS);
        previous.commit();
      }
      previous.close();
    }
    const [first, second] = readdirSync(journalDir).filter((name) => name.endsWith('.seg')).sort();
    // The disk changed one byte of record 20, in the middle of the first segment...
    const firstPath = join(journalDir, first ?? '');
    const firstBytes = readFileSync(firstPath);
    const record20 = firstBytes.indexOf(reading(20));
    firstBytes[record20 + 5] = 0x2a;
    writeFileSync(firstPath, firstBytes);
    // ...and the power went while the second segment took half a record.
    writeFileSync(join(journalDir, second ?? ''), `${reading(100).slice(0, 30)}`, { flag: 'a' });

    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogEntry) });
    service = await startService({ config: testConfig({ ...env, DATA_DIR: dataDir }), registry, log });

    const reports = logs.filter((entry) => entry.kind === 'torn_tail' || entry.kind === 'damaged');
    expect(reports.map((entry) => [entry.kind, entry.level])).toEqual([
      ['damaged', 50],
      ['torn_tail', 50],
    ]);
    expect(service.journal.damage).toMatchObject({ tornTails: 1, damagedSegments: 1 });
    const copy = reports[0]?.quarantinedTo as string;
    expect(existsSync(copy)).toBe(true);

    const influx = influxClient({ name: 'influx', url: env.INFLUX_URL ?? '', token: env.INFLUX_TOKEN ?? '', org: env.INFLUX_ORG ?? '', bucket: () => '' }, env.INFLUX_BUCKET ?? '');
    await expect.poll(() => countPoints(influx, 'flow', 'rate_lpm', [id]).catch(() => -1), { timeout: 30_000, interval: 250 }).toBe(99);
    const [series] = await influx.query(`SELECT "rate_lpm" FROM "flow" WHERE "borehole" = '${id}'`);
    const times = (series?.[0]?.values ?? []).map((row) => row[0] as number);
    expect(times).toEqual(Array.from({ length: 100 }, (_, k) => BASE_TS + k * 60_000).filter((_, k) => k !== 20));
    // Sent and deleted from the journal; the copy an operator reads stays, damage and all.
    await expect.poll(() => readdirSync(journalDir).filter((name) => name === first), { timeout: 10_000 }).toEqual([]);
    expect(readFileSync(copy).equals(firstBytes)).toBe(true);

    // And it carries on.
    publisher = await connectPublisher(env.MQTT_URL ?? '');
    await expect
      .poll(async () => {
        await publishAll(publisher as MqttClient, flowMessages(unique, id, 200, 1));
        return countPoints(influx, 'flow', 'rate_lpm', [id]).catch(() => 0);
      }, { timeout: 30_000, interval: 500 })
      .toBe(100);
  });
});
