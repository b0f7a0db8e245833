import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../../src/config/errors.js';
import { loadRegistry, parseRegistry } from '../../../src/config/registry.js';
import { RULE_DEFAULTS } from '../../../src/config/rule-params.js';

const EXAMPLE_PATH = fileURLToPath(new URL('../../../config/boreholes.example.yaml', import.meta.url));

/** A valid registry entry as plain data; tests break one field at a time. */
function entry(id: string, region = 'Kayes'): Record<string, unknown> {
  return {
    id,
    name: `Forage de ${id}`,
    village: id,
    commune: 'Kayes',
    region,
    location: { lat: 14.4469, lon: -11.4445 },
    pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
    committee: {
      language: 'fr',
      contacts: [{ name: 'Président du comité', phone: '+22376000001' }],
    },
    technician: { name: 'Technicien de Kayes', phone: '+22379000003' },
  };
}

const yamlOf = (registry: Record<string, unknown>): string => stringify(registry);

/** The problems a ConfigError lists; fails the test if parsing does not throw one. */
function problemsOf(parse: () => unknown): readonly string[] {
  try {
    parse();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  expect.unreachable('the registry was accepted');
}

describe('borehole registry', () => {
  it('loads the shipped example registry: five boreholes around Khabou', async () => {
    const registry = await loadRegistry(EXAMPLE_PATH);
    expect([...registry.boreholes.keys()].sort()).toEqual(['diamou', 'khabou', 'kouniakary', 'marena', 'segala']);
    const khabou = registry.boreholes.get('khabou');
    expect(khabou).toMatchObject({
      name: 'Forage de Khabou',
      village: 'Khabou',
      commune: 'Kayes',
      region: 'Kayes',
      pump: { rated_flow_lpm: 60, intake_depth_m: 55 },
      committee: { language: 'fr' },
    });
    expect(khabou?.committee.contacts.map((c) => c.phone)).toEqual(['+22376000001', '+22366000002']);
    expect(registry.escalation.Kayes?.phone).toBe('+22321520004');
  });

  it("resolves Khabou's own rule overrides and the defaults for everything else", async () => {
    const registry = await loadRegistry(EXAMPLE_PATH);
    expect(registry.boreholes.get('khabou')?.rules).toEqual({ ...RULE_DEFAULTS, no_flow_minutes: 10, offline_minutes: 60 });
    // Ségala names no rules at all: every parameter is the default.
    expect(registry.boreholes.get('segala')?.rules).toEqual({ ...RULE_DEFAULTS });
  });

  it('defaults the committee language to French when the entry names none', () => {
    const bare = entry('khabou');
    bare.committee = { contacts: [{ name: 'Président', phone: '+22376000001' }] };
    const registry = parseRegistry(yamlOf({ boreholes: [bare] }), 'x.yaml');
    expect(registry.boreholes.get('khabou')?.committee.language).toBe('fr');
  });

  it('lists every problem of a broken registry at once, naming the entry by index and id and the field', () => {
    const badId = { ...entry('khabou'), id: 'Khabou_1' };
    const badPhone = entry('segala');
    badPhone.committee = { language: 'bm', contacts: [{ name: 'Président', phone: '76 00 00 11' }] };
    const noIntake = { ...entry('diamou'), pump: { rated_flow_lpm: 50 } };
    const problems = problemsOf(() => parseRegistry(yamlOf({ boreholes: [badId, badPhone, noIntake] }), 'x.yaml'));

    expect(problems).toHaveLength(3);
    expect(problems).toContainEqual(expect.stringMatching(/^boreholes\[0\] \(id "Khabou_1"\)\.id: /));
    expect(problems).toContainEqual(expect.stringMatching(/^boreholes\[1\] \(id "segala"\)\.committee\.contacts\[0\]\.phone: .*E\.164/));
    expect(problems).toContainEqual(expect.stringMatching(/^boreholes\[2\] \(id "diamou"\)\.pump\.intake_depth_m: /));
  });

  it('puts the file name and every problem in the error message an operator reads', () => {
    const badPhone = entry('segala');
    badPhone.technician = { name: 'Technicien', phone: '0022379000003' };
    try {
      parseRegistry(yamlOf({ boreholes: [entry('khabou'), badPhone] }), '/etc/boreholes.yaml');
      expect.unreachable('the registry was accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toContain('/etc/boreholes.yaml');
      expect((error as Error).message).toContain('boreholes[1] (id "segala").technician.phone');
    }
  });

  it('refuses a duplicate id, naming both entries', () => {
    const problems = problemsOf(() =>
      parseRegistry(yamlOf({ boreholes: [entry('khabou'), entry('segala'), entry('khabou')] }), 'x.yaml'),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^boreholes\[2\] \(id "khabou"\)\.id: /);
    expect(problems[0]).toContain('boreholes[0]');
  });

  it('reports a duplicate id together with the other problems, not after they are fixed', () => {
    const badPhone = entry('segala');
    badPhone.technician = { name: 'Technicien', phone: 'none' };
    const problems = problemsOf(() =>
      parseRegistry(yamlOf({ boreholes: [entry('khabou'), badPhone, entry('khabou')] }), 'x.yaml'),
    );
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(expect.stringMatching(/^boreholes\[1\] \(id "segala"\)\.technician\.phone: /));
    expect(problems).toContainEqual(expect.stringMatching(/^boreholes\[2\] \(id "khabou"\)\.id: .*boreholes\[0\]/));
  });

  it('reports a duplicate id and an escalation region without boreholes even when an entry lacks a field', () => {
    const noIntake = { ...entry('khabou'), pump: { rated_flow_lpm: 50 } };
    const problems = problemsOf(() =>
      parseRegistry(
        yamlOf({ boreholes: [entry('khabou'), noIntake], escalation: { Koulikoro: { name: 'DRH Koulikoro', phone: '+22321260005' } } }),
        'x.yaml',
      ),
    );
    expect(problems).toEqual([
      expect.stringMatching(/^boreholes\[1\] \(id "khabou"\)\.id: duplicate id "khabou" \(already used by boreholes\[0\]\)$/),
      'boreholes[1] (id "khabou").pump.intake_depth_m: is missing: expected a number',
      expect.stringMatching(/^escalation\.Koulikoro: no borehole is in region "Koulikoro"/),
    ]);
  });

  it('gives the line and column of each problem in the message, in the order of the file', () => {
    const content = [
      'boreholes:',
      '  - id: khabou',
      '    name: Forage de Khabou',
      '    village: Khabou',
      '    commune: Kayes',
      '    region: Kayes',
      '    location: { lat: 14.4, lon: -11.4 }',
      '    pump: { rated_flow_lpm: 60 }',
      '    committee: { contacts: [{ name: Président, phone: "+22321520004" }] }',
      '    technicien: { name: Technicien, phone: "+22379000003" }',
      '',
    ].join('\n');
    try {
      parseRegistry(content, 'boreholes.yaml');
      expect.unreachable('the registry was accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message.split('\n')).toEqual([
        'borehole registry boreholes.yaml is invalid:',
        // Missing: where the entry that lacks it begins.
        '  - boreholes[0] (id "khabou").technician (line 2, column 5): is missing: expected an object',
        '  - boreholes[0] (id "khabou").pump.intake_depth_m (line 8, column 11): is missing: expected a number',
        '  - boreholes[0] (id "khabou").committee.contacts[0].phone (line 9, column 55): must be a mobile number (it receives SMS): +22321520004 is a landline',
        '  - boreholes[0] (id "khabou") (line 10, column 5): unknown key "technicien" (did you mean "technician"?); the keys here are id, name, village, commune, region, location, pump, committee, technician, backup_technician, provider, service_level, rules',
      ]);
      // The problems themselves stay as the API and the reload log show them.
      expect((error as ConfigError).problems).toContain('boreholes[0] (id "khabou").pump.intake_depth_m: is missing: expected a number');
    }
  });

  it('lists every YAML syntax error with its line and column', () => {
    try {
      parseRegistry('boreholes:\n  - id: a\n    name: x\n   village: y\n  - id: b\n    id: c\n', 'x.yaml');
      expect.unreachable('the registry was accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).message.split('\n').slice(1)).toEqual([
        '  - line 4, column 1: cannot be parsed: Sequence item without - indicator',
        '  - line 6, column 5: cannot be parsed: Map keys must be unique',
      ]);
    }
  });

  it('gives the line of a problem in a JSON registry too', () => {
    const json = JSON.stringify({ boreholes: [entry('khabou'), { ...entry('segala'), location: { lat: 140, lon: -11 } }] }, null, 2);
    const line = json.split('\n').findIndex((l) => l.includes('"lat": 140')) + 1;
    expect(() => parseRegistry(json, 'x.json')).toThrow(`boreholes[1] (id "segala").location.lat (line ${line}, column 16): `);
  });

  it('refuses an escalation contact for a region that has no borehole', () => {
    const problems = problemsOf(() =>
      parseRegistry(
        yamlOf({
          boreholes: [entry('khabou', 'Kayes')],
          escalation: {
            Kayes: { name: 'DRH Kayes', phone: '+22321520004' },
            Koulikoro: { name: 'DRH Koulikoro', phone: '+22321260005' },
          },
        }),
        'x.yaml',
      ),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^escalation\.Koulikoro: /);
  });

  it('refuses a misspelt rule parameter instead of silently keeping the default', () => {
    const misspelt = { ...entry('khabou'), rules: { no_flow_minute: 5 } };
    const problems = problemsOf(() => parseRegistry(yamlOf({ boreholes: [misspelt] }), 'x.yaml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^boreholes\[0\] \(id "khabou"\)\.rules: /);
    expect(problems[0]).toContain('no_flow_minute');
  });

  it('refuses a misspelt parameter in the top-level rules too', () => {
    const problems = problemsOf(() =>
      parseRegistry(yamlOf({ boreholes: [entry('khabou')], rules: { offline_minute: 30 } }), 'x.yaml'),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^rules: /);
    expect(problems[0]).toContain('offline_minute');
  });

  it('accepts decimals in minutes (offline_minutes: 0.5)', () => {
    const registry = parseRegistry(
      yamlOf({ boreholes: [{ ...entry('khabou'), rules: { offline_minutes: 0.5, no_flow_minutes: 1.5 } }] }),
      'x.yaml',
    );
    expect(registry.boreholes.get('khabou')?.rules).toMatchObject({ offline_minutes: 0.5, no_flow_minutes: 1.5 });
  });

  it('applies the top-level rules to every borehole, and a per-borehole override wins', () => {
    const registry = parseRegistry(
      yamlOf({
        boreholes: [{ ...entry('khabou'), rules: { offline_minutes: 30 } }, entry('segala')],
        rules: { offline_minutes: 90, no_flow_lpm: 2 },
      }),
      'x.yaml',
    );
    expect(registry.boreholes.get('khabou')?.rules).toEqual({ ...RULE_DEFAULTS, offline_minutes: 30, no_flow_lpm: 2 });
    expect(registry.boreholes.get('segala')?.rules).toEqual({ ...RULE_DEFAULTS, offline_minutes: 90, no_flow_lpm: 2 });
  });

  it('reads the YAML of the contract example as written', () => {
    const content = `
boreholes:
  - id: khabou
    name: Forage de Khabou
    village: Khabou
    commune: Kayes
    region: Kayes
    location: { lat: 14.4469, lon: -11.4445 }
    pump: { rated_flow_lpm: 60, intake_depth_m: 55 }
    committee:
      language: fr            # fr | bm | en
      contacts:
        - { name: Président du comité, phone: "+22376000001" }
        - { name: Trésorière, phone: "+22366000002" }
    technician: { name: Technicien de Kayes, phone: "+22379000003" }
    rules: { no_flow_minutes: 10, offline_minutes: 60 }   # optional per-borehole overrides
escalation:                     # optional: who hears of unacknowledged critical alerts, per region
  Kayes: { name: Direction régionale de l'hydraulique, phone: "+22321520004" }
rules: { offline_minutes: 90 }  # optional: defaults for every borehole, overriding section 4's
`;
    const registry = parseRegistry(content, 'boreholes.yaml');
    expect(registry.boreholes.get('khabou')?.technician).toEqual({ name: 'Technicien de Kayes', phone: '+22379000003' });
    // The borehole's own 60 wins over the file-wide 90.
    expect(registry.boreholes.get('khabou')?.rules.offline_minutes).toBe(60);
    expect(registry.escalation.Kayes?.name).toBe("Direction régionale de l'hydraulique");
  });

  it('reads JSON as well as YAML', () => {
    const json = JSON.stringify({ boreholes: [entry('khabou'), entry('segala')], rules: { clear_minutes: 2 } });
    const registry = parseRegistry(json, 'x.json');
    expect([...registry.boreholes.keys()]).toEqual(['khabou', 'segala']);
    expect(registry.boreholes.get('segala')?.rules.clear_minutes).toBe(2);
  });

  it('names the entry and field in a JSON registry too', () => {
    const bad = { ...entry('segala'), location: { lat: 140, lon: -11 } };
    const problems = problemsOf(() => parseRegistry(JSON.stringify({ boreholes: [entry('khabou'), bad] }), 'x.json'));
    expect(problems).toEqual([expect.stringMatching(/^boreholes\[1\] \(id "segala"\)\.location\.lat: /)]);
  });

  it('gives a ConfigError, not a crash, for YAML that cannot be parsed', () => {
    const problems = problemsOf(() => parseRegistry('boreholes: [ { id: khabou\n  name: "unterminated\n', 'x.yaml'));
    expect(problems.length).toBeGreaterThanOrEqual(1);
    for (const problem of problems) expect(problem).toMatch(/^cannot be parsed: /);
    expect(problems).toContain('cannot be parsed: Missing closing "quote');
  });

  it('gives a ConfigError for JSON that cannot be parsed', () => {
    const problems = problemsOf(() => parseRegistry('{"boreholes": [', 'x.json'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^cannot be parsed: /);
  });

  it('refuses an empty file and a registry without boreholes', () => {
    expect(problemsOf(() => parseRegistry('', 'x.yaml'))).toHaveLength(1);
    expect(problemsOf(() => parseRegistry('boreholes: []\n', 'x.yaml'))).toEqual([
      expect.stringMatching(/^boreholes: /),
    ]);
  });

  it('gives a ConfigError naming the path when the file cannot be read', async () => {
    const missing = fileURLToPath(new URL('../../../config/no-such-registry.yaml', import.meta.url));
    await expect(loadRegistry(missing)).rejects.toSatisfy(
      (error: unknown) => error instanceof ConfigError && error.message.includes(missing) && error.problems[0] === 'cannot be read: there is no such file',
    );
  });
});
