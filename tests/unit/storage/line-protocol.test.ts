import { describe, expect, it } from 'vitest';
import type { Reading } from '../../../src/domain/reading.js';
import { toLine } from '../../../src/storage/line-protocol.js';
import { readingToPoint, type PointTags } from '../../../src/storage/points.js';

const TS_MS = Date.UTC(2026, 1, 5, 10, 42, 0, 125);
const KHABOU: PointTags = { borehole: 'khabou', region: 'Kayes', commune: 'Kayes' };
const KHABOU_TAGS = 'borehole=khabou,commune=Kayes,region=Kayes';

const lineOf = (reading: Reading, tags: PointTags = KHABOU): string => toLine(readingToPoint(reading, tags));

/**
 * Splits a line into its three sections (measurement and tags, fields, timestamp) and the fields
 * into key → raw value text, honouring backslash escapes and quoted strings, so tests can check
 * the fields without depending on their order (which line protocol does not give a meaning to).
 */
function parseLine(line: string): { series: string; fields: Record<string, string>; timestamp: string } {
  const split = (text: string, separator: string): string[] => {
    const parts: string[] = [];
    let current = '';
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i] ?? '';
      if (c === '\\' && i + 1 < text.length) {
        current += c + (text[i + 1] ?? '');
        i += 1;
      } else if (c === '"') {
        quoted = !quoted;
        current += c;
      } else if (c === separator && !quoted) {
        parts.push(current);
        current = '';
      } else {
        current += c;
      }
    }
    parts.push(current);
    return parts;
  };
  const sections = split(line, ' ');
  expect(sections).toHaveLength(3);
  const [series = '', fieldText = '', timestamp = ''] = sections;
  const fields: Record<string, string> = {};
  for (const pair of split(fieldText, ',')) {
    const [key = '', ...value] = split(pair, '=');
    expect(fields).not.toHaveProperty(key);
    fields[key] = value.join('=');
  }
  return { series, fields, timestamp };
}

describe('readings as InfluxDB line protocol (CONTRACT section 2)', () => {
  it('writes a flow reading as measurement flow with a float rate_lpm and the ms timestamp last', () => {
    const line = lineOf({ boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 12.5 } });
    expect(line).toBe(`flow,${KHABOU_TAGS} rate_lpm=12.5 ${TS_MS}`);
  });

  it('writes total_m3 only when the device sent it', () => {
    const withTotal = lineOf({ boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 12.5, total_m3: 1834.25 } });
    expect(parseLine(withTotal).fields).toEqual({ rate_lpm: '12.5', total_m3: '1834.25' });
    const without = lineOf({ boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 12.5 } });
    expect(parseLine(without).fields).toEqual({ rate_lpm: '12.5' });
  });

  it('writes an integral float bare (60, not 60i), so the field stays a float', () => {
    const line = lineOf({ boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 60, total_m3: 0 } });
    expect(parseLine(line).fields).toEqual({ rate_lpm: '60', total_m3: '0' });
  });

  it('writes a pump reading with running as an integer 0/1 and fault "" when there is none', () => {
    const running = lineOf({ boreholeId: 'khabou', kind: 'pump', tsMs: TS_MS, values: { running: true } });
    expect(parseLine(running)).toEqual({ series: `pump,${KHABOU_TAGS}`, fields: { running: '1i', fault: '""' }, timestamp: String(TS_MS) });
    const stopped = lineOf({ boreholeId: 'khabou', kind: 'pump', tsMs: TS_MS, values: { running: false, fault: null } });
    expect(parseLine(stopped).fields).toEqual({ running: '0i', fault: '""' });
  });

  it('writes the fault code, current and voltage of a pump reading when sent', () => {
    const line = lineOf({
      boreholeId: 'khabou',
      kind: 'pump',
      tsMs: TS_MS,
      values: { running: true, current_a: 4.2, voltage_v: 231, fault: 'dry_run' },
    });
    expect(parseLine(line).fields).toEqual({ running: '1i', current_a: '4.2', voltage_v: '231', fault: '"dry_run"' });
  });

  it('escapes a quote and a backslash inside a fault string', () => {
    const line = lineOf({ boreholeId: 'khabou', kind: 'pump', tsMs: TS_MS, values: { running: false, fault: 'E"7\\b' } });
    expect(parseLine(line).fields.fault).toBe('"E\\"7\\\\b"');
  });

  it('writes a level reading as measurement level with depth_m', () => {
    const line = lineOf({ boreholeId: 'khabou', kind: 'level', tsMs: TS_MS, values: { depth_m: 42.7 } });
    expect(line).toBe(`level,${KHABOU_TAGS} depth_m=42.7 ${TS_MS}`);
  });

  it('writes a status as measurement device with online as an integer 0/1', () => {
    const offline = lineOf({ boreholeId: 'khabou', kind: 'status', tsMs: TS_MS, values: { online: false } });
    expect(offline).toBe(`device,${KHABOU_TAGS} online=0i ${TS_MS}`);
    const online = lineOf({
      boreholeId: 'khabou',
      kind: 'status',
      tsMs: TS_MS,
      values: { online: true, fw: '1.4.2', rssi_dbm: -71, battery_v: 12.6 },
    });
    // rssi_dbm is a float in the schema even though devices send whole numbers.
    expect(parseLine(online)).toEqual({
      series: `device,${KHABOU_TAGS}`,
      fields: { online: '1i', rssi_dbm: '-71', battery_v: '12.6' },
      timestamp: String(TS_MS),
    });
  });

  it('sorts the tags borehole, commune, region whatever order they are given in', () => {
    const line = lineOf(
      { boreholeId: 'khabou', kind: 'level', tsMs: TS_MS, values: { depth_m: 1 } },
      { region: 'Kayes', commune: 'Kayes', borehole: 'khabou' },
    );
    expect(parseLine(line).series).toBe(`level,${KHABOU_TAGS}`);
  });

  it('escapes a space in a commune name (Marena Diombougou)', () => {
    const line = lineOf(
      { boreholeId: 'marena', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 12.5 } },
      { borehole: 'marena', region: 'Kayes', commune: 'Marena Diombougou' },
    );
    expect(line).toBe(`flow,borehole=marena,commune=Marena\\ Diombougou,region=Kayes rate_lpm=12.5 ${TS_MS}`);
  });

  it('escapes a comma and an equals sign in a tag value', () => {
    const line = lineOf(
      { boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 12.5 } },
      { borehole: 'khabou', region: 'Kayes', commune: 'Kayes,Nord=1' },
    );
    expect(parseLine(line).series).toBe('flow,borehole=khabou,commune=Kayes\\,Nord\\=1,region=Kayes');
  });

  it('never emits a raw newline, in a string field or in a tag', () => {
    const line = lineOf(
      { boreholeId: 'khabou', kind: 'pump', tsMs: TS_MS, values: { running: true, fault: 'dry\nrun' } },
      { borehole: 'khabou', region: 'Kayes', commune: 'Kayes\r\n' },
    );
    expect(line).not.toMatch(/[\n\r]/);
    expect(parseLine(line).timestamp).toBe(String(TS_MS));
  });

  it('writes the timestamp in whole milliseconds', () => {
    const line = lineOf({ boreholeId: 'khabou', kind: 'flow', tsMs: TS_MS, values: { rate_lpm: 1 } });
    expect(line.endsWith(` ${TS_MS}`)).toBe(true);
    expect(parseLine(line).timestamp).toMatch(/^\d{13}$/);
  });
});
