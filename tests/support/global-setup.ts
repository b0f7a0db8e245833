/**
 * Decides once per run where the integration tests find their MQTT broker and InfluxDB:
 *   1. MQTT_URL and INFLUX_URL from the environment,
 *   2. else mosquitto and influxd (1.x) installed here, started as child processes,
 *   3. else eclipse-mosquitto:2 and influxdb:2.7 containers, if a container runtime answers,
 *   4. else nothing: an error on CI, a loud notice elsewhere.
 * Independently, an InfluxDB 2.7 container is started whenever a container runtime answers, so the
 * ingest path is also proven against the 2.x API.
 */
import type * as TestcontainersModule from 'testcontainers';
import type { TestProject } from 'vitest/node';
import { startInflux2Front, startInflux3Front } from './influx2-front.js';
import { hasBinary, startInfluxd, startMosquitto } from './servers.js';

type ServerSource = 'env' | 'local' | 'containers' | 'none';

declare module 'vitest' {
  export interface ProvidedContext {
    serverSource: ServerSource;
    mqttUrl: string;
    influxUrl: string;
    influxToken: string;
    influxOrg: string;
    /** Empty when each test should create its own database (InfluxDB 1.x). */
    influxBucket: string;
    /** Empty when no container runtime answers. */
    influx2Url: string;
    influx2Token: string;
    influx2Org: string;
    influx2Bucket: string;
    /** The InfluxDB 2.x API front over the local influxd (influx2-front.ts); empty without one. */
    influxFrontUrl: string;
    influxFrontToken: string;
    influxFrontOrg: string;
    influxFrontBucket: string;
    /** The same front answering as InfluxDB 3 Core (database `boreholes`); empty without one. */
    influxFront3Url: string;
    influxFront3Token: string;
  }
}

type Stop = () => Promise<void>;

interface MainServers {
  serverSource: ServerSource;
  mqttUrl: string;
  influxUrl: string;
  influxToken: string;
  influxOrg: string;
  influxBucket: string;
}

interface Influx2 {
  url: string;
  token: string;
  org: string;
  bucket: string;
}

/** What docker-compose.yml and .env.example give the service for InfluxDB 2.x (org and bucket defaults). */
const FRONT = { token: 'front-token-for-tests', token3: 'front3-token-for-tests', org: 'boreholes', bucket: 'boreholes' } as const;
const INFLUX2 = { token: 'test-token', org: 'boreholes', bucket: 'boreholes', username: 'boreholes', password: 'boreholes' } as const;
const INSTALL_HINT = 'apt-get install -y mosquitto influxdb';
const CONTAINER_START_TIMEOUT_MS = 120_000;

const NO_SERVERS: MainServers = { serverSource: 'none', mqttUrl: '', influxUrl: '', influxToken: '', influxOrg: '', influxBucket: '' };

// ---------------------------------------------------------------------------------------------
// Container runtime (testcontainers, slow to load, is only imported when it is asked about)

type Testcontainers = typeof TestcontainersModule;

let runtimeProbe: Promise<Testcontainers | undefined> | undefined;

/** testcontainers when a container runtime answers, otherwise undefined; asked once per run. */
function containerRuntime(): Promise<Testcontainers | undefined> {
  runtimeProbe ??= (async () => {
    try {
      const testcontainers = await import('testcontainers');
      await testcontainers.getContainerRuntimeClient();
      return testcontainers;
    } catch {
      return undefined;
    }
  })();
  return runtimeProbe;
}

async function startInflux2Container(tc: Testcontainers, stops: Stop[]): Promise<Influx2> {
  const container = await new tc.GenericContainer('influxdb:2.7')
    .withEnvironment({
      DOCKER_INFLUXDB_INIT_MODE: 'setup',
      DOCKER_INFLUXDB_INIT_USERNAME: INFLUX2.username,
      DOCKER_INFLUXDB_INIT_PASSWORD: INFLUX2.password,
      DOCKER_INFLUXDB_INIT_ORG: INFLUX2.org,
      DOCKER_INFLUXDB_INIT_BUCKET: INFLUX2.bucket,
      DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: INFLUX2.token,
    })
    .withExposedPorts(8086)
    // The image runs its setup on a temporary port (9999); 8086 answers only once setup is done.
    .withWaitStrategy(tc.Wait.forHttp('/ping', 8086).forStatusCode(204))
    .withStartupTimeout(CONTAINER_START_TIMEOUT_MS)
    .start();
  stops.push(async () => {
    await container.stop();
  });
  return { url: `http://${container.getHost()}:${container.getMappedPort(8086)}`, token: INFLUX2.token, org: INFLUX2.org, bucket: INFLUX2.bucket };
}

const MOSQUITTO_CONTAINER_CONFIG = [
  'listener 1883',
  'allow_anonymous true',
  'persistence true',
  'persistence_location /mosquitto/data/',
  'autosave_interval 1',
  'max_queued_messages 1000000',
  'max_queued_bytes 0',
  'max_inflight_messages 100',
  'set_tcp_nodelay true',
  'log_dest stdout',
  'log_type error',
  'log_type warning',
  'log_type notice',
  // "mosquitto version … running", which the wait strategy looks for, is an information message.
  'log_type information',
  '',
].join('\n');

async function startMosquittoContainer(tc: Testcontainers, stops: Stop[]): Promise<string> {
  const container = await new tc.GenericContainer('eclipse-mosquitto:2')
    .withCopyContentToContainer([{ content: MOSQUITTO_CONTAINER_CONFIG, target: '/mosquitto/config/mosquitto.conf' }])
    .withExposedPorts(1883)
    .withWaitStrategy(tc.Wait.forLogMessage(/mosquitto version \S+ running/))
    .withStartupTimeout(CONTAINER_START_TIMEOUT_MS)
    .start();
  stops.push(async () => {
    await container.stop();
  });
  return `mqtt://${container.getHost()}:${container.getMappedPort(1883)}`;
}

// ---------------------------------------------------------------------------------------------
// The main servers

function serversFromEnv(): MainServers | undefined {
  const { MQTT_URL, INFLUX_URL } = process.env;
  if (!MQTT_URL && !INFLUX_URL) return undefined;
  // Half a configuration is a mistake to report, not a reason to quietly start other servers.
  if (!MQTT_URL || !INFLUX_URL) throw new Error('Set both MQTT_URL and INFLUX_URL for the integration tests, or neither.');
  return {
    serverSource: 'env',
    mqttUrl: MQTT_URL,
    influxUrl: INFLUX_URL,
    influxToken: process.env.INFLUX_TOKEN ?? '',
    influxOrg: process.env.INFLUX_ORG ?? '',
    influxBucket: process.env.INFLUX_BUCKET ?? '',
  };
}

/**
 * Runs both and waits for both to settle even when one fails, so that nothing is still starting
 * (and about to register its stop) when the failure makes the caller stop everything.
 */
async function startPair<A, B>(a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a(), b()]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

async function startLocalServers(stops: Stop[]): Promise<MainServers> {
  const [mosquitto, influxd] = await startPair(
    async () => {
      const server = await startMosquitto();
      stops.push(() => server.stop());
      return server;
    },
    async () => {
      const server = await startInfluxd();
      stops.push(() => server.stop());
      return server;
    },
  );
  return { serverSource: 'local', mqttUrl: mosquitto.url, influxUrl: influxd.url, influxToken: '', influxOrg: '', influxBucket: '' };
}

async function startContainerServers(tc: Testcontainers, stops: Stop[]): Promise<MainServers> {
  const [mqttUrl, influx] = await startPair(
    () => startMosquittoContainer(tc, stops),
    () => startInflux2Container(tc, stops),
  );
  return { serverSource: 'containers', mqttUrl, influxUrl: influx.url, influxToken: influx.token, influxOrg: influx.org, influxBucket: influx.bucket };
}

function missingBinaries(): string[] {
  return ['mosquitto', 'influxd'].filter((name) => !hasBinary(name));
}

function noServersReasons(missing: readonly string[]): string[] {
  return [
    'MQTT_URL and INFLUX_URL are not set',
    `not installed here: ${missing.join(', ')} (install with: ${INSTALL_HINT})`,
    'no container runtime (Docker) answers, so eclipse-mosquitto:2 and influxdb:2.7 cannot be started either',
  ];
}

async function chooseMainServers(stops: Stop[]): Promise<MainServers> {
  const fromEnv = serversFromEnv();
  if (fromEnv) return fromEnv;

  const missing = missingBinaries();
  if (missing.length === 0) return startLocalServers(stops);

  const tc = await containerRuntime();
  if (tc) return startContainerServers(tc, stops);

  const reasons = noServersReasons(missing);
  if (process.env.CI === 'true') {
    throw new Error(`Integration tests have no MQTT broker or InfluxDB:\n${reasons.map((r) => `  - ${r}`).join('\n')}`);
  }
  const bar = '!'.repeat(100);
  console.error(
    [bar, '!!! INTEGRATION TESTS SKIPPED: no MQTT broker or InfluxDB available', ...reasons.map((r) => `!!!   - ${r}`), bar].join('\n'),
  );
  return NO_SERVERS;
}

// ---------------------------------------------------------------------------------------------
// The InfluxDB 2.7 variant

async function chooseInflux2(stops: Stop[]): Promise<Influx2 | undefined> {
  const tc = await containerRuntime();
  if (tc) return startInflux2Container(tc, stops);
  if (process.env.REQUIRE_CONTAINERS === '1') {
    throw new Error('REQUIRE_CONTAINERS=1 but no container runtime (Docker) answers, so InfluxDB 2.7 cannot be started');
  }
  console.error('NOTICE: InfluxDB 2.7 variant skipped: no container runtime (Docker) answers here');
  return undefined;
}

// ---------------------------------------------------------------------------------------------

/** Stops everything, newest first, and reports every failure rather than only the first. */
async function stopAll(stops: readonly Stop[]): Promise<void> {
  const results = await Promise.allSettled([...stops].reverse().map((stop) => stop()));
  const errors: unknown[] = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : []));
  if (errors.length > 0) throw new AggregateError(errors, 'stopping the integration test servers failed');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Stop[] = [];
  let main: MainServers;
  let influx2: Influx2 | undefined;
  try {
    [main, influx2] = await startPair(
      () => chooseMainServers(stops),
      () => chooseInflux2(stops),
    );
  } catch (error) {
    // A setup that throws hands Vitest no teardown, so whatever did start is stopped here.
    await stopAll(stops).catch(() => undefined);
    throw error;
  }

  project.provide('serverSource', main.serverSource);
  project.provide('mqttUrl', main.mqttUrl);
  project.provide('influxUrl', main.influxUrl);
  project.provide('influxToken', main.influxToken);
  project.provide('influxOrg', main.influxOrg);
  project.provide('influxBucket', main.influxBucket);
  project.provide('influx2Url', influx2?.url ?? '');
  project.provide('influx2Token', influx2?.token ?? '');
  project.provide('influx2Org', influx2?.org ?? '');
  project.provide('influx2Bucket', influx2?.bucket ?? '');

  // The production write path (InfluxDB 2.x's API) in CI, over the same real engine.
  let frontUrl = '';
  let front3Url = '';
  if (main.serverSource === 'local') {
    try {
      const front = await startInflux2Front({ engineUrl: main.influxUrl, token: FRONT.token, org: FRONT.org, buckets: [FRONT.bucket] });
      stops.push(() => front.stop());
      frontUrl = front.url;
      const front3 = await startInflux3Front({ engineUrl: main.influxUrl, token: FRONT.token3, buckets: [] });
      stops.push(() => front3.stop());
      front3Url = front3.url;
    } catch (error) {
      await stopAll(stops).catch(() => undefined);
      throw error;
    }
  }
  project.provide('influxFrontUrl', frontUrl);
  project.provide('influxFrontToken', frontUrl ? FRONT.token : '');
  project.provide('influxFrontOrg', frontUrl ? FRONT.org : '');
  project.provide('influxFrontBucket', frontUrl ? FRONT.bucket : '');
  project.provide('influxFront3Url', front3Url);
  project.provide('influxFront3Token', front3Url ? FRONT.token3 : '');

  return () => stopAll(stops);
}
