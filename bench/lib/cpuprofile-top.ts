/**
 * The top self-time functions of a V8 .cpuprofile (`node --cpu-prof`, or bench/scale.ts
 * `--profile DIR`), for writing down where the time goes before changing anything:
 *
 *   tsx bench/lib/cpuprofile-top.ts FILE.cpuprofile [--top 25]
 *
 * Self time is the samples in which the function itself was on top of the stack, summed over
 * every node of the call tree that names the same function (name, file, line).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
  percent: number;
}

export function topSelfTime(profile: Profile, top: number): { totalMs: number; rows: SelfTime[] } {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  // Time per sample from timeDeltas (the gap before the next sample is the current one's).
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i += 1) {
    const id = samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? 0));
  }
  const totals = new Map<string, SelfTime>();
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const node = byNode.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url ? `${url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const row = totals.get(key) ?? { name, where, ms: 0, percent: 0 };
    row.ms += us / 1000;
    totals.set(key, row);
  }
  const rows = [...totals.values()].sort((a, b) => b.ms - a.ms).slice(0, top);
  for (const row of rows) row.percent = totalUs === 0 ? 0 : (100 * row.ms * 1000) / totalUs;
  return { totalMs: totalUs / 1000, rows };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' } }, allowPositionals: true });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write('usage: tsx bench/lib/cpuprofile-top.ts FILE.cpuprofile [--top 25]\n');
    process.exit(2);
  }
  const { totalMs, rows } = topSelfTime(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top));
  process.stdout.write(`${file}: ${(totalMs / 1000).toFixed(1)} s of samples\n`);
  for (const row of rows) process.stdout.write(`${row.percent.toFixed(1).padStart(5)} %  ${(row.ms / 1000).toFixed(2).padStart(7)} s  ${row.name}  ${row.where}\n`);
}
