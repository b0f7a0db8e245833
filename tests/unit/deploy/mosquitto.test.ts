/**
 * The broker's configuration, ACL and password script, read without a broker. A real Mosquitto
 * runs the same files in tests/integration/mosquitto-acl.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hasBinary } from '../../support/servers.js';
import {
  ACL_EXPECTATIONS,
  SERVICE_USER,
  SIMULATOR_USER,
  aclAllows,
  loadCompose,
  parseAcl,
  parseMosquittoConf,
  readRootFile,
  rootPath,
} from './support.js';

const conf = parseMosquittoConf(readRootFile('deploy', 'mosquitto', 'mosquitto.conf'));
const values = (key: string) => conf.filter((line) => line.key === key).map((line) => line.value);
const value = (key: string) => {
  const found = values(key);
  expect(found, `mosquitto.conf must set ${key} once`).toHaveLength(1);
  return found[0] ?? '';
};
const acl = parseAcl(readRootFile('deploy', 'mosquitto', 'acl'));
const compose = loadCompose();
const mosquitto = compose.services.mosquitto;

/** persistent_client_expiration's units (mosquitto.conf(5)): hours, days, weeks, months, years. */
function expirationDays(text: string): number {
  const match = /^(\d+)([hdwmy])$/.exec(text);
  if (!match) throw new Error(`persistent_client_expiration ${text}: not a number and one of h d w m y`);
  const days = { h: 1 / 24, d: 1, w: 7, m: 30, y: 365 }[match[2] as 'h' | 'd' | 'w' | 'm' | 'y'];
  return Number(match[1]) * days;
}

describe('mosquitto.conf', () => {
  it('lets nobody in without a password and applies one ACL to the whole broker', () => {
    expect(value('allow_anonymous')).toBe('false');
    expect(value('per_listener_settings')).toBe('false');
    expect(value('password_file')).toBe('/mosquitto/config/passwd');
    expect(value('acl_file')).toBe('/mosquitto/config/acl');
    // The one listener is the port compose publishes.
    expect(values('listener')).toEqual(['1883']);
    expect(mosquitto?.ports?.map((p) => p.split(':').at(-1))).toEqual(['1883']);
  });

  it('keeps the service\'s queue on the data volume and lets it grow well past the default of 1,000', () => {
    expect(value('persistence')).toBe('true');
    expect(value('persistence_location')).toBe('/mosquitto/data/');
    expect(mosquitto?.volumes).toContain('mosquitto-data:/mosquitto/data');
    expect(Number(value('max_queued_messages'))).toBeGreaterThanOrEqual(100_000);
    // Bounded: a broker out of memory loses everything since its last save.
    const bytes = Number(value('max_queued_bytes'));
    expect(bytes).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(bytes).toBeLessThanOrEqual(1024 * 1024 * 1024);
    // Longer than the service's own 30-day session expiry, so only forgotten sessions go.
    expect(expirationDays(value('persistent_client_expiration'))).toBeGreaterThan(30);
    expect(Number(value('autosave_interval'))).toBeGreaterThan(0);
  });

  it('takes a payload of the contract\'s 256 KiB with its topic, and no more than it must', () => {
    const max = Number(value('max_packet_size'));
    expect(max).toBeGreaterThan(256 * 1024 + 1024);
    expect(max).toBeLessThan(1024 * 1024);
  });

  it('names one log type a line, the only way Mosquitto 2.0 reads them', () => {
    expect(values('log_type').length).toBeGreaterThan(1);
    for (const type of values('log_type')) expect(type).toMatch(/^[a-z]+$/);
  });

  it('names only files that the container entry point installs from deploy/mosquitto', () => {
    const entrypoint = readRootFile('deploy', 'mosquitto', 'entrypoint.sh');
    const installs = new Map(
      [...entrypoint.matchAll(/^install -o mosquitto -g mosquitto -m (\d+) "\$src\/([^"]+)" (\S+)$/gm)].map((m) => [m[3] as string, { file: m[2] as string, mode: m[1] as string }]),
    );
    const mounts = (mosquitto?.volumes ?? []).map((v) => (typeof v === 'string' ? { source: v.split(':')[0] ?? '', target: v.split(':')[1] ?? '' } : { source: v.source ?? '', target: v.target }));
    for (const path of [value('password_file'), value('acl_file')]) {
      const install = installs.get(path);
      expect(install, `entrypoint.sh does not install ${path}`).toBeDefined();
      // Readable by the broker's user only: Mosquitto 2.0.16+ warns otherwise, later versions refuse.
      expect(install?.mode).toBe('0600');
      const mount = mounts.find((m) => m.target === `/etc/mosquitto-deploy/${install?.file ?? ''}`);
      expect(mount?.source).toBe(`./deploy/mosquitto/${install?.file ?? ''}`);
    }
    // And the configuration itself comes from this very file.
    expect(installs.get('/mosquitto/config/mosquitto.conf')?.file).toBe('mosquitto.conf');
    expect(mosquitto?.command).toEqual(['/usr/sbin/mosquitto', '-c', '/mosquitto/config/mosquitto.conf']);
    expect(mosquitto?.entrypoint).toEqual(['/bin/sh', '/etc/mosquitto-deploy/entrypoint.sh']);
  });
});

describe('the broker ACL', () => {
  it.each(ACL_EXPECTATIONS)('$username $access $topic: $allowed ($why)', ({ username, topic, access, allowed }) => {
    expect(aclAllows(acl, { username, clientId: `${username}-client` }, topic, access)).toBe(allowed);
  });

  it('grants nothing to anonymous clients, and reading to the service alone', () => {
    expect(acl.anonymous).toEqual([]);
    const readers = [...acl.users].filter(([, rules]) => rules.some((r) => r.access === 'read' || r.access === 'readwrite')).map(([user]) => user);
    expect(readers).toEqual([SERVICE_USER]);
    expect(acl.patterns.filter((r) => r.access !== 'write')).toEqual([]);
    expect([...acl.users.keys()].sort()).toEqual([SIMULATOR_USER, SERVICE_USER].sort());
  });

  it('cannot hand the service\'s or the simulator\'s rights to a device, whose usernames are borehole ids', () => {
    const boreholeId = /^[a-z0-9][a-z0-9-]{1,62}$/;
    for (const user of acl.users.keys()) expect(user).not.toMatch(boreholeId);
  });
});

describe('make-passwords.sh', () => {
  const script = rootPath('deploy', 'mosquitto', 'make-passwords.sh');
  const canHash = hasBinary('mosquitto_passwd');
  if (!canHash) {
    if (process.env.CI === 'true') throw new Error('make-passwords.sh needs mosquitto_passwd: apt-get install -y mosquitto');
    console.warn('!!! make-passwords.sh tests SKIPPED: mosquitto_passwd is not installed (apt-get install -y mosquitto)');
  }
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[], files: { env?: string; devices?: string } = {}, env: Record<string, string> = {}) {
    const dir = mkdtempSync(join(tmpdir(), 'make-passwords-'));
    dirs.push(dir);
    const envFile = join(dir, 'env');
    const devices = join(dir, 'devices.txt');
    const out = join(dir, 'passwd');
    if (files.env !== undefined) writeFileSync(envFile, files.env);
    if (files.devices !== undefined) writeFileSync(devices, files.devices);
    // PATH as given, but none of the caller's MQTT_* passwords.
    const { MQTT_SERVICE_PASSWORD: _s, MQTT_SIMULATOR_PASSWORD: _p, ...base } = process.env;
    const result = spawnSync('bash', [script, '--env-file', envFile, '--devices', devices, '--out', out, ...args], { encoding: 'utf8', env: { ...base, ...env } });
    const read = (path: string) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    };
    return { ...result, passwd: read(out), devices: read(devices), outPath: out, devicesPath: devices };
  }

  const users = (passwd: string | undefined) => (passwd ?? '').trim().split('\n').map((line) => line.split(':')[0]);

  it.skipIf(!canHash)('hashes the service account and every device of the devices file, and no simulator unless asked', () => {
    const result = run([], {
      env: 'MQTT_SERVICE_PASSWORD="0123456789abcdef0123"\n# MQTT_SIMULATOR_PASSWORD=fedcba9876543210\n',
      devices: '# installed 2026-02-05\nkhabou:aaaaaaaaaaaaaaaaaaaa\n\nsegala:bbbbbbbbbbbbbbbbbbbb\r\n',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(users(result.passwd)).toEqual([SERVICE_USER, 'khabou', 'segala']);
    expect(result.passwd).not.toContain('0123456789abcdef0123');
    expect(result.passwd).not.toContain('aaaaaaaaaaaaaaaaaaaa');
    expect(result.passwd).toMatch(/^khabou:\$\d+\$/m);
    expect(statSync(result.outPath).mode & 0o077).toBe(0);
  });

  it.skipIf(!canHash)('adds the simulator account when MQTT_SIMULATOR_PASSWORD is set, the environment winning over the file', () => {
    const result = run([], { env: 'MQTT_SERVICE_PASSWORD=short\n', devices: '' }, { MQTT_SERVICE_PASSWORD: '0123456789abcdef0123', MQTT_SIMULATOR_PASSWORD: 'fedcba9876543210fedc' });
    expect(result.status).toBe(0);
    expect(users(result.passwd)).toEqual([SERVICE_USER, SIMULATOR_USER]);
  });

  it.skipIf(!canHash)('gives a new device a random password, prints it for the installer and keeps it private', () => {
    const result = run(['--add', 'kobokoto'], { env: 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', devices: 'khabou:aaaaaaaaaaaaaaaaaaaa' });
    expect(result.status).toBe(0);
    const password = /new device kobokoto: username kobokoto, password ([0-9a-f]+)/.exec(result.stdout)?.[1];
    expect(password).toMatch(/^[0-9a-f]{36}$/);
    // Appended on a line of its own, although the file did not end with a newline.
    expect(result.devices).toBe(`khabou:aaaaaaaaaaaaaaaaaaaa\nkobokoto:${password ?? ''}\n`);
    expect(users(result.passwd)).toEqual([SERVICE_USER, 'khabou', 'kobokoto']);
    expect(statSync(result.devicesPath).mode & 0o077).toBe(0);

    const again = run(['--add', 'khabou'], { env: 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', devices: 'khabou:aaaaaaaaaaaaaaaaaaaa\n' });
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('--add khabou: already in');
  });

  it.each([
    ['a missing service password', '', 'khabou:aaaaaaaaaaaaaaaaaaaa\n', 'MQTT_SERVICE_PASSWORD is not set'],
    ['an id that is not a borehole id', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', 'Khabou_1:aaaaaaaaaaaaaaaaaaaa\n', 'line 1: "Khabou_1" is not a borehole id'],
    ['the service account listed as a device', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', `${SERVICE_USER}:aaaaaaaaaaaaaaaaaaaa\n`, 'is not a borehole id'],
    ['a device listed twice', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', 'khabou:aaaaaaaaaaaaaaaaaaaa\nkhabou:bbbbbbbbbbbbbbbbbbbb\n', 'line 2: khabou is listed twice'],
    ['a short device password', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', 'khabou:short\n', 'at least 12 characters'],
    ['the example\'s placeholder', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', 'khabou:replace-with-a-long-random-password\n', 'still the placeholder'],
    ['a line without a password', 'MQTT_SERVICE_PASSWORD=0123456789abcdef0123\n', 'khabou\n', 'expected id:password'],
  ])('refuses %s, saying so and writing nothing', (_what, env, devices, message) => {
    const result = run([], { env, devices });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.passwd).toBeUndefined();
  });

  it('ships an example devices file in the format it reads, which it refuses until its placeholders are replaced', () => {
    const example = readRootFile('deploy', 'mosquitto', 'devices.example.txt');
    const lines = example.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line).toMatch(/^[a-z0-9][a-z0-9-]{1,62}:replace-with/);
    expect(readRootFile('deploy', 'mosquitto', '.gitignore').split('\n')).toEqual(expect.arrayContaining(['/passwd', '/devices.txt']));
  });
});
