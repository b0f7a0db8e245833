/**
 * A country's registry for the page tests (issue 19): N boreholes round robin over Mali's first
 * eight regions, each within 1.2° of its regional capital, ids `<region code>-<number>` in id
 * order region by region. Deterministic: the same N gives the same registry. One borehole has a
 * name of its own, with accents, for the search to find.
 */
import { buildRegistry, registryFileSchema, type Registry } from '../../src/config/registry.js';
import { registryEntry } from './fixtures.js';

export const COUNTRY_REGIONS = [
  { name: 'Kayes', code: 'kay', lat: 14.45, lon: -11.43 },
  { name: 'Koulikoro', code: 'kou', lat: 12.86, lon: -7.56 },
  { name: 'Sikasso', code: 'sik', lat: 11.32, lon: -5.67 },
  { name: 'Ségou', code: 'seg', lat: 13.43, lon: -6.26 },
  { name: 'Mopti', code: 'mop', lat: 14.49, lon: -4.19 },
  { name: 'Tombouctou', code: 'tom', lat: 16.77, lon: -3.0 },
  { name: 'Gao', code: 'gao', lat: 16.27, lon: -0.04 },
  { name: 'Kidal', code: 'kid', lat: 18.44, lon: 1.41 },
] as const;

/** The one borehole named apart: `Forage de Kénéba-Sirakoro`, in Sikasso. */
export const NAMED_BOREHOLE = { index: 54_322, id: 'sik-006791', name: 'Forage de Kénéba-Sirakoro', search: 'keneba' } as const;

/** A deterministic spread in [0, 1) (a Weyl sequence): no random seed to carry. */
const spread = (n: number, k: number): number => (n * (0.6180339887 + k * 0.1213203435)) % 1;

export const countryId = (n: number): string => {
  const region = COUNTRY_REGIONS[n % COUNTRY_REGIONS.length] as (typeof COUNTRY_REGIONS)[number];
  return `${region.code}-${String(Math.floor(n / COUNTRY_REGIONS.length) + 1).padStart(6, '0')}`;
};

export function countryEntries(boreholes: number) {
  return Array.from({ length: boreholes }, (_, n) => {
    const region = COUNTRY_REGIONS[n % COUNTRY_REGIONS.length] as (typeof COUNTRY_REGIONS)[number];
    const k = Math.floor(n / COUNTRY_REGIONS.length);
    const commune = `${region.name} commune ${(k % 40) + 1}`;
    return {
      ...registryEntry(countryId(n), n),
      name: n === NAMED_BOREHOLE.index ? NAMED_BOREHOLE.name : `Forage ${k + 1}`,
      village: `Village ${(k % 250) + 1}`,
      commune,
      region: region.name,
      location: {
        lat: Math.round((region.lat + (spread(n, 1) - 0.5) * 2.4) * 1e5) / 1e5,
        lon: Math.round((region.lon + (spread(n, 2) - 0.5) * 2.4) * 1e5) / 1e5,
      },
      // Mali mobile numbers: +223 76 and six digits.
      committee: { language: 'fr' as const, contacts: [{ name: 'Président du comité', phone: `+22376${String(n % 1_000_000).padStart(6, '0')}` }] },
    };
  });
}

export const countryRegistry = (boreholes: number): Registry => buildRegistry(registryFileSchema.parse({ boreholes: countryEntries(boreholes) }));
