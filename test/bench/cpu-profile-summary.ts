// `node dist/test/bench/cpu-profile-summary.js FILE.cpuprofile [LAST_SECONDS [SKIP_LAST_SECONDS]]`:
// where a `--cpu-prof` profile (e.g. of the operator in `npm run bench:operator`) spent its time: self
// time by package or source file and the top functions, optionally only over a window ending
// SKIP_LAST_SECONDS before the profile's end (to leave out the shutdown and look at the idle phase).
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  endTime: number;
}

const [file, lastArg, skipArg] = process.argv.slice(2);
if (!file) throw new Error('usage: cpu-profile-summary FILE.cpuprofile [LAST_SECONDS [SKIP_LAST_SECONDS]]');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const end = p.endTime - Number(skipArg ?? 0) * 1e6;
const start = lastArg ? end - Number(lastArg) * 1e6 : -Infinity;

/** node_modules/<package>, node:<internal>, a repo file, or a V8 pseudo-frame like (garbage collector). */
function where(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return url;
  return url.replace(/^file:\/\/.*?\/dist\//, '');
}

const self = new Map<string, number>();
const fns = new Map<string, number>();
let t = p.endTime - p.timeDeltas.reduce((a, b) => a + b, 0);
let total = 0;
p.samples.forEach((id, i) => {
  const dt = p.timeDeltas[i + 1] ?? 0;
  t += p.timeDeltas[i]!;
  if (t < start || t > end) return;
  const n = byId.get(id)!;
  const w = where(n.callFrame.url, n.callFrame.functionName);
  if (w === '(idle)') return;
  total += dt;
  self.set(w, (self.get(w) ?? 0) + dt);
  const f = `${n.callFrame.functionName || '(anonymous)'} ${w}:${n.callFrame.lineNumber + 1}`;
  fns.set(f, (fns.get(f) ?? 0) + dt);
});
const top = (m: Map<string, number>, k: number) =>
  [...m]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(
      ([name, us]) =>
        `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1e6).toFixed(1).padStart(7)} s  ${name}`,
    )
    .join('\n');
process.stdout.write(
  `busy (non-idle) CPU in the window: ${(total / 1e6).toFixed(1)} s\nself time by package/file:\n${top(self, 15)}\ntop functions:\n${top(fns, 20)}\n`,
);
