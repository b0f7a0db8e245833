/**
 * The registry is read by js-yaml (fast enough for a country, issue 19) and its problems placed
 * by the `yaml` document model: both must read a file the same way, or a registry that passes
 * `npm run check` could mean something else to the service.
 */
import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const TRICKY = `
# Scalars YAML 1.1 and 1.2 read differently, and what js-yaml's default schema would turn into dates.
boreholes:
  - id: &id khabou
    name: "Forage de Khabou"
    village: Khabou
    commune: 'Kayes'
    region: Kayes
    opened: 2026-02-05
    flags: [yes, no, on, off, ~, null, true]
    numbers: [0755, 0o17, 0x1F, 1e3, .inf, -.Inf, .nan, +12, 007]
    phone_unquoted: +22376000001
    phone_quoted: "+22376000001"
    same_id: *id
    folded: >
      deux
      lignes
    literal: |
      une
      ligne
`;

describe('the registry read by js-yaml (core schema) and by yaml', () => {
  it.each([
    ['config/boreholes.example.yaml', readFileSync('config/boreholes.example.yaml', 'utf8')],
    ['a file of tricky scalars', TRICKY],
  ])('reads %s the same way', (_name, content) => {
    const fast = load(content, { schema: CORE_SCHEMA });
    const numbers = (value: unknown) => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    expect(numbers(fast)).toBe(numbers(parse(content)));
  });
});
