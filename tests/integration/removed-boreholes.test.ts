/**
 * A borehole removed from the registry keeps no alert open for ever: at start-up its unresolved
 * alerts are resolved by the registry (reason recorded), journaled as alert points for Grafana,
 * never sent to anyone, and `alerts_unresolved` counts only the boreholes that still exist.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { openAlert } from '../../src/alerts/alert.js';
import { startService, type RunningService } from '../../src/service.js';
import { SqliteStore } from '../../src/storage/sqlite-store.js';
import { tempDir, testConfig, testRegistry } from '../support/fixtures.js';
import { freePort } from '../support/servers.js';

const silent = pino({ level: 'silent' });
let service: RunningService | null = null;

afterAll(async () => {
  await service?.stop();
});

/** The `alert` points of one borehole in the embedded store: state values in time order. */
function alertStates(dataDir: string, boreholeId: string): string[] {
  const db = new Database(join(dataDir, 'telemetry.db'), { readonly: true });
  try {
    return db
      .prepare<[string], { value: string }>(
        `SELECT s.value FROM samples s JOIN streams t ON t.id = s.stream
          WHERE t.measurement = 'alert' AND t.field = 'state' AND t.borehole = ? ORDER BY s.ts_ms`,
      )
      .all(boreholeId)
      .map((row) => row.value);
  } finally {
    db.close();
  }
}

it('resolves at start-up the alerts of a borehole no longer in the registry, without an SMS, and stops counting them', async () => {
  const dataDir = tempDir('removed-boreholes');
  const openedAtMs = Date.now() - 3 * 86_400_000;
  const seeded = new SqliteStore(join(dataDir, 'state.db'));
  const gone = seeded.insertAlert(openAlert('rm-gone', 'no_flow', 'critical', 'pompe en marche sans débit', openedAtMs, true));
  const kept = seeded.insertAlert(openAlert('rm-kept', 'no_flow', 'critical', 'pompe en marche sans débit', openedAtMs, true));
  seeded.close();

  const config = testConfig({ DATA_DIR: dataDir, MQTT_EMBEDDED_PORT: String(await freePort()) });
  service = await startService({ config, registry: testRegistry(['rm-kept']), log: silent });

  const metrics = (await service.app.inject('/metrics')).body;
  expect(metrics).toMatch(/^alerts_unresolved\{severity="critical"\} 1$/m);
  expect(metrics).toMatch(/^alert_changes_total\{kind="resolved",severity="critical"\} 1$/m);
  // The alert point reaches the time-series store, for the Grafana annotation.
  await expect.poll(() => alertStates(dataDir, 'rm-gone'), { timeout: 15_000 }).toEqual(['resolved']);
  await service.stop();
  service = null;

  const store = new SqliteStore(join(dataDir, 'state.db'));
  try {
    expect(store.alertById(gone.id)).toMatchObject({ state: 'resolved', resolvedBy: 'registry' });
    expect(store.alertHistory(gone.id).at(-1)).toMatchObject({ kind: 'resolved', actor: 'registry', note: 'borehole removed from the registry' });
    expect(store.alertById(kept.id)?.state).toBe('open');
    // Nobody is told: the outbox holds nothing about the removed borehole's alert.
    expect(store.listSms(100).filter((sms) => sms.alertId === gone.id)).toEqual([]);
  } finally {
    store.close();
  }
});
