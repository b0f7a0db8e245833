/**
 * Per-device broker accounts for the simulator: the same `id:password` lines as the broker's
 * devices file (deploy/mosquitto/devices.txt), so that each simulated borehole logs in as its own
 * id and the broker's ACL treats it as it treats a real device.
 */
import { readFile } from 'node:fs/promises';

/** `id:password` per line; blank lines and `#` comments are skipped. */
export function parseCredentials(text: string, source = 'credentials'): Map<string, string> {
  const credentials = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0 || colon === line.length - 1) throw new Error(`${source}, line ${index + 1}: expected "borehole-id:password"`);
    credentials.set(line.slice(0, colon), line.slice(colon + 1));
  });
  return credentials;
}

export async function loadCredentials(path: string): Promise<Map<string, string>> {
  return parseCredentials(await readFile(path, 'utf8'), path);
}

/** The boreholes a run would play without an account: refused by a broker that needs one. */
export function missingCredentials(boreholeIds: Iterable<string>, credentials: ReadonlyMap<string, string>): string[] {
  return [...boreholeIds].filter((id) => !credentials.has(id));
}
