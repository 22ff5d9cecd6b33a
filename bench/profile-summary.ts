// Where a worker's CPU went, from a `node --cpu-prof` profile:
//   BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" BENCH_ONLY=product.plain npm run bench
//   npx tsx bench/profile-summary.ts /tmp/prof/*.cpuprofile [--from-seconds S] [--top N]
// Self time by package (node_modules/<name>, our src/…, node: internals, GC) and by function,
// over the samples after --from-seconds (default: skip the first 20% of the profile, which
// is start-up: tsx compiling, connecting). Inclusive time of our own functions too.
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args.splice(i, 2)[1]) : undefined;
};
const fromSeconds = flag("--from-seconds");
const top = flag("--top") ?? 25;
if (args.length === 0) {
  process.stderr.write("usage: tsx bench/profile-summary.ts <file.cpuprofile>… [--from-seconds S] [--top N]\n");
  process.exit(1);
}

function where(url: string, name: string): string {
  if (name === "(garbage collector)" || name === "(program)" || name === "(idle)") return name;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/(src|workers|bench)\/(.*)$/.exec(url);
  if (ours) return `${ours[1]}/${ours[2]!.split("/")[0]}`;
  if (url.startsWith("node:") || url === "") return "node internals";
  return url;
}

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total = (profile.endTime - profile.startTime) / 1e6;
  const from = (fromSeconds ?? total * 0.2) * 1e6;
  const self = new Map<number, number>();
  let t = 0;
  let counted = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t < from) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
    counted += dt;
  }
  const busy = [...self].filter(([id]) => !["(idle)", "(program)"].includes(byId.get(id)!.callFrame.functionName)).reduce((a, [, v]) => a + v, 0);
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const pkg = where(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const fn = `${functionName || "(anonymous)"} ${url.replace(/^.*\/(node_modules|src|workers)\//, "$1/")}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    // Inclusive time of our own code: every src/ frame on the stack, once per sample.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur)!.callFrame;
      if (!/\/src\//.test(frame.url)) continue;
      const key = `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*\/src\//, "src/")}:${frame.lineNumber + 1}`;
      if (!seen.has(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + us);
      seen.add(key);
    }
  }
  const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `  ${pct(v)}  ${(v / 1e3).toFixed(0).padStart(6)} ms  ${k}`).join("\n");
  process.stdout.write(`${file}: ${total.toFixed(1)} s profiled, from ${(from / 1e6).toFixed(1)} s: ${(counted / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (percentages of busy)\n`);
  process.stdout.write(`self time by package:\n${list(byPackage, top)}\nself time by function:\n${list(byFunction, top)}\ninclusive time, our functions:\n${list(inclusive, top)}\n\n`);
}
