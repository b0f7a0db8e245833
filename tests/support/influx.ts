/** Reading back what the service stored, through the same InfluxQL client the service uses. */
import { pino } from 'pino';
import { inject } from 'vitest';
import { InfluxClient } from '../../src/storage/influx.js';

export interface InfluxTarget {
  name: string;
  url: string;
  token: string;
  org: string;
  /** A fresh database per test on 1.x; the one bucket on 2.x. */
  bucket: (unique: string) => string;
}

export function influxClient(target: InfluxTarget, bucket: string): InfluxClient {
  return new InfluxClient({ url: target.url, token: target.token, org: target.org, bucket }, pino({ level: 'silent' }));
}

/** Number of points of a measurement for some boreholes (0 when there are none yet). */
export async function countPoints(client: InfluxClient, measurement: string, field: string, boreholes: readonly string[]): Promise<number> {
  await client.connect();
  const where = boreholes.map((id) => `"borehole" = '${id}'`).join(' OR ');
  const [series] = await client.query(`SELECT count("${field}") FROM "${measurement}" WHERE ${where}`);
  const value = series?.[0]?.values[0]?.[1];
  return typeof value === 'number' ? value : 0;
}

/**
 * The InfluxDB servers a suite runs against: the one from the global setup (Debian's influxd, or
 * INFLUX_URL), the InfluxDB 2.x API front over that influxd (the production write path), the
 * same front answering as InfluxDB 3 Core, and
 * InfluxDB 2.7 through testcontainers where a container runtime answers; its absence is said
 * aloud with the suite's name.
 */
export function influxTargets(suite: string): InfluxTarget[] {
  const targets: InfluxTarget[] = [];
  const serverSource = inject('serverSource');
  if (serverSource !== 'none') {
    targets.push({
      name: `InfluxDB from ${serverSource}`,
      url: inject('influxUrl'),
      token: inject('influxToken'),
      org: inject('influxOrg'),
      bucket: (unique) => inject('influxBucket') || unique,
    });
  }
  if (inject('influxFrontUrl')) {
    targets.push({
      name: 'InfluxDB 2.x API (front over 1.6.7)',
      url: inject('influxFrontUrl'),
      token: inject('influxFrontToken'),
      org: inject('influxFrontOrg'),
      bucket: () => inject('influxFrontBucket'),
    });
  } else if (process.env.CI === 'true' && serverSource === 'local') {
    throw new Error(`the InfluxDB 2.x API front did not start for the ${suite}`);
  }
  if (inject('influxFront3Url')) {
    targets.push({
      name: 'InfluxDB 3 Core API (front over 1.6.7)',
      url: inject('influxFront3Url'),
      token: inject('influxFront3Token'),
      org: '',
      // A database per test, as on 1.x: 3 Core creates it on the first write.
      bucket: (unique) => unique,
    });
  } else if (process.env.CI === 'true' && serverSource === 'local') {
    throw new Error(`the InfluxDB 3 Core API front did not start for the ${suite}`);
  }
  if (inject('influx2Url')) {
    targets.push({
      name: 'InfluxDB 2.7 (testcontainers)',
      url: inject('influx2Url'),
      token: inject('influx2Token'),
      org: inject('influx2Org'),
      bucket: () => inject('influx2Bucket'),
    });
  } else {
    console.warn(`NOTICE: the InfluxDB 2.7 variant of the ${suite} is skipped: no container runtime answers here`);
  }
  return targets;
}
