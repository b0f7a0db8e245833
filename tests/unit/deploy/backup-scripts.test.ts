/**
 * deploy/backup.sh, deploy/restore.sh and deploy/check-compose.sh where no server is needed: their
 * usage and exit codes, the Docker Compose version check against a stand-in `docker compose`
 * (there is no Docker here), the refusal to restore over a running compose service, and a
 * backup and restore of an embedded-store DATA_DIR (state.db, telemetry.db, journal, dead letters)
 * by both SQLite methods. The full run on Mosquitto and InfluxDB: tests/integration/backup-restore.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/fixtures.js';
import { hasBinary } from '../../support/servers.js';
import { ROOT, readRootFile } from './support.js';

function run(script: string, args: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const result = spawnSync('bash', [join(ROOT, 'deploy', script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A stand-in for `docker compose`: answers `version --short` and `ps`, and logs every call. */
function fakeCompose(version: string | null, running: boolean): { env: Record<string, string>; calls: () => string[] } {
  const dir = tempDir('fake-compose');
  const log = join(dir, 'calls.log');
  const script = join(dir, 'compose');
  writeFileSync(
    script,
    `#!/usr/bin/env bash
echo "$*" >> ${JSON.stringify(log)}
case "$1" in
  version) ${version === null ? 'exit 1' : `echo ${JSON.stringify(version)}`} ;;
  ps) ${running ? 'echo 3f2a1b0c9d8e' : 'true'} ;;
  *) echo "fake compose: $*" >&2; exit 1 ;;
esac
`,
  );
  chmodSync(script, 0o755);
  return { env: { COMPOSE: script }, calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
}

const MINIMUM = /^x-minimum-compose-version: "?([\d.]+)"?/m.exec(readRootFile('docker-compose.yml'))?.[1] ?? '';

describe('deploy/check-compose.sh', () => {
  it('reads the minimum from docker-compose.yml', () => {
    expect(MINIMUM).toMatch(/^2\.\d+\.\d+$/);
  });

  it.each([
    [MINIMUM, 0],
    [`v${MINIMUM}`, 0],
    ['2.40.3-desktop.1', 0],
    ['3.0.0', 0],
    ['2.19.1', 4],
    ['1.29.2', 4],
  ])('Compose %s: exit %i', (version, status) => {
    const compose = fakeCompose(version, false);
    const result = run('check-compose.sh', [], compose.env);
    expect(result.status, result.output).toBe(status);
    if (status === 4) expect(result.output).toMatch(new RegExp(`older than ${MINIMUM.replace(/\./g, '\\.')}.*upgrade`));
  });

  it('says what to install when there is no docker compose at all', () => {
    const result = run('check-compose.sh', [], fakeCompose(null, false).env);
    expect(result.status).toBe(4);
    expect(result.output).toMatch(/install Docker Compose/);
  });
});

describe('deploy/backup.sh and deploy/restore.sh', () => {
  it('print their usage and exit 2 without a directory or with an unknown option', () => {
    for (const script of ['backup.sh', 'restore.sh']) {
      expect(run(script, []).status).toBe(2);
      expect(run(script, ['--bogus', '/tmp/x']).status).toBe(2);
      const help = run(script, ['--help']);
      expect(help.status).toBe(0);
      expect(help.output).toMatch(new RegExp(`^usage: deploy/${script.replace('.', '\\.')} \\[--local\\]`));
      expect(help.output).toMatch(/Exit codes: 0 done; 1 [^;]*; 2 usage[^;]*;\s+3 [^;]*;\s+4 [^;]*;\s+5 /);
    }
  });

  it('backup.sh refuses a directory that is not empty (exit 3), and stops at an old Compose (exit 4)', () => {
    const used = tempDir('backup-used');
    writeFileSync(join(used, 'MANIFEST'), 'format=1\n');
    expect(run('backup.sh', [used]).status).toBe(3);
    const compose = fakeCompose('2.12.2', false);
    const old = run('backup.sh', [join(tempDir('backup-new'), 'b')], compose.env);
    expect(old.status, old.output).toBe(4);
    expect(compose.calls()).toEqual(['version --short']);
  });

  it('restore.sh refuses a directory without MANIFEST (exit 2), and a running compose service (exit 3)', () => {
    expect(run('restore.sh', [tempDir('not-a-backup')]).status).toBe(2);
    const backup = tempDir('empty-backup');
    writeFileSync(join(backup, 'MANIFEST'), 'format=1\ninflux=none\nfiles=0\nbytes=0\n');
    const compose = fakeCompose(MINIMUM, true);
    const refused = run('restore.sh', [backup], compose.env);
    expect(refused.status, refused.output).toBe(3);
    expect(refused.output).toMatch(/the service is running: docker compose stop service/);
    expect(compose.calls()).toEqual(['version --short', 'ps --status running --quiet service']);
  });

  const methods = ['node', ...(hasBinary('sqlite3') ? ['cli'] : [])];
  it.each(methods)('back up and restore an embedded-store DATA_DIR with --sqlite %s', { timeout: 60_000 }, (method) => {
    const dataDir = join(tempDir('embedded-data'), 'data');
    mkdirSync(join(dataDir, 'journal'), { recursive: true });
    mkdirSync(join(dataDir, 'dead-letters'));
    for (const file of ['state.db', 'telemetry.db']) {
      const db = new Database(join(dataDir, file));
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      db.prepare('INSERT INTO t (v) VALUES (?)').run(`${file} row`);
      db.pragma('user_version = 9');
      // Left open: the rows sit in the -wal file, as with the service running.
      if (file === 'telemetry.db') db.close();
    }
    writeFileSync(join(dataDir, 'journal', '000001.seg'), 'journal bytes');
    writeFileSync(join(dataDir, 'dead-letters', 'log.jsonl'), '{"reason":"unknown_borehole"}\n');

    const backupDir = join(tempDir('embedded-backup'), 'b');
    const backup = run('backup.sh', ['--local', '--data-dir', dataDir, '--sqlite', method, backupDir], { INFLUX_URL: '' });
    expect(backup.status, backup.output).toBe(0);
    const manifest = readFileSync(join(backupDir, 'MANIFEST'), 'utf8');
    expect(manifest).toMatch(/^influx=none$/m);
    expect(manifest).toMatch(/^state_db_schema=9$/m);
    expect(manifest).toMatch(/^file=\d+ [0-9a-f]{64} service\/telemetry\.db$/m);
    expect(manifest).toMatch(/^file=13 [0-9a-f]{64} service\/journal\/000001\.seg$/m);

    const restoredDir = join(tempDir('embedded-restored'), 'data');
    const restore = run('restore.sh', ['--local', '--data-dir', restoredDir, backupDir], { INFLUX_URL: '' });
    expect(restore.status, restore.output).toBe(0);
    for (const file of ['state.db', 'telemetry.db']) {
      const db = new Database(join(restoredDir, file), { readonly: true });
      expect(db.prepare('SELECT v FROM t').all()).toEqual([{ v: `${file} row` }]);
      db.close();
    }
    expect(readFileSync(join(restoredDir, 'journal', '000001.seg'), 'utf8')).toBe('journal bytes');
    expect(readFileSync(join(restoredDir, 'dead-letters', 'log.jsonl'), 'utf8')).toContain('unknown_borehole');

    // Restored again over that: what was there is moved aside, not deleted; --no-journal leaves it empty.
    const again = run('restore.sh', ['--local', '--data-dir', restoredDir, '--no-journal', backupDir], { INFLUX_URL: '' });
    expect(again.status, again.output).toBe(0);
    const aside = /what was there before is in (\S+)/.exec(again.output)?.[1] ?? '';
    expect(readFileSync(join(aside, 'journal', '000001.seg'), 'utf8')).toBe('journal bytes');
    expect(existsSync(join(restoredDir, 'journal'))).toBe(false);
    expect(existsSync(join(restoredDir, 'state.db'))).toBe(true);
  });
});
