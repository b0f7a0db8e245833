/**
 * The WHERE clause of the alert and incident lists: a state (or the one word that means "not
 * ended yet") and a set of boreholes. Built with placeholders only; an empty set of boreholes
 * matches nothing (a region-limited token with no borehole sees an empty list, not every one).
 */
export interface ListFilter {
  state?: string | undefined;
  /** The state word that stands for "not ended" (`unresolved`, `open`) and its SQL. */
  notEnded: { word: string; sql: string };
  boreholeIds?: readonly string[] | undefined;
}

export function listWhere(filter: ListFilter): { clause: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (filter.state === filter.notEnded.word) where.push(filter.notEnded.sql);
  else if (filter.state) {
    where.push('state = ?');
    params.push(filter.state);
  }
  if (filter.boreholeIds) {
    // One parameter whatever the number of boreholes: a region-limited token of a national
    // network sees tens of thousands, past SQLite's 32,766 placeholders a statement.
    where.push('borehole IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.boreholeIds));
  }
  return { clause: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}
