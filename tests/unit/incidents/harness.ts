/**
 * The incident desk wired as service.ts wires it: the real rules engine and desk over a real
 * SQLite store, SMS through the real dispatcher to a recording gateway, commands through the real
 * inbound handler, and one clock the test moves. Readings go in as ingest hands them over.
 */
import { pino } from 'pino';
import { buildRegistry, registryFileSchema, type Registry } from '../../../src/config/registry.js';
import type { Reading } from '../../../src/domain/reading.js';
import { IncidentDesk } from '../../../src/incidents/desk.js';
import type { Incident } from '../../../src/incidents/incident.js';
import { SmsDispatcher } from '../../../src/notify/dispatcher.js';
import { InboundSmsHandler, type InboundSmsOptions } from '../../../src/notify/replies.js';
import { RulesEngine } from '../../../src/rules/engine.js';
import { SqliteStore } from '../../../src/storage/sqlite-store.js';
import { boreholeEntry, RecordingGateway, type BoreholeEntryInput } from '../notify/support.js';

export const BAMAKO = 'Africa/Bamako';
export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
/** 2026-02-05 10:00 in Bamako (= UTC): daytime, so warnings reach the committee at once. */
export const T0_MS = Date.UTC(2026, 1, 5, 10, 0);

export const PRESIDENT = '+22376000001';
export const TREASURER = '+22366000002';
export const TECHNICIAN = '+22379000003';
export const BACKUP = '+22379000004';
export const REGIONAL = '+22321520004';
export const STRANGER = '+22370999999';

export function registryWith(overrides: Partial<BoreholeEntryInput> = {}, top: Record<string, unknown> = {}): Registry {
  return buildRegistry(
    registryFileSchema.parse({
      boreholes: [boreholeEntry({ backup_technician: { name: 'Technicien de garde', phone: BACKUP }, ...overrides })],
      escalation: { Kayes: { name: "Direction regionale de l'hydraulique", phone: REGIONAL } },
      // Seconds-apart alerts are grouped before the first SMS, as in production.
      // Silence is tested on its own: elsewhere the device is taken to report between the readings shown.
      rules: { group_seconds: 60, clear_minutes: 5, no_flow_minutes: 10, offline_minutes: 7 * 24 * 60 },
      ...top,
    }),
  );
}

export interface Desk {
  store: SqliteStore;
  rules: RulesEngine;
  desk: IncidentDesk;
  gateway: RecordingGateway;
  dispatcher: SmsDispatcher;
  inbound: InboundSmsHandler;
  /** What the inbound handler was built with: a new handler on them is a restarted service. */
  inboundOptions: InboundSmsOptions;
  /** Counted by the inbound handler. */
  events: { duplicates: number; suppressed: number };
  clock: { nowMs: number };
  registry: Registry;
  /**
   * Moves the clock, lets the rules and the desk see the time, and sends what is due. Ticks every
   * `stepMs` (10 s, the service's tick, unless a long wait is all the test is about).
   */
  advance(ms: number, stepMs?: number): Promise<void>;
  /** Readings as ingest hands them over, stamped at the clock unless they say otherwise. */
  read(...readings: Reading[]): Promise<void>;
  sms(from: string, text: string): Promise<string>;
  incidents(): Incident[];
  /** What each phone received, in order. */
  received(phone: string): string[];
  /** Stops everything; a new harness on the same path is the service after a restart. */
  stop(): Promise<void>;
}

export function startDesk(registry: Registry = registryWith(), path = ':memory:', clock = { nowMs: T0_MS }): Desk {
  const store = new SqliteStore(path);
  const now = (): number => clock.nowMs;
  const log = pino({ level: 'silent' });
  const gateway = new RecordingGateway();
  const dispatcher = new SmsDispatcher({
    store,
    gateway,
    registry,
    timeZone: BAMAKO,
    now,
    log,
    perHourLimit: 100,
    pollIntervalMs: HOUR_MS,
    incidentStanding: (id) => {
      const incident = store.incidents.byId(id);
      return incident ? { closed: incident.state === 'verified', acknowledged: incident.acknowledgedAtMs !== null } : null;
    },
  });
  const rules = new RulesEngine({ registry, store, now, log, writeAlertPoints: () => undefined, tickIntervalMs: HOUR_MS, holdOlderThanMs: 365 * 24 * HOUR_MS });
  const desk = new IncidentDesk({ registry, store, rules, wakeDispatcher: () => void dispatcher.wake(), timeZone: BAMAKO, now, log, tickIntervalMs: HOUR_MS });
  rules.onChange((change) => desk.onAlertChange(change));
  const events = { duplicates: 0, suppressed: 0 };
  const inboundOptions: InboundSmsOptions = {
    registry,
    now,
    log,
    defaultRegion: 'ML',
    events: { duplicate: () => (events.duplicates += 1), replySuppressed: () => (events.suppressed += 1) },
    ports: {
      desk,
      unresolvedAlerts: (boreholeIds) => store.listAlerts({ state: 'unresolved', boreholeIds, limit: 1000, offset: 0 }).alerts,
      lastHeardAtMs: (id) => rules.stateOf(id)?.lastHeardAtMs ?? null,
      record: (at, sender, text, outcome, incidentId) => store.recordInboundSms(at, sender, text, outcome, incidentId ?? null),
      reply: (to, text, replyTo, incidentId) => dispatcher.enqueueReply(to, text, replyTo, incidentId),
      claimInboundSms: (key, at, windowMs, retentionMs) => store.claimInboundSms(key, at, windowMs, retentionMs),
      releaseInboundSms: (key) => store.releaseInboundSms(key),
      repliesQueuedSince: (to, sinceMs) => store.repliesQueuedSince(to, sinceMs),
    },
  };
  const inbound = new InboundSmsHandler(inboundOptions);
  rules.start();
  desk.start();
  dispatcher.start();
  const theDesk = desk;
  return {
    store,
    rules,
    desk: theDesk,
    gateway,
    dispatcher,
    inbound,
    inboundOptions,
    events,
    clock,
    registry,
    async advance(ms, stepMs = 10_000) {
      // In steps, so that a tick sees every instant a real ten-second tick would come near.
      const step = stepMs;
      for (let left = ms; left > 0; left -= step) {
        clock.nowMs += Math.min(step, left);
        rules.tick();
        theDesk.tick();
      }
      await dispatcher.wake();
    },
    async read(...readings) {
      rules.accept(readings);
      theDesk.observe(readings);
      await dispatcher.wake();
    },
    async sms(from, text) {
      const outcome = inbound.handle({ from, text });
      await dispatcher.wake();
      return outcome;
    },
    incidents: () => store.incidents.list({ limit: 1000, offset: 0 }).incidents,
    received: (phone) => gateway.delivered.filter((m) => m.to === phone).map((m) => m.text),
    async stop() {
      theDesk.stop();
      rules.stop();
      await dispatcher.stop();
      store.close();
    },
  };
}

export const pump = (tsMs: number, running: boolean, fault: string | null = null): Reading => ({ boreholeId: 'khabou', kind: 'pump', tsMs, values: { running, fault } });
export const flow = (tsMs: number, rateLpm: number): Reading => ({ boreholeId: 'khabou', kind: 'flow', tsMs, values: { rate_lpm: rateLpm } });
export const level = (tsMs: number, depthM: number): Reading => ({ boreholeId: 'khabou', kind: 'level', tsMs, values: { depth_m: depthM } });
