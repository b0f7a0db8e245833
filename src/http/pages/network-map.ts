/**
 * The network map: an SVG of the registry coordinates, no tiles, nothing fetched, readable on
 * paper. A district's boreholes are drawn one by one with their village names; a country's are
 * gathered, on the server, into the cells of a grid at the scale of what is shown, so that the
 * SVG holds a few hundred elements whether the page shows 300 boreholes or 100,000 (issue 19).
 */
import type { Borehole } from '../../config/registry.js';
import { BOREHOLE_STATUSES, STATUS_URGENCY, type BoreholeStatus } from '../../domain/borehole-status.js';
import { STATUS_LABELS } from './format.js';
import { html, type SafeHtml } from './html.js';

export const MAP_WIDTH = 1000;
export const MAP_HEIGHT = 400;
/** Up to this many boreholes, each is drawn as a point; beyond, the map is clustered. */
export const MAX_MAP_POINTS = 200;
/**
 * Grid cell of the clustered map, in map units: the SVG is 1000 wide, so about 55 px on a wide
 * screen and 23 on a phone. Each cluster's circle is kept inside its cell (clusterPoints), so
 * that neighbouring circles never cover each other's count.
 */
export const CLUSTER_CELL = 64;
/** Labels are 24 units on a wide screen, 28 on a phone (app.css): room is kept for the larger. */
const LABEL_SIZE = 28;
/** Village names only when this few points are drawn: beyond, they would cover each other. */
const MAX_LABELS = 40;

/** What the map needs of a borehole: where it is, what it is called, and its status. */
export interface MapPoint {
  borehole: Pick<Borehole, 'id' | 'name' | 'village' | 'region' | 'location'>;
  status: BoreholeStatus;
}

/** A rectangle of coordinates, in degrees, inclusive: what a cluster covers and what `?bbox=` asks. */
export interface GeoBox {
  minLat: number;
  minLon: number;
  maxLat: number;
  maxLon: number;
}

/** A cell of the grid holding at least one borehole. */
export interface Cluster {
  /** Where it is drawn, in map units: the mean position of its boreholes, moved as little as keeps its circle inside its cell. */
  x: number;
  y: number;
  count: number;
  counts: Record<BoreholeStatus, number>;
  /** The most urgent status among its boreholes (alert, offline, unknown, ok). */
  worst: BoreholeStatus;
  /** The region of all its boreholes, or null when it spans several. */
  region: string | null;
  bounds: GeoBox;
  /** The borehole itself when the cell holds only one: drawn as a point, as in a district. */
  lone: MapPoint | null;
}

interface Projection {
  x(lon: number): number;
  y(lat: number): number;
}

const zeroCounts = (): Record<BoreholeStatus, number> => Object.fromEntries(BOREHOLE_STATUSES.map((status) => [status, 0])) as Record<BoreholeStatus, number>;

/**
 * Equirectangular, squeezed by the cosine of the middle latitude (right enough across a country),
 * fitted to the points' extent inside the margins. Loops over typed arrays, not
 * Math.min(...spread): 100,000 arguments overflow the stack.
 */
function projectionOf(lats: Float64Array, lons: Float64Array, margin: { x: number; y: number }): Projection {
  let minLat = Infinity;
  let maxLat = -Infinity;
  let minLon = Infinity;
  let maxLon = -Infinity;
  for (let index = 0; index < lats.length; index += 1) {
    const lat = lats[index] as number;
    const lon = lons[index] as number;
    if (lat < minLat) minLat = lat;
    if (lat > maxLat) maxLat = lat;
    if (lon < minLon) minLon = lon;
    if (lon > maxLon) maxLon = lon;
  }
  // The cosine is positive, so the squeezed extent is that of the extreme longitudes.
  const squeeze = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const minX = minLon * squeeze;
  const minY = -maxLat;
  const spanX = (maxLon - minLon) * squeeze;
  const spanY = maxLat - minLat;
  // A lone borehole (or a tight group) is drawn at a scale of about 0.05° for the map.
  const scale = Math.min((MAP_WIDTH - 2 * margin.x) / Math.max(spanX, 0.05), (MAP_HEIGHT - 2 * margin.y) / Math.max(spanY, 0.05));
  const offsetX = (MAP_WIDTH - spanX * scale) / 2;
  const offsetY = (MAP_HEIGHT - spanY * scale) / 2;
  return {
    x: (lon) => (lon * squeeze - minX) * scale + offsetX,
    y: (lat) => (-lat - minY) * scale + offsetY,
  };
}

/** The points' coordinates, read once: a country's map reads each borehole's location several times. */
function coordinatesOf(points: readonly MapPoint[]): { lats: Float64Array; lons: Float64Array } {
  const lats = new Float64Array(points.length);
  const lons = new Float64Array(points.length);
  points.forEach(({ borehole }, index) => {
    lats[index] = borehole.location.lat;
    lons[index] = borehole.location.lon;
  });
  return { lats, lons };
}

/** Radius of a cluster's circle: grows with the logarithm of its count, 16 units for 2, 31 for 100,000. */
export const clusterRadius = (count: number): number => Math.min(CLUSTER_CELL / 2 - 1, 15 + 3.2 * Math.log10(count));

/** Margins of a district's map leave room for the labels; a clustered map has none. */
const POINT_MARGIN = { x: 150, y: 45 };
const CLUSTER_MARGIN = { x: 45, y: 45 };

/**
 * The boreholes gathered into the cells of a `cell`-unit grid over the map fitted to them. Every
 * borehole is in exactly one cluster, so the counts add up to the boreholes given.
 */
export function clusterPoints(points: readonly MapPoint[], cell = CLUSTER_CELL): Cluster[] {
  if (points.length === 0) return [];
  const { lats, lons } = coordinatesOf(points);
  const project = projectionOf(lats, lons, CLUSTER_MARGIN);
  const cells = new Map<number, Cluster & { sumX: number; sumY: number; left: number; top: number }>();
  for (let index = 0; index < points.length; index += 1) {
    const point = points[index] as MapPoint;
    const lat = lats[index] as number;
    const lon = lons[index] as number;
    const x = project.x(lon);
    const y = project.y(lat);
    const column = Math.floor(x / cell);
    const row = Math.floor(y / cell);
    const key = column * 10_000 + row;
    const found = cells.get(key);
    if (!found) {
      const counts = zeroCounts();
      counts[point.status] = 1;
      cells.set(key, {
        x,
        y,
        sumX: x,
        sumY: y,
        left: column * cell,
        top: row * cell,
        count: 1,
        counts,
        worst: point.status,
        region: point.borehole.region,
        bounds: { minLat: lat, minLon: lon, maxLat: lat, maxLon: lon },
        lone: point,
      });
      continue;
    }
    found.count += 1;
    found.counts[point.status] += 1;
    found.sumX += x;
    found.sumY += y;
    if (STATUS_URGENCY[point.status] < STATUS_URGENCY[found.worst]) found.worst = point.status;
    if (found.region !== point.borehole.region) found.region = null;
    const { bounds } = found;
    if (lat < bounds.minLat) bounds.minLat = lat;
    if (lat > bounds.maxLat) bounds.maxLat = lat;
    if (lon < bounds.minLon) bounds.minLon = lon;
    if (lon > bounds.maxLon) bounds.maxLon = lon;
    found.lone = null;
  }
  // A lone borehole stays where it is; a circle is kept inside its cell, so that no two cover each other.
  const inside = (mean: number, start: number, r: number) => Math.min(Math.max(mean, start + r), start + cell - r);
  return [...cells.values()].map(({ sumX, sumY, left, top, ...cluster }) => {
    if (cluster.lone) return cluster;
    const r = Math.min(clusterRadius(cluster.count), cell / 2);
    return { ...cluster, x: inside(sumX / cluster.count, left, r), y: inside(sumY / cluster.count, top, r) };
  });
}


const thousands = new Intl.NumberFormat('fr-FR');
/** `12 345` as French writes it (a narrow no-break space between thousands). */
export const formatCount = (count: number): string => thousands.format(count);

const PROBLEM_WORDS: Record<Exclude<BoreholeStatus, 'ok'>, string> = { alert: 'en alerte', offline: 'hors ligne', unknown: 'sans données' };

/** `1 234 forages — 12 en alerte, 3 hors ligne`, or `… — tous en service`. */
export function clusterTitle(cluster: Pick<Cluster, 'count' | 'counts'>): string {
  const problems = (['alert', 'offline', 'unknown'] as const).filter((status) => cluster.counts[status] > 0).map((status) => `${formatCount(cluster.counts[status])} ${PROBLEM_WORDS[status]}`);
  return `${formatCount(cluster.count)} forages — ${problems.length > 0 ? problems.join(', ') : 'tous en service'}`;
}

interface Box {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

const overlaps = (a: Box, b: Box): boolean => a.x1 < b.x2 && b.x1 < a.x2 && a.y1 < b.y2 && b.y1 < a.y2;

/** Problems drawn last, so that they sit on top of their neighbours. */
const calmFirst = (a: { status: BoreholeStatus }, b: { status: BoreholeStatus }): number => STATUS_URGENCY[b.status] - STATUS_URGENCY[a.status];

function pointMark(point: MapPoint, x: number, y: number, label?: { x: number; y: number; anchor: string }): SafeHtml {
  return html`<a href="/boreholes/${point.borehole.id}" class="pt status-${point.status}">
      <title>${point.borehole.name} — ${STATUS_LABELS[point.status]}</title>
      <circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${point.status === 'ok' ? 10 : 13}"/>
      ${label ? html`<text x="${label.x.toFixed(1)}" y="${label.y.toFixed(1)}" text-anchor="${label.anchor}">${point.borehole.village}</text>` : ''}
    </a>`;
}

/** Every borehole a point, labels placed greedily, problems first: a district's map, as it has always been drawn. */
function pointMarks(points: readonly MapPoint[]): SafeHtml[] {
  const { lats, lons } = coordinatesOf(points);
  const project = projectionOf(lats, lons, POINT_MARGIN);
  const placed = [...points].sort(calmFirst).map((point) => ({ point, x: project.x(point.borehole.location.lon), y: project.y(point.borehole.location.lat) }));
  // Right, left, above, below, then diagonally, whichever is free.
  const taken: Box[] = placed.map(({ x, y }) => ({ x1: x - 15, y1: y - 15, x2: x + 15, y2: y + 15 }));
  const labelOf = new Map<string, { x: number; y: number; anchor: 'start' | 'end' | 'middle' }>();
  if (points.length <= MAX_LABELS) {
    for (const { point, x, y } of [...placed].reverse()) {
      const width = point.borehole.village.length * LABEL_SIZE * 0.7;
      const candidates = [
        { x: x + 19, y: y + 9, anchor: 'start' as const, box: { x1: x + 17, y1: y - 17, x2: x + 21 + width, y2: y + 15 } },
        { x: x - 19, y: y + 9, anchor: 'end' as const, box: { x1: x - 21 - width, y1: y - 17, x2: x - 17, y2: y + 15 } },
        { x, y: y - 22, anchor: 'middle' as const, box: { x1: x - width / 2, y1: y - 50, x2: x + width / 2, y2: y - 18 } },
        { x, y: y + 44, anchor: 'middle' as const, box: { x1: x - width / 2, y1: y + 18, x2: x + width / 2, y2: y + 50 } },
        { x: x + 12, y: y - 18, anchor: 'start' as const, box: { x1: x + 10, y1: y - 46, x2: x + 14 + width, y2: y - 14 } },
        { x: x + 12, y: y + 40, anchor: 'start' as const, box: { x1: x + 10, y1: y + 14, x2: x + 14 + width, y2: y + 46 } },
        { x: x - 12, y: y - 18, anchor: 'end' as const, box: { x1: x - 14 - width, y1: y - 46, x2: x - 10, y2: y - 14 } },
        { x: x - 12, y: y + 40, anchor: 'end' as const, box: { x1: x - 14 - width, y1: y + 14, x2: x - 10, y2: y + 46 } },
      ];
      const inside = (box: Box) => box.x1 >= 0 && box.x2 <= MAP_WIDTH && box.y1 >= 0 && box.y2 <= MAP_HEIGHT;
      // No room: no label (the point keeps its tooltip, and the list below names every borehole).
      const free = candidates.find((c) => inside(c.box) && !taken.some((t) => overlaps(t, c.box)));
      if (free) {
        taken.push(free.box);
        labelOf.set(point.borehole.id, { x: free.x, y: free.y, anchor: free.anchor });
      }
    }
  }
  return placed.map(({ point, x, y }) => pointMark(point, x, y, labelOf.get(point.borehole.id)));
}

/** Clusters sized by count and coloured by their worst status, each a link to a closer view. */
function clusterMarks(points: readonly MapPoint[], zoomHref: (cluster: Cluster) => string): SafeHtml[] {
  const clusters = clusterPoints(points).sort((a, b) => STATUS_URGENCY[b.worst] - STATUS_URGENCY[a.worst]);
  return clusters.map((cluster) => {
    if (cluster.lone) return pointMark(cluster.lone, cluster.x, cluster.y);
    const r = clusterRadius(cluster.count);
    const text = formatCount(cluster.count);
    return html`<a href="${zoomHref(cluster)}" class="cluster status-${cluster.worst}" data-count="${cluster.count}">
      <title>${clusterTitle(cluster)}</title>
      <circle cx="${cluster.x.toFixed(1)}" cy="${cluster.y.toFixed(1)}" r="${r.toFixed(1)}"/>
      <text x="${cluster.x.toFixed(1)}" y="${cluster.y.toFixed(1)}" text-anchor="middle" dominant-baseline="central"${text.length > 5 ? html` class="long"` : text.length > 3 ? html` class="wide"` : ''}>${text}</text>
    </a>`;
  });
}

/**
 * The map of the given boreholes: points up to MAX_MAP_POINTS, clusters beyond, each cluster
 * linking to `zoomHref(cluster)`. At most 4 elements a point or a cluster, and at most
 * (1000/64 + 1) × (400/64 + 1) = 136 clusters: about 550 elements whatever the number of boreholes.
 */
export function networkMap(points: readonly MapPoint[], zoomHref: (cluster: Cluster) => string = () => '/'): SafeHtml {
  if (points.length === 0) return html``;
  const clustered = points.length > MAX_MAP_POINTS;
  return html`<figure class="map${clustered ? ' clustered' : ''}">
    <svg viewBox="0 0 ${MAP_WIDTH} ${MAP_HEIGHT}" role="img" aria-label="Carte des forages">
      <rect class="map-bg" x="0" y="0" width="${MAP_WIDTH}" height="${MAP_HEIGHT}" rx="8"/>
      ${clustered ? clusterMarks(points, zoomHref) : pointMarks(points)}
    </svg>
    <figcaption>Position des forages d'après le registre (nord en haut). ${
      clustered
        ? `${formatCount(points.length)} forages regroupés par zone : le nombre dit combien, la couleur l'état le plus grave. Touchez un groupe pour vous en rapprocher.`
        : 'Touchez un point pour ouvrir le forage.'
    }</figcaption>
  </figure>`;
}
