/** The environment an integration test gives the service it starts against the shared servers. */
import { inject } from 'vitest';

/**
 * The broker and InfluxDB entries of the service environment, from the global setup: `unique`
 * is the test's topic root and client id; `bucket` defaults to the shared bucket, or one named
 * after `unique` when each test creates its own database (InfluxDB 1.x).
 */
export function serverEnv(unique: string, bucket: string = inject('influxBucket') || unique.replace(/-/g, '_')): Record<string, string> {
  return {
    MQTT_URL: inject('mqttUrl'),
    MQTT_TOPIC_ROOT: unique,
    MQTT_CLIENT_ID: unique,
    INFLUX_URL: inject('influxUrl'),
    INFLUX_TOKEN: inject('influxToken'),
    INFLUX_ORG: inject('influxOrg'),
    INFLUX_BUCKET: bucket,
  };
}
