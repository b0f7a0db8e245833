/**
 * Two-way SMS (CONTRACT.md section 5): commands from registered phones, wired as service.ts wires
 * them (the real rules engine over a real SQLite store, answers through the real dispatcher to a
 * recording gateway). Alert 17 of 'khabou' is the alert people answer about; alert 18 belongs to
 * another village.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAlert, type Alert } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import { SmsDispatcher } from '../../../src/notify/dispatcher.js';
import { InboundSmsHandler, REPLIES_PER_HOUR, type InboundSmsOptions } from '../../../src/notify/replies.js';
import type { InboundSms } from '../../../src/notify/gateways/inbound.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { boreholeEntry, RecordingGateway } from './support.js';

const BAMAKO = 'Africa/Bamako';
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** 2026-02-05 10:42 in Bamako (= UTC). */
const T0_MS = Date.UTC(2026, 1, 5, 10, 42);

const PRESIDENT = '+22376000001';
const TREASURER = '+22366000002';
const TECHNICIAN = '+22379000003';
const REGIONAL = '+22321520004';
const SIRAKORO_MEMBER = '+22376000011';
const SIRAKORO_TECHNICIAN = '+22379000013';
const STRANGER = '+22370999999';

const REGISTRY: Registry = buildRegistry(
  registryFileSchema.parse({
    boreholes: [
      boreholeEntry({
        committee: {
          language: 'fr',
          contacts: [
            { name: 'President du comite', phone: PRESIDENT },
            { name: 'Tresoriere', phone: TREASURER },
          ],
        },
        technician: { name: 'Technicien de Kayes', phone: TECHNICIAN },
      }),
      {
        id: 'sirakoro',
        name: 'Forage de Sirakoro',
        village: 'Sirakoro',
        commune: 'Kayes',
        region: 'Kayes',
        location: { lat: 14.5, lon: -11.5 },
        pump: { rated_flow_lpm: 40, intake_depth_m: 45 },
        committee: { language: 'bm', contacts: [{ name: 'Presidente', phone: SIRAKORO_MEMBER }] },
        technician: { name: 'Technicien de Sirakoro', phone: SIRAKORO_TECHNICIAN },
      },
    ],
    escalation: { Kayes: { name: "Direction regionale de l'hydraulique", phone: REGIONAL } },
  }),
);

interface Harness {
  store: SqliteStore;
  rules: RulesEngine;
  gateway: RecordingGateway;
  dispatcher: SmsDispatcher;
  handler: InboundSmsHandler;
  clock: { nowMs: number };
  /** Alert 17, open, pump_fault on khabou. */
  alert17: Alert;
  /** Alert 18, open, pump_fault on sirakoro. */
  alert18: Alert;
  /** Handles an SMS and lets the dispatcher send the answer. */
  receive(from: string, text: string): Promise<string>;
  /** Handles an SMS as the gateway delivered it, at the clock's time, and lets the answer go. */
  deliver(sms: InboundSms): Promise<string>;
  events: { duplicates: number; suppressed: number };
  /** What the handler was built with: a new handler on the same store is a restarted service. */
  options: InboundSmsOptions;
}

let h: Harness;

beforeEach(() => {
  const store = new SqliteStore(':memory:');
  const clock = { nowMs: T0_MS };
  const now = (): number => clock.nowMs;
  const log = pino({ level: 'silent' });
  const events = { duplicates: 0, suppressed: 0 };
  const gateway = new RecordingGateway();
  const dispatcher = new SmsDispatcher({ store, gateway, registry: REGISTRY, timeZone: BAMAKO, now, log, pollIntervalMs: HOUR_MS });
  const rules = new RulesEngine({ registry: REGISTRY, store, now, log, writeAlertPoints: () => undefined });
  // Sixteen alerts from last year, so that today's are 17 and 18, as in the contract's example.
  for (let i = 0; i < 16; i += 1) {
    store.insertAlert({ ...openAlert('sirakoro', 'offline', 'warning', 'old', T0_MS - 400 * 24 * HOUR_MS + i, true), state: 'resolved', resolvedAtMs: T0_MS - 399 * 24 * HOUR_MS, resolvedBy: 'rules' });
  }
  const alert17 = store.insertAlert(openAlert('khabou', 'pump_fault', 'critical', 'dry_run', T0_MS, true, 'dry_run'));
  const alert18 = store.insertAlert(openAlert('sirakoro', 'pump_fault', 'critical', 'overload', T0_MS, true, 'overload'));
  for (const alert of [alert17, alert18]) store.recordAlertChange({ kind: 'opened', alert, atMs: T0_MS, actor: 'rules', notify: true });
  const options: InboundSmsOptions = {
    registry: REGISTRY,
    now,
    log,
    defaultRegion: 'ML',
    events: { duplicate: () => (events.duplicates += 1), replySuppressed: () => (events.suppressed += 1) },
    // As in src/service.ts.
    ports: {
      alertByCode: (code) => store.alertByCode(code),
      unresolvedAlerts: (boreholeIds) => store.listAlerts({ state: 'unresolved', boreholeIds, limit: 1000, offset: 0 }).alerts,
      acknowledge: (id, actor) => rules.acknowledge(id, actor),
      resolve: (id, actor, note) => rules.resolve(id, actor, note),
      recordMaintenance: (boreholeId, actor, note) => rules.recordMaintenance(boreholeId, actor, note),
      lastHeardAtMs: () => T0_MS,
      record: (at, sender, text, outcome) => store.recordInboundSms(at, sender, text, outcome),
      reply: (to, text, replyTo) => dispatcher.enqueueReply(to, text, replyTo),
      claimInboundSms: (key, at, windowMs, retentionMs) => store.claimInboundSms(key, at, windowMs, retentionMs),
      releaseInboundSms: (key) => store.releaseInboundSms(key),
      repliesQueuedSince: (to, sinceMs) => store.repliesQueuedSince(to, sinceMs),
    },
  };
  const handler = new InboundSmsHandler(options);
  dispatcher.start();
  h = {
    store,
    rules,
    gateway,
    dispatcher,
    handler,
    clock,
    alert17,
    alert18,
    async receive(from, text) {
      clock.nowMs += MINUTE_MS;
      const outcome = handler.handle({ from, text });
      await dispatcher.wake();
      return outcome;
    },
    async deliver(sms) {
      const outcome = handler.handle(sms);
      await dispatcher.wake();
      return outcome;
    },
    events,
    options,
  };
});

afterEach(async () => {
  await h.dispatcher.stop();
  h.rules.stop();
  h.store.close();
});

const state = (alert: Alert) => h.store.alertById(alert.id);
const history = (alert: Alert) => h.store.alertHistory(alert.id).map((e) => ({ kind: e.kind, actor: e.actor, note: e.note }));
const answersTo = (phone: string) => h.gateway.delivered.filter((m) => m.to === phone).map((m) => m.text);

describe('InboundSmsHandler', () => {
  it('sets up alerts 17 and 18', () => {
    expect([h.alert17.code, h.alert18.code]).toEqual([17, 18]);
  });

  describe('OK <code>', () => {
    it('acknowledges alert 17 from a committee phone, records the number, and confirms to the sender', async () => {
      expect(await h.receive(PRESIDENT, 'OK 17')).toBe('acknowledged');
      expect(state(h.alert17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}`, acknowledgedAtMs: h.clock.nowMs });
      expect(history(h.alert17)).toEqual([
        { kind: 'opened', actor: 'rules', note: null },
        { kind: 'acknowledged', actor: `sms:${PRESIDENT}`, note: null },
      ]);
      expect(answersTo(PRESIDENT)).toEqual(['OK 17 recu, merci. Forage de Khabou: panne pompe.']);
      // Nobody else hears of it.
      expect(h.gateway.delivered).toHaveLength(1);
    });

    it.each(['ok  17', 'Ok17', 'OK 17.', ' ok 17 ', 'OK 17 merci', 'oui 17'])('understands %j', async (text) => {
      expect(await h.receive(TREASURER, text)).toBe('acknowledged');
      expect(state(h.alert17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${TREASURER}` });
      expect(answersTo(TREASURER)).toEqual(['OK 17 recu, merci. Forage de Khabou: panne pompe.']);
    });

    it('answers in the committee language', async () => {
      expect(await h.receive(SIRAKORO_MEMBER, 'ok 18')).toBe('acknowledged');
      expect(answersTo(SIRAKORO_MEMBER)).toEqual(['OK 18 sorola, i ni ce. Forage de Sirakoro: pompe tinyèna.']);
    });

    it('does nothing and answers nothing when the number is not in the registry', async () => {
      expect(await h.receive(STRANGER, 'OK 17')).toBe('ignored_unknown_number');
      expect(state(h.alert17)).toMatchObject({ state: 'open', acknowledgedBy: null });
      expect(history(h.alert17)).toEqual([{ kind: 'opened', actor: 'rules', note: null }]);
      expect(h.gateway.delivered).toEqual([]);
      expect(h.store.listSms(10)).toEqual([]);
    });

    it("answers OK for another village's alert like an unknown alert, and changes nothing", async () => {
      expect(await h.receive(PRESIDENT, 'OK 18')).toBe('unknown_alert');
      expect(await h.receive(PRESIDENT, 'OK 999')).toBe('unknown_alert');
      expect(state(h.alert18)).toMatchObject({ state: 'open', acknowledgedBy: null });
      expect(history(h.alert18)).toEqual([{ kind: 'opened', actor: 'rules', note: null }]);
      const [other, unknown] = answersTo(PRESIDENT);
      expect(other).toBe("Pas d'alerte ouverte avec le numero 18. Envoyez ETAT pour voir les alertes.");
      // Word for word what a code that does not exist gets.
      expect(other?.replace('18', 'N')).toBe(unknown?.replace('999', 'N'));
    });

    it('acknowledging twice changes nothing the second time and still confirms', async () => {
      await h.receive(PRESIDENT, 'OK 17');
      expect(await h.receive(TREASURER, 'OK 17')).toBe('acknowledged');
      expect(state(h.alert17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}` });
      expect(history(h.alert17).filter((e) => e.kind === 'acknowledged')).toHaveLength(1);
      expect(answersTo(TREASURER)).toHaveLength(1);
    });
  });

  describe('REPARE <code> [note]', () => {
    it('from the technician resolves the alert and records a maintenance visit with the note', async () => {
      expect(await h.receive(TECHNICIAN, 'REPARE 17 pompe changee')).toBe('repaired');
      expect(state(h.alert17)).toMatchObject({ state: 'resolved', resolvedBy: `sms:${TECHNICIAN}`, resolvedAtMs: h.clock.nowMs });
      expect(history(h.alert17).at(-1)).toEqual({ kind: 'resolved', actor: `sms:${TECHNICIAN}`, note: 'pompe changee' });
      const records = h.store.listMaintenance('khabou');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ boreholeId: 'khabou', by: `sms:${TECHNICIAN}`, atMs: h.clock.nowMs });
      expect(records[0]?.note).toContain('pompe changee');
      expect(answersTo(TECHNICIAN)).toEqual(['REPARE 17 recu, merci. Forage de Khabou: reparation notee (panne pompe), alerte terminee.']);
    });

    it('keeps the note as typed, accents included, whatever the case and accents of the command', async () => {
      expect(await h.receive(TECHNICIAN, 'réparé 17 pompe changée')).toBe('repaired');
      expect(history(h.alert17).at(-1)?.note).toBe('pompe changée');
      expect(h.store.listMaintenance('khabou')[0]?.note).toContain('pompe changée');
    });

    it('from a committee member is not allowed and changes nothing', async () => {
      expect(await h.receive(PRESIDENT, 'REPARE 17 pompe changee')).toBe('not_allowed');
      expect(state(h.alert17)).toMatchObject({ state: 'open', resolvedBy: null });
      expect(history(h.alert17)).toEqual([{ kind: 'opened', actor: 'rules', note: null }]);
      expect(h.store.listMaintenance('khabou')).toEqual([]);
      expect(answersTo(PRESIDENT)).toEqual(['Seul le technicien peut envoyer REPARE. Pour confirmer une alerte, envoyez OK et son numero.']);
    });

    it("from another borehole's technician is answered like an unknown alert and changes nothing", async () => {
      expect(await h.receive(SIRAKORO_TECHNICIAN, 'REPARE 17')).toBe('unknown_alert');
      expect(state(h.alert17)?.state).toBe('open');
      expect(h.store.listMaintenance('khabou')).toEqual([]);
    });

    it('from an unknown number does nothing and answers nothing', async () => {
      expect(await h.receive(STRANGER, 'REPARE 17 pompe changee')).toBe('ignored_unknown_number');
      expect(state(h.alert17)?.state).toBe('open');
      expect(h.store.listMaintenance('khabou')).toEqual([]);
      expect(h.gateway.delivered).toEqual([]);
    });
  });

  describe('ETAT', () => {
    it("answers with the sender's boreholes only", async () => {
      expect(await h.receive(PRESIDENT, 'ETAT')).toBe('status');
      expect(answersTo(PRESIDENT)).toEqual(['Khabou: panne pompe (OK 17).']);
    });

    it('answers a regional contact with every borehole of the region', async () => {
      expect(await h.receive(REGIONAL, 'état')).toBe('status');
      const [answer] = answersTo(REGIONAL);
      expect(answer).toContain('Khabou: panne pompe (OK 17)');
      expect(answer).toContain('Sirakoro: panne pompe (OK 18)');
    });

    it('shows a borehole without alert as normal once its alert is repaired', async () => {
      await h.receive(TECHNICIAN, 'REPARE 17');
      expect(await h.receive(TREASURER, 'Etat?')).toBe('status');
      expect(answersTo(TREASURER)).toEqual(['Khabou: normal.']);
    });

    it('answers nothing to an unknown number', async () => {
      expect(await h.receive(STRANGER, 'ETAT')).toBe('ignored_unknown_number');
      expect(h.gateway.delivered).toEqual([]);
    });
  });

  it('answers anything else from a registered number with the commands', async () => {
    expect(await h.receive(PRESIDENT, 'Bonjour, la pompe ne marche pas')).toBe('help');
    expect(answersTo(PRESIDENT)).toEqual([
      "Commandes: OK <numero> pour confirmer, PANNE <message> pour signaler, ETAT pour l'etat. Technicien: ARRIVE <numero>, PIECE <numero> <piece>, REPARE <numero>.",
    ]);
    expect(state(h.alert17)?.state).toBe('open');
  });

  describe('a gateway that delivers an SMS again, or spells the sender its own way', () => {
    it('matches 0022376000001, 22376000001, +223 76 00 00 01 and 76000001 to the president, and answers +22376000001', async () => {
      const outcomes = [];
      for (const from of ['0022376000001', '22376000001', '+223 76 00 00 01', '76000001']) outcomes.push(await h.receive(from, 'ETAT'));
      expect(outcomes).toEqual(['status', 'status', 'status', 'status']);
      expect(h.gateway.delivered.map((m) => m.to)).toEqual([PRESIDENT, PRESIDENT, PRESIDENT, PRESIDENT]);
    });

    it('records one REPARE and sends one confirmation when the same message id arrives twice, even after a restart', async () => {
      h.clock.nowMs += MINUTE_MS;
      const sms = { from: '0022379000003', text: 'REPARE 17 roulement', id: 'ATXid_5a6e2b1c' };
      expect(await h.deliver(sms)).toBe('repaired');
      h.clock.nowMs += 10 * MINUTE_MS;
      expect(await h.deliver({ ...sms, from: TECHNICIAN })).toBe('duplicate');
      // A restarted service remembers what it handled: the keys are in SQLite.
      h.clock.nowMs += 20 * HOUR_MS;
      expect(new InboundSmsHandler(h.options).handle(sms)).toBe('duplicate');
      await h.dispatcher.wake();
      expect(h.store.listMaintenance('khabou')).toHaveLength(1);
      expect(answersTo(TECHNICIAN)).toHaveLength(1);
      expect(h.events.duplicates).toBe(2);
    });

    it('takes the same sender and text within a minute for one SMS when the gateway gives no id, and a minute later for a new one', async () => {
      h.clock.nowMs += MINUTE_MS;
      expect(await h.deliver({ from: PRESIDENT, text: 'OK 17' })).toBe('acknowledged');
      h.clock.nowMs += 30_000;
      expect(await h.deliver({ from: '22376000001', text: 'OK 17' })).toBe('duplicate');
      h.clock.nowMs += 31_000;
      expect(await h.deliver({ from: PRESIDENT, text: 'OK 17' })).toBe('acknowledged');
      expect(answersTo(PRESIDENT)).toHaveLength(2);
    });

    it('forgets message ids after two days, so the table stays bounded', async () => {
      h.clock.nowMs += MINUTE_MS;
      const sms = { from: PRESIDENT, text: 'ETAT', id: 'gw-1' };
      expect(await h.deliver(sms)).toBe('status');
      h.clock.nowMs += 48 * HOUR_MS + MINUTE_MS;
      // Claiming another SMS drops the old keys on the way.
      expect(await h.deliver({ ...sms, id: 'gw-2' })).toBe('status');
      expect(await h.deliver(sms)).toBe('status');
    });

    it(`answers a sender at most ${REPLIES_PER_HOUR} times an hour; past that its commands still act, silently, and are counted`, async () => {
      for (let i = 0; i < REPLIES_PER_HOUR; i += 1) await h.receive(PRESIDENT, 'ETAT');
      // An auto-responder answering each of our replies, every minute.
      expect(await h.receive(PRESIDENT, 'Je suis absent')).toBe('help');
      expect(await h.receive(PRESIDENT, 'OK 17')).toBe('acknowledged');
      expect(state(h.alert17)?.state).toBe('acknowledged');
      expect(answersTo(PRESIDENT)).toHaveLength(REPLIES_PER_HOUR);
      expect(h.events.suppressed).toBe(2);
      // Another phone is not held back by it.
      expect(await h.receive(TREASURER, 'ETAT')).toBe('status');
      expect(answersTo(TREASURER)).toHaveLength(1);
      // An hour after the first replies, the president is answered again.
      h.clock.nowMs += HOUR_MS;
      await h.receive(PRESIDENT, 'ETAT');
      expect(answersTo(PRESIDENT)).toHaveLength(REPLIES_PER_HOUR + 1);
    });

    it('acts on a gateway retry when the first delivery could not be handled', async () => {
      h.clock.nowMs += MINUTE_MS;
      const failing = new InboundSmsHandler({ ...h.options, ports: { ...h.options.ports, acknowledge: () => { throw new Error('disk full'); } } });
      const sms = { from: PRESIDENT, text: 'OK 17', id: 'gw-7' };
      expect(() => failing.handle(sms)).toThrow('disk full');
      expect(await h.deliver(sms)).toBe('acknowledged');
    });
  });
});
