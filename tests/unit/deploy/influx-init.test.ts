/**
 * deploy/influxdb/init/10-dbrp.sh, the InfluxQL mapping made when InfluxDB initialises, run with a
 * stand-in for the influx CLI (there is no InfluxDB 2 here): the calls it makes, with the flags of
 * the CLI's documentation, and the same outcome when it is run a second time.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rootPath } from './support.js';

const SCRIPT = rootPath('deploy', 'influxdb', 'init', '10-dbrp.sh');
const BUCKET_ID = '0a1b2c3d4e5f6789';

/**
 * The influx CLI as far as the script uses it. `FAKE_INFLUX_CREATE_ERROR` makes `v1 dbrp create`
 * fail with that message; a mapping made once makes the next create fail as InfluxDB does.
 */
const FAKE_INFLUX = `#!/bin/bash
echo "$*" >>"$FAKE_INFLUX_DIR/calls"
case "$1 $2 $3" in
  "bucket list "*) printf '%s\\tboreholes\\tinfinite\\t168h0m0s\\t0123456789abcdef\\timplicit\\n' "${BUCKET_ID}" ;;
  "v1 dbrp create")
    if [ -n "\${FAKE_INFLUX_CREATE_ERROR:-}" ]; then echo "Error: \${FAKE_INFLUX_CREATE_ERROR}" >&2; exit 1; fi
    if [ -f "$FAKE_INFLUX_DIR/mapped" ]; then echo 'Error: another DBRP mapping with same orgID, db, and rp exists' >&2; exit 1; fi
    touch "$FAKE_INFLUX_DIR/mapped" ;;
  "v1 dbrp list")
    if [ -f "$FAKE_INFLUX_DIR/mapped" ]; then printf '0f0f0f0f0f0f0f0f\\tboreholes\\t%s\\tautogen\\ttrue\\t0123456789abcdef\\n' "${BUCKET_ID}"; fi ;;
  *) echo "fake influx: unexpected command: $*" >&2; exit 3 ;;
esac
`;

describe('the InfluxQL mapping made when InfluxDB initialises', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  function setUp(): string {
    const dir = mkdtempSync(join(tmpdir(), 'influx-init-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'influx'), FAKE_INFLUX);
    chmodSync(join(dir, 'influx'), 0o755);
    return dir;
  }

  function run(dir: string, env: Record<string, string> = {}) {
    const result = spawnSync('bash', [SCRIPT], {
      encoding: 'utf8',
      env: {
        PATH: `${dir}:${process.env.PATH ?? ''}`,
        FAKE_INFLUX_DIR: dir,
        // What the influxdb image's entry point exports to its init scripts.
        DOCKER_INFLUXDB_INIT_ORG: 'boreholes',
        DOCKER_INFLUXDB_INIT_BUCKET: 'boreholes',
        DOCKER_INFLUXDB_INIT_BUCKET_ID: BUCKET_ID,
        ...env,
      },
    });
    const callsFile = join(dir, 'calls');
    return { ...result, calls: existsSync(callsFile) ? readFileSync(callsFile, 'utf8').trim().split('\n') : [] };
  }

  it('maps database "boreholes", retention policy autogen, to the bucket as its default', () => {
    const dir = setUp();
    const result = run(dir);
    expect(result.status).toBe(0);
    expect(result.calls).toEqual([`v1 dbrp create --org boreholes --bucket-id ${BUCKET_ID} --db boreholes --rp autogen --default`]);
    expect(result.stdout).toContain('now maps to bucket boreholes');
  });

  it('changes nothing and succeeds when run again', () => {
    const dir = setUp();
    expect(run(dir).status).toBe(0);
    const again = run(dir);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('already maps to bucket boreholes');
    expect(again.calls.at(-1)).toBe('v1 dbrp list --org boreholes --db boreholes --rp autogen --hide-headers');
  });

  it('finds the bucket by name when run by hand, without the ids of the first start', () => {
    const dir = setUp();
    const result = run(dir, { DOCKER_INFLUXDB_INIT_BUCKET_ID: '' });
    expect(result.status).toBe(0);
    expect(result.calls[0]).toBe('bucket list --org boreholes --name boreholes --hide-headers');
    expect(result.calls[1]).toContain(`--bucket-id ${BUCKET_ID}`);
  });

  it('fails, with InfluxDB\'s reason, when the mapping cannot be made', () => {
    const dir = setUp();
    const result = run(dir, { FAKE_INFLUX_CREATE_ERROR: 'unauthorized access' });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('could not map InfluxQL database boreholes');
    expect(result.stderr).toContain('unauthorized access');
  });
});
