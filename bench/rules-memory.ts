/**
 * Rule state per borehole: resident memory and persisted size with 10,000 and 100,000 boreholes
 * registered, each with a realistic state (a day of readings: pump cycles, flow, level, two weeks
 * of daily volumes). Prints figures; asserts nothing.
 *
 *   node --expose-gc --import tsx bench/rules-memory.ts [10000 100000]
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { buildRegistry, registryFileSchema } from '../src/config/registry.js';
import type { Reading } from '../src/domain/reading.js';
import { RulesEngine } from '../src/rules/engine.js';
import { SqliteStore } from '../src/storage/sqlite-store.js';
import { registryEntry, tempDir } from '../tests/support/fixtures.js';

const counts = process.argv.slice(2).map(Number).filter((n) => n > 0);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  process.stderr.write('run with node --expose-gc --import tsx bench/rules-memory.ts\n');
  process.exit(2);
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);

function measure(boreholes: number): void {
  const ids = Array.from({ length: boreholes }, (_, i) => `b-${i}`);
  const registry = buildRegistry(registryFileSchema.parse({ boreholes: ids.map((id, i) => registryEntry(id, i)) }));
  const store = new SqliteStore(join(tempDir('rules-memory'), 'state.db'));
  let now = Date.UTC(2026, 1, 20, 18, 0);
  const engine = new RulesEngine({ registry, store, now: () => now, log: pino({ level: 'silent' }), writeAlertPoints: () => undefined, holdOlderThanMs: Number.MAX_SAFE_INTEGER });
  engine.start();
  engine.stop();
  gc?.();
  const before = process.memoryUsage();

  // Fifteen days at one reading set an hour gives each borehole a full state: daily volumes,
  // pump starts within the hour, running hours, the current condition of every rule.
  const start = Date.UTC(2026, 1, 5, 0, 0);
  for (let hour = 0; hour < 15 * 24; hour += 1) {
    const t = start + hour * 3_600_000;
    now = t + 1000;
    const readings: Reading[] = [];
    const running = hour % 24 >= 7 && hour % 24 < 18;
    for (const id of ids) {
      readings.push(
        { boreholeId: id, kind: 'pump', tsMs: t, values: { running, current_a: running ? 4.2 : 0, voltage_v: 230, fault: null } },
        { boreholeId: id, kind: 'flow', tsMs: t, values: { rate_lpm: running ? 55 : 0, total_m3: hour * 2 } },
        { boreholeId: id, kind: 'level', tsMs: t, values: { depth_m: running ? 38 : 31 } },
      );
    }
    engine.accept(readings);
  }
  gc?.();
  const after = process.memoryUsage();
  let persisted = 0;
  let largest = 0;
  for (const id of ids) {
    const size = JSON.stringify(engine.stateOf(id)).length;
    persisted += size;
    largest = Math.max(largest, size);
  }
  process.stdout.write(
    `${String(boreholes).padStart(7)} boreholes: heap +${mb(after.heapUsed - before.heapUsed)} MB ` +
      `(${Math.round((after.heapUsed - before.heapUsed) / boreholes)} B/borehole), ` +
      `rss ${mb(after.rss)} MB total, state JSON mean ${Math.round(persisted / boreholes)} B, max ${largest} B\n`,
  );
  store.close();
}

for (const n of counts.length > 0 ? counts : [10_000, 100_000]) measure(n);
