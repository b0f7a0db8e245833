import type { z } from 'zod';

/**
 * Thrown when configuration is invalid. `problems` lists every problem at once, each naming the
 * variable or registry entry and field, so an operator fixes them all in one go.
 */
export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source} is invalid:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type PathNamer = (path: readonly PropertyKey[]) => string;

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], namePath: PathNamer = formatPath): string[] {
  return issues.map((issue) => {
    const where = issue.path.length > 0 ? namePath(issue.path) : '(top level)';
    return `${where}: ${issue.message}`;
  });
}
