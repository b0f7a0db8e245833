/**
 * docker-compose.yml, .env.example and the Dockerfile, checked the way Docker would read them,
 * since there is no Docker engine here: what `docker compose up` would refuse, mount, pull and run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../../src/config/env.js';
import { loadConfiguration } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/config/errors.js';
import { loadRegistry } from '../../../src/config/registry.js';
import { SMS_GATEWAY_NAMES, loadSmsGatewaySettings } from '../../../src/notify/gateways/config.js';
import {
  ROOT,
  aclAllows,
  copyArgs,
  environmentOf,
  envFileVariables,
  interpolate,
  interpolateTree,
  loadCompose,
  parseAcl,
  parseDockerfile,
  parseEnvFile,
  readRootFile,
  rootPath,
  type ComposeFile,
  type ComposeService,
  type VariableUse,
} from './support.js';

const compose = loadCompose();
const envExampleText = readRootFile('.env.example');
const envExample = parseEnvFile(envExampleText);

/** What an operator following docs/deploy.md puts in .env: the example plus the secrets it asks for. */
function filledEnv(extra: Record<string, string> = {}): Record<string, string> {
  const hex = () => randomBytes(32).toString('hex');
  return {
    ...envFileVariables(envExampleText),
    INFLUX_TOKEN: hex(),
    INFLUX_ADMIN_PASSWORD: hex(),
    GRAFANA_ADMIN_PASSWORD: hex(),
    MQTT_SERVICE_PASSWORD: hex(),
    API_TOKENS: `viewer:${hex()},operator:${hex()}`,
    ...extra,
  };
}

function resolved(vars: Record<string, string>): { file: ComposeFile; uses: VariableUse[]; problems: string[] } {
  const uses: VariableUse[] = [];
  const problems: string[] = [];
  const file = interpolateTree(compose, vars, uses, problems);
  return { file, uses, problems };
}

const service = (file: ComposeFile, name: string): ComposeService => {
  const found = file.services[name];
  if (!found) throw new Error(`docker-compose.yml has no service ${name}`);
  return found;
};

interface Mount {
  service: string;
  source: string;
  target: string;
  readOnly: boolean;
  createHostPath: boolean;
}

/** Every bind mount (a source that is a path, not a named volume), in both of Compose's forms. */
function bindMounts(file: ComposeFile): Mount[] {
  return Object.entries(file.services).flatMap(([name, svc]) =>
    (svc.volumes ?? []).flatMap((volume): Mount[] => {
      if (typeof volume === 'string') {
        const [source = '', target = '', mode = ''] = volume.split(':');
        if (!source.startsWith('.') && !isAbsolute(source)) return [];
        return [{ service: name, source, target, readOnly: mode.split(',').includes('ro'), createHostPath: true }];
      }
      if (volume.type !== 'bind' || volume.source === undefined) return [];
      return [{ service: name, source: volume.source, target: volume.target, readOnly: volume.read_only === true, createHostPath: volume.bind?.create_host_path !== false }];
    }),
  );
}

/** The host path behind a path inside a service's container, through its bind mounts. */
function hostPathOf(file: ComposeFile, serviceName: string, containerPath: string): string | undefined {
  const mount = bindMounts(file)
    .filter((m) => m.service === serviceName && (containerPath === m.target || containerPath.startsWith(`${m.target}/`)))
    .sort((a, b) => b.target.length - a.target.length)[0];
  return mount ? join(ROOT, mount.source, containerPath.slice(mount.target.length)) : undefined;
}

// prom/prometheus spells its tags with a v (v3.5.0).
const PATCH_TAG = /^v?\d+\.\d+\.\d+(-[a-z0-9.-]+)?$/;

function imageTag(image: string): string {
  const at = image.indexOf('@');
  const name = at < 0 ? image : image.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(colon + 1) : '';
}

describe('docker-compose.yml', () => {
  it('brings up the broker, the database, Grafana and the service, with the check only in the check profile, the simulator only in the demo one, Prometheus only in the monitoring one and Caddy only in the tls one', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['caddy', 'check', 'grafana', 'influxdb', 'mosquitto', 'prometheus', 'service', 'simulator']);
    const profiled = Object.entries(compose.services).filter(([, svc]) => (svc.profiles ?? []).length > 0);
    expect(profiled.map(([name, svc]) => [name, svc.profiles])).toEqual([['check', ['check']], ['simulator', ['demo']], ['prometheus', ['monitoring']], ['caddy', ['tls']]]);
  });

  it('pins every image it pulls to a patch version, and the broker, database and Grafana to the issue\'s lines', () => {
    const pulled = Object.entries(compose.services).filter(([, svc]) => svc.build === undefined);
    for (const [name, svc] of pulled) {
      expect(svc.image, `${name} has no image`).toBeDefined();
      expect(imageTag(svc.image ?? ''), `${name}: ${svc.image ?? ''}`).toMatch(PATCH_TAG);
    }
    expect(service(compose, 'mosquitto').image).toMatch(/^eclipse-mosquitto:2\.0\.\d+$/);
    expect(service(compose, 'influxdb').image).toMatch(/^influxdb:2\.7\.\d+$/);
    expect(service(compose, 'grafana').image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    expect(service(compose, 'prometheus').image).toMatch(/^prom\/prometheus:v[23]\.\d+\.\d+$/);
  });

  it('builds the service and the simulator from the project\'s Dockerfile, whose base images are pinned too', () => {
    for (const name of ['service', 'simulator']) {
      const svc = service(compose, name);
      const context = typeof svc.build === 'string' ? svc.build : svc.build?.context;
      expect(context, name).toBe('.');
      expect(existsSync(rootPath('Dockerfile'))).toBe(true);
      // One image for both, built once and run twice.
      expect(svc.image).toBe(service(compose, 'service').image);
    }
    for (const stage of parseDockerfile(readRootFile('Dockerfile'))) expect(imageTag(stage.from), stage.from).toMatch(PATCH_TAG);
  });

  it('refuses to start from the unedited example, naming each secret it needs', () => {
    const { problems } = resolved(envFileVariables(envExampleText));
    const missing = [...new Set(problems.map((p) => /required variable (\w+)/.exec(p)?.[1]))].sort();
    expect(missing).toEqual(['API_TOKENS', 'GRAFANA_ADMIN_PASSWORD', 'INFLUX_ADMIN_PASSWORD', 'INFLUX_TOKEN', 'MQTT_SERVICE_PASSWORD']);
    for (const problem of problems) expect(problem).toMatch(/\.env/);
  });

  it('documents every variable it uses in .env.example, and leaves each required one there to fill in', () => {
    const { uses, problems } = resolved(filledEnv());
    expect(problems).toEqual([]);
    const documented = new Map(envExample.map((a) => [a.name, a]));
    const names = [...new Set(uses.map((use) => use.name))].sort();
    expect(names.filter((name) => !documented.has(name))).toEqual([]);
    for (const use of uses.filter((u) => u.required)) {
      expect(documented.get(use.name)?.commented, `${use.name} must be an uncommented line of .env.example`).toBe(false);
    }
    // A commented line shows the default the compose file really applies (an empty fallback
    // leaves the service's own default, which the line may show instead).
    for (const use of uses) {
      const line = documented.get(use.name);
      if (line?.commented && use.fallback !== undefined && use.fallback !== '') expect(line.value, use.name).toBe(use.fallback);
    }
    // And nothing in .env.example is left over from a variable the compose file no longer reads.
    expect(envExample.map((a) => a.name).filter((name) => !names.includes(name))).toEqual([]);
  });

  it('mounts only files and directories that exist, the generated password file aside', () => {
    const { file } = resolved(filledEnv());
    const mounts = bindMounts(file);
    expect(mounts.length).toBeGreaterThan(5);
    for (const mount of mounts) {
      const host = join(ROOT, mount.source);
      expect(relative(ROOT, host).startsWith('..'), `${mount.service}: ${mount.source} is outside the project`).toBe(false);
      if (!mount.createHostPath) {
        // Made by make-passwords.sh on the server; a missing one stops `up` with a clear error.
        expect(relative(ROOT, host)).toBe(join('deploy', 'mosquitto', 'passwd'));
        expect(readRootFile('deploy', 'mosquitto', 'make-passwords.sh')).toContain('out="$here/passwd"');
        expect(readRootFile('deploy', 'mosquitto', '.gitignore')).toMatch(/^\/passwd$/m);
        continue;
      }
      expect(existsSync(host), `${mount.service}: ${mount.source} does not exist`).toBe(true);
    }
    // Configuration is mounted read-only everywhere.
    expect(mounts.filter((m) => !m.readOnly).map((m) => `${m.service}:${m.source}`)).toEqual([]);
  });

  it('keeps data on named volumes that it declares', () => {
    const declared = Object.keys(compose.volumes ?? {});
    const used = Object.values(compose.services).flatMap((svc) =>
      (svc.volumes ?? []).flatMap((v) => {
        const source = typeof v === 'string' ? v.split(':')[0] ?? '' : v.type === 'volume' ? (v.source ?? '') : '';
        return source !== '' && !source.startsWith('.') && !source.startsWith('$') && !isAbsolute(source) ? [source] : [];
      }),
    );
    expect([...new Set(used)].sort()).toEqual([...declared].sort());
    const targets = (name: string) => (service(compose, name).volumes ?? []).filter((v): v is string => typeof v === 'string');
    expect(targets('mosquitto')).toContain('mosquitto-data:/mosquitto/data');
    expect(targets('influxdb')).toContain('influxdb-data:/var/lib/influxdb2');
    expect(targets('service')).toContain('service-data:/data');
    expect(targets('prometheus')).toContain('prometheus-data:/prometheus');
  });

  it('gives every service a healthcheck, and every dependency a condition', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      // The check runs once and exits: its exit status is its health (below).
      if (name === 'check') continue;
      expect(svc.healthcheck?.disable, name).not.toBe(true);
      const test = svc.healthcheck?.test;
      expect(Array.isArray(test) ? test.slice(1).join(' ') : test, `${name} has no healthcheck`).toBeTruthy();
      if (Array.isArray(test)) expect(['CMD', 'CMD-SHELL'], name).toContain(test[0]);
      const dependsOn = svc.depends_on ?? {};
      expect(Array.isArray(dependsOn), `${name}: depends_on must name a condition for each service`).toBe(false);
      for (const [dependency, spec] of Object.entries(dependsOn as Record<string, { condition?: string }>)) {
        expect(compose.services[dependency], `${name} depends on unknown ${dependency}`).toBeDefined();
        expect(spec.condition, `${name} -> ${dependency}`).toBe('service_healthy');
        // A service that always runs cannot wait for one that only runs in a profile.
        if ((svc.profiles ?? []).length === 0) expect(compose.services[dependency]?.profiles ?? [], `${name} -> ${dependency}`).toEqual([]);
      }
    }
    const waitsFor = (name: string) => Object.keys(service(compose, name).depends_on ?? {}).sort();
    expect(waitsFor('service')).toEqual(['influxdb', 'mosquitto']);
    expect(waitsFor('grafana')).toEqual(['influxdb']);
    // The service's subscription must exist before the simulator publishes its history.
    expect(waitsFor('simulator')).toEqual(['mosquitto', 'service']);
  });

  it('checks the service\'s health with node, as the image does, since the slim image has no curl', () => {
    const test = service(compose, 'service').healthcheck?.test;
    expect(Array.isArray(test) && test.slice(0, 2)).toEqual(['CMD', 'node']);
    const dockerfile = parseDockerfile(readRootFile('Dockerfile'));
    const healthcheck = dockerfile.at(-1)?.instructions.find((i) => i.keyword === 'HEALTHCHECK');
    const cmd = /CMD\s+(\[.*\])\s*$/.exec(healthcheck?.args ?? '')?.[1];
    expect(cmd && JSON.parse(cmd)).toEqual((test as string[]).slice(1));
    expect((test as string[]).join(' ')).toContain('/readyz');
  });

  it('gives the service a configuration that its own loader accepts, pointing at the other containers', async () => {
    const vars = filledEnv();
    const { file, problems } = resolved(vars);
    expect(problems).toEqual([]);
    const svc = service(file, 'service');
    const finalStage = parseDockerfile(readRootFile('Dockerfile')).at(-1);
    // The image's ENV, then the compose file's environment over it, as Docker does.
    const imageEnv = Object.fromEntries(
      (finalStage?.instructions ?? []).filter((i) => i.keyword === 'ENV').flatMap((i) => i.args.split(/\s+/).map((pair) => pair.split('=') as [string, string])),
    );
    const config = loadConfig({ ...imageEnv, ...environmentOf(svc) });

    expect(config.mqtt).toMatchObject({ url: 'mqtt://mosquitto:1883', username: 'ingest_service', password: vars.MQTT_SERVICE_PASSWORD, protocolVersion: 5, topicRoot: 'boreholes' });
    expect(config.influx).toMatchObject({ url: 'http://influxdb:8086', token: vars.INFLUX_TOKEN, org: 'boreholes', bucket: 'boreholes' });
    expect(config.http).toEqual({ host: '0.0.0.0', port: 8080, trustProxy: false });
    expect(config.dataDir).toBe('/data');
    expect(config.apiTokens.map((t) => t.role)).toEqual(['viewer', 'operator']);
    expect(config.sms.gateways.providers).toEqual(['console']);
    expect(config.reportTz).toBe('Africa/Bamako');

    // The registry it names is mounted, and is a valid registry.
    const registryOnHost = hostPathOf(file, 'service', config.boreholesFile);
    expect(registryOnHost, config.boreholesFile).toBeDefined();
    const registry = await loadRegistry(registryOnHost ?? '');
    expect(registry.boreholes.size).toBeGreaterThan(0);

    // The service's data directory is the volume.
    expect(svc.volumes).toContain(`service-data:${config.dataDir}`);
  });

  it('passes every SMS provider\'s variables through to the service', () => {
    const passed = Object.keys(environmentOf(service(compose, 'service')));
    for (const provider of SMS_GATEWAY_NAMES) {
      let needed: string[] = [];
      try {
        loadSmsGatewaySettings({ SMS_PROVIDER: provider });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        needed = error.problems.map((p) => p.split(':')[0] ?? '');
      }
      expect(needed.filter((name) => !passed.includes(name)), provider).toEqual([]);
    }
    const webhook = filledEnv({ SMS_PROVIDER: 'webhook', SMS_WEBHOOK_URL: 'https://sms.example.org/send', SMS_WEBHOOK_TOKEN: 'secret-token' });
    const config = loadConfig(environmentOf(service(resolved(webhook).file, 'service')));
    expect(config.sms.gateways.webhook).toEqual({ url: 'https://sms.example.org/send', token: 'secret-token' });
  });

  it('gives Grafana the InfluxDB settings its provisioning reads, a required admin password and no anonymous access', () => {
    const vars = filledEnv();
    const grafana = environmentOf(service(resolved(vars).file, 'grafana'));
    expect(grafana).toMatchObject({
      INFLUX_URL: 'http://influxdb:8086',
      INFLUX_TOKEN: vars.INFLUX_TOKEN,
      INFLUX_BUCKET: 'boreholes',
      GF_SECURITY_ADMIN_PASSWORD: vars.GRAFANA_ADMIN_PASSWORD,
      GF_AUTH_ANONYMOUS_ENABLED: 'false',
      GF_USERS_ALLOW_SIGN_UP: 'false',
    });
    expect(environmentOf(service(compose, 'grafana')).GF_SECURITY_ADMIN_PASSWORD).toMatch(/^\$\{GRAFANA_ADMIN_PASSWORD:\?/);
    const volumes = service(compose, 'grafana').volumes ?? [];
    expect(volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(volumes).toContain('./grafana/dashboards:/var/lib/grafana/dashboards:ro');
  });

  it('initialises InfluxDB with the org, bucket and token the service uses, and maps InfluxQL with an executable script', () => {
    const vars = filledEnv();
    const { file } = resolved(vars);
    const influx = environmentOf(service(file, 'influxdb'));
    const svc = environmentOf(service(file, 'service'));
    expect(influx.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    expect(influx.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe(svc.INFLUX_TOKEN);
    expect(influx.DOCKER_INFLUXDB_INIT_ORG).toBe(svc.INFLUX_ORG);
    expect(influx.DOCKER_INFLUXDB_INIT_BUCKET).toBe(svc.INFLUX_BUCKET);
    const initDir = hostPathOf(file, 'influxdb', '/docker-entrypoint-initdb.d');
    expect(initDir).toBeDefined();
    const script = join(initDir ?? '', '10-dbrp.sh');
    // The image runs only executable *.sh files there (run-parts).
    expect(statSync(script).mode & 0o111).not.toBe(0);
    // Only reachable from the server itself.
    expect(service(compose, 'influxdb').ports).toEqual(['127.0.0.1:${INFLUX_PORT:-8086}:8086']);
  });

  it('logs the service and the simulator into the broker with accounts that the ACL and make-passwords.sh know', () => {
    const acl = parseAcl(readRootFile('deploy', 'mosquitto', 'acl'));
    const script = readRootFile('deploy', 'mosquitto', 'make-passwords.sh');
    const serviceUser = environmentOf(service(compose, 'service')).MQTT_USERNAME ?? '';
    expect(script).toContain(`SERVICE_USER=${serviceUser}`);
    expect(aclAllows(acl, { username: serviceUser, clientId: 'borehole-ingest' }, 'boreholes/khabou/flow', 'read')).toBe(true);

    const command = [service(compose, 'simulator').command ?? ''].flat().join(' ');
    const simulatorUser = /mqtt:\/\/([^:@]+):/.exec(command)?.[1] ?? '';
    expect(script).toContain(`SIMULATOR_USER=${simulatorUser}`);
    expect(aclAllows(acl, { username: simulatorUser, clientId: 'sim-khabou' }, 'boreholes/khabou/flow', 'write')).toBe(true);
    // The same broker image lends its mosquitto_passwd when the host has none.
    expect(script).toContain(`MOSQUITTO_IMAGE=${service(compose, 'mosquitto').image ?? ''}`);
  });

  it('runs the simulator from the image with the demo scenario, and stops with a hint when its password is missing', () => {
    const command = [service(compose, 'simulator').command ?? ''].flat().join('\n');
    const script = /exec node (\S+)/.exec(command)?.[1] ?? '';
    expect(script).toBe('dist/firmware-sim/cli.js');
    const scenario = /--scenario (\S+)/.exec(command)?.[1] ?? '';
    expect(existsSync(rootPath(scenario)), scenario).toBe(true);
    // The Dockerfile puts the scenarios in the image.
    expect(readRootFile('Dockerfile')).toMatch(/^COPY firmware-sim\/scenarios \.\/firmware-sim\/scenarios$/m);
    // Compose turns $$ into the shell's $: the password stays out of `docker compose config`.
    expect(interpolate(command, {})).toContain('"$SIMULATOR_PASSWORD"');
    expect(command).toContain('make-passwords.sh');
  });
});

describe('the monitoring profile (Prometheus)', () => {
  const prometheus = service(compose, 'prometheus');
  const flag = (name: string): string | undefined =>
    [prometheus.command ?? []].flat().find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);

  it('reads the configuration and rules of deploy/prometheus, mounted read-only, and keeps its data on its volume', () => {
    const { file } = resolved(filledEnv());
    const config = flag('config.file') ?? '';
    const onHost = hostPathOf(file, 'prometheus', config);
    expect(onHost && relative(ROOT, onHost)).toBe(join('deploy', 'prometheus', 'prometheus.yml'));
    // The rules sit beside the configuration in the container as in the repository.
    const rules = hostPathOf(file, 'prometheus', join(dirname(config), 'alerts.yml'));
    expect(rules && existsSync(rules), 'alerts.yml is not mounted beside prometheus.yml').toBe(true);
    const mounts = bindMounts(file).filter((m) => m.service === 'prometheus');
    expect(mounts.map((m) => [m.source, m.readOnly])).toEqual([['./deploy/prometheus', true]]);
    expect(flag('storage.tsdb.path')).toBe('/prometheus');
    expect(prometheus.volumes).toContain('prometheus-data:/prometheus');
    // Bounded, on a district server's disk.
    expect(flag('storage.tsdb.retention.time')).toMatch(/^\d+d$/);
    expect(flag('storage.tsdb.retention.size')).toMatch(/^\d+(MB|GB)$/);
  });

  it('publishes its page on the server\'s loopback only', () => {
    const ports = prometheus.ports ?? [];
    expect(ports.length).toBeGreaterThan(0);
    for (const port of ports) expect(port, port).toMatch(/^127\.0\.0\.1:\d+:9090$/);
    expect(prometheus.restart).toBe('unless-stopped');
  });

  it('scrapes the service by its compose name and its port inside the network, and starts even when the service is down', () => {
    const scrape = parseYaml(readRootFile('deploy', 'prometheus', 'prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const port = environmentOf(service(compose, 'service')).HTTP_PORT;
    const job = scrape.scrape_configs.find((c) => c.job_name === 'boreholes');
    expect(job?.static_configs.flatMap((c) => c.targets)).toEqual([`service:${port ?? ''}`]);
    expect(job?.metrics_path ?? '/metrics').toBe('/metrics');
    expect(scrape.rule_files).toEqual(['alerts.yml']);
    // `up == 0` is its alert, not a reason to wait.
    expect(prometheus.depends_on).toBeUndefined();
  });
});

describe('the check profile (`docker compose run --rm check`)', () => {
  const check = service(compose, 'check');

  it('runs the built check of the service\'s image once, publishing, keeping and holding up nothing', () => {
    expect(check.entrypoint).toEqual(['node', 'dist/src/check.js']);
    // tsc builds src/check.ts into dist/src/, which the image ships.
    expect(existsSync(rootPath('src', 'check.ts'))).toBe(true);
    expect((JSON.parse(readRootFile('tsconfig.build.json')) as { include: string[] }).include).toContain('src');
    expect(readRootFile('Dockerfile')).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect([check.image, check.build]).toEqual([service(compose, 'service').image, service(compose, 'service').build]);
    expect(check.restart).toBe('no');
    expect(check.healthcheck?.disable).toBe(true);
    expect(check.ports).toBeUndefined();
    expect(check.depends_on).toBeUndefined();
    // Read-only mounts and no volume: nothing it could write.
    expect((check.volumes ?? []).every((v) => typeof v === 'string' && v.endsWith(':ro'))).toBe(true);
    // Nothing waits for it, so a plain `up` does not depend on a profile that is off.
    for (const [name, svc] of Object.entries(compose.services)) expect(Object.keys(svc.depends_on ?? {}), name).not.toContain('check');
  });

  it('checks what the service would run with: the same environment and the same mounted registry, which the shared loader accepts', async () => {
    const { file, problems } = resolved(filledEnv());
    expect(problems).toEqual([]);
    const env = environmentOf(service(file, 'check'));
    expect(env).toEqual(environmentOf(service(file, 'service')));
    const onHost = hostPathOf(file, 'check', env.BOREHOLES_FILE ?? '');
    expect(onHost).toBeDefined();
    expect(onHost).toBe(hostPathOf(file, 'service', env.BOREHOLES_FILE ?? ''));
    const checked = await loadConfiguration(env, { registryFile: onHost });
    expect(checked.registry.boreholes.size).toBeGreaterThan(0);
  });
});

describe('versions', () => {
  const version = (JSON.parse(readRootFile('package.json')) as { version: string }).version;

  it('states the oldest Docker Compose it is meant for, which deploy/check-compose.sh reads', () => {
    const minimum = (compose as unknown as Record<string, unknown>)['x-minimum-compose-version'];
    expect(minimum).toMatch(/^2\.\d+\.\d+$/);
    // Profiles, depends_on conditions and create_host_path are all Compose v2 features.
    expect((minimum as string).split('.').map(Number)[1]).toBeGreaterThanOrEqual(20);
    expect(readRootFile('deploy', 'check-compose.sh')).toContain('x-minimum-compose-version');
  });

  it('tags the service\'s image with the release of package.json, and pulls nothing by "latest" or without a tag', () => {
    const { file } = resolved(filledEnv());
    for (const [name, svc] of Object.entries(file.services)) {
      const tag = imageTag(svc.image ?? '');
      expect(tag, `${name}: ${svc.image ?? ''}`).not.toBe('');
      expect(tag, name).not.toMatch(/^(latest|local|stable|main|edge)$/);
    }
    expect(service(file, 'service').image).toBe(`borehole-monitor:${version}`);
    expect(service(file, 'simulator').image).toBe(`borehole-monitor:${version}`);
    // An operator who pins SERVICE_VERSION gets that tag.
    expect(service(resolved(filledEnv({ SERVICE_VERSION: '0.0.9' })).file, 'service').image).toBe('borehole-monitor:0.0.9');
  });

  it('has a CHANGELOG section for that release', () => {
    expect(readRootFile('CHANGELOG.md')).toMatch(new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\] - \\d{4}-\\d{2}-\\d{2}$`, 'm'));
  });
});

describe('the tls profile (Caddy)', () => {
  const caddy = () => service(resolved(filledEnv({ SERVICE_DOMAIN: 'boreholes.example.org' })).file, 'caddy');

  it('runs deploy/caddy/Caddyfile, mounted read-only, in front of the service by its compose name and port', () => {
    const svc = caddy();
    expect(svc.volumes).toContain('./deploy/caddy/Caddyfile:/etc/caddy/Caddyfile:ro');
    expect(svc.volumes).toContain('caddy-data:/data');
    const env = environmentOf(svc);
    expect(env.SERVICE_DOMAIN).toBe('boreholes.example.org');
    expect(env.SERVICE_UPSTREAM).toBe(`service:${environmentOf(service(compose, 'service')).HTTP_PORT ?? ''}`);
    expect(Object.keys(svc.depends_on ?? {})).toEqual(['service']);
    // Every {$VAR} of the Caddyfile is set by the container's environment or has a default there.
    const placeholders = [...readRootFile('deploy', 'caddy', 'Caddyfile').matchAll(/\{\$([A-Z_]+)(:[^}]*)?\}/g)];
    expect(placeholders.length).toBeGreaterThan(2);
    for (const [, name, fallback] of placeholders) expect(env[name as string] !== undefined || fallback !== undefined, name).toBe(true);
  });

  it('publishes 80 and 443 for Let\'s Encrypt and the providers, and stops with a hint when SERVICE_DOMAIN is unset', () => {
    const svc = caddy();
    expect(svc.ports).toEqual(['80:80', '443:443', '443:443/udp']);
    expect(svc.entrypoint).toEqual(['/bin/sh', '-c']);
    const script = (svc.command as string[])[0] ?? '';
    expect(script).toMatch(/if \[ -z "\$SERVICE_DOMAIN" \]; then\n\s+echo "set SERVICE_DOMAIN in \.env/);
    expect(script).toMatch(/exec caddy run --config \/etc\/caddy\/Caddyfile --adapter caddyfile/);
    // Unset, the variable reaches Caddy empty instead of stopping every other service's start.
    expect(environmentOf(service(resolved(filledEnv()).file, 'caddy')).SERVICE_DOMAIN).toBe('');
  });

  it('gives the service a TRUST_PROXY for Caddy that its loader accepts', () => {
    const svc = service(resolved(filledEnv({ TRUST_PROXY: '172.16.0.0/12' })).file, 'service');
    expect(loadConfig({ ...environmentOf(svc), DATA_DIR: '/data' }).http.trustProxy).toEqual(['172.16.0.0/12']);
    expect(readRootFile('.env.example')).toMatch(/tls profile \(Caddy\): 172\.16\.0\.0\/12/);
  });
});

describe('Dockerfile', () => {
  const stages = parseDockerfile(readRootFile('Dockerfile'));
  const final = stages.at(-1);

  it('builds in one stage and runs from a slim one as an unprivileged user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(final?.from).toMatch(/-slim$/);
    const user = final?.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
    expect(user, 'the final stage sets no USER: the service would run as root').toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    // The data directory is created for that user before it takes over.
    const run = final?.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n') ?? '';
    expect(run).toContain(`chown ${user ?? ''}:${user ?? ''} /data`);
    expect(final?.instructions.find((i) => i.keyword === 'VOLUME')?.args).toBe('/data');
  });

  it('copies only what exists and what .dockerignore lets into the build context, never a secret', () => {
    const ignore = readRootFile('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    const inContext = (path: string) => allowed.some((a) => path === a || path.startsWith(`${a}/`));
    const stageNames = stages.map((s) => s.name).filter((n): n is string => n !== undefined);
    for (const stage of stages) {
      for (const instruction of stage.instructions.filter((i) => i.keyword === 'COPY')) {
        const { from, sources } = copyArgs(instruction.args);
        if (from !== undefined) {
          expect(stageNames).toContain(from);
          continue;
        }
        for (const source of sources) {
          expect(existsSync(rootPath(source)), source).toBe(true);
          expect(inContext(source), `${source} is left out by .dockerignore`).toBe(true);
        }
      }
    }
    for (const secret of ['.env', 'deploy/mosquitto/passwd', 'deploy/mosquitto/devices.txt', 'data/journal']) expect(inContext(secret), secret).toBe(false);
  });
});
