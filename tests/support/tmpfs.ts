/**
 * Small tmpfs mounts, for tests that need a disk that fills up. Mounting takes root (or
 * CAP_SYS_ADMIN); `tmpfsSupport()` says once per process whether it works here and why not.
 * Whatever a test leaves mounted is unmounted (lazily) when the process ends.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs {
  dir: string;
  sizeBytes: number;
  /** Unmounts and removes the mount point; safe to call twice. */
  unmount(): void;
}

export interface Filler {
  path: string;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Takes whatever space was freed since (a file deleted meanwhile); returns the bytes taken. */
  topUp(): number;
  /** Gives the space back. */
  remove(): void;
}

const mounted = new Set<string>();

function run(command: string, args: readonly string[]): void {
  execFileSync(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function unmountQuietly(dir: string): void {
  try {
    run('umount', [dir]);
  } catch {
    // Busy (a file still open): detach it now, the kernel frees it when the last user goes.
    try {
      run('umount', ['-l', dir]);
    } catch {
      // already gone
    }
  }
  mounted.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

process.once('exit', () => {
  for (const dir of [...mounted]) unmountQuietly(dir);
});

/** Mounts a tmpfs of `sizeBytes` on a fresh temporary directory; throws with mount's message when it cannot. */
export function mountTmpfs(sizeBytes: number, prefix = 'tmpfs'): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  try {
    run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot mount a tmpfs on ${dir}: ${stderr || (error as Error).message}`);
  }
  mounted.add(dir);
  let done = false;
  return {
    dir,
    sizeBytes,
    unmount: () => {
      if (done) return;
      done = true;
      unmountQuietly(dir);
    },
  };
}

let support: { ok: true } | { ok: false; reason: string } | undefined;

/** Whether a tmpfs can be mounted here, tried once with a tiny one. */
export function tmpfsSupport(): { ok: true } | { ok: false; reason: string } {
  if (support) return support;
  if (process.platform !== 'linux') {
    support = { ok: false, reason: `tmpfs mounts need Linux (this is ${process.platform})` };
    return support;
  }
  try {
    mountTmpfs(64 * 1024, 'tmpfs-probe').unmount();
    support = { ok: true };
  } catch (error) {
    const root = process.getuid?.() === 0 ? '' : ' (not running as root)';
    support = { ok: false, reason: `${(error as Error).message}${root}` };
  }
  return support;
}

/**
 * Files under `dir` that are deleted but still open in this process: their blocks are freed only
 * when the last descriptor closes, so a disk filled before then gets free space back afterwards.
 */
export function openDeletedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(`${dir}/`) && target.endsWith(' (deleted)')) out.push(target);
    } catch {
      // closed while we looked
    }
  }
  return out;
}

/** Appends until the file system refuses another byte, in ever smaller pieces so no free block is left. */
function appendUntilFull(path: string, from: number): number {
  const fd = openSync(path, 'a');
  let bytes = 0;
  try {
    for (let chunk = 1024 * 1024; chunk >= 1; chunk = Math.floor(chunk / 4)) {
      const data = Buffer.alloc(chunk, 0x66);
      for (;;) {
        try {
          const written = writeSync(fd, data, 0, chunk, from + bytes);
          bytes += written;
          if (written < chunk) break;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/**
 * Writes a file until the file system is full. Other files can still grow inside blocks they
 * already have; `topUp()` takes space that was freed later.
 */
export function fillUp(dir: string, name = 'filler'): Filler {
  const path = join(dir, name);
  closeSync(openSync(path, 'w'));
  let bytes = appendUntilFull(path, 0);
  return {
    path,
    get bytes() {
      return bytes;
    },
    topUp: () => {
      const more = appendUntilFull(path, bytes);
      bytes += more;
      return more;
    },
    remove: () => rmSync(path, { force: true }),
  };
}
