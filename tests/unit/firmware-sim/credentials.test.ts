import { describe, expect, it } from 'vitest';
import { missingCredentials, parseCredentials } from '../../../firmware-sim/credentials.js';

describe('simulator credentials (the broker devices file)', () => {
  it('reads id:password lines, skipping blanks and comments, passwords with colons intact', () => {
    const credentials = parseCredentials('# made by make-passwords.sh\n\nkhabou:s3cret-one\r\nsegala:with:colons\n');
    expect([...credentials]).toEqual([
      ['khabou', 's3cret-one'],
      ['segala', 'with:colons'],
    ]);
  });

  it('names the line of a malformed entry', () => {
    expect(() => parseCredentials('khabou:ok\nsegala\n', 'devices.txt')).toThrow('devices.txt, line 2: expected "borehole-id:password"');
    expect(() => parseCredentials(':no-id')).toThrow(/line 1/);
    expect(() => parseCredentials('no-password:')).toThrow(/line 1/);
  });

  it('lists the boreholes a broker would refuse', () => {
    expect(missingCredentials(['khabou', 'segala', 'diamou'], parseCredentials('segala:x1'))).toEqual(['khabou', 'diamou']);
  });
});
