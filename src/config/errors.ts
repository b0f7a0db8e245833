import type { z } from 'zod';

/** Where in a file a problem is, counted from 1, when the parser can tell. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** One problem: where it is (a variable, a registry entry and field), what is wrong, and where in the file. */
export interface ConfigProblem {
  where: string | undefined;
  what: string;
  at?: SourcePosition | undefined;
}

/** `where: what`, the form `ConfigError.problems` lists (the API and the reload log show these). */
export function problemText({ where, what }: ConfigProblem): string {
  return where === undefined ? what : `${where}: ${what}`;
}

/** The form an operator reads: the line and column of the file beside the place. */
export function locatedText(problem: ConfigProblem): string {
  if (!problem.at) return problemText(problem);
  const at = `line ${problem.at.line}, column ${problem.at.column}`;
  return problem.where === undefined ? `${at}: ${problem.what}` : `${problem.where} (${at}): ${problem.what}`;
}

/**
 * Thrown when configuration is invalid. `problems` lists every problem at once, each naming the
 * variable or registry entry and field, so an operator fixes them all in one go; the message adds
 * the line and column in the file where the parser knows them.
 */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  /** The same problems with their parts and position. */
  readonly located: readonly ConfigProblem[];

  constructor(
    readonly source: string,
    problems: readonly (string | ConfigProblem)[],
  ) {
    const located = problems.map((p): ConfigProblem => (typeof p === 'string' ? { where: undefined, what: p } : p));
    super(`${source} is invalid:\n${located.map((p) => `  - ${locatedText(p)}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = located.map(problemText);
    this.located = located;
  }
}

/**
 * The problems of several sources found together (the environment and the registry), so that
 * start-up and `npm run check` list them all in one go. The message is each source's in turn.
 */
export class ConfigErrors extends ConfigError {
  constructor(readonly errors: readonly ConfigError[]) {
    super(errors.map((e) => e.source).join(' and '), errors.flatMap((e) => e.located));
    this.message = errors.map((e) => e.message).join('\n');
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

/** One zod issue as a problem: the path named by `namePath`, zod's message as what is wrong. */
export function describeIssue(issue: z.core.$ZodIssue, namePath: PathNamer = formatPath): ConfigProblem {
  return { where: issue.path.length > 0 ? namePath(issue.path) : '(top level)', what: issue.message };
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], namePath: PathNamer = formatPath): string[] {
  return issues.map((issue) => problemText(describeIssue(issue, namePath)));
}
