/**
 * Two-way SMS (CONTRACT.md sections 5 and 9): commands from registered phones, wired as
 * service.ts wires them (the real rules engine and incident desk over a real SQLite store,
 * answers through the real dispatcher to a recording gateway, tests/unit/incidents/harness.ts).
 * Alert 17 of 'khabou' opened while the service was down; the desk's reconcile at start makes it
 * incident 17, the one people answer about. Incident 18 belongs to another village.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAlert, type Alert } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import type { Incident } from '../../../src/incidents/incident.js';
import { InboundSmsHandler, REPLIES_PER_HOUR } from '../../../src/notify/replies.js';
import { renderCommandAnswer } from '../../../src/notify/incident-texts.js';
import type { InboundSms } from '../../../src/notify/gateways/inbound.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { startDesk, type Desk } from '../incidents/harness.js';
import { boreholeEntry } from './support.js';

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
      boreholeEntry(),
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
    // No reading comes in these tests: silence is not what they are about.
    rules: { group_seconds: 60, offline_minutes: 7 * 24 * 60 },
  }),
);

interface Harness {
  d: Desk;
  dir: string;
  /** Alert 17, open, pump_fault (dry_run) on khabou. */
  alert17: Alert;
  /** Alert 18, open, pump_fault on sirakoro. */
  alert18: Alert;
  /** Deliveries before the first command (the incidents' announcements). */
  announced: number;
}

let h: Harness;

beforeEach(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'replies-'));
  const path = join(dir, 'ops.sqlite');
  // The alerts opened before the desk was there to see them: its start links them (reconcile).
  const seed = new SqliteStore(path);
  // Sixteen alerts from last year, so that today's are 17 and 18, as in the contract's example.
  for (let i = 0; i < 16; i += 1) {
    seed.insertAlert({ ...openAlert('sirakoro', 'offline', 'warning', 'old', T0_MS - 400 * 24 * HOUR_MS + i, true), state: 'resolved', resolvedAtMs: T0_MS - 399 * 24 * HOUR_MS, resolvedBy: 'rules' });
  }
  const alert17 = seed.insertAlert(openAlert('khabou', 'pump_fault', 'critical', 'dry_run', T0_MS, true, 'dry_run'));
  const alert18 = seed.insertAlert(openAlert('sirakoro', 'pump_fault', 'critical', 'overload', T0_MS, true, 'overload'));
  for (const alert of [alert17, alert18]) seed.recordAlertChange({ kind: 'opened', alert, atMs: T0_MS, actor: 'rules', notify: true });
  seed.close();
  const d = startDesk(REGISTRY, path, { nowMs: T0_MS });
  // The grouping wait ends: each village hears of its incident once.
  await d.advance(MINUTE_MS);
  h = { d, dir, alert17, alert18, announced: d.gateway.delivered.length };
});

afterEach(async () => {
  await h.d.stop();
  rmSync(h.dir, { recursive: true, force: true });
});

/** Handles an SMS a minute after the last one and lets the dispatcher send the answer. */
async function receive(from: string, text: string): Promise<string> {
  h.d.clock.nowMs += MINUTE_MS;
  return h.d.sms(from, text);
}

/** Handles an SMS as the gateway delivered it, at the clock's time, and lets the answer go. */
async function deliver(sms: InboundSms): Promise<string> {
  const outcome = h.d.inbound.handle(sms);
  await h.d.dispatcher.wake();
  return outcome;
}

const alertState = (alert: Alert) => h.d.store.alertById(alert.id);
const history = (alert: Alert) => h.d.store.alertHistory(alert.id).map((e) => ({ kind: e.kind, actor: e.actor }));
const incident = (code: number): Incident | undefined => h.d.incidents().find((i) => i.code === code);
/** What a phone received after the announcements: the answers to its commands. */
const answersTo = (phone: string) => h.d.gateway.delivered.slice(h.announced).filter((m) => m.to === phone).map((m) => m.text);
const after = () => h.d.gateway.delivered.slice(h.announced);

describe('InboundSmsHandler over the incident desk', () => {
  it('makes alerts 17 and 18 incidents 17 and 18, each announced once to its village', () => {
    expect([h.alert17.code, h.alert18.code]).toEqual([17, 18]);
    expect(incident(17)).toMatchObject({ boreholeId: 'khabou', cause: 'pump_fault', fault: 'dry_run', state: 'reported', alertIds: [h.alert17.id] });
    expect(incident(18)).toMatchObject({ boreholeId: 'sirakoro', state: 'reported' });
    for (const phone of [PRESIDENT, TREASURER, TECHNICIAN, SIRAKORO_MEMBER, SIRAKORO_TECHNICIAN]) expect(h.d.received(phone)).toHaveLength(1);
  });

  describe('OK <code>', () => {
    it('acknowledges incident 17 and its alert from a committee phone, records the number, and confirms to the sender', async () => {
      expect(await receive(PRESIDENT, 'OK 17')).toBe('acknowledged');
      expect(incident(17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}`, acknowledgedAtMs: h.d.clock.nowMs });
      expect(alertState(h.alert17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}`, acknowledgedAtMs: h.d.clock.nowMs });
      expect(history(h.alert17)).toEqual([
        { kind: 'opened', actor: 'rules' },
        { kind: 'acknowledged', actor: `sms:${PRESIDENT}` },
      ]);
      expect(answersTo(PRESIDENT)).toEqual(['OK 17 recu, merci. Forage de Khabou: panne pompe.']);
      // Nobody else hears of it.
      expect(after()).toHaveLength(1);
    });

    it.each(['ok  17', 'Ok17', 'OK 17.', ' ok 17 ', 'OK 17 merci', 'oui 17'])('understands %j', async (text) => {
      expect(await receive(TREASURER, text)).toBe('acknowledged');
      expect(incident(17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${TREASURER}` });
      expect(answersTo(TREASURER)).toEqual(['OK 17 recu, merci. Forage de Khabou: panne pompe.']);
    });

    it('answers in the committee language', async () => {
      expect(await receive(SIRAKORO_MEMBER, 'ok 18')).toBe('acknowledged');
      expect(answersTo(SIRAKORO_MEMBER)).toEqual([renderCommandAnswer('bm', { kind: 'acknowledged', boreholeName: 'Forage de Sirakoro', cause: 'pump_fault', code: 18 })]);
      expect(answersTo(SIRAKORO_MEMBER)[0]).not.toBe(renderCommandAnswer('fr', { kind: 'acknowledged', boreholeName: 'Forage de Sirakoro', cause: 'pump_fault', code: 18 }));
    });

    it('does nothing and answers nothing when the number is not in the registry', async () => {
      expect(await receive(STRANGER, 'OK 17')).toBe('ignored_unknown_number');
      expect(incident(17)).toMatchObject({ state: 'reported', acknowledgedBy: null });
      expect(alertState(h.alert17)).toMatchObject({ state: 'open', acknowledgedBy: null });
      expect(after()).toEqual([]);
      expect(h.d.store.listSms(100).filter((m) => m.recipient === STRANGER)).toEqual([]);
    });

    it("answers OK for another village's incident like an unknown one, and changes nothing", async () => {
      expect(await receive(PRESIDENT, 'OK 18')).toBe('unknown_incident');
      expect(await receive(PRESIDENT, 'OK 999')).toBe('unknown_incident');
      expect(incident(18)).toMatchObject({ state: 'reported', acknowledgedBy: null });
      expect(history(h.alert18)).toEqual([{ kind: 'opened', actor: 'rules' }]);
      const [other, unknown] = answersTo(PRESIDENT);
      expect(other).toBe(renderCommandAnswer('fr', { kind: 'unknown_incident', code: 18 }));
      // Word for word what a code that does not exist gets.
      expect(other?.replace('18', 'N')).toBe(unknown?.replace('999', 'N'));
    });

    it('acknowledging twice changes nothing the second time and still confirms', async () => {
      await receive(PRESIDENT, 'OK 17');
      const first = incident(17);
      expect(await receive(TREASURER, 'OK 17')).toBe('acknowledged');
      expect(incident(17)).toMatchObject({ state: 'acknowledged', acknowledgedBy: `sms:${PRESIDENT}`, acknowledgedAtMs: first?.acknowledgedAtMs });
      expect(history(h.alert17).filter((e) => e.kind === 'acknowledged')).toHaveLength(1);
      expect(h.d.store.incidents.events(first?.id ?? '').filter((e) => e.kind === 'acknowledged')).toHaveLength(1);
      expect(answersTo(TREASURER)).toHaveLength(1);
    });
  });

  describe('REPARE <code> [note]', () => {
    it('from the technician claims the repair: the incident stays open until the data confirms it, a maintenance visit is recorded', async () => {
      expect(await receive(TECHNICIAN, 'REPARE 17 pompe changee')).toBe('repair_claimed');
      const claimed = incident(17);
      expect(claimed).toMatchObject({ state: 'repair_claimed', repairClaimedBy: `sms:${TECHNICIAN}`, repairClaimedAtMs: h.d.clock.nowMs, repairNote: 'pompe changee', verifiedAtMs: null, closedAtMs: null });
      // The alert is the rules' to clear, when the pump works: REPARE resolves nothing.
      expect(alertState(h.alert17)?.state).not.toBe('resolved');
      const records = h.d.store.listMaintenance('khabou');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ boreholeId: 'khabou', by: `sms:${TECHNICIAN}`, atMs: h.d.clock.nowMs });
      expect(records[0]?.note).toContain('pompe changee');
      expect(answersTo(TECHNICIAN)).toEqual(['REPARE 17 recu, merci. Forage de Khabou: la reparation sera verifiee par les donnees (30 min de pompage normal).']);
      // The village is not told the water is back on the technician's word.
      expect(after()).toHaveLength(1);
    });

    it('keeps the note as typed, accents included, whatever the case and accents of the command', async () => {
      expect(await receive(TECHNICIAN, 'réparé 17 pompe changée')).toBe('repair_claimed');
      expect(incident(17)?.repairNote).toBe('pompe changée');
      expect(h.d.store.listMaintenance('khabou')[0]?.note).toContain('pompe changée');
    });

    it('from a committee member is not allowed and changes nothing', async () => {
      expect(await receive(PRESIDENT, 'REPARE 17 pompe changee')).toBe('not_allowed');
      expect(incident(17)).toMatchObject({ state: 'reported', repairClaimedAtMs: null, repairClaimedBy: null });
      expect(alertState(h.alert17)?.state).toBe('open');
      expect(history(h.alert17)).toEqual([{ kind: 'opened', actor: 'rules' }]);
      expect(h.d.store.listMaintenance('khabou')).toEqual([]);
      expect(answersTo(PRESIDENT)).toEqual([renderCommandAnswer('fr', { kind: 'technician_only', command: 'REPARE' })]);
    });

    it("from another borehole's technician is answered like an unknown incident and changes nothing", async () => {
      expect(await receive(SIRAKORO_TECHNICIAN, 'REPARE 17')).toBe('unknown_incident');
      expect(incident(17)?.state).toBe('reported');
      expect(h.d.store.listMaintenance('khabou')).toEqual([]);
      expect(answersTo(SIRAKORO_TECHNICIAN)).toEqual([renderCommandAnswer('fr', { kind: 'unknown_incident', code: 17 })]);
    });

    it('from an unknown number does nothing and answers nothing', async () => {
      expect(await receive(STRANGER, 'REPARE 17 pompe changee')).toBe('ignored_unknown_number');
      expect(incident(17)?.state).toBe('reported');
      expect(h.d.store.listMaintenance('khabou')).toEqual([]);
      expect(after()).toEqual([]);
    });
  });

  describe('ETAT', () => {
    it("answers with the sender's boreholes only", async () => {
      expect(await receive(PRESIDENT, 'ETAT')).toBe('status');
      expect(answersTo(PRESIDENT)).toEqual(['Khabou: panne pompe (OK 17).']);
    });

    it('answers a regional contact with every borehole of the region', async () => {
      expect(await receive(REGIONAL, 'état')).toBe('status');
      const [answer] = answersTo(REGIONAL);
      expect(answer).toContain('Khabou: panne pompe (OK 17)');
      expect(answer).toContain('Sirakoro: panne pompe (OK 18)');
    });

    it('still shows the fault after REPARE: only the pump working again clears it', async () => {
      await receive(TECHNICIAN, 'REPARE 17');
      expect(await receive(TREASURER, 'Etat?')).toBe('status');
      expect(answersTo(TREASURER)).toEqual(['Khabou: panne pompe (OK 17).']);
    });

    it('answers nothing to an unknown number', async () => {
      expect(await receive(STRANGER, 'ETAT')).toBe('ignored_unknown_number');
      expect(after()).toEqual([]);
    });
  });

  it('answers anything else from a registered number with the commands', async () => {
    expect(await receive(PRESIDENT, 'Bonjour, la pompe ne marche pas')).toBe('help');
    expect(answersTo(PRESIDENT)).toEqual([
      "Commandes: OK <numero> pour confirmer, PANNE <message> pour signaler, ETAT pour l'etat. Technicien: ARRIVE <numero>, PIECE <numero> <piece>, REPARE <numero>.",
    ]);
    expect(incident(17)?.state).toBe('reported');
  });

  describe('a gateway that delivers an SMS again, or spells the sender its own way', () => {
    it('matches 0022376000001, 22376000001, +223 76 00 00 01 and 76000001 to the president, and answers +22376000001', async () => {
      const outcomes = [];
      for (const from of ['0022376000001', '22376000001', '+223 76 00 00 01', '76000001']) outcomes.push(await receive(from, 'ETAT'));
      expect(outcomes).toEqual(['status', 'status', 'status', 'status']);
      expect(after().map((m) => m.to)).toEqual([PRESIDENT, PRESIDENT, PRESIDENT, PRESIDENT]);
    });

    it('acknowledges with a spelling of its own: the incident records the E.164 number', async () => {
      expect(await receive('0022376000001', 'OK 17')).toBe('acknowledged');
      expect(incident(17)?.acknowledgedBy).toBe(`sms:${PRESIDENT}`);
    });

    it('records one REPARE and sends one confirmation when the same message id arrives twice, even after a restart', async () => {
      h.d.clock.nowMs += MINUTE_MS;
      const sms = { from: '0022379000003', text: 'REPARE 17 roulement', id: 'ATXid_5a6e2b1c' };
      expect(await deliver(sms)).toBe('repair_claimed');
      const claimedAt = incident(17)?.repairClaimedAtMs;
      h.d.clock.nowMs += 10 * MINUTE_MS;
      expect(await deliver({ ...sms, from: TECHNICIAN })).toBe('duplicate');
      // A restarted service remembers what it handled: the keys are in SQLite.
      h.d.clock.nowMs += 20 * HOUR_MS;
      expect(new InboundSmsHandler(h.d.inboundOptions).handle(sms)).toBe('duplicate');
      await h.d.dispatcher.wake();
      expect(h.d.store.listMaintenance('khabou')).toHaveLength(1);
      expect(incident(17)?.repairClaimedAtMs).toBe(claimedAt);
      expect(answersTo(TECHNICIAN)).toHaveLength(1);
      expect(h.d.events.duplicates).toBe(2);
    });

    it('takes the same sender and text within a minute for one SMS when the gateway gives no id, and a minute later for a new one', async () => {
      h.d.clock.nowMs += MINUTE_MS;
      expect(await deliver({ from: PRESIDENT, text: 'OK 17' })).toBe('acknowledged');
      h.d.clock.nowMs += 30_000;
      expect(await deliver({ from: '22376000001', text: 'OK 17' })).toBe('duplicate');
      h.d.clock.nowMs += 31_000;
      expect(await deliver({ from: PRESIDENT, text: 'OK 17' })).toBe('acknowledged');
      expect(answersTo(PRESIDENT)).toHaveLength(2);
    });

    it('forgets message ids after two days, so the table stays bounded', async () => {
      h.d.clock.nowMs += MINUTE_MS;
      const sms = { from: PRESIDENT, text: 'ETAT', id: 'gw-1' };
      expect(await deliver(sms)).toBe('status');
      h.d.clock.nowMs += 48 * HOUR_MS + MINUTE_MS;
      // Claiming another SMS drops the old keys on the way.
      expect(await deliver({ ...sms, id: 'gw-2' })).toBe('status');
      expect(await deliver(sms)).toBe('status');
    });

    it(`answers a sender at most ${REPLIES_PER_HOUR} times an hour; past that its commands still act, silently, and are counted`, async () => {
      for (let i = 0; i < REPLIES_PER_HOUR; i += 1) await receive(PRESIDENT, 'ETAT');
      // An auto-responder answering each of our replies, every minute.
      expect(await receive(PRESIDENT, 'Je suis absent')).toBe('help');
      expect(await receive(PRESIDENT, 'OK 17')).toBe('acknowledged');
      expect(incident(17)?.state).toBe('acknowledged');
      expect(answersTo(PRESIDENT)).toHaveLength(REPLIES_PER_HOUR);
      expect(h.d.events.suppressed).toBe(2);
      // Another phone is not held back by it.
      expect(await receive(TREASURER, 'ETAT')).toBe('status');
      expect(answersTo(TREASURER)).toHaveLength(1);
      // An hour after the first replies, the president is answered again.
      h.d.clock.nowMs += HOUR_MS;
      await receive(PRESIDENT, 'ETAT');
      expect(answersTo(PRESIDENT)).toHaveLength(REPLIES_PER_HOUR + 1);
    });

    it('acts on a gateway retry when the first delivery could not be handled', async () => {
      h.d.clock.nowMs += MINUTE_MS;
      const { ports } = h.d.inboundOptions;
      const failing = new InboundSmsHandler({
        ...h.d.inboundOptions,
        ports: {
          ...ports,
          desk: {
            command: () => {
              throw new Error('disk full');
            },
            reportByPerson: (standing, text) => ports.desk.reportByPerson(standing, text),
            missedCall: (standing) => ports.desk.missedCall(standing),
          },
        },
      });
      const sms = { from: PRESIDENT, text: 'OK 17', id: 'gw-7' };
      expect(() => failing.handle(sms)).toThrow('disk full');
      expect(incident(17)?.state).toBe('reported');
      expect(await deliver(sms)).toBe('acknowledged');
      expect(incident(17)?.state).toBe('acknowledged');
    });
  });
});
