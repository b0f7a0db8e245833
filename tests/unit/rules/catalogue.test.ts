import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../../src/rules/catalogue/index.js';
import { parseRuleState, readRuleState, RuleStateError } from '../../../src/rules/state.js';
import { initialRuleState, RULE_IDS, RULE_STATE_VERSION } from '../../../src/rules/types.js';

/** A state as the service saved it before states had a version (and before the joint timeline). */
const SAVED_BEFORE_VERSIONS = {
  lastTsMs: 1_770_300_000_000,
  lastHeardAtMs: 1_770_300_001_000,
  running: true,
  lastPumpTsMs: 1_770_300_000_000,
  fault: '',
  flowLpm: 0,
  lastFlowTsMs: 1_770_299_990_000,
  depthM: 31.5,
  lastLevelTsMs: 1_770_299_995_000,
  starts: [1_770_299_000_000],
  runningMsSinceService: 7_200_000,
  day: { key: '2026-02-05', m3: 12.5, lastTotalM3: null },
  days: [{ day: '2026-02-04', m3: 30 }],
  lowOutput: { holds: false, detail: '' },
  conditions: { no_flow: { phase: 'pending', sinceMs: 1_770_299_700_000, severity: 'critical', detail: 'débit 0 l/min, pompe en marche' } },
};

describe('the rule catalogue', () => {
  it('files every rule under its own id', () => {
    for (const rule of RULE_IDS) expect(CATALOGUE[rule].id).toBe(rule);
  });

  it('gives each rule facts of its own: no two rules keep the same key', () => {
    const owners = new Map<string, string>();
    for (const rule of RULE_IDS) {
      for (const key of Object.keys(CATALOGUE[rule].facts.shape)) {
        expect(owners.get(key), `${key} is kept by ${owners.get(key)} and ${rule}`).toBeUndefined();
        owners.set(key, rule);
      }
    }
  });

  it('starts each rule from facts its own schema accepts', () => {
    for (const rule of RULE_IDS) expect(CATALOGUE[rule].facts.parse(CATALOGUE[rule].initialFacts())).toEqual(CATALOGUE[rule].initialFacts());
  });
});

describe('reading saved rule state back', () => {
  it('reads what it saved as it was', () => {
    const state = { ...initialRuleState(), lastTsMs: 1, running: true, starts: [1] };
    expect(parseRuleState(JSON.stringify(state))).toEqual(state);
  });

  it('loads a state saved before versions, its joint timeline starting where its single timeline stood', () => {
    const state = readRuleState(SAVED_BEFORE_VERSIONS);
    expect(state).toMatchObject({ ...SAVED_BEFORE_VERSIONS, version: RULE_STATE_VERSION });
    expect(state.joint).toEqual({ atMs: 1_770_300_000_000, running: true, pumpTsMs: 1_770_300_000_000, flowLpm: 0, flowTsMs: 1_770_299_990_000, queue: [] });
  });

  it('starts a rule added since from its initial facts, and drops what a removed rule kept', () => {
    const { starts: _starts, ...withoutShortCycling } = SAVED_BEFORE_VERSIONS;
    const saved = { ...withoutShortCycling, retiredFact: 3, conditions: { ...SAVED_BEFORE_VERSIONS.conditions, retired_rule: SAVED_BEFORE_VERSIONS.conditions.no_flow } };
    const state = readRuleState(saved);
    expect(state.starts).toEqual(CATALOGUE.short_cycling.initialFacts().starts);
    expect(state).not.toHaveProperty('retiredFact');
    expect(Object.keys(state.conditions)).toEqual(['no_flow']);
  });

  it('refuses, with the reason, a state that does not fit or comes from a newer version', () => {
    expect(() => parseRuleState('{"running": "yes"}')).toThrow(RuleStateError);
    expect(() => parseRuleState('{"running": "yes"}')).toThrow(/running/);
    expect(() => parseRuleState('not json')).toThrow(/not JSON/);
    expect(() => readRuleState({ ...initialRuleState(), version: RULE_STATE_VERSION + 1 })).toThrow(/newer/);
  });
});
