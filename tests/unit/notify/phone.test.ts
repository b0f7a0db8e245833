import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../../../src/config/env.js';
import { ConfigError } from '../../../src/config/errors.js';
import { parseRegistry } from '../../../src/config/registry.js';
import { normaliseSender } from '../../../src/domain/phone.js';
import { boreholeEntry } from './support.js';

describe('a sender as the gateway spells it', () => {
  it.each([
    ['E.164', '+22376000001'],
    ['with the international prefix 00', '0022376000001'],
    ['without the plus', '22376000001'],
    ['with spaces', '+223 76 00 00 01'],
    ['with dashes and brackets', '(+223) 76-00-00-01'],
    ['in the national form of the default region', '76000001'],
    ['in the national form with spaces', '76 00 00 01'],
  ])('reads %s as +22376000001', (_name, spelling) => {
    expect(normaliseSender(spelling, 'ML')).toBe('+22376000001');
  });

  it('reads a foreign number whose gateway dropped the plus, and one with 00', () => {
    expect(normaliseSender('33612345678', 'ML')).toBe('+33612345678');
    expect(normaliseSender('0033612345678', 'ML')).toBe('+33612345678');
  });

  it('reads the national form in the configured region, not always in Mali', () => {
    expect(normaliseSender('0612345678', 'FR')).toBe('+33612345678');
    expect(normaliseSender('76000001', 'FR')).toBeNull();
  });

  it.each([
    ['a trailing digit', '+223760000011'],
    ['a missing digit', '+2237600000'],
    ['a prefix no operator uses', '+22300000000'],
    ['full-width digits', '+２２３７６０００００１'],
    ['a channel prefix', 'whatsapp:+22376000001'],
    ['letters', 'MALITEL'],
    ['nothing', ''],
  ])('reads no number in %s', (_name, spelling) => {
    expect(normaliseSender(spelling, 'ML')).toBeNull();
  });
});

describe('registry phone numbers', () => {
  const entry = (committeePhone: string, technicianPhone = '+22379000003') =>
    boreholeEntry({ committee: { contacts: [{ name: 'Président', phone: committeePhone }] }, technician: { name: 'Technicien', phone: technicianPhone } });
  const problemsOf = (file: unknown): readonly string[] => {
    try {
      parseRegistry(stringify(file), 'x.yaml');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).problems;
    }
    return [];
  };

  it('refuses a number with the shape of a Malian number that the numbering plan does not have', () => {
    expect(problemsOf({ boreholes: [entry('+22320000004')] })).toEqual([
      `boreholes[0] (id "khabou").committee.contacts[0].phone: +22320000004 is not a valid phone number in its country's numbering plan`,
    ]);
  });

  it('refuses a landline for a committee contact and for the technician, naming both', () => {
    expect(problemsOf({ boreholes: [entry('+22321520004', '+22320220004')] })).toEqual([
      'boreholes[0] (id "khabou").committee.contacts[0].phone: must be a mobile number (it receives SMS): +22321520004 is a landline',
      'boreholes[0] (id "khabou").technician.phone: must be a mobile number (it receives SMS): +22320220004 is a landline',
    ]);
  });

  it('takes a landline for the regional escalation contact, and a toll-free number for nobody who must be a mobile', () => {
    expect(problemsOf({ boreholes: [entry('+22376000001')], escalation: { Kayes: { name: 'DRH', phone: '+22321520004' } } })).toEqual([]);
    expect(problemsOf({ boreholes: [entry('+22380000001')] })).toEqual([
      'boreholes[0] (id "khabou").committee.contacts[0].phone: must be a mobile number (it receives SMS): +22380000001 is a toll-free number',
    ]);
  });

  it('keeps numbers written with spaces in their E.164 form, the one senders are matched and replies sent to', () => {
    const registry = parseRegistry(stringify({ boreholes: [entry('+223 76 00 00 01', '+223 79-00-00-03')] }), 'x.yaml');
    expect(registry.boreholes.get('khabou')?.committee.contacts[0]?.phone).toBe('+22376000001');
    expect(registry.boreholes.get('khabou')?.technician.phone).toBe('+22379000003');
  });

  it('accepts a mobile where the plan cannot tell mobile from landline (North America)', () => {
    expect(problemsOf({ boreholes: [entry('+14158675309')] })).toEqual([]);
  });
});

describe('PHONE_DEFAULT_REGION', () => {
  it('is Mali unless set, and takes any region with a numbering plan in either case', () => {
    expect(loadConfig({}).sms.defaultRegion).toBe('ML');
    expect(loadConfig({ PHONE_DEFAULT_REGION: 'sn' }).sms.defaultRegion).toBe('SN');
  });

  it('refuses a code that is no country with a numbering plan, naming the variable', () => {
    expect(() => loadConfig({ PHONE_DEFAULT_REGION: 'XX' })).toThrow(/PHONE_DEFAULT_REGION: must be an ISO 3166-1 alpha-2 country code/);
  });
});
