/**
 * The timer's tick over a country (issue 19): the silence of every borehole is still found, and
 * the event loop turns between slices of boreholes instead of waiting for all of them.
 */
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import type { AlertChange } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema } from '../../../src/config/registry.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { registryEntry } from '../../support/fixtures.js';

const N = 3_000;
const T0_MS = Date.UTC(2026, 11, 7, 12);
const MINUTE_MS = 60_000;

let engine: RulesEngine | undefined;
let store: SqliteStore | undefined;
afterEach(() => {
  engine?.stop();
  store?.close();
});

it('finds every silent borehole of 3,000, one slice at a time, the event loop turning between slices', async () => {
  const ids = Array.from({ length: N }, (_, index) => `bh-${String(index).padStart(5, '0')}`);
  const registry = buildRegistry(registryFileSchema.parse({ boreholes: ids.map((id, index) => registryEntry(id, index)) }));
  store = new SqliteStore(':memory:');
  const clock = { nowMs: T0_MS };
  // A slice of 250 boreholes, then a turn of the loop: every slice shows.
  engine = new RulesEngine({ registry, store, now: () => clock.nowMs, log: pino({ level: 'silent' }), writeAlertPoints: () => {}, tickIntervalMs: 20, tickSliceBudgetMs: 0 });
  engine.start();
  engine.accept(ids.map((boreholeId) => ({ boreholeId, kind: 'flow' as const, tsMs: T0_MS, values: { rate_lpm: 40 } })));
  const offline: AlertChange[] = [];
  let openedWhenTheLoopTurned: number | null = null;
  engine.onChange((change) => {
    if (change.kind !== 'opened' || change.alert.rule !== 'offline') return;
    offline.push(change);
    // Scheduled during the round: it runs at the next turn of the loop, before the round ends
    // only if the round lets the loop turn.
    if (offline.length === 1) setImmediate(() => (openedWhenTheLoopTurned = offline.length));
  });
  // Every borehole silent for longer than its offline_minutes.
  clock.nowMs = T0_MS + 3 * 60 * MINUTE_MS;
  await expect.poll(() => offline.length, { timeout: 10_000, interval: 20 }).toBe(N);
  expect(new Set(offline.map((change) => change.alert.boreholeId)).size).toBe(N);
  expect(openedWhenTheLoopTurned).toBeGreaterThan(0);
  expect(openedWhenTheLoopTurned).toBeLessThan(N);
  // Rounds do not overlap or repeat an alert.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(offline).toHaveLength(N);
});
