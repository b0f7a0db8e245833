/**
 * The service as production runs it, for benchmarks: the built code (`dist/src/main.js`) in its own
 * process, so that its start-up, resident memory and CPU are its own and not the benchmark's.
 * Shared by bench/soak.ts and bench/scale.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, cpSync, openSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * A copy of the build under `workDir/app`, with the page assets the service serves from `src/`:
 * other people rebuilding dist/ during a long run must not change the code that the next start
 * runs. node_modules is shared through a link. Returns the path of the copied main.js.
 */
export function snapshotBuild(workDir: string): string {
  const app = join(workDir, 'app');
  cpSync('dist', join(app, 'dist'), { recursive: true });
  cpSync(join('src', 'http', 'pages', 'assets'), join(app, 'src', 'http', 'pages', 'assets'), { recursive: true });
  cpSync('package.json', join(app, 'package.json'));
  symlinkSync(resolve('node_modules'), join(app, 'node_modules'));
  return join(app, 'dist', 'src', 'main.js');
}

/** Resident memory of a process in KiB (VmRSS of /proc/PID/status), NaN when it has none. */
export function rssKb(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  } catch {
    return Number.NaN;
  }
}

export function openFds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

/** A metric from Prometheus text, summed over its labels; NaN when absent. */
export function metric(text: string, name: string): number {
  let total = Number.NaN;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total = (Number.isNaN(total) ? 0 : total) + Number(match[1]);
  return total;
}

export interface ServiceProcessOptions {
  /** The main.js to run (see snapshotBuild). */
  main: string;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stdout and stderr go here (appended). */
  logFile: string;
  baseUrl: string;
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: readonly string[];
  /** The path that answers 200 once the service counts as started: `/healthz` (default) or `/readyz`. */
  readyPath?: string;
  startTimeoutMs?: number;
  /** Start it again a second after it exits by itself (the soak); otherwise a crash is only recorded. */
  restartOnCrash?: boolean;
  log?: (line: string) => void;
}

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stopping = false;
  readonly crashes: string[] = [];
  readonly baseUrl: string;

  constructor(private readonly options: ServiceProcessOptions) {
    this.baseUrl = options.baseUrl;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the process and waits for the ready path: the milliseconds that took. */
  async start(): Promise<number> {
    const { main, env, cwd, logFile, baseUrl, nodeArgs = [], readyPath = '/healthz', startTimeoutMs = 60_000, restartOnCrash = false, log = () => undefined } = this.options;
    const startedAt = Date.now();
    const output = openSync(logFile, 'a');
    const child = spawn(process.execPath, [...nodeArgs, main], { env, cwd, stdio: ['ignore', output, output] });
    closeSync(output);
    this.child = child;
    this.exited = new Promise((done) => {
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        if (!this.stopping) {
          const what = `the service exited by itself (code ${String(code)}, signal ${String(signal)}); see ${logFile}`;
          this.crashes.push(what);
          if (restartOnCrash) {
            log(`!!! ${what}; starting it again`);
            void sleep(1000).then(() => (this.child ? undefined : this.start().catch((error: unknown) => log(`!!! restart after crash failed: ${String(error)}`))));
          } else {
            log(`!!! ${what}`);
          }
        }
        done();
      });
    });
    const deadline = Date.now() + startTimeoutMs;
    while (!(await fetch(`${baseUrl}${readyPath}`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`the service did not answer ${readyPath} within ${startTimeoutMs / 1000} s; see ${logFile}`);
      if (this.child !== child) throw new Error(`the service exited during start-up; see ${logFile}`);
      await sleep(100);
    }
    return Date.now() - startedAt;
  }

  /** Sends the signal and waits for the exit: the stop time, or NaN if it had to be killed. */
  async stop(signal: NodeJS.Signals): Promise<number> {
    const { child, exited } = this;
    if (!child || !exited) return 0;
    const startedAt = Date.now();
    this.stopping = true;
    child.kill(signal);
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, 30_000);
    await exited;
    clearTimeout(timer);
    this.stopping = false;
    this.child = undefined;
    if (forced) this.options.log?.(`!!! the service did not stop within 30 s of ${signal}: killed`);
    return forced ? Number.NaN : Date.now() - startedAt;
  }
}
