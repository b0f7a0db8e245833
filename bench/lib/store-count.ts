/**
 * How many readings a store holds, counted in the store itself (not from the service's metrics):
 * one field per measurement that every reading of it carries, optionally only readings older than
 * a time. InfluxDB through its /query API; the embedded store by reading its SQLite file, which
 * WAL mode lets a second process do while the service writes.
 */
import Database from 'better-sqlite3';

/** The field each measurement's every point has (docs/contract.md section 2). */
export const COUNTED_FIELDS = { flow: 'rate_lpm', pump: 'running', level: 'depth_m', device: 'online' } as const;

export interface StoreCounter {
  /** Points of every counted measurement, only those with a time before `beforeMs` when given. */
  count(beforeMs?: number): Promise<number>;
  close(): void;
}

export function influxCounter(url: string, db: string): StoreCounter {
  return {
    async count(beforeMs) {
      const where = beforeMs === undefined ? '' : ` WHERE time < ${beforeMs}ms`;
      let total = 0;
      for (const [measurement, field] of Object.entries(COUNTED_FIELDS)) {
        const params = new URLSearchParams({ db, q: `SELECT count("${field}") FROM "${measurement}"${where}`, epoch: 'ms' });
        const response = await fetch(`${url}/query?${params.toString()}`, { signal: AbortSignal.timeout(120_000) });
        if (!response.ok) throw new Error(`InfluxDB answered ${response.status}: ${await response.text()}`);
        const body = (await response.json()) as { results?: { series?: { values?: [number, unknown][] }[]; error?: string }[] };
        const result = body.results?.[0];
        // Before the service's first write the database does not exist: nothing stored yet.
        if (result?.error !== undefined && /database not found/.test(result.error)) return 0;
        if (result?.error !== undefined) throw new Error(`InfluxDB: ${result.error}`);
        const value = result?.series?.[0]?.values?.[0]?.[1];
        total += typeof value === 'number' ? value : 0;
      }
      return total;
    },
    close: () => undefined,
  };
}

export function embeddedCounter(path: string): StoreCounter {
  let db: Database.Database | undefined;
  const open = (): Database.Database => {
    db ??= new Database(path, { readonly: true, fileMustExist: true });
    return db;
  };
  const pairs = Object.entries(COUNTED_FIELDS).map(([measurement, field]) => `(measurement = '${measurement}' AND field = '${field}')`).join(' OR ');
  return {
    count(beforeMs) {
      const streams = `SELECT id FROM streams WHERE ${pairs}`;
      const sql = beforeMs === undefined ? `SELECT count(*) AS n FROM samples WHERE stream IN (${streams})` : `SELECT count(*) AS n FROM samples WHERE stream IN (${streams}) AND ts_ms < ?`;
      const statement = open().prepare<unknown[], { n: number }>(sql);
      const row = beforeMs === undefined ? statement.get() : statement.get(beforeMs);
      return Promise.resolve(row?.n ?? 0);
    },
    close: () => db?.close(),
  };
}
