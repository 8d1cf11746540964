/**
 * Summarises a `bun --cpu-prof` profile (Chrome .cpuprofile JSON): the functions with the most
 * self time, and the inclusive time of the functions whose names match --focus (a regex), each
 * as a share of the sampled time; and self time by source file, where a native function (the
 * socket's write, SQLite's step, Buffer.allocUnsafe) counts for the file of its JS caller, so
 * that the time of a call splits by layer (XDR, RPC, NFS procedure, VFS, meta).
 *
 *   bun bench/cpuprof_summary.ts FILE.cpuprofile [--top 25] [--focus 'dispatch|run|flush']
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file] = process.argv.slice(2);
if (file === undefined) {
  console.error("usage: bun bench/cpuprof_summary.ts FILE.cpuprofile [--top N] [--focus REGEX]");
  process.exit(2);
}
function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const top = Number(flag("top", "25"));
const focus = new RegExp(flag("focus", "^$"));

const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

const label = (n: ProfileNode) => {
  const f = n.callFrame;
  const where = f.url === "" ? "" : ` ${basename(f.url)}:${f.lineNumber + 1}`;
  return `${f.functionName || "(anonymous)"}${where}`;
};

const selfUs = new Map<string, number>();
const fileUs = new Map<string, number>();
const fileOf = (n: ProfileNode) => {
  const url = n.callFrame.url;
  if (url.startsWith("bun:")) return url;
  const at = url.search(/\/(nfs|src|bench|test)\//);
  return at >= 0 ? url.slice(at + 1) : url === "" ? "" : basename(url);
};
const inclusiveUs = new Map<string, number>();
let totalUs = 0;
let idleUs = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const us = profile.timeDeltas[i] ?? 0;
  const node = byId.get(profile.samples[i]!);
  if (node === undefined) continue;
  totalUs += us;
  const self = label(node);
  if (node.callFrame.functionName === "(idle)") idleUs += us;
  selfUs.set(self, (selfUs.get(self) ?? 0) + us);
  let file = "";
  for (
    let id: number | undefined = node.id;
    id !== undefined && file === "";
    id = parentOf.get(id)
  ) {
    file = fileOf(byId.get(id)!);
  }
  if (node.callFrame.functionName !== "(idle)") {
    const key = file === "" ? "(no JS caller)" : file;
    fileUs.set(key, (fileUs.get(key) ?? 0) + us);
  }
  // Inclusive: once per distinct label on the stack.
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parentOf.get(id)) {
    const l = label(byId.get(id)!);
    if (seen.has(l)) continue;
    seen.add(l);
    if (focus.test(l)) inclusiveUs.set(l, (inclusiveUs.get(l) ?? 0) + us);
  }
}

const busyUs = totalUs - idleUs;
const pct = (us: number) => `${((100 * us) / busyUs).toFixed(1)}%`;
console.log(`sampled ${(totalUs / 1e6).toFixed(2)} s, busy ${(busyUs / 1e6).toFixed(2)} s`);
console.log("\n| self time (share of busy) | function |\n|---|---|");
const sorted = [...selfUs].filter(([l]) => !l.startsWith("(idle)")).sort((a, b) => b[1] - a[1]);
for (const [l, us] of sorted.slice(0, top)) console.log(`| ${pct(us)} | \`${l}\` |`);
if (inclusiveUs.size > 0) {
  console.log("\n| inclusive (share of busy) | function |\n|---|---|");
  for (const [l, us] of [...inclusiveUs].sort((a, b) => b[1] - a[1])) {
    console.log(`| ${pct(us)} | \`${l}\` |`);
  }
}
console.log("\n| self time by file (share of busy) | file |\n|---|---|");
for (const [f, us] of [...fileUs].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`| ${pct(us)} | ${f} |`);
}
