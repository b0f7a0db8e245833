/**
 * `npm run check` (src/check.ts) run as an operator runs it, as a child process, and compared
 * with what start-up (src/main.ts) says and does on the same configuration.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { registryVersion } from '../../../src/config/live-registry.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const EXAMPLE = join(ROOT, 'config', 'boreholes.example.yaml');
const work = mkdtempSync(join(tmpdir(), 'borehole-check-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Only these variables: the test runner's own environment must not change the verdict. */
function environment(env: Record<string, string>): Record<string, string> {
  const base: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  if (process.env.HOME !== undefined) base.HOME = process.env.HOME;
  return { ...base, DATA_DIR: join(work, 'never-made'), ...env };
}

function run(script: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const check = (args: string[] = [], env: Record<string, string> = {}): Promise<Run> => run('src/check.ts', args, env);

function file(name: string, lines: readonly string[]): string {
  const path = join(work, name);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

/** One entry of the registry, as an operator writes it; `edit` changes lines by their key. */
function entry(id: string, edit: Record<string, string | null> = {}): string[] {
  const lines: [string, string][] = [
    ['id', `  - id: ${id}`],
    ['name', `    name: Forage de ${id}`],
    ['village', `    village: ${id}`],
    ['commune', '    commune: Kayes'],
    ['region', '    region: Kayes'],
    ['location', '    location: { lat: 14.4469, lon: -11.4445 }'],
    ['pump', '    pump: { rated_flow_lpm: 60, intake_depth_m: 55 }'],
    ['committee', '    committee: { contacts: [{ name: Président du comité, phone: "+22376000001" }] }'],
    ['technician', '    technician: { name: Technicien de Kayes, phone: "+22379000003" }'],
  ];
  const extra = Object.entries(edit).filter(([key]) => !lines.some(([known]) => known === key));
  return [...lines.map(([key, line]) => (key in edit ? edit[key] : line)), ...extra.map(([, line]) => line)].filter((line): line is string => line !== null);
}

// Several different problems, and their lines: one entry each, then the file-wide ones.
const BROKEN = file('broken.yaml', [
  'boreholes:', // 1
  ...entry('khabou', { committee: '    committee: { contacts: [{ name: Président, phone: "+22321520004" }] }', rules: '    rules: { no_flow_minute: 10 }' }), // 2-11
  ...entry('Segala_2', { location: '    location: { lat: 140, lon: -11.2833 }', pump: '    pump: { rated_flow_lpm: 45 }' }), // 12-20
  ...entry('khabou', { technician: null }), // 21-28
  'escalation:', // 29
  '  Koulikoro: { name: DRH Koulikoro, phone: "+22321260005" }', // 30
]);

const SYNTAX = file('syntax.yaml', ['boreholes:', ...entry('khabou', { name: '    name: "Forage de Khabou' })]);

describe('npm run check', { timeout: 60_000 }, () => {
  it('accepts the example registry and a default environment with a one-line summary and exit 0', async () => {
    const result = await check();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const version = registryVersion(readFileSync(EXAMPLE, 'utf8'));
    expect(result.stdout).toBe(`registry: 5 boreholes in 1 region, environment: ok (${EXAMPLE}, version ${version})\n`);
  });

  it('checks the file BOREHOLES_FILE names, or the one --registry names instead', async () => {
    const copy = file('copy.yaml', readFileSync(EXAMPLE, 'utf8').split('\n'));
    expect((await check([], { BOREHOLES_FILE: copy })).stdout).toContain(`(${copy}, version `);
    expect((await check(['--registry', copy], { BOREHOLES_FILE: BROKEN })).code).toBe(0);
    expect((await check([`--registry=${BROKEN}`])).code).toBe(1);
  });

  it('prints every problem of a broken registry at once, each with its entry, field, line and column, and exits 1', async () => {
    const result = await check(['--registry', BROKEN]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`borehole registry ${BROKEN} is invalid:`);
    expect(lines.slice(1, -1)).toEqual([
      '  - boreholes[0] (id "khabou").committee.contacts[0].phone (line 9, column 55): must be a mobile number (it receives SMS): +22321520004 is a landline',
      '  - boreholes[0] (id "khabou").rules (line 11, column 14): unknown key "no_flow_minute" (did you mean "no_flow_minutes"?); the keys here are no_flow_lpm, no_flow_minutes, low_water_margin_m, offline_minutes, max_starts_per_hour, low_output_ratio, service_hours, current_window_hours, current_rise_ratio, current_flow_tolerance, clear_minutes, escalate_after_minutes, verify_minutes, verify_hours, reopen_hours, functional_max_down_hours, results_threshold_pct, group_seconds',
      '  - boreholes[1] (id "Segala_2").id (line 12, column 9): must match ^[a-z0-9][a-z0-9-]{1,62}$ (lowercase letters, digits, dashes)',
      expect.stringMatching(/^ {2}- boreholes\[1\] \(id "Segala_2"\)\.location\.lat \(line 17, column 22\): .*90/),
      '  - boreholes[1] (id "Segala_2").pump.intake_depth_m (line 18, column 11): is missing: expected a number',
      // A missing field: where its entry begins. The duplicate id is found although that entry is incomplete.
      '  - boreholes[2] (id "khabou").technician (line 21, column 5): is missing: expected an object',
      '  - boreholes[2] (id "khabou").id (line 21, column 9): duplicate id "khabou" (already used by boreholes[0])',
      '  - escalation.Koulikoro (line 30, column 14): no borehole is in region "Koulikoro" (regions: Kayes)',
    ]);
    expect(lines.at(-1)).toBe('8 problems: the service would refuse to start with this configuration');
  });

  it('gives the line and column of a YAML syntax error', async () => {
    const result = await check(['--registry', SYNTAX]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`borehole registry ${SYNTAX} is invalid:\n`);
    expect(result.stderr).toMatch(/^ {2}- line \d+, column \d+: cannot be parsed: Missing closing "quote$/m);
  });

  it('names each bad environment variable, says what it expects, and still checks the registry', async () => {
    const result = await check(['--registry', SYNTAX], { INFLUX_URL: 'influx:8086', HTTP_PORT: 'eighty', MQTT_PROTOCOL_VERSION: '3', SMS_PROVIDER: 'twilio' });
    expect(result.code).toBe(1);
    const [environment, registry] = result.stderr.split(`borehole registry ${SYNTAX} is invalid:\n`);
    expect(environment?.split('\n').slice(0, -1)).toEqual([
      'environment is invalid:',
      '  - MQTT_PROTOCOL_VERSION: Invalid option: expected one of "4"|"5"',
      '  - INFLUX_URL: must be a URL starting with http:// or https://',
      '  - HTTP_PORT: must be a number',
      '  - TWILIO_ACCOUNT_SID: is required when SMS_PROVIDER includes twilio',
      '  - TWILIO_AUTH_TOKEN: is required when SMS_PROVIDER includes twilio',
      '  - TWILIO_FROM: is required when SMS_PROVIDER includes twilio',
    ]);
    expect(registry).toContain('cannot be parsed');
  });

  it('says plainly that the file given with --registry does not exist', async () => {
    const missing = join(work, 'no-such-registry.yaml');
    const result = await check(['--registry', missing]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `borehole registry ${missing} is invalid:\n  - cannot be read: there is no such file\n1 problem: the service would refuse to start with this configuration\n`,
    );
  });

  it('exits 2 with its usage on a wrong command line', async () => {
    for (const args of [['--registy', EXAMPLE], ['--registry'], ['--registry', ''], [EXAMPLE]]) {
      const result = await check(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain('usage: npm run check');
    }
    const help = await check(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--registry FILE');
  });

  it('never prints a secret, whether the configuration is valid or not', async () => {
    const secrets = {
      INFLUX_TOKEN: 'influx-token-s3cr3t-0001',
      MQTT_PASSWORD: 'mqtt-password-s3cr3t-0002',
      SMS_INBOUND_TOKEN: 'inbound-s3cr3t-0003-0123456789',
      TWILIO_AUTH_TOKEN: 'twilio-s3cr3t-0004',
      TWILIO_ACCOUNT_SID: 'AC-s3cr3t-0005',
      ORANGE_CLIENT_SECRET: 'orange-s3cr3t-0006',
      AT_API_KEY: 'at-s3cr3t-0007',
      SMS_WEBHOOK_TOKEN: 'webhook-s3cr3t-0008',
      API_TOKENS: 'operator:operator-s3cr3t-0009-0123456789:Kayes',
    };
    const valid = await check([], { ...secrets, SMS_PROVIDER: 'twilio', TWILIO_FROM: '+15005550006' });
    // Each variable with a wrong value too: a short inbound token, an unknown role, a short API token.
    const broken = await check(['--registry', BROKEN], {
      ...secrets,
      SMS_PROVIDER: 'twilio,orange,africastalking,webhook',
      SMS_INBOUND_TOKEN: 's3cr3t-short',
      API_TOKENS: 'root:root-s3cr3t-0010-0123456789,viewer:s3cr3t-0011',
      MQTT_URL: 'mqtt://user:s3cr3t-0012@',
    });
    expect(valid.code).toBe(0);
    expect(broken.code).toBe(1);
    for (const output of [valid.stdout, valid.stderr, broken.stdout, broken.stderr]) expect(output).not.toMatch(/s3cr3t/);
    expect(broken.stderr).toContain('SMS_INBOUND_TOKEN: must be at least 16 characters');
  });

  it('starts nothing and writes nothing: it passes while the service\'s ports are taken, and makes no DATA_DIR', async () => {
    const servers = await Promise.all([listen(), listen()]);
    try {
      const [http, mqtt] = servers.map(portOf);
      const dataDir = join(work, 'data-not-made');
      const result = await check([], { HTTP_PORT: String(http), MQTT_EMBEDDED_PORT: String(mqtt), DATA_DIR: dataDir });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      await Promise.all(servers.map((server) => new Promise((done) => server.close(done))));
    }
  });
});

describe('the check and start-up agree', { timeout: 60_000 }, () => {
  const cases: [string, string[], Record<string, string>][] = [
    ['a registry with several problems', [], { BOREHOLES_FILE: BROKEN }],
    ['a YAML syntax error', [], { BOREHOLES_FILE: SYNTAX }],
    ['a missing registry file', [], { BOREHOLES_FILE: join(work, 'gone.yaml') }],
    ['a token limited to a region no borehole is in', [], { API_TOKENS: 'viewer:viewer-token-0123456789:Koulikoro' }],
    ['a bad environment and a broken registry together', [], { BOREHOLES_FILE: BROKEN, LOG_LEVEL: 'loud' }],
  ];

  it.each(cases)('start-up refuses %s with the very problems the check printed, before starting anything', async (_name, args, env) => {
    const dataDir = join(work, `data-${Math.random().toString(36).slice(2)}`);
    const [checked, started] = await Promise.all([check(args, { ...env, DATA_DIR: dataDir }), run('src/main.ts', [], { ...env, DATA_DIR: dataDir })]);
    expect(checked.code).toBe(1);
    expect(started.code).toBe(2);
    expect(started.stdout).toBe('');
    const [problems, verdict] = splitVerdict(checked.stderr);
    expect(started.stderr).toBe(problems);
    expect(verdict).toMatch(/^\d+ problems?: the service would refuse to start/);
    expect(existsSync(dataDir)).toBe(false);
  });

  it('starts with the registry the check accepts, and runs the version the check named', async () => {
    const mqtt = await freePort();
    const env = { DATA_DIR: join(work, 'data-started'), HTTP_PORT: '0', MQTT_EMBEDDED_PORT: String(mqtt) };
    const checked = await check([], env);
    expect(checked.code).toBe(0);
    const version = /version ([0-9a-f]{12})\)$/m.exec(checked.stdout)?.[1];

    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((done) => child.on('close', done));
    try {
      await expect.poll(() => output, { timeout: 30_000, interval: 100 }).toMatch(/"msg":"service ready"/);
      const ready = JSON.parse(output.split('\n').find((line) => line.includes('"service ready"')) ?? '{}') as { registry?: string; boreholes?: number };
      expect(ready).toMatchObject({ registry: version, boreholes: 5 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

/** The check's stderr: the problems as start-up prints them, then its one-line verdict. */
function splitVerdict(stderr: string): [string, string] {
  const lines = stderr.trimEnd().split('\n');
  return [`${lines.slice(0, -1).join('\n')}\n`, lines.at(-1) ?? ''];
}

function listen(): Promise<Server> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on a port');
  return address.port;
}

async function freePort(): Promise<number> {
  const server = await listen();
  const port = portOf(server);
  await new Promise((done) => server.close(done));
  return port;
}
