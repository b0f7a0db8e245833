/**
 * Who is told what, and when (CONTRACT.md section 5): plain data in, planned messages out.
 * Mali is UTC+0 all year, so a Bamako wall-clock time is the same UTC time.
 */
import { describe, expect, it } from 'vitest';
import type { Alert, AlertChange } from '../../../src/alerts/alert.js';
import { buildRegistry, registryFileSchema, type Borehole, type Registry } from '../../../src/config/registry.js';
import {
  isQuietHours,
  localTime,
  nextLocalHour,
  planMessages,
  QUIET_UNTIL_HOUR,
  type PlannedMessage,
} from '../../../src/notify/routing.js';
import { boreholeEntry } from './support.js';

const BAMAKO = 'Africa/Bamako';
const LAGOS = 'Africa/Lagos';

const PRESIDENT = '+22376000001';
const TREASURER = '+22366000002';
const TECHNICIAN = '+22379000003';
const REGION = '+22321520004';

/** 2026-02-05 at hh:mm in Bamako (= UTC). */
const bamako = (hour: number, minute = 0, day = 5): number => Date.UTC(2026, 1, day, hour, minute);

function registry(options: { technicianOnCommittee?: boolean } = {}): Registry {
  const contacts = [
    { name: 'President du comite', phone: PRESIDENT },
    { name: 'Tresoriere', phone: TREASURER },
  ];
  if (options.technicianOnCommittee) contacts.push({ name: 'Technicien aussi membre', phone: TECHNICIAN });
  return buildRegistry(
    registryFileSchema.parse({
      boreholes: [
        boreholeEntry({
          committee: { language: 'bm', contacts },
          technician: { name: 'Technicien de Kayes', phone: TECHNICIAN },
        }),
      ],
      escalation: { Kayes: { name: "Direction regionale de l'hydraulique", phone: REGION } },
    }),
  );
}

function khabou(reg: Registry = registry()): Borehole {
  const borehole = reg.boreholes.get('khabou');
  if (!borehole) throw new Error('test registry without khabou');
  return borehole;
}

function alert(overrides: Partial<Alert> = {}): Alert {
  return {
    id: 'alert-17',
    code: 17,
    boreholeId: 'khabou',
    rule: 'pump_fault',
    severity: 'critical',
    state: 'open',
    message: 'Panne pompe : dry_run',
    openedAtMs: bamako(10, 42),
    acknowledgedAtMs: null,
    acknowledgedBy: null,
    resolvedAtMs: null,
    resolvedBy: null,
    historical: false,
    fault: 'dry_run',
    ...overrides,
  };
}

function change(kind: AlertChange['kind'], a: Alert, atMs: number = a.openedAtMs, notify = true): AlertChange {
  return { kind, alert: a, atMs, actor: 'rules', notify };
}

/** The plan, reduced to what a reader checks: who, in which role and language, from when. */
function summary(planned: readonly PlannedMessage[]) {
  return planned
    .map((m) => ({ phone: m.to.phone, kind: m.kind, audience: m.audience, language: m.language, notBeforeMs: m.notBeforeMs, onlyWhileUnresolved: m.onlyWhileUnresolved }))
    .sort((a, b) => a.phone.localeCompare(b.phone));
}

const byPhone = (...rows: ReturnType<typeof summary>) => [...rows].sort((a, b) => a.phone.localeCompare(b.phone));

describe('planMessages', () => {
  it.each([
    ['in the day', bamako(10, 42)],
    ['at night', bamako(2, 15)],
    ['at 23:00', bamako(23, 0)],
  ])('sends a critical alert to the committee and the technician at once, %s', (_when, nowMs) => {
    const critical = alert({ openedAtMs: nowMs });
    expect(summary(planMessages(change('opened', critical), khabou(), nowMs, BAMAKO))).toEqual(
      byPhone(
        { phone: PRESIDENT, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: TREASURER, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: TECHNICIAN, kind: 'alert', audience: 'technician', language: 'fr', notBeforeMs: nowMs, onlyWhileUnresolved: false },
      ),
    );
  });

  it('tells the technician of a warning at 23:00 now, and the committee at 07:00 the next day only while it is unresolved', () => {
    const nowMs = bamako(23, 0);
    const warning = alert({ rule: 'offline', severity: 'warning', fault: null, openedAtMs: nowMs });
    const sevenNextDay = bamako(7, 0, 6);
    expect(summary(planMessages(change('opened', warning), khabou(), nowMs, BAMAKO))).toEqual(
      byPhone(
        { phone: TECHNICIAN, kind: 'alert', audience: 'technician', language: 'fr', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: PRESIDENT, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: sevenNextDay, onlyWhileUnresolved: true },
        { phone: TREASURER, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: sevenNextDay, onlyWhileUnresolved: true },
      ),
    );
  });

  it('defers a warning after midnight to 07:00 the same day', () => {
    const nowMs = bamako(0, 30);
    const warning = alert({ rule: 'low_water', severity: 'warning', fault: null, openedAtMs: nowMs });
    const committee = planMessages(change('opened', warning), khabou(), nowMs, BAMAKO).filter((m) => m.audience === 'committee');
    expect(committee.map((m) => m.notBeforeMs)).toEqual([bamako(7, 0), bamako(7, 0)]);
  });

  it('tells everybody of a warning at 10:00 at once', () => {
    const nowMs = bamako(10, 0);
    const warning = alert({ rule: 'short_cycling', severity: 'warning', fault: null, openedAtMs: nowMs });
    expect(summary(planMessages(change('opened', warning), khabou(), nowMs, BAMAKO))).toEqual(
      byPhone(
        { phone: PRESIDENT, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: TREASURER, kind: 'alert', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: TECHNICIAN, kind: 'alert', audience: 'technician', language: 'fr', notBeforeMs: nowMs, onlyWhileUnresolved: false },
      ),
    );
  });

  it.each([
    ['06:59', bamako(6, 59), true],
    ['07:00', bamako(7, 0), false],
    ['20:59', bamako(20, 59), false],
    ['21:00', bamako(21, 0), true],
  ])('treats %s as quiet hours: %s', (_time, nowMs, quiet) => {
    expect(isQuietHours(nowMs, BAMAKO)).toBe(quiet);
    const warning = alert({ rule: 'offline', severity: 'warning', fault: null, openedAtMs: nowMs });
    const committee = planMessages(change('opened', warning), khabou(), nowMs, BAMAKO).filter((m) => m.audience === 'committee');
    expect(committee).toHaveLength(2);
    for (const message of committee) {
      expect(message.notBeforeMs > nowMs).toBe(quiet);
      expect(message.onlyWhileUnresolved).toBe(quiet);
    }
  });

  it('sends nobody an info alert', () => {
    const info = alert({ rule: 'maintenance_due', severity: 'info', fault: null });
    expect(planMessages(change('opened', info), khabou(), bamako(10), BAMAKO)).toEqual([]);
    expect(planMessages(change('resolved', { ...info, state: 'resolved', resolvedAtMs: bamako(11) }), khabou(), bamako(11), BAMAKO)).toEqual([]);
  });

  it('sends nobody a historical alert, nor a change that is not to be notified', () => {
    const historical = alert({ historical: true });
    expect(planMessages(change('opened', historical), khabou(), bamako(10), BAMAKO)).toEqual([]);
    expect(planMessages(change('opened', alert(), bamako(10), false), khabou(), bamako(10), BAMAKO)).toEqual([]);
    const resolved = alert({ state: 'resolved', resolvedAtMs: bamako(11) });
    expect(planMessages(change('resolved', resolved, bamako(11), false), khabou(), bamako(11), BAMAKO)).toEqual([]);
  });

  it('tells the committee, and only the committee, that the water is back when a critical alert resolves', () => {
    const nowMs = bamako(22, 30);
    const resolved = alert({ state: 'resolved', resolvedAtMs: nowMs, resolvedBy: 'rules' });
    expect(summary(planMessages(change('resolved', resolved, nowMs), khabou(), nowMs, BAMAKO))).toEqual(
      byPhone(
        { phone: PRESIDENT, kind: 'water_back', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
        { phone: TREASURER, kind: 'water_back', audience: 'committee', language: 'bm', notBeforeMs: nowMs, onlyWhileUnresolved: false },
      ),
    );
  });

  it('sends nothing when a warning resolves or an alert is acknowledged', () => {
    const warning = alert({ rule: 'offline', severity: 'warning', fault: null, state: 'resolved', resolvedAtMs: bamako(12) });
    expect(planMessages(change('resolved', warning, bamako(12)), khabou(), bamako(12), BAMAKO)).toEqual([]);
    const acknowledged = alert({ state: 'acknowledged', acknowledgedAtMs: bamako(11), acknowledgedBy: 'sms:+22376000001' });
    expect(planMessages(change('acknowledged', acknowledged, bamako(11)), khabou(), bamako(11), BAMAKO)).toEqual([]);
  });

  it('tells everybody at once, at night too, when a warning becomes critical', () => {
    const nowMs = bamako(3, 0);
    const critical = alert({ rule: 'low_water', severity: 'critical', fault: null, openedAtMs: bamako(1, 0) });
    const planned = planMessages(change('escalated', critical, nowMs), khabou(), nowMs, BAMAKO);
    expect(planned.map((m) => m.to.phone).sort()).toEqual([TREASURER, PRESIDENT, TECHNICIAN].sort());
    expect(planned.every((m) => m.notBeforeMs === nowMs && !m.onlyWhileUnresolved)).toBe(true);
  });

  it('sends a technician who is also on the committee one message, as the technician, in French', () => {
    const reg = registry({ technicianOnCommittee: true });
    for (const nowMs of [bamako(10), bamako(23)]) {
      for (const severity of ['critical', 'warning'] as const) {
        const a = alert({ severity, rule: severity === 'critical' ? 'pump_fault' : 'offline', openedAtMs: nowMs });
        const toTechnician = planMessages(change('opened', a), khabou(reg), nowMs, BAMAKO).filter((m) => m.to.phone === TECHNICIAN);
        expect(toTechnician, `${severity} at ${new Date(nowMs).toISOString()}`).toEqual([
          expect.objectContaining({ audience: 'technician', language: 'fr', notBeforeMs: nowMs, onlyWhileUnresolved: false }),
        ]);
      }
    }
  });

  it("writes to the committee in the committee's language and to the technician in French", () => {
    for (const language of ['fr', 'bm', 'en'] as const) {
      const borehole: Borehole = { ...khabou(), committee: { ...khabou().committee, language } };
      const planned = planMessages(change('opened', alert()), borehole, bamako(10), BAMAKO);
      expect(planned.filter((m) => m.audience === 'committee').map((m) => m.language)).toEqual([language, language]);
      expect(planned.filter((m) => m.audience === 'technician').map((m) => m.language)).toEqual(['fr']);
    }
  });
});

describe('local time', () => {
  it('shows HH:MM in the zone', () => {
    expect(localTime(bamako(10, 42), BAMAKO)).toBe('10:42');
    expect(localTime(bamako(0, 5), BAMAKO)).toBe('00:05');
    expect(localTime(bamako(10, 42), LAGOS)).toBe('11:42');
    expect(localTime(bamako(23, 30), LAGOS)).toBe('00:30');
  });

  it('finds the next 07:00 in Africa/Bamako, strictly after the given instant', () => {
    expect(nextLocalHour(bamako(23, 0), QUIET_UNTIL_HOUR, BAMAKO)).toBe(bamako(7, 0, 6));
    expect(nextLocalHour(bamako(0, 30), QUIET_UNTIL_HOUR, BAMAKO)).toBe(bamako(7, 0));
    expect(nextLocalHour(bamako(6, 59) + 59_999, QUIET_UNTIL_HOUR, BAMAKO)).toBe(bamako(7, 0));
    expect(nextLocalHour(bamako(7, 0), QUIET_UNTIL_HOUR, BAMAKO)).toBe(bamako(7, 0, 6));
    expect(nextLocalHour(bamako(7, 0) + 1, QUIET_UNTIL_HOUR, BAMAKO)).toBe(bamako(7, 0, 6));
    // Month and year ends.
    expect(nextLocalHour(Date.UTC(2026, 11, 31, 22, 0), 7, BAMAKO)).toBe(Date.UTC(2027, 0, 1, 7, 0));
  });

  it('finds the next 07:00 in Africa/Lagos (UTC+1), which is 06:00 UTC', () => {
    // 22:00 UTC is 23:00 in Lagos: the next 07:00 there is 06:00 UTC the next day.
    expect(nextLocalHour(Date.UTC(2026, 1, 5, 22, 0), 7, LAGOS)).toBe(Date.UTC(2026, 1, 6, 6, 0));
    // 23:30 UTC is already 00:30 the next day in Lagos: 07:00 that same local day.
    expect(nextLocalHour(Date.UTC(2026, 1, 5, 23, 30), 7, LAGOS)).toBe(Date.UTC(2026, 1, 6, 6, 0));
    // 06:30 UTC is 07:30 in Lagos: tomorrow.
    expect(nextLocalHour(Date.UTC(2026, 1, 5, 6, 30), 7, LAGOS)).toBe(Date.UTC(2026, 1, 6, 6, 0));
    expect(isQuietHours(Date.UTC(2026, 1, 5, 6, 30), LAGOS)).toBe(false);
    expect(isQuietHours(Date.UTC(2026, 1, 5, 5, 59), LAGOS)).toBe(true);
  });

  it('defers a warning to 07:00 Lagos time when the service runs on Lagos time', () => {
    const nowMs = Date.UTC(2026, 1, 5, 20, 30); // 21:30 in Lagos, 20:30 in Bamako
    const warning = alert({ rule: 'offline', severity: 'warning', fault: null, openedAtMs: nowMs });
    const committee = planMessages(change('opened', warning), khabou(), nowMs, LAGOS).filter((m) => m.audience === 'committee');
    expect(committee.map((m) => m.notBeforeMs)).toEqual([Date.UTC(2026, 1, 6, 6, 0), Date.UTC(2026, 1, 6, 6, 0)]);
    // The same instant is still daytime in Bamako.
    expect(planMessages(change('opened', warning), khabou(), nowMs, BAMAKO).every((m) => m.notBeforeMs === nowMs)).toBe(true);
  });

  // Regression (src/notify/routing.ts nextLocalHour): the offset is taken at `ms`, not at the target
  // instant, so across a DST change the answer is an hour off (08:00 local instead of 07:00).
  // Mali has no DST, but REPORT_TZ accepts any IANA zone.
  it('finds the next 07:00 across a daylight-saving change (REPORT_TZ may be any IANA zone)', () => {
    // Europe/Paris springs forward on 2026-03-29 at 02:00 (UTC+1 → UTC+2): 07:00 that day is 05:00 UTC.
    expect(nextLocalHour(Date.UTC(2026, 2, 28, 22, 0), 7, 'Europe/Paris')).toBe(Date.UTC(2026, 2, 29, 5, 0));
    // It falls back on 2026-10-25 at 03:00 (UTC+2 → UTC+1): 07:00 that day is 06:00 UTC.
    expect(nextLocalHour(Date.UTC(2026, 9, 24, 21, 0), 7, 'Europe/Paris')).toBe(Date.UTC(2026, 9, 25, 6, 0));
  });

  it('keeps hour boundaries exact in a zone with a half-hour offset', () => {
    // Asia/Kolkata is UTC+5:30: 07:00 there is 01:30 UTC.
    expect(nextLocalHour(Date.UTC(2026, 1, 5, 20, 0), 7, 'Asia/Kolkata')).toBe(Date.UTC(2026, 1, 6, 1, 30));
  });
});
