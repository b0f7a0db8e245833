/**
 * The cause table (src/incidents/causes.ts, CONTRACT.md section 9): which alert explains which,
 * so that Khabou's dry run is one incident named after its cause, whatever opened first.
 */
import { describe, expect, it } from 'vitest';
import { MINUTE_MS, PRESIDENT, pump, startDesk, TECHNICIAN, TREASURER } from './harness.js';
import { CAUSE_TABLE, explains, INFORMATION_ONLY, related, rootCause, type AlertKind } from '../../../src/incidents/causes.js';
import { ALERT_RULES, MANUAL_RULE } from '../../../src/rules/types.js';

const DRY_RUN: AlertKind = { rule: 'pump_fault', fault: 'dry_run' };
const OVERLOAD: AlertKind = { rule: 'pump_fault', fault: 'overload' };
const PUMP_FAULT: AlertKind = { rule: 'pump_fault', fault: null };
const k = (rule: AlertKind['rule']): AlertKind => ({ rule });

/** Every kind of alert the table can see: each rule, and a dry-run fault beside a pump fault in general. */
const KINDS: readonly AlertKind[] = [...ALERT_RULES.map((rule) => ({ rule, fault: null })), DRY_RUN, OVERLOAD];
const name = (kind: AlertKind): string => (kind.fault ? `${kind.rule}:${kind.fault}` : kind.rule);

describe('the cause table', () => {
  it('a pump dry_run fault explains low water and no flow', () => {
    expect(explains(DRY_RUN, k('low_water'))).toBe(true);
    expect(explains(DRY_RUN, k('no_flow'))).toBe(true);
    expect(explains(DRY_RUN, k('low_output'))).toBe(true);
  });

  it('offline explains no_flow and low_output (judged from missing data), not a pump fault', () => {
    expect(explains(k('offline'), k('no_flow'))).toBe(true);
    expect(explains(k('offline'), k('low_output'))).toBe(true);
    expect(explains(k('offline'), PUMP_FAULT)).toBe(false);
    expect(explains(k('offline'), k('low_water'))).toBe(false);
  });

  it('any pump fault explains no_flow; only a dry-run fault explains low water', () => {
    for (const fault of [PUMP_FAULT, OVERLOAD, DRY_RUN]) expect(explains(fault, k('no_flow')), name(fault)).toBe(true);
    expect(explains(OVERLOAD, k('low_water'))).toBe(false);
    expect(explains(PUMP_FAULT, k('low_water'))).toBe(false);
  });

  it('low water at the intake explains a later dry-run fault, not an overload', () => {
    expect(explains(k('low_water'), DRY_RUN)).toBe(true);
    expect(explains(k('low_water'), OVERLOAD)).toBe(false);
    expect(explains(k('low_water'), k('no_flow'))).toBe(true);
  });

  it('consequences do not explain their causes', () => {
    expect(explains(k('no_flow'), DRY_RUN)).toBe(false);
    expect(explains(k('no_flow'), k('offline'))).toBe(false);
    expect(explains(k('low_output'), k('no_flow'))).toBe(false);
    for (const kind of KINDS) expect(explains(k('low_output'), kind), name(kind)).toBe(kind.rule === MANUAL_RULE);
  });

  it("any data alert explains a person's report; the report explains nothing", () => {
    for (const kind of KINDS) {
      if (kind.rule === MANUAL_RULE || INFORMATION_ONLY.has(kind.rule)) continue;
      expect(explains(kind, k(MANUAL_RULE)), name(kind)).toBe(true);
      expect(explains(k(MANUAL_RULE), kind), name(kind)).toBe(false);
    }
  });

  it('maintenance_due is information only: it explains nothing and nothing explains it', () => {
    expect(INFORMATION_ONLY.has('maintenance_due')).toBe(true);
    for (const kind of KINDS) {
      expect(explains(k('maintenance_due'), kind)).toBe(false);
      expect(explains(kind, k('maintenance_due'))).toBe(false);
    }
  });

  it('relates alerts of one rule, and cause with consequence, but not two unrelated faults', () => {
    expect(related(OVERLOAD, DRY_RUN)).toBe(true);
    expect(related(k('no_flow'), DRY_RUN)).toBe(true);
    expect(related(DRY_RUN, k('no_flow'))).toBe(true);
    expect(related(k('offline'), k('low_water'))).toBe(false);
    expect(related(k('current_rising'), k('low_water'))).toBe(false);
  });

  it('names every cause and consequence among the alert rules, each with why', () => {
    const known = new Set<string>([...ALERT_RULES, 'pump_fault:dry_run']);
    for (const link of CAUSE_TABLE) {
      expect(known.has(link.cause), link.cause).toBe(true);
      for (const effect of link.explains) expect(known.has(effect), effect).toBe(true);
      expect(link.why.length).toBeGreaterThan(10);
    }
  });
});

describe('rootCause', () => {
  const alert = (kind: AlertKind, id: string) => ({ ...kind, id });

  it('picks the first of the mutual pair: low water then dry run is low water, the other order a dry run', () => {
    expect(rootCause([alert(k('low_water'), 'a'), alert(DRY_RUN, 'b')])?.id).toBe('a');
    expect(rootCause([alert(DRY_RUN, 'a'), alert(k('low_water'), 'b')])?.id).toBe('a');
  });

  it('climbs a chain whatever the order: low output, no flow, then the device went silent', () => {
    const alerts = [alert(k('low_output'), 'out'), alert(k('no_flow'), 'flow'), alert(k('offline'), 'off')];
    expect(rootCause(alerts)?.rule).toBe('offline');
    expect(rootCause([...alerts].reverse())?.rule).toBe('offline');
    expect(rootCause([alert(k('no_flow'), 'n'), alert(k('low_water'), 'l'), alert(DRY_RUN, 'd')])?.rule).toBe('low_water');
    expect(rootCause([alert(k('no_flow'), 'n'), alert(DRY_RUN, 'd'), alert(k('low_water'), 'l')])).toMatchObject({ rule: 'pump_fault', fault: 'dry_run' });
  });

  it('is undefined for no alert, and the alert itself for one', () => {
    expect(rootCause([])).toBeUndefined();
    expect(rootCause([alert(k('no_flow'), 'x')])?.id).toBe('x');
  });
});

describe('no other cycle', () => {
  /** Kinds reachable from `from` through one or more rows of the table. */
  function reachable(from: AlertKind): Set<string> {
    const seen = new Set<string>();
    const queue = [from];
    while (queue.length > 0) {
      const current = queue.shift() as AlertKind;
      for (const next of KINDS) {
        if (!explains(current, next) || seen.has(name(next))) continue;
        seen.add(name(next));
        queue.push(next);
      }
    }
    return seen;
  }

  it('no alert explains itself, even through a chain, except through the low water / dry run pair', () => {
    const cycles: string[] = [];
    for (const kind of KINDS) if (reachable(kind).has(name(kind))) cycles.push(name(kind));
    expect(cycles.sort()).toEqual(['low_water', 'pump_fault:dry_run']);
  });

  it('the only pair explaining each other is low water and the dry-run fault', () => {
    const mutual: string[] = [];
    for (const a of KINDS) for (const b of KINDS) if (name(a) < name(b) && reachable(a).has(name(b)) && reachable(b).has(name(a))) mutual.push(`${name(a)}|${name(b)}`);
    expect(mutual).toEqual(['low_water|pump_fault:dry_run']);
  });

  it('the table is closed under chains, so the root does not depend on which link opened first', () => {
    const missing: string[] = [];
    for (const a of KINDS) {
      for (const c of reachable(a)) {
        const target = KINDS.find((kind) => name(kind) === c) as AlertKind;
        if (name(a) !== c && !explains(a, target)) missing.push(`${name(a)} → ${c}`);
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('on the desk', () => {
  it("joins the pump's dry-run fault to the PANNE the committee sent a minute before: one incident, told once", async () => {
    const h = startDesk();
    try {
      expect(await h.sms(PRESIDENT, "PANNE pas d'eau")).toBe('fault_opened');
      const before = h.gateway.delivered.length;
      await h.advance(MINUTE_MS);
      await h.read(pump(h.clock.nowMs, false, 'dry_run'));
      await h.advance(2 * MINUTE_MS);
      const incidents = h.incidents();
      expect(incidents).toHaveLength(1);
      // The sensors name what the committee saw.
      expect(incidents[0]).toMatchObject({ cause: 'pump_fault', fault: 'dry_run' });
      expect(incidents[0]?.alertIds).toHaveLength(2);
      expect(h.gateway.delivered.slice(before).filter((m) => m.to === TECHNICIAN || m.to === TREASURER)).toEqual([]);
    } finally {
      await h.stop();
    }
  });
});
