/**
 * `npm run check` (`node dist/src/check.js` in the image, `docker compose run --rm check`): the
 * environment and the registry checked exactly as start-up checks them (src/config/load.ts), and
 * nothing started: no broker, no database, no port, no file written. Every problem is printed at
 * once; no secret is, since no message carries a variable's value (docs/operations.md, Check
 * before you apply).
 *
 * Exit 0 with a one-line summary when the service would start with this configuration; 1 with
 * every problem when it would refuse to; 2 when the command line is wrong.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from './config/errors.js';
import { loadConfiguration, type CheckedConfiguration } from './config/load.js';

const USAGE = `usage: npm run check [-- --registry FILE]
       node dist/src/check.js [--registry FILE]     (in the image)

Checks the environment and the borehole registry as the service does at start-up, without
starting anything. The registry is the file BOREHOLES_FILE names, or FILE.
Exit status: 0 valid, 1 invalid (every problem listed), 2 bad usage.
`;

const plural = (count: number, one: string, many = `${one}s`): string => `${count} ${count === 1 ? one : many}`;

function summary(checked: CheckedConfiguration): string {
  const boreholes = [...checked.registry.boreholes.values()];
  const regions = new Set(boreholes.map((borehole) => borehole.region));
  return `registry: ${plural(boreholes.length, 'borehole')} in ${plural(regions.size, 'region')}, environment: ok (${checked.registryFile}, version ${checked.version})`;
}

async function check(args: string[]): Promise<number> {
  let options: { registry?: string | undefined; help?: boolean | undefined };
  try {
    options = parseArgs({ args, options: { registry: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    process.stderr.write(`check: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (options.registry?.trim() === '') {
    process.stderr.write(`check: --registry needs a file name\n\n${USAGE}`);
    return 2;
  }
  try {
    const checked = await loadConfiguration(process.env, { registryFile: options.registry });
    process.stdout.write(`${summary(checked)}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // The very message start-up prints, then what the operator needs to know in one line.
    process.stderr.write(`${error.message}\n${plural(error.problems.length, 'problem')}: the service would refuse to start with this configuration\n`);
    return 1;
  }
}

check(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`check: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
