/**
 * The SMS outbox and its dispatcher over a real SQLite store, a fake clock and a recording gateway
 * (our own port, so a double is fine here; the adapters have their contract tests). The poll timer
 * is set to an hour so it never fires during a test: each step calls `wake()` and awaits it.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openAlert, resolve, type Alert, type AlertChange } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Borehole, type Registry } from '../../../src/config/registry.js';
import { SmsDispatcher } from '../../../src/notify/dispatcher.js';
import { planMessages } from '../../../src/notify/routing.js';
import { SqliteStore, type OutboxMessage } from '../../../src/storage/sqlite-store.js';
import { tempDir } from '../../support/fixtures.js';
import { boreholeEntry, RecordingGateway } from './support.js';

const BAMAKO = 'Africa/Bamako';
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** 2026-02-05 10:42 in Bamako (= UTC). */
const T0_MS = Date.UTC(2026, 1, 5, 10, 42);
const PER_HOUR_LIMIT = 6;
const MIN_BACKOFF_MS = 1000;

const PRESIDENT = '+22376000001';
const TREASURER = '+22366000002';
const TECHNICIAN = '+22379000003';

const REGISTRY: Registry = buildRegistry(
  registryFileSchema.parse({
    boreholes: [
      boreholeEntry({
        committee: {
          language: 'en',
          contacts: [
            { name: 'Chair', phone: PRESIDENT },
            { name: 'Treasurer', phone: TREASURER },
          ],
        },
        technician: { name: 'Technicien de Kayes', phone: TECHNICIAN },
      }),
    ],
  }),
);
const KHABOU = REGISTRY.boreholes.get('khabou') as Borehole;

interface Harness {
  store: SqliteStore;
  gateway: RecordingGateway;
  dispatcher: SmsDispatcher;
  clock: { nowMs: number };
  events: { sent: string[]; failed: { kind: string; retryable: boolean }[] };
}

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.restoreAllMocks();
});

function harness(options: { store?: SqliteStore; clock?: { nowMs: number }; start?: boolean; perHourLimit?: number } = {}): Harness {
  const store = options.store ?? new SqliteStore(':memory:');
  if (!options.store) cleanups.push(() => store.close());
  const clock = options.clock ?? { nowMs: T0_MS };
  const gateway = new RecordingGateway();
  const events: Harness['events'] = { sent: [], failed: [] };
  const dispatcher = new SmsDispatcher({
    store,
    gateway,
    registry: REGISTRY,
    timeZone: BAMAKO,
    now: () => clock.nowMs,
    log: pino({ level: 'silent' }),
    events: { sent: (kind) => void events.sent.push(kind), failed: (kind, retryable) => void events.failed.push({ kind, retryable }) },
    perHourLimit: options.perHourLimit ?? PER_HOUR_LIMIT,
    // Never fires during a test: each step calls wake().
    pollIntervalMs: HOUR_MS,
    minBackoffMs: MIN_BACKOFF_MS,
    maxBackoffMs: 10 * MINUTE_MS,
  });
  if (options.start !== false) {
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());
  }
  return { store, gateway, dispatcher, clock, events };
}

function openCritical(h: Pick<Harness, 'store'>, atMs: number): Alert {
  return h.store.insertAlert(openAlert('khabou', 'pump_fault', 'critical', 'dry_run', atMs, true, 'dry_run'));
}

function openWarning(h: Pick<Harness, 'store'>, atMs: number): Alert {
  return h.store.insertAlert(openAlert('khabou', 'offline', 'warning', 'no message for 60 minutes', atMs, true));
}

function resolveInStore(h: Pick<Harness, 'store'>, alert: Alert, atMs: number): Alert {
  const resolved = resolve(alert, 'rules', atMs);
  h.store.updateAlert(resolved);
  return resolved;
}

const change = (kind: AlertChange['kind'], alert: Alert, atMs: number): AlertChange => ({ kind, alert, atMs, actor: 'rules', notify: true });

/** Plans and enqueues what an alert change calls for, at the clock's time, and lets the dispatcher send. */
async function notify(h: Harness, kind: AlertChange['kind'], alert: Alert): Promise<void> {
  h.dispatcher.enqueue(planMessages(change(kind, alert, h.clock.nowMs), KHABOU, h.clock.nowMs, BAMAKO));
  await h.dispatcher.wake();
}

function outbox(store: SqliteStore): OutboxMessage[] {
  return store.listSms(10_000);
}

function row(store: SqliteStore, id: string): OutboxMessage {
  const found = store.smsById(id);
  if (!found) throw new Error(`no outbox row ${id}`);
  return found;
}

const countBy = <T>(items: readonly T[], key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
};

describe('SmsDispatcher', () => {
  describe('delivery', () => {
    it('sends an alert to every committee contact and the technician, once each, in their language', async () => {
      const h = harness();
      const alert = openCritical(h, T0_MS);
      await notify(h, 'opened', alert);

      expect(countBy(h.gateway.delivered, (m) => m.to)).toEqual({ [PRESIDENT]: 1, [TREASURER]: 1, [TECHNICIAN]: 1 });
      const code = alert.code;
      expect(h.gateway.to(PRESIDENT)[0]?.text).toBe(`Forage de Khabou: pump fault (running dry) 10:42. Reply OK ${code} to confirm.`);
      expect(h.gateway.to(TREASURER)[0]?.text).toBe(`Forage de Khabou: pump fault (running dry) 10:42. Reply OK ${code} to confirm.`);
      expect(h.gateway.to(TECHNICIAN)[0]?.text).toBe(`Forage de Khabou: panne pompe (marche a sec) 10:42. Repondre OK ${code} pour confirmer.`);

      // The outbox holds each message with the id the gateway saw, sent once.
      const rows = outbox(h.store);
      expect(rows.map((r) => r.id).sort()).toEqual(h.gateway.delivered.map((m) => m.id).sort());
      for (const r of rows) expect(r).toMatchObject({ status: 'sent', attempts: 1, alertId: alert.id, gateway: 'test', sentAtMs: T0_MS, lastError: null });
      expect(h.events.sent).toEqual(['alert', 'alert', 'alert']);

      // Nothing is sent again later.
      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();
      expect(h.gateway.calls).toHaveLength(3);
    });

    it('stores a message before any attempt, with its recipient, text, alert and next attempt time', async () => {
      const h = harness({ start: false });
      const alert = openCritical(h, T0_MS);
      h.dispatcher.enqueue(planMessages(change('opened', alert, T0_MS), KHABOU, T0_MS, BAMAKO));
      // Not started: nothing has gone out, everything is stored.
      expect(h.gateway.calls).toEqual([]);
      const rows = outbox(h.store);
      expect(rows).toHaveLength(3);
      for (const r of rows) {
        expect(r).toMatchObject({ status: 'pending', attempts: 0, alertId: alert.id, kind: 'alert', nextAttemptAtMs: T0_MS, notBeforeMs: T0_MS });
        expect(r.text).toContain(`OK ${alert.code}`);
      }
      expect(rows.map((r) => r.recipient).sort()).toEqual([TREASURER, PRESIDENT, TECHNICIAN].sort());
    });

    it('stores a message planned twice once, and sends it once', async () => {
      const h = harness();
      const alert = openCritical(h, T0_MS);
      const planned = planMessages(change('opened', alert, T0_MS), KHABOU, T0_MS, BAMAKO);
      h.dispatcher.enqueue(planned);
      h.dispatcher.enqueue(planned);
      await h.dispatcher.wake();
      expect(outbox(h.store)).toHaveLength(3);
      expect(h.gateway.calls).toHaveLength(3);

      // Planned again after it went out (the same change heard twice): still once.
      h.clock.nowMs += MINUTE_MS;
      h.dispatcher.enqueue(planMessages(change('opened', alert, h.clock.nowMs), KHABOU, h.clock.nowMs, BAMAKO));
      await h.dispatcher.wake();
      expect(outbox(h.store)).toHaveLength(3);
      expect(h.gateway.calls).toHaveLength(3);
    });
  });

  describe('failures', () => {
    it('retries a message that failed twice for a retryable reason with the same id, backing off exponentially', async () => {
      vi.spyOn(Math, 'random').mockReturnValue(0.5); // no jitter
      const h = harness();
      h.gateway.failNext(2, { retryable: true, to: TECHNICIAN });
      const alert = openCritical(h, T0_MS);
      await notify(h, 'opened', alert);

      const [first] = h.gateway.callsTo(TECHNICIAN);
      if (!first) throw new Error('the technician was not tried');
      expect(row(h.store, first.id)).toMatchObject({ status: 'pending', attempts: 1, nextAttemptAtMs: T0_MS + MIN_BACKOFF_MS });
      expect(row(h.store, first.id).lastError).toContain('HTTP 503');
      // The committee is not held up by the technician's failure.
      expect(h.gateway.to(PRESIDENT)).toHaveLength(1);

      // Not before its time.
      h.clock.nowMs = T0_MS + MIN_BACKOFF_MS - 1;
      await h.dispatcher.wake();
      expect(h.gateway.callsTo(TECHNICIAN)).toHaveLength(1);

      h.clock.nowMs = T0_MS + MIN_BACKOFF_MS;
      await h.dispatcher.wake();
      expect(h.gateway.callsTo(TECHNICIAN)).toHaveLength(2);
      const secondFailureAt = h.clock.nowMs;
      // Exponential: the second wait is twice the first.
      expect(row(h.store, first.id)).toMatchObject({ status: 'pending', attempts: 2, nextAttemptAtMs: secondFailureAt + 2 * MIN_BACKOFF_MS });

      h.clock.nowMs = secondFailureAt + 2 * MIN_BACKOFF_MS;
      await h.dispatcher.wake();
      const ids = h.gateway.callsTo(TECHNICIAN).map((m) => m.id);
      expect(ids).toEqual([first.id, first.id, first.id]);
      expect(h.gateway.to(TECHNICIAN)).toEqual([first]);
      expect(row(h.store, first.id)).toMatchObject({ status: 'sent', attempts: 3, lastError: null, sentAtMs: h.clock.nowMs });
      expect(h.events.failed).toEqual([
        { kind: 'alert', retryable: true },
        { kind: 'alert', retryable: true },
      ]);

      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();
      expect(h.gateway.callsTo(TECHNICIAN)).toHaveLength(3);
    });

    it('treats an error that is not an SmsSendError as retryable', async () => {
      const h = harness();
      const alert = openCritical(h, T0_MS);
      h.gateway.throwNext(TECHNICIAN, new TypeError('socket hang up'));
      await notify(h, 'opened', alert);
      const id = h.gateway.callsTo(TECHNICIAN)[0]?.id ?? '';
      expect(row(h.store, id)).toMatchObject({ status: 'pending', attempts: 1 });
      h.clock.nowMs += HOUR_MS;
      await h.dispatcher.wake();
      expect(row(h.store, id).status).toBe('sent');
    });

    it('records a permanent failure as failed and never tries it again', async () => {
      const h = harness();
      h.gateway.failNext(1, { retryable: false, to: TREASURER });
      const alert = openCritical(h, T0_MS);
      await notify(h, 'opened', alert);

      const [attempt] = h.gateway.callsTo(TREASURER);
      if (!attempt) throw new Error('the treasurer was not tried');
      const failed = row(h.store, attempt.id);
      expect(failed.status).toBe('failed');
      expect(failed.lastError).toContain('invalid number');
      expect(h.events.failed).toEqual([{ kind: 'alert', retryable: false }]);
      expect(h.store.outboxStats(h.clock.nowMs)).toMatchObject({ pending: 0, failed: 1 });

      for (const later of [MINUTE_MS, HOUR_MS, DAY_MS]) {
        h.clock.nowMs = T0_MS + later;
        await h.dispatcher.wake();
      }
      expect(h.gateway.callsTo(TREASURER)).toHaveLength(1);
      // The others were not affected.
      expect(h.gateway.to(PRESIDENT)).toHaveLength(1);
      expect(h.gateway.to(TECHNICIAN)).toHaveLength(1);
    });

    // Regression (src/storage/sqlite-store.ts finishSms, used by dispatcher.ts for permanent failures):
    // the attempt that failed for good is not counted, so the outbox says 0 attempts for a
    // message the gateway refused.
    it('counts the attempt that failed for good', async () => {
      const h = harness();
      h.gateway.failNext(1, { retryable: false, to: TREASURER });
      await notify(h, 'opened', openCritical(h, T0_MS));
      const id = h.gateway.callsTo(TREASURER)[0]?.id ?? '';
      expect(row(h.store, id)).toMatchObject({ status: 'failed', attempts: 1 });
    });
  });

  describe('restarts', () => {
    it('sends each pending message exactly once after a restart on the same store file', async () => {
      const path = join(tempDir('dispatcher'), 'state.db');
      const clock = { nowMs: T0_MS };
      const storeBefore = new SqliteStore(path);
      const before = harness({ store: storeBefore, clock });
      // The gateway is down: the alert's three messages fail and wait for a retry.
      before.gateway.failNext(Number.POSITIVE_INFINITY, { retryable: true });
      const alert = openCritical(before, T0_MS);
      await notify(before, 'opened', alert);
      expect(before.gateway.delivered).toEqual([]);
      const triedIds = [...new Set(before.gateway.calls.map((m) => m.id))].sort();
      expect(triedIds).toHaveLength(3);

      // The alert resolves while the dispatcher is stopping: stored, never tried.
      await before.dispatcher.stop();
      clock.nowMs += 30 * SECOND_MS;
      const resolved = resolveInStore(before, alert, clock.nowMs);
      before.dispatcher.enqueue(planMessages(change('resolved', resolved, clock.nowMs), KHABOU, clock.nowMs, BAMAKO));
      const waterBackIds = outbox(storeBefore)
        .filter((r) => r.kind === 'water_back')
        .map((r) => r.id)
        .sort();
      expect(waterBackIds).toHaveLength(2);
      storeBefore.close();

      // A new process: the gateway works again.
      const storeAfter = new SqliteStore(path);
      cleanups.push(() => storeAfter.close());
      clock.nowMs += MINUTE_MS;
      const after = harness({ store: storeAfter, clock });
      await after.dispatcher.wake();
      // The alert's own messages are stale now that it resolved (issue 13): cancelled, not sent;
      // each resolution message goes out once.
      expect(countBy(after.gateway.calls, (m) => m.id)).toEqual(Object.fromEntries(waterBackIds.map((id) => [id, 1])));
      expect(Object.fromEntries(outbox(storeAfter).map((r) => [r.id, r.status]))).toEqual(
        Object.fromEntries([...triedIds.map((id) => [id, 'cancelled']), ...waterBackIds.map((id) => [id, 'sent'])]),
      );

      // Planned again after the restart (the same change replayed): still not sent twice.
      after.dispatcher.enqueue(planMessages(change('opened', alert, clock.nowMs), KHABOU, clock.nowMs, BAMAKO));
      after.dispatcher.enqueue(planMessages(change('resolved', resolved, clock.nowMs), KHABOU, clock.nowMs, BAMAKO));
      clock.nowMs += DAY_MS;
      await after.dispatcher.wake();
      expect(after.gateway.calls).toHaveLength(2);

      // And another restart sends nothing.
      await after.dispatcher.stop();
      const third = harness({ store: storeAfter, clock });
      await third.dispatcher.wake();
      expect(third.gateway.calls).toEqual([]);
    });
  });

  describe('the hourly limit per phone', () => {
    it('folds fifty alerts in a minute for one borehole into at most the limit and one summary per phone', async () => {
      const h = harness();
      const firstAt = T0_MS + SECOND_MS;
      for (let i = 0; i < 50; i += 1) {
        h.clock.nowMs = T0_MS + (i + 1) * SECOND_MS;
        const alert = openCritical(h, h.clock.nowMs);
        await notify(h, 'opened', alert);
        h.clock.nowMs += 100;
        await notify(h, 'resolved', resolveInStore(h, alert, h.clock.nowMs));
      }
      // Each committee phone was due 50 alerts and 50 "water is back"; the technician 50 alerts.
      expect(countBy(h.gateway.delivered, (m) => m.to)).toEqual({ [PRESIDENT]: PER_HOUR_LIMIT, [TREASURER]: PER_HOUR_LIMIT, [TECHNICIAN]: PER_HOUR_LIMIT });
      const folded = countBy(
        outbox(h.store).filter((r) => r.status === 'folded'),
        (r) => r.recipient,
      );
      expect(folded).toEqual({ [PRESIDENT]: 94, [TREASURER]: 94, [TECHNICIAN]: 44 });

      // The summary waits until the oldest of the six leaves the hour...
      h.clock.nowMs = firstAt + HOUR_MS - 1;
      await h.dispatcher.wake();
      expect(h.gateway.delivered).toHaveLength(3 * PER_HOUR_LIMIT);

      // ...and then goes out once per phone, naming how many messages it stands for.
      h.clock.nowMs = firstAt + HOUR_MS;
      await h.dispatcher.wake();
      const summaries = h.gateway.delivered.slice(3 * PER_HOUR_LIMIT);
      expect(countBy(summaries, (m) => m.to)).toEqual({ [PRESIDENT]: 1, [TREASURER]: 1, [TECHNICIAN]: 1 });
      expect(summaries.find((m) => m.to === PRESIDENT)?.text).toBe('94 more messages (Khabou). Send ETAT to see the alerts.');
      expect(summaries.find((m) => m.to === TECHNICIAN)?.text).toBe('44 autres messages (Khabou). Envoyez ETAT pour voir les alertes.');

      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();
      expect(countBy(h.gateway.delivered, (m) => m.to)).toEqual({ [PRESIDENT]: PER_HOUR_LIMIT + 1, [TREASURER]: PER_HOUR_LIMIT + 1, [TECHNICIAN]: PER_HOUR_LIMIT + 1 });
    });

    it('sends normally again once the hour has passed', async () => {
      const h = harness({ perHourLimit: 2 });
      for (let i = 0; i < 3; i += 1) {
        h.clock.nowMs = T0_MS + i * MINUTE_MS;
        const alert = openCritical(h, h.clock.nowMs);
        await notify(h, 'opened', alert);
        resolveInStore(h, alert, h.clock.nowMs + 1);
      }
      expect(h.gateway.to(TECHNICIAN)).toHaveLength(2);
      h.clock.nowMs = T0_MS + HOUR_MS;
      await h.dispatcher.wake();
      expect(h.gateway.to(TECHNICIAN).map((m) => m.text)).toEqual([
        expect.stringContaining('panne pompe'),
        expect.stringContaining('panne pompe'),
        '1 autre message (Khabou). Envoyez ETAT pour voir les alertes.',
      ]);
      // Two hours later: an alert goes out as itself.
      h.clock.nowMs = T0_MS + 3 * HOUR_MS;
      const alert = openCritical(h, h.clock.nowMs);
      await notify(h, 'opened', alert);
      expect(h.gateway.to(TECHNICIAN).at(-1)?.text).toContain(`OK ${alert.code}`);
    });

    it('never folds a reply to a person who wrote, even when the phone had its hourly share', async () => {
      const h = harness();
      for (let i = 0; i < PER_HOUR_LIMIT; i += 1) {
        h.clock.nowMs = T0_MS + i * SECOND_MS;
        const alert = openCritical(h, h.clock.nowMs);
        await notify(h, 'opened', alert);
        resolveInStore(h, alert, h.clock.nowMs + 1);
      }
      expect(h.gateway.to(TECHNICIAN)).toHaveLength(PER_HOUR_LIMIT);

      h.clock.nowMs += SECOND_MS;
      h.dispatcher.enqueueReply(TECHNICIAN, 'Khabou: panne pompe (OK 1).', `${TECHNICIAN}|${h.clock.nowMs}|ETAT`);
      await h.dispatcher.wake();
      expect(h.gateway.to(TECHNICIAN)).toHaveLength(PER_HOUR_LIMIT + 1);
      expect(h.gateway.to(TECHNICIAN).at(-1)?.text).toBe('Khabou: panne pompe (OK 1).');

      // An alert message at the same moment is folded.
      h.clock.nowMs += SECOND_MS;
      await notify(h, 'opened', openCritical(h, h.clock.nowMs));
      expect(h.gateway.to(TECHNICIAN)).toHaveLength(PER_HOUR_LIMIT + 1);
      expect(outbox(h.store).filter((r) => r.recipient === TECHNICIAN && r.status === 'folded')).toHaveLength(1);
    });

    // Regression (src/notify/dispatcher.ts fold(), with sqlite-store.ts sentTimes using `sent_at >= since`):
    // a message dispatched at the very instant its phone's summary went out is folded into that
    // summary, which is already sent, so it is never delivered nor counted.
    it('never folds a message into a summary that already went out', async () => {
      const h = harness({ perHourLimit: 1 });
      const first = openCritical(h, T0_MS);
      await notify(h, 'opened', first);
      resolveInStore(h, first, T0_MS + 1);
      h.clock.nowMs = T0_MS + MINUTE_MS;
      const second = openCritical(h, h.clock.nowMs);
      await notify(h, 'opened', second); // folded: the summary is due at T0 + 1 h
      resolveInStore(h, second, h.clock.nowMs + 1);

      h.clock.nowMs = T0_MS + HOUR_MS; // the summary goes out, and a third alert arrives
      const third = openCritical(h, h.clock.nowMs);
      await notify(h, 'opened', third);
      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();

      // Every alert the technician was due is delivered, as itself or counted in a summary.
      expect(h.gateway.to(TECHNICIAN).map((m) => m.text)).toEqual([
        expect.stringContaining(`OK ${first.code}`),
        '1 autre message (Khabou). Envoyez ETAT pour voir les alertes.',
        expect.stringMatching(new RegExp(`OK ${third.code} |^1 autre message`)),
      ]);
    });
  });

  describe('quiet hours', () => {
    const NIGHT_MS = Date.UTC(2026, 1, 5, 23, 0);
    const SEVEN_MS = Date.UTC(2026, 1, 6, 7, 0);

    it('sends a committee warning planned at 23:00 at 07:00 when the alert is still open', async () => {
      const h = harness({ clock: { nowMs: NIGHT_MS } });
      const warning = openWarning(h, NIGHT_MS);
      await notify(h, 'opened', warning);
      expect(h.gateway.delivered.map((m) => m.to)).toEqual([TECHNICIAN]);

      h.clock.nowMs = SEVEN_MS - 1;
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to)).toEqual([TECHNICIAN]);

      h.clock.nowMs = SEVEN_MS;
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([TREASURER, PRESIDENT, TECHNICIAN].sort());
      // The message says when the problem started.
      expect(h.gateway.to(PRESIDENT)[0]?.text).toBe(`Forage de Khabou: borehole not reporting 23:00. Reply OK ${warning.code} to confirm.`);
    });

    it('sends it at 07:00 too when the alert was only acknowledged', async () => {
      const h = harness({ clock: { nowMs: NIGHT_MS } });
      const warning = openWarning(h, NIGHT_MS);
      await notify(h, 'opened', warning);
      h.store.updateAlert({ ...warning, state: 'acknowledged', acknowledgedAtMs: NIGHT_MS + HOUR_MS, acknowledgedBy: 'sms:+22379000003' });
      h.clock.nowMs = SEVEN_MS;
      await h.dispatcher.wake();
      expect(h.gateway.to(PRESIDENT)).toHaveLength(1);
    });

    it('cancels a committee warning planned at 23:00 when the alert resolved before 07:00', async () => {
      const h = harness({ clock: { nowMs: NIGHT_MS } });
      const warning = openWarning(h, NIGHT_MS);
      await notify(h, 'opened', warning);
      h.clock.nowMs = Date.UTC(2026, 1, 6, 5, 0);
      resolveInStore(h, warning, h.clock.nowMs);
      await h.dispatcher.wake();

      h.clock.nowMs = SEVEN_MS;
      await h.dispatcher.wake();
      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();
      expect(h.gateway.calls.map((m) => m.to)).toEqual([TECHNICIAN]);
      const committee = outbox(h.store).filter((r) => r.recipient !== TECHNICIAN);
      expect(committee.map((r) => r.status)).toEqual(['cancelled', 'cancelled']);
      expect(h.store.outboxStats(h.clock.nowMs).pending).toBe(0);
    });

    // Regression (src/notify/routing.ts planMessages + dispatcher.ts dispatch): when a warning deferred to
    // 07:00 becomes critical in the night, the committee is told at once (right), and then again at
    // 07:00 with the stale warning text ("low water level" after "water below the pump").
    it('drops the deferred warning when the committee already heard of the alert as critical', async () => {
      const h = harness({ clock: { nowMs: NIGHT_MS } });
      const warning = h.store.insertAlert(openAlert('khabou', 'low_water', 'warning', 'depth 53 m', NIGHT_MS, true));
      await notify(h, 'opened', warning);
      h.clock.nowMs = Date.UTC(2026, 1, 6, 2, 0);
      const critical: Alert = { ...warning, severity: 'critical' };
      h.store.updateAlert(critical);
      await notify(h, 'escalated', critical);
      const heard = [`Forage de Khabou: water below the pump 23:00. Reply OK ${warning.code} to confirm.`];
      expect(h.gateway.to(PRESIDENT).map((m) => m.text)).toEqual(heard);

      h.clock.nowMs = SEVEN_MS;
      await h.dispatcher.wake();
      expect(h.gateway.to(PRESIDENT).map((m) => m.text)).toEqual(heard);
    });
  });

  // Issue 13: during a long gateway outage a pump fault opens and resolves; when the gateway is
  // back the committee must not read "pump broken" (stale) next to "water is back".
  describe('stale messages', () => {
    it('drops an alert message still queued when its alert resolves: the committee gets the resolution only', async () => {
      const h = harness();
      h.gateway.failNext(10_000, { retryable: true });
      const alert = openCritical(h, T0_MS);
      await notify(h, 'opened', alert);
      h.clock.nowMs += 3 * HOUR_MS;
      await h.dispatcher.wake();
      const resolved = resolveInStore(h, alert, h.clock.nowMs);
      await notify(h, 'resolved', resolved);
      expect(h.gateway.delivered).toEqual([]);

      h.gateway.recover();
      h.clock.nowMs += DAY_MS;
      await h.dispatcher.wake();
      expect(h.gateway.to(PRESIDENT).map((m) => m.text)).toEqual([expect.stringMatching(/water/i)]);
      expect(h.gateway.to(TECHNICIAN)).toEqual([]);
      const stale = outbox(h.store).filter((r) => r.kind === 'alert');
      expect(stale.map((r) => [r.status, r.lastError])).toEqual(stale.map(() => ['cancelled', 'the alert was resolved before the message could go out']));
      expect(h.store.outboxStats(h.clock.nowMs).pending).toBe(0);
    });

    it('still sends an alert message of an alert that was only acknowledged meanwhile', async () => {
      const h = harness();
      h.gateway.failNext(1, { retryable: true });
      const alert = openCritical(h, T0_MS);
      await notify(h, 'opened', alert);
      h.store.updateAlert({ ...alert, state: 'acknowledged', acknowledgedAtMs: T0_MS + MINUTE_MS, acknowledgedBy: 'sms:+22366000002' });
      h.clock.nowMs += HOUR_MS;
      await h.dispatcher.wake();
      expect(h.gateway.delivered.map((m) => m.to).sort()).toEqual([PRESIDENT, TREASURER, TECHNICIAN].sort());
    });
  });
});
