/**
 * The registry the running service judges by, replaced whole when the file changes (issue 16).
 *
 * Every part of the service holds this one object and reads `boreholes` and `escalation` when it
 * needs them, so a reload is one assignment: the next reading, tick, SMS or page sees the new
 * registry, and nothing can see half of it. What a reload changed (boreholes added, removed,
 * changed) is returned so that the service can retire the removed ones.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { parseRegistry, registryUnreadable, type Borehole, type Contact, type Registry } from './registry.js';

export interface RegistryDiff {
  added: string[];
  removed: string[];
  changed: string[];
}

/** A registry file's identity for logs and metrics: the first 12 hex digits of its SHA-256. */
export function registryVersion(content: string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

export function diffRegistries(before: Registry, after: Registry): RegistryDiff {
  const added: string[] = [];
  const changed: string[] = [];
  for (const [id, borehole] of after.boreholes) {
    const old = before.boreholes.get(id);
    if (!old) added.push(id);
    else if (!isDeepStrictEqual(old, borehole)) changed.push(id);
  }
  const removed = [...before.boreholes.keys()].filter((id) => !after.boreholes.has(id));
  return { added, removed, changed };
}

/**
 * A registry file read and checked, with its version; throws ConfigError listing every problem.
 * Given the running version, a file still at that version is not parsed again (registry null):
 * a country's registry takes seconds to check, and a save that changed nothing is common.
 */
export async function readRegistryFile(path: string): Promise<{ registry: Registry; version: string }>;
export async function readRegistryFile(path: string, runningVersion: string): Promise<{ registry: Registry | null; version: string }>;
export async function readRegistryFile(path: string, runningVersion?: string): Promise<{ registry: Registry | null; version: string }> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
  } catch (error) {
    throw registryUnreadable(path, error);
  }
  const version = registryVersion(content);
  if (version === runningVersion) return { registry: null, version };
  return { registry: parseRegistry(content, path), version };
}

export class LiveRegistry implements Registry {
  private current: Registry;
  private currentVersion: string;

  constructor(initial: Registry, version: string) {
    this.current = initial;
    this.currentVersion = version;
  }

  get boreholes(): ReadonlyMap<string, Borehole> {
    return this.current.boreholes;
  }

  get escalation(): Readonly<Record<string, Contact>> {
    return this.current.escalation;
  }

  /** The version of the registry in use (`registryVersion` of its file). */
  get version(): string {
    return this.currentVersion;
  }

  /** Puts `next` in use at once; what changed, by borehole id. */
  replace(next: Registry, version: string): RegistryDiff {
    const diff = diffRegistries(this.current, next);
    this.current = next;
    this.currentVersion = version;
    return diff;
  }
}

/** What a reload did, for the log, `POST /api/admin/reload` and the tests. */
export type RegistryReload =
  | ({ result: 'applied'; version: string; boreholes: number; alertsResolved: number } & RegistryDiff)
  | { result: 'unchanged'; version: string; boreholes: number }
  | { result: 'refused'; version: string; boreholes: number; problems: readonly string[] };
