/**
 * Alert changes become planned messages, and critical alerts nobody acknowledged become an
 * escalation to the technician and the region's contact, once. A real SQLite store, a fake clock,
 * the real dispatcher and a recording gateway; escalation checks are called directly (the
 * notifier's own timer is exercised once, with fake timers).
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { acknowledge, openAlert, resolve, type Alert, type AlertChange } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import { SmsDispatcher } from '../../../src/notify/dispatcher.js';
import { Notifier } from '../../../src/notify/notifier.js';
import type { RuleId, Severity } from '../../../src/rules/types.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { boreholeEntry, RecordingGateway } from './support.js';

const BAMAKO = 'Africa/Bamako';
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** 2026-02-05 10:00 in Bamako (= UTC). */
const T0_MS = Date.UTC(2026, 1, 5, 10, 0);

const KHABOU_COMMITTEE = ['+22376000001', '+22366000002'];
const KHABOU_TECHNICIAN = '+22379000003';
const KAYES_CONTACT = '+22321520004';
const SIRAKORO_COMMITTEE = '+22376000011';
const SIRAKORO_TECHNICIAN = '+22379000013';
/** khabou escalates after 30 minutes; sirakoro has the default 120 and no regional contact. */
const KHABOU_ESCALATE_MINUTES = 30;

const REGISTRY: Registry = buildRegistry(
  registryFileSchema.parse({
    boreholes: [
      boreholeEntry({
        committee: { language: 'bm', contacts: KHABOU_COMMITTEE.map((phone, i) => ({ name: `Membre ${i}`, phone })) },
        technician: { name: 'Technicien de Kayes', phone: KHABOU_TECHNICIAN },
        rules: { escalate_after_minutes: KHABOU_ESCALATE_MINUTES },
      }),
      {
        id: 'sirakoro',
        name: 'Forage de Sirakoro',
        village: 'Sirakoro',
        commune: 'Kati',
        region: 'Koulikoro',
        location: { lat: 12.6, lon: -8.1 },
        pump: { rated_flow_lpm: 40, intake_depth_m: 45 },
        committee: { language: 'fr', contacts: [{ name: 'Presidente', phone: SIRAKORO_COMMITTEE }] },
        technician: { name: 'Technicien de Kati', phone: SIRAKORO_TECHNICIAN },
      },
    ],
    escalation: { Kayes: { name: "Direction regionale de l'hydraulique", phone: KAYES_CONTACT } },
  }),
);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function harness(store = new SqliteStore(':memory:')) {
  const clock = { nowMs: T0_MS };
  const gateway = new RecordingGateway();
  const log = pino({ level: 'silent' });
  const dispatcher = new SmsDispatcher({ store, gateway, registry: REGISTRY, timeZone: BAMAKO, now: () => clock.nowMs, log, pollIntervalMs: HOUR_MS });
  dispatcher.start();
  const notifier = new Notifier({ registry: REGISTRY, dispatcher, store, timeZone: BAMAKO, now: () => clock.nowMs, log });
  cleanups.push(() => store.close(), () => dispatcher.stop(), () => notifier.stop());
  /** Runs the escalation check at `atMs` and lets the dispatcher send what it planned. */
  const checkAt = async (atMs: number): Promise<void> => {
    clock.nowMs = atMs;
    notifier.checkEscalations();
    await dispatcher.wake();
  };
  return { store, clock, gateway, dispatcher, notifier, checkAt };
}

type Harness = ReturnType<typeof harness>;

function open(h: Harness, options: { boreholeId?: string; rule?: RuleId; severity?: Severity; atMs?: number; live?: boolean } = {}): Alert {
  const { boreholeId = 'khabou', rule = 'pump_fault', severity = 'critical', atMs = T0_MS, live = true } = options;
  return h.store.insertAlert(openAlert(boreholeId, rule, severity, 'detail', atMs, live, rule === 'pump_fault' ? 'dry_run' : null));
}

const change = (kind: AlertChange['kind'], alert: Alert, atMs: number): AlertChange => ({ kind, alert, atMs, actor: 'rules', notify: !alert.historical });

describe('Notifier', () => {
  describe('alert changes', () => {
    it('sends a critical alert to the committee and the technician at once', async () => {
      const h = harness();
      const alert = open(h);
      h.notifier.onAlertChange(change('opened', alert, T0_MS));
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([...KHABOU_COMMITTEE, KHABOU_TECHNICIAN].sort());
    });

    it("plans a warning at 23:00 with the service's time zone: the technician now, the committee in the morning", async () => {
      const h = harness();
      const nightMs = Date.UTC(2026, 1, 5, 23, 0);
      h.clock.nowMs = nightMs;
      const warning = open(h, { rule: 'offline', severity: 'warning', atMs: nightMs });
      h.notifier.onAlertChange(change('opened', warning, nightMs));
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to)).toEqual([KHABOU_TECHNICIAN]);
      h.clock.nowMs = Date.UTC(2026, 1, 6, 7, 0);
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([...KHABOU_COMMITTEE, KHABOU_TECHNICIAN].sort());
    });

    it('ignores a change for a borehole that is not in the registry', async () => {
      const h = harness();
      const stray = { ...open(h), boreholeId: 'removed-borehole' };
      h.notifier.onAlertChange(change('opened', stray, T0_MS));
      await h.dispatcher.wake();
      expect(h.gateway.delivered).toEqual([]);
    });
  });

  describe('escalation', () => {
    it("escalates an unacknowledged critical alert after escalate_after_minutes to the technician and the region's contact, once", async () => {
      const h = harness();
      const alert = open(h);
      await h.checkAt(T0_MS + KHABOU_ESCALATE_MINUTES * MINUTE_MS - 1);
      expect(h.gateway.delivered).toEqual([]);

      await h.checkAt(T0_MS + KHABOU_ESCALATE_MINUTES * MINUTE_MS);
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([KHABOU_TECHNICIAN, KAYES_CONTACT].sort());
      const expected = `URGENT Forage de Khabou: panne pompe (marche a sec) depuis 10:00, alerte non confirmee. Repondre OK ${alert.code} pour confirmer.`;
      expect(h.gateway.delivered.map((m) => m.text)).toEqual([expected, expected]);

      for (const later of [KHABOU_ESCALATE_MINUTES + 1, 2 * 60, 24 * 60]) await h.checkAt(T0_MS + later * MINUTE_MS);
      expect(h.gateway.delivered).toHaveLength(2);
    });

    it('escalates once even across a restart of the notifier', async () => {
      const h = harness();
      open(h);
      await h.checkAt(T0_MS + HOUR_MS);
      expect(h.gateway.delivered).toHaveLength(2);
      const restarted = new Notifier({
        registry: REGISTRY,
        dispatcher: h.dispatcher,
        store: h.store,
        timeZone: BAMAKO,
        now: () => T0_MS + 2 * HOUR_MS,
        log: pino({ level: 'silent' }),
      });
      restarted.checkEscalations();
      await h.dispatcher.wake();
      expect(h.gateway.delivered).toHaveLength(2);
    });

    it('does not escalate an alert acknowledged in time', async () => {
      const h = harness();
      const alert = open(h);
      h.store.updateAlert(acknowledge(alert, 'sms:+22376000001', T0_MS + 10 * MINUTE_MS));
      for (const later of [KHABOU_ESCALATE_MINUTES, 2 * 60, 24 * 60]) await h.checkAt(T0_MS + later * MINUTE_MS);
      expect(h.gateway.delivered).toEqual([]);
    });

    it('does not escalate a resolved alert nor a historical one', async () => {
      const h = harness();
      h.store.updateAlert(resolve(open(h), 'rules', T0_MS + MINUTE_MS));
      open(h, { rule: 'no_flow', live: false });
      await h.checkAt(T0_MS + DAY_MS);
      expect(h.gateway.delivered).toEqual([]);
    });

    it('never escalates a warning', async () => {
      const h = harness();
      open(h, { rule: 'offline', severity: 'warning' });
      open(h, { rule: 'low_water', severity: 'warning' });
      for (const later of [KHABOU_ESCALATE_MINUTES, 2 * 60, 7 * 24 * 60]) await h.checkAt(T0_MS + later * MINUTE_MS);
      expect(h.gateway.delivered).toEqual([]);
    });

    it("uses each borehole's own delay, and the technician alone where the region names no contact", async () => {
      const h = harness();
      open(h, { boreholeId: 'sirakoro' });
      await h.checkAt(T0_MS + 120 * MINUTE_MS - 1);
      expect(h.gateway.delivered).toEqual([]);
      await h.checkAt(T0_MS + 120 * MINUTE_MS);
      expect(h.gateway.delivered.map((m) => m.to)).toEqual([SIRAKORO_TECHNICIAN]);
    });

    it('cancels an escalation that could not go out before the alert resolved', async () => {
      const h = harness();
      const alert = open(h);
      await h.dispatcher.stop(); // the dispatcher is down when the escalation is planned
      h.clock.nowMs = T0_MS + HOUR_MS;
      h.notifier.checkEscalations();
      h.store.updateAlert(resolve(alert, 'rules', h.clock.nowMs + MINUTE_MS));
      h.clock.nowMs += 2 * MINUTE_MS;
      h.dispatcher.start();
      await h.dispatcher.wake();
      expect(h.gateway.delivered).toEqual([]);
      expect(h.store.listSms(10).map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
    });

    it('checks on its own timer once started', async () => {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      const h = harness();
      open(h);
      h.notifier.start();
      h.clock.nowMs = T0_MS + HOUR_MS;
      vi.advanceTimersByTime(10_000);
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([KHABOU_TECHNICIAN, KAYES_CONTACT].sort());
    });

    // Regression (src/notify/notifier.ts checkEscalations, line `now - alert.openedAtMs`): the delay is
    // counted from when the alert opened, not from when it became critical, so a low_water warning
    // open for hours that reaches the intake is escalated at once, before anyone could answer.
    it('counts the delay from when a warning became critical', async () => {
      const h = harness();
      const warning = open(h, { rule: 'low_water', severity: 'warning' });
      const criticalAtMs = T0_MS + 3 * HOUR_MS;
      h.clock.nowMs = criticalAtMs;
      const critical: Alert = { ...warning, severity: 'critical' };
      h.store.updateAlert(critical);
      h.store.recordAlertChange(change('escalated', critical, criticalAtMs));
      h.notifier.onAlertChange(change('escalated', critical, criticalAtMs));
      await h.dispatcher.wake();
      const told = h.gateway.delivered.length;

      await h.checkAt(criticalAtMs + MINUTE_MS);
      expect(h.gateway.delivered.slice(told).map((m) => m.to)).toEqual([]);
      await h.checkAt(criticalAtMs + KHABOU_ESCALATE_MINUTES * MINUTE_MS);
      expect(h.gateway.delivered.slice(told).map((m) => m.to).sort()).toEqual([KHABOU_TECHNICIAN, KAYES_CONTACT].sort());
    });
  });

  // Issue 13: a store-and-forward batch arrives with a fault that began two hours ago in event
  // time and still holds. The committee and technician hear of it now; before, the check 10 s
  // later found it "unacknowledged for 2 h" and escalated it to the regional directorate at once.
  describe('an alert from a late batch', () => {
    it('is escalated escalate_after_minutes after people were first told, not after the event time of the fault', async () => {
      const h = harness();
      const faultAtMs = T0_MS - 2 * HOUR_MS;
      const alert = open(h, { atMs: faultAtMs });
      h.store.recordAlertChange(change('opened', alert, faultAtMs));
      h.notifier.onAlertChange(change('opened', alert, faultAtMs));
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([...KHABOU_COMMITTEE, KHABOU_TECHNICIAN].sort());
      const told = h.gateway.delivered.length;

      await h.checkAt(T0_MS + 10_000);
      await h.checkAt(T0_MS + KHABOU_ESCALATE_MINUTES * MINUTE_MS - 1);
      expect(h.gateway.delivered.slice(told)).toEqual([]);
      await h.checkAt(T0_MS + KHABOU_ESCALATE_MINUTES * MINUTE_MS);
      expect(h.gateway.delivered.slice(told).map((m) => m.to).sort()).toEqual([KHABOU_TECHNICIAN, KAYES_CONTACT].sort());
    });

    it('counts from when the message was queued even while the gateway is down', async () => {
      const h = harness();
      const alert = open(h, { atMs: T0_MS - 2 * HOUR_MS });
      h.gateway.failNext(1000, { retryable: true });
      h.notifier.onAlertChange(change('opened', alert, alert.openedAtMs));
      await h.checkAt(T0_MS + MINUTE_MS);
      expect(h.store.listSms(10).filter((m) => m.kind === 'escalation')).toEqual([]);
      await h.checkAt(T0_MS + KHABOU_ESCALATE_MINUTES * MINUTE_MS);
      expect(h.store.listSms(10).filter((m) => m.kind === 'escalation').map((m) => m.recipient).sort()).toEqual([KHABOU_TECHNICIAN, KAYES_CONTACT].sort());
    });
  });
});
