/**
 * The embedded time-series store: the telemetry contract suite that InfluxDB passes too
 * (tests/integration/telemetry-influx.test.ts), and what the drain needs of it as a writer.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedTelemetry, integral, meterVolume } from '../../../src/storage/embedded-telemetry.js';
import { StoreWriteError } from '../../../src/storage/influx.js';
import { tempDir } from '../../support/fixtures.js';
import { telemetryContract } from '../../support/telemetry-contract.js';

const dirs: string[] = [];
const stores: EmbeddedTelemetry[] = [];

function openStore(now?: () => number): { store: EmbeddedTelemetry; path: string } {
  const dir = tempDir('embedded-telemetry');
  dirs.push(dir);
  const path = join(dir, 'telemetry.db');
  const store = EmbeddedTelemetry.open({ path, ...(now ? { now } : {}) });
  stores.push(store);
  return { store, path };
}

afterAll(() => {
  for (const store of stores) store.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

telemetryContract(
  'embedded (SQLite)',
  () => {
    const { store } = openStore();
    return Promise.resolve({ store, write: (body) => store.writeLines(body) });
  },
  { metered: 'metered', unmetered: 'unmetered' },
);

const T0 = Date.UTC(2026, 2, 1, 6, 0);
const MINUTE = 60_000;
const HOUR = 3_600_000;
const body = (...lines: string[]): Buffer => Buffer.from(`${lines.join('\n')}\n`);

describe('embedded store as the drain writes to it', () => {
  it('stores a duplicate point once, and merges the fields of points with the same series and time', async () => {
    const { store } = openStore();
    await store.writeLines(body(`flow,borehole=b1,commune=Kayes,region=Kayes rate_lpm=10 ${T0}`));
    await store.writeLines(body(`flow,borehole=b1,commune=Kayes,region=Kayes rate_lpm=10 ${T0}`));
    await store.writeLines(body(`flow,borehole=b1,commune=Kayes,region=Kayes total_m3=5 ${T0}`, `flow,borehole=b1,commune=Kayes,region=Kayes rate_lpm=20 ${T0}`));
    const [bucket] = await store.series({ boreholeId: 'b1', fromMs: T0, toMs: T0 + HOUR, everyMs: HOUR });
    // One point: rate_lpm replaced by the last write, total_m3 added beside it.
    expect(bucket?.flowLpmMean).toBe(20);
    expect(await store.activeMinutes('b1', T0, T0 + HOUR)).toEqual([T0]);
  });

  it('keeps points of the same time in different series apart (tags differ), as InfluxDB does', async () => {
    const { store } = openStore();
    await store.writeLines(body(`flow,borehole=b1,region=Kayes rate_lpm=10 ${T0}`, `flow,borehole=b1,region=Koulikoro rate_lpm=20 ${T0}`));
    const [bucket] = await store.series({ boreholeId: 'b1', fromMs: T0, toMs: T0 + HOUR, everyMs: HOUR });
    expect(bucket?.flowLpmMean).toBe(15);
  });

  it('refuses a malformed line as data (not retryable), so the drain isolates it; the rest of the body is not half-written', async () => {
    const { store } = openStore();
    const error = await store.writeLines(body(`flow,borehole=b1 rate_lpm=10 ${T0}`, 'flow,borehole=b1 rate_lpm= 123')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreWriteError);
    expect((error as StoreWriteError).retryable).toBe(false);
    expect(await store.series({ boreholeId: 'b1', fromMs: T0, toMs: T0 + HOUR, everyMs: HOUR })).toEqual([]);
  });

  it('refuses a field whose type conflicts with the stored one, like InfluxDB', async () => {
    const { store } = openStore();
    await store.writeLines(body(`pump,borehole=b1 running=1i ${T0}`));
    const error = await store.writeLines(body(`pump,borehole=b1 running=1 ${T0 + MINUTE}`)).catch((e: unknown) => e);
    expect((error as StoreWriteError).retryable).toBe(false);
    expect((error as Error).message).toContain('field type conflict');
  });

  it('keeps what it stored across a restart', async () => {
    const { store, path } = openStore();
    await store.writeLines(body(`level,borehole=b1 depth_m=31.5 ${T0}`, `alert,borehole=b1,rule=pump_fault,severity=critical state="open",message="panne \\"pompe\\"" ${T0}`));
    store.close();
    const reopened = EmbeddedTelemetry.open({ path });
    stores.push(reopened);
    const [bucket] = await reopened.series({ boreholeId: 'b1', fromMs: T0, toMs: T0 + HOUR, everyMs: HOUR });
    expect(bucket?.depthMMean).toBe(31.5);
    await reopened.writeLines(body(`level,borehole=b1 depth_m=32.5 ${T0 + MINUTE}`));
    expect((await reopened.series({ boreholeId: 'b1', fromMs: T0, toMs: T0 + HOUR, everyMs: HOUR }))[0]?.depthMMax).toBe(32.5);
    await expect(reopened.ping()).resolves.toBe('embedded');
  });

  it('stamps a line without a timestamp with the clock, as InfluxDB stamps it with its own', async () => {
    const { store } = openStore(() => T0 + 90_000);
    await store.writeLines(body('device,borehole=b1 online=0i'));
    expect(await store.activeMinutes('b1', T0, T0 + HOUR)).toEqual([T0 + MINUTE]);
  });
});

describe("InfluxDB's integral and non_negative_difference, reproduced", () => {
  const buckets = { fromMs: 0, everyMs: 10 };
  const points = (rows: [number, number][]) => ({ ts: rows.map(([t]) => t), values: rows.map(([, v]) => v) });

  it('splits a trapezoid at the bucket boundary by linear interpolation', () => {
    // 0 at t=5, 10 at t=15: the value at the boundary t=10 is 5.
    expect(integral(points([[5, 0], [15, 10]]), 1, buckets, 0)).toEqual(new Map([[0, 12.5], [10, 37.5]]));
  });

  it('gives the area after a gap to the bucket of the point that ends it, not to the empty buckets', () => {
    expect(integral(points([[5, 2], [35, 2]]), 1, buckets, 0)).toEqual(new Map([[0, 10], [30, 50]]));
  });

  it('emits no bucket whose only point sits on its start with nothing after it', () => {
    expect(integral(points([[5, 2], [10, 2]]), 1, buckets, 0)).toEqual(new Map([[0, 10]]));
    expect(integral(points([[5, 2], [12, 2]]), 1, buckets, 0)).toEqual(new Map([[0, 10], [10, 4]]));
  });

  it('counts points sharing a timestamp once (the last)', () => {
    expect(integral(points([[0, 1], [0, 3], [10, 3]]), 1, null, 0)).toEqual(new Map([[0, 30]]));
  });

  it('drops a negative difference (a meter reset) and counts on from the new value', () => {
    expect(meterVolume(points([[1, 100], [2, 101], [3, 0], [4, 2]]), null)).toEqual(new Map([[0, 3]]));
    expect(meterVolume(points([[5, 1], [12, 3], [15, 3]]), buckets)).toEqual(new Map([[10, 2]]));
  });
});
