import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../../..');

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const base = slug(m[1] ?? '');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

function brokenLinks(): string[] {
  const files = execFileSync('git', ['ls-files', '*.md'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter((f) => f !== '');
  const broken: string[] = [];
  for (const file of files) {
    const abs = resolve(root, file);
    const text = readFileSync(abs, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, mailto: ...
      const [path = '', anchor] = target.split('#');
      const dest = path === '' ? abs : resolve(dirname(abs), decodeURIComponent(path));
      const rel = relative(root, dest);
      if (rel.startsWith('..') || rel.split(sep)[0] === '..') {
        broken.push(`${file}: ${target} leaves the repository`);
      } else if (!existsSync(dest)) {
        broken.push(`${file}: ${target} does not exist`);
      } else if (anchor && dest.endsWith('.md') && statSync(dest).isFile() && !anchors(dest).has(anchor)) {
        broken.push(`${file}: ${target} has no heading #${anchor}`);
      }
    }
  }
  return broken;
}

describe('markdown links', () => {
  it('every relative link in a tracked markdown file resolves inside the repository', () => {
    expect(brokenLinks()).toEqual([]);
  });
});
