/**
 * A generated national registry, as a ministry's IT team would load one: N boreholes spread over
 * Mali's regions, each region's boreholes in its own communes around the regional capital, each
 * borehole with its committee's phone and the commune's technician. Deterministic (no randomness):
 * the same N and region count give the same file, byte for byte.
 */
import { stringify } from 'yaml';
import { registryFileSchema, type RegistryFile } from '../../src/config/registry.js';

/** Mali's first eight regions with their capital (lat, lon) and a few real communes of each. */
const REGIONS = [
  { name: 'Kayes', code: 'kay', lat: 14.45, lon: -11.43, communes: ['Kayes', 'Bafoulabé', 'Diéma', 'Kita', 'Kéniéba', 'Nioro du Sahel', 'Yélimané', 'Marena Diombougou'] },
  { name: 'Koulikoro', code: 'kou', lat: 12.86, lon: -7.56, communes: ['Koulikoro', 'Banamba', 'Dioïla', 'Kangaba', 'Kati', 'Kolokani', 'Nara', 'Fana'] },
  { name: 'Sikasso', code: 'sik', lat: 11.32, lon: -5.67, communes: ['Sikasso', 'Bougouni', 'Kadiolo', 'Kolondiéba', 'Koutiala', 'Yanfolila', 'Yorosso', 'Zégoua'] },
  { name: 'Ségou', code: 'seg', lat: 13.43, lon: -6.26, communes: ['Ségou', 'Barouéli', 'Bla', 'Macina', 'Niono', 'San', 'Tominian', 'Markala'] },
  { name: 'Mopti', code: 'mop', lat: 14.49, lon: -4.19, communes: ['Mopti', 'Bandiagara', 'Bankass', 'Djenné', 'Douentza', 'Koro', 'Ténenkou', 'Youwarou'] },
  { name: 'Tombouctou', code: 'tom', lat: 16.77, lon: -3.0, communes: ['Tombouctou', 'Diré', 'Goundam', 'Gourma-Rharous', 'Niafunké', 'Léré', 'Ber', 'Bourem-Inaly'] },
  { name: 'Gao', code: 'gao', lat: 16.27, lon: -0.04, communes: ['Gao', 'Ansongo', 'Bourem', 'Ménaka', 'Tessit', 'Soni Aliber', 'Bamba', 'Gounzoureye'] },
  { name: 'Kidal', code: 'kid', lat: 18.44, lon: 1.41, communes: ['Kidal', 'Abeïbara', 'Tessalit', 'Tin-Essako', 'Anéfif', 'Aguelhok', 'Essouk', 'Timtaghène'] },
] as const;

/** Mali's bounding box, which every generated location stays inside. */
const BOX = { minLat: 10.2, maxLat: 25.0, minLon: -12.2, maxLon: 4.2 } as const;
/** Villages per commune before the next commune of the region starts; beyond the named ones, communes are numbered. */
const BOREHOLES_PER_COMMUNE = 250;

/** A cheap deterministic spread in [0, 1) (a Weyl sequence), so nothing needs a random seed. */
const spread = (n: number, k: number): number => (n * (0.6180339887 + k * 0.1213203435)) % 1;

export interface NationalRegistry {
  file: RegistryFile;
  yaml: string;
  ids: string[];
  regions: string[];
}

/**
 * `boreholes` boreholes over the first `regions` regions (at most 8), round robin, so every region
 * holds about the same number. Ids are `<region code>-<number>` (`kay-000001`).
 */
export function nationalRegistry(boreholes: number, regionCount = 8): NationalRegistry {
  const regions = REGIONS.slice(0, Math.max(1, Math.min(REGIONS.length, regionCount)));
  const perRegion = new Array<number>(regions.length).fill(0);
  const entries = [];
  const ids: string[] = [];
  for (let n = 0; n < boreholes; n += 1) {
    const r = n % regions.length;
    const region = regions[r] as (typeof regions)[number];
    const k = perRegion[r] ?? 0;
    perRegion[r] = k + 1;
    const communeIndex = Math.floor(k / BOREHOLES_PER_COMMUNE);
    const commune = communeIndex < region.communes.length ? region.communes[communeIndex] : `${region.name} commune ${communeIndex + 1}`;
    const id = `${region.code}-${String(k + 1).padStart(6, '0')}`;
    ids.push(id);
    const lat = Math.min(BOX.maxLat, Math.max(BOX.minLat, region.lat + (spread(n, 1) - 0.5) * 2.4));
    const lon = Math.min(BOX.maxLon, Math.max(BOX.minLon, region.lon + (spread(n, 2) - 0.5) * 2.4));
    entries.push({
      id,
      name: `Forage ${k + 1} de ${commune}`,
      village: `Village ${(k % BOREHOLES_PER_COMMUNE) + 1} de ${commune}`,
      commune,
      region: region.name,
      location: { lat: Math.round(lat * 1e5) / 1e5, lon: Math.round(lon * 1e5) / 1e5 },
      pump: { rated_flow_lpm: 40 + 10 * (n % 5), intake_depth_m: 40 + 7 * (n % 4) },
      // Mali mobile numbers (+223 7x xx xx xx): one committee phone a borehole, one technician a commune.
      committee: { language: (['fr', 'bm', 'fr', 'en'] as const)[n % 4] ?? 'fr', contacts: [{ name: 'Président du comité', phone: `+22376${String(n % 1_000_000).padStart(6, '0')}` }] },
      technician: { name: `Technicien de ${commune}`, phone: `+22379${String(r).padStart(2, '0')}${String(communeIndex % 10_000).padStart(4, '0')}` },
    });
  }
  // Parsed with the production schema, so a generator bug is found here and not at start-up.
  const file = registryFileSchema.parse({ boreholes: entries });
  return { file, yaml: stringify({ boreholes: entries }), ids, regions: regions.map((region) => region.name) };
}
