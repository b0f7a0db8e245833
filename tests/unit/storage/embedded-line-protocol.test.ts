/**
 * The line-protocol reader of the embedded store: it reads back everything `line-protocol.ts`
 * writes, and refuses what InfluxDB refuses, so the drain treats a bad line the same with both.
 */
import { describe, expect, it } from 'vitest';
import { LineProtocolError, parseLine, type ParsedSeries } from '../../../src/storage/line-protocol-parser.js';
import { toLine } from '../../../src/storage/line-protocol.js';

const NOW = 1_767_225_600_000;

describe('parseLine', () => {
  it('reads back what the service writes, escapes and all', () => {
    const line = toLine({
      measurement: 'alert',
      tags: { borehole: 'khabou', region: 'Kayes', commune: 'Marena Diombougou', rule: 'pump_fault', severity: 'critical' },
      fields: { state: 'open', message: 'Panne "pompe", marche à sec = arrêt\\fin', count: 3n, rate: -1.5e-3 },
      tsMs: NOW,
    });
    const point = parseLine(line, 0);
    expect(point?.series.measurement).toBe('alert');
    expect(point?.series.tags).toEqual([
      ['borehole', 'khabou'],
      ['commune', 'Marena Diombougou'],
      ['region', 'Kayes'],
      ['rule', 'pump_fault'],
      ['severity', 'critical'],
    ]);
    expect(point?.fields).toEqual([
      { key: 'state', type: 'string', value: 'open' },
      { key: 'message', type: 'string', value: 'Panne "pompe", marche à sec = arrêt\\fin' },
      { key: 'count', type: 'integer', value: 3n },
      { key: 'rate', type: 'float', value: -0.0015 },
    ]);
    expect(point?.tsMs).toBe(NOW);
  });

  it('gives one series key whatever the order of the tags', () => {
    const a = parseLine(`flow,region=Kayes,borehole=b1 rate_lpm=1 ${NOW}`, 0);
    const b = parseLine(`flow,borehole=b1,region=Kayes rate_lpm=2 ${NOW}`, 0);
    expect(a?.series.key).toBe('flow,borehole=b1,region=Kayes');
    expect(b?.series.key).toBe(a?.series.key);
  });

  it('takes booleans, unsigned integers, a missing timestamp, and skips comments and blank lines', () => {
    expect(parseLine(`m,t=1 a=t,b=FALSE,c=7u,d=1e3`, NOW)).toMatchObject({
      fields: [
        { key: 'a', type: 'boolean', value: 1n },
        { key: 'b', type: 'boolean', value: 0n },
        { key: 'c', type: 'unsigned', value: 7n },
        { key: 'd', type: 'float', value: 1000 },
      ],
      tsMs: NOW,
    });
    expect(parseLine('# a journal trailer', NOW)).toBeNull();
    expect(parseLine('   ', NOW)).toBeNull();
  });

  it('caches the series part by its text', () => {
    const cache = new Map<string, ParsedSeries>();
    const first = parseLine(`flow,borehole=b1 rate_lpm=1 ${NOW}`, 0, cache);
    const second = parseLine(`flow,borehole=b1 rate_lpm=2 ${NOW + 1}`, 0, cache);
    expect(second?.series).toBe(first?.series);
    expect(cache.size).toBe(1);
  });

  it.each([
    ['no fields', `flow,borehole=b1 ${NOW}`],
    ['no field value', `flow,borehole=b1 rate_lpm= ${NOW}`],
    ['a tag without value', `flow,borehole= rate_lpm=1 ${NOW}`],
    ['an unclosed string', `alert,borehole=b1 message="open ${NOW}`],
    ['a word for a number', `flow,borehole=b1 rate_lpm=fast ${NOW}`],
    ['an integer out of range', `flow,borehole=b1 n=9223372036854775808i ${NOW}`],
    ['a bad timestamp', 'flow,borehole=b1 rate_lpm=1 12:00'],
    ['no measurement', `,borehole=b1 rate_lpm=1 ${NOW}`],
    ['duplicate tags', `flow,borehole=b1,borehole=b2 rate_lpm=1 ${NOW}`],
  ])('refuses %s', (_what, line) => {
    expect(() => parseLine(line, 0)).toThrow(LineProtocolError);
  });
});
