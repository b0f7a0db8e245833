/**
 * Real Mosquitto and InfluxDB 1.x servers as child processes, each on a free loopback port with its
 * own temporary data directory. They can be stopped and started again on the same port and
 * directory, which is what the recovery tests need to prove that nothing acknowledged is lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface MosquittoServer {
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop() then start() on the same port and data directory. */
  restart(): Promise<void>;
  /** SIGKILL: no chance to save; only what autosave wrote (at most 1 s old) survives. */
  kill(): Promise<void>;
  /** The running server's process id (benchmarks read its CPU time). */
  readonly pid: number | undefined;
}

export interface InfluxServer {
  url: string;
  port: number;
  dataDir: string;
  /** From the X-Influxdb-Version header of /ping, e.g. "1.6.7~rc0" on Debian. */
  version: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGKILL, as a crash or a power cut would stop it. */
  kill(): Promise<void>;
  readonly pid: number | undefined;
}

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 50;
/** Debian puts mosquitto in /usr/sbin, which is not on a normal user's PATH. */
const EXTRA_BINARY_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];

// ---------------------------------------------------------------------------------------------
// Binaries and ports

function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_BINARY_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export function hasBinary(name: string): boolean {
  return findBinary(name) !== undefined;
}

function requireBinary(name: string): string {
  const path = findBinary(name);
  if (!path) throw new Error(`${name} not found on PATH or in ${EXTRA_BINARY_DIRS.join(', ')}`);
  return path;
}

/**
 * Ports come from below the kernel's ephemeral range, which outgoing connections draw their local
 * ports from. A server stopped for a minute then still gets its port back, and a client retrying
 * against the stopped server cannot end up connected to itself (TCP self-connect) on that port.
 */
const PORT_RANGE_START = 10_000;

function ephemeralRangeStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > PORT_RANGE_START + 1_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Ports handed out by this process, which may not be listening yet when the next one is asked for. */
const handedOutPorts = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const end = ephemeralRangeStart();
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const port = PORT_RANGE_START + Math.floor(Math.random() * (end - PORT_RANGE_START));
    if (!handedOutPorts.has(port) && (await canListen(port))) {
      handedOutPorts.add(port);
      return port;
    }
  }
  throw new Error(`no free port found between ${PORT_RANGE_START} and ${end}`);
}

// ---------------------------------------------------------------------------------------------
// Cleanup when the test process ends

const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();

/**
 * Must be synchronous: it runs in 'exit' and signal handlers. SIGKILL, because a server that is
 * still running here was not stopped by its test and nobody will wait for a graceful stop. The
 * temporary directories go too, unless KEEP_SERVER_DIRS is set to read the logs afterwards.
 */
function cleanUp(): void {
  for (const child of liveChildren) child.kill('SIGKILL');
  liveChildren.clear();
  if (!process.env.KEEP_SERVER_DIRS) {
    for (const dir of ownedDirs) {
      try {
        rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // a child still dying may hold a file for a moment; the OS cleans /tmp eventually
      }
    }
  }
  ownedDirs.clear();
}

/**
 * Vitest ends its fork workers with SIGTERM, and Node emits no 'exit' for a death by signal, so an
 * 'exit' handler alone would leak every server a test file left running. Listening to a signal
 * replaces Node's default of dying from it, so when no one else listens the signal is raised again.
 */
function cleanUpOnSignal(signal: NodeJS.Signals): void {
  cleanUp();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

process.once('exit', cleanUp);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, cleanUpOnSignal);

function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  ownedDirs.add(dir);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// A restartable child process

interface ChildSpec {
  name: string;
  command: string;
  args: readonly string[];
  port: number;
  dataDir: string;
  /** Files whose last lines explain a failed start: the captured output and the server's own log. */
  logFiles: readonly string[];
  /** Answers true once the server accepts requests; must not throw. */
  isReady: () => Promise<boolean>;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return `(${file} does not exist)`;
  const text = readFileSync(file, 'utf8').trimEnd();
  return text === '' ? `(${file} is empty)` : text.split('\n').slice(-lines).join('\n');
}

function describeLogs(files: readonly string[]): string {
  return files.map((file) => `--- last lines of ${file}:\n${tail(file)}`).join('\n');
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<Exit> | undefined;

  constructor(private readonly spec: ChildSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    // Otherwise the other process answers the readiness probe before ours fails to bind and exits.
    if (await acceptsTcp(this.spec.port)) throw new Error(`${this.spec.name}: port ${this.spec.port} is already taken by another process`);
    this.spawnChild();
    await this.waitUntilReady();
  }

  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  private spawnChild(): void {
    // Appending keeps the output of earlier runs, which is what explains a failed restart.
    const output = openSync(join(this.spec.dataDir, 'output.log'), 'a');
    try {
      // Not detached: a Ctrl-C in the terminal reaches the servers along with the test run.
      const child = spawn(this.spec.command, [...this.spec.args], { cwd: this.spec.dataDir, stdio: ['ignore', output, output] });
      this.child = child;
      liveChildren.add(child);
      this.exited = new Promise<Exit>((resolve) => {
        child.once('exit', (code, signal) => {
          liveChildren.delete(child);
          resolve({ code, signal });
        });
        child.once('error', (error) => {
          liveChildren.delete(child);
          writeFileSync(join(this.spec.dataDir, 'output.log'), `spawn failed: ${error.message}\n`, { flag: 'a' });
          resolve({ code: null, signal: null });
        });
      });
    } finally {
      closeSync(output);
    }
  }

  private async waitUntilReady(): Promise<void> {
    const exited = this.exited;
    if (!exited) throw new Error(`${this.spec.name} was not spawned`);
    let exit: Exit | undefined;
    void exited.then((result) => {
      exit = result;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (exit) {
        this.forget();
        throw this.startError(`exited during start-up (code ${String(exit.code)}, signal ${String(exit.signal)})`);
      }
      if (await this.spec.isReady()) {
        // isReady may have been answered by another process on the port if ours died meanwhile.
        if (!exit) return;
      } else {
        await sleep(POLL_INTERVAL_MS);
      }
    }
    await this.kill();
    throw this.startError(`not ready after ${READY_TIMEOUT_MS / 1000} s`);
  }

  private startError(reason: string): Error {
    return new Error(`${this.spec.name} ${reason}\n${describeLogs(this.spec.logFiles)}`);
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const { child, exited } = this;
    if (!child || !exited) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
      this.forget();
    }
  }

  private forget(): void {
    this.child = undefined;
    this.exited = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Readiness probes

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The version from /ping when it answers 204, otherwise undefined. */
async function pingInflux(url: string): Promise<string | undefined> {
  try {
    const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
    return response.status === 204 ? (response.headers.get('x-influxdb-version') ?? '') : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Mosquitto

function mosquittoConfig(port: number, dir: string): string {
  return [
    `listener ${port} ${HOST}`,
    'allow_anonymous true',
    // Saved every second and on SIGTERM, so retained messages and persistent sessions survive restarts.
    'persistence true',
    `persistence_location ${dir}/`,
    'autosave_interval 1',
    // The default max_queued_messages of 1000 silently drops QoS 1 messages for a slow subscriber.
    'max_queued_messages 1000000',
    'max_queued_bytes 0',
    'max_inflight_messages 100',
    'set_tcp_nodelay true',
    // Started as root, mosquitto otherwise drops to user "mosquitto", which cannot write this directory.
    'user root',
    `log_dest file ${dir}/mosquitto.log`,
    // One type per line: mosquitto 2.0 reads only the first word of "log_type error warning notice".
    'log_type error',
    'log_type warning',
    'log_type notice',
    '',
  ].join('\n');
}

interface ProcessControls {
  start(): Promise<void>;
  stop(): Promise<void>;
  restart(): Promise<void>;
  kill(): Promise<void>;
  readonly pid: number | undefined;
}

/** A server's description with the controls of its process; `pid` stays live (a restart changes it). */
function withControls<T extends object>(managed: ManagedProcess, fields: T): T & ProcessControls {
  const handle = {
    ...fields,
    start: () => managed.start(),
    stop: () => managed.stop(),
    restart: async () => {
      await managed.stop();
      await managed.start();
    },
    kill: () => managed.kill(),
  };
  return Object.defineProperty(handle, 'pid', { get: () => managed.pid, enumerable: true }) as T & ProcessControls;
}

/** The test's handle on a Mosquitto process, whatever configuration it was started with. */
function mosquittoHandle(managed: ManagedProcess, port: number, dataDir: string): MosquittoServer {
  return withControls(managed, { url: `mqtt://${HOST}:${port}`, port, dataDir });
}

export async function startMosquitto(opts: { port?: number } = {}): Promise<MosquittoServer> {
  const command = requireBinary('mosquitto');
  const port = opts.port ?? (await freePort());
  const dataDir = makeTempDir('mosquitto');
  const configFile = join(dataDir, 'mosquitto.conf');
  writeFileSync(configFile, mosquittoConfig(port, dataDir));

  const managed = new ManagedProcess({
    name: `mosquitto on port ${port}`,
    command,
    args: ['-c', configFile],
    port,
    dataDir,
    // mosquitto reports start-up errors such as "Address already in use" only in its own log.
    logFiles: [join(dataDir, 'output.log'), join(dataDir, 'mosquitto.log')],
    isReady: () => acceptsTcp(port),
  });
  await managed.start();
  return mosquittoHandle(managed, port, dataDir);
}

// ---------------------------------------------------------------------------------------------
// InfluxDB 1.x

function influxdConfig(port: number, rpcPort: number, dir: string): string {
  return `
# Upstream spells it reporting-disabled; Debian's build (which has no usage reporting) prints
# reporting-enabled. Unknown keys are ignored, so both are set.
reporting-disabled = true
reporting-enabled = false
# The backup/RPC service; by default it takes 8088 on every interface.
bind-address = "${HOST}:${rpcPort}"

[meta]
  dir = "${dir}/meta"

[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false

[http]
  bind-address = "${HOST}:${port}"
  log-enabled = false

[monitor]
  store-enabled = false

[logging]
  level = "warn"

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
`;
}

export async function startInfluxd(opts: { port?: number } = {}): Promise<InfluxServer> {
  const command = requireBinary('influxd');
  const port = opts.port ?? (await freePort());
  const rpcPort = await freePort();
  const dataDir = makeTempDir('influxd');
  const configFile = join(dataDir, 'influxdb.conf');
  writeFileSync(configFile, influxdConfig(port, rpcPort, dataDir));
  const url = `http://${HOST}:${port}`;

  const managed = new ManagedProcess({
    name: `influxd on port ${port}`,
    command,
    args: ['run', '-config', configFile],
    port,
    dataDir,
    logFiles: [join(dataDir, 'output.log')],
    isReady: async () => (await pingInflux(url)) !== undefined,
  });
  await managed.start();

  return withControls(managed, { url, port, dataDir, version: (await pingInflux(url)) ?? '' });
}

// ---------------------------------------------------------------------------------------------
// Mosquitto with a configuration of the caller's (the compose set-up's, rewritten for a test)

export interface MosquittoConfigContext {
  host: string;
  port: number;
  /** A new temporary directory, the server's working directory; the caller's files go here. */
  dataDir: string;
}

/**
 * Mosquitto run with the configuration `render` returns. `prepare` runs first, to write the files
 * that configuration names into `dataDir` (password file, ACL) and set their owners. Mosquitto
 * started as root drops to its `mosquitto` user unless the configuration says `user root`, so the
 * directory and files must suit the user the configuration makes it run as.
 */
export async function startMosquittoWithConfig(
  render: (context: MosquittoConfigContext) => string,
  opts: { port?: number; prepare?: (context: MosquittoConfigContext) => void | Promise<void> } = {},
): Promise<MosquittoServer> {
  const command = requireBinary('mosquitto');
  const port = opts.port ?? (await freePort());
  const dataDir = makeTempDir('mosquitto-custom');
  const context: MosquittoConfigContext = { host: HOST, port, dataDir };
  await opts.prepare?.(context);
  const configFile = join(dataDir, 'mosquitto.conf');
  writeFileSync(configFile, render(context));

  const managed = new ManagedProcess({
    name: `mosquitto (custom configuration) on port ${port}`,
    command,
    args: ['-c', configFile],
    port,
    dataDir,
    logFiles: [join(dataDir, 'output.log')],
    isReady: () => acceptsTcp(port),
  });
  await managed.start();
  return mosquittoHandle(managed, port, dataDir);
}
