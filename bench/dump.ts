/**
 * bench/dump — the memory of `jfs dump` and `jfs load` on a large volume: peak RSS of the CLI
 * (GNU time's %M) at two sizes. Constant memory means the peaks do not grow with the volume.
 *
 *   bun bench/dump.ts [--inodes 20000,200000] [--old /work/wt-old] [--write docs/benchmarks.md]
 *
 * The volume (SQLite in a temp dir) is made by `jfs load` of a generated dump: directories of
 * 1,000 files, each file one slice, a hard link every 100 files, and as many unused slices, and a
 * quarter as many deleted files, as inodes. --old runs the dump of another checkout (the code
 * before the change) on the same volume, the baseline: once before (not measured: the first
 * dump after the load reads through its WAL) and once after this checkout's.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { encodeSlices } from "../src/meta/codec.ts";
import { writeSection } from "./report.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined =>
  args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
const sizes = (flag("--inodes") ?? "20000,200000").split(",").map(Number);
const old = flag("--old");
const writeTo = flag("--write");
const MAIN = join(import.meta.dir, "../src/main.ts");
const FILES_PER_DIR = 1000;

function attr(type: number, mode: number, nlink: number, size: number, parent: number) {
  const t = 1_700_000_000;
  return {
    type,
    mode,
    uid: 0,
    gid: 0,
    atime: t,
    atimeNsec: 0,
    mtime: t,
    mtimeNsec: 0,
    ctime: t,
    ctimeNsec: 0,
    nlink,
    size,
    rdev: 0,
    parent,
    generation: 1,
  };
}

/** The lines of a dump of a volume with `inodes` inodes (see the header). */
function* generate(inodes: number): Generator<string> {
  const dirs = Math.ceil(inodes / (FILES_PER_DIR + 1));
  const files = inodes - dirs - 2;
  const FILE = 1;
  const DIR = 2;
  yield JSON.stringify({ jfs: "dump", version: 1, engine: "bench", snapshot: true, inodes });
  yield JSON.stringify({ node: 1, attr: attr(DIR, 0o755, 2 + dirs, 4096, 1) });
  yield JSON.stringify({ node: 2, attr: attr(DIR, 0o555, 2, 4096, 1) });
  let entries = 0;
  let seq = 1;
  let ino = 3;
  let sliceId = 1;
  for (let d = 0; d < dirs; d++) {
    const dir = ino++;
    yield JSON.stringify({ entry: 1, name: b64(`d${d}`), inode: dir, type: DIR, seq: seq++ });
    entries++;
    yield JSON.stringify({ node: dir, attr: attr(DIR, 0o755, 2, 4096, 1) });
    const count = Math.min(FILES_PER_DIR, files - d * FILES_PER_DIR);
    for (let f = 0; f < count; f++) {
      const file = ino++;
      const linked = f % 100 === 0;
      const name = b64(`f${f}`);
      yield JSON.stringify({ entry: dir, name, inode: file, type: FILE, seq: seq++ });
      entries++;
      if (linked) {
        const other = b64(`l${f}`);
        yield JSON.stringify({ entry: dir, name: other, inode: file, type: FILE, seq: seq++ });
        entries++;
      }
      const slice = { id: sliceId++, size: 4096, off: 0, len: 4096, pos: 0 };
      yield JSON.stringify({
        node: file,
        attr: attr(FILE, 0o644, linked ? 2 : 1, 4096, linked ? 0 : dir),
        ...(linked ? { parents: [[dir, 2]] } : {}),
        chunks: [[0, encodeSlices([slice]).toString("base64")]],
      });
    }
  }
  for (let i = 0; i < inodes; i += 1000) {
    const page = Array.from({ length: Math.min(1000, inodes - i) }, (_, k) => [
      sliceId + i + k,
      4096,
    ]);
    yield JSON.stringify({ unused: page });
  }
  for (let i = 0; i < inodes / 4; i++) {
    yield JSON.stringify({ deleted: 10_000_000 + i, size: 4096 });
  }
  yield JSON.stringify({
    counters: {
      nextInode: ino,
      nextSliceId: sliceId + inodes,
      nextEntrySeq: seq,
      nextSession: 0,
      usedSpace: 4096 * inodes,
      usedInodes: inodes,
    },
  });
  yield JSON.stringify({
    setting: JSON.stringify({
      name: "bench",
      uuid: crypto.randomUUID(),
      storage: "file",
      bucket: "/nonexistent",
      blockSizeKiB: 4096,
      compression: "none",
      capacityBytes: 0,
      inodes: 0,
      trashDays: 0,
      metaVersion: 1,
      createdAt: new Date().toISOString(),
    }),
  });
  yield JSON.stringify({ end: { nodes: inodes, entries } });
}

function b64(s: string): string {
  return Buffer.from(s).toString("base64");
}

/** Runs the CLI under GNU time; returns its peak RSS in MiB and wall time in seconds. */
function measured(main: string, argv: string[]): { rssMiB: number; seconds: number } {
  const t = performance.now();
  const run = Bun.spawnSync(["/usr/bin/time", "-f", "%M", "bun", main, ...argv], {
    stdout: "ignore",
    stderr: "pipe",
  });
  const err = run.stderr.toString().trim().split("\n");
  if (!run.success) throw new Error(`${argv.join(" ")} failed: ${err.slice(-3).join(" ")}`);
  return { rssMiB: Number(err.at(-1)) / 1024, seconds: (performance.now() - t) / 1000 };
}

const load = loadavg()[0] ?? 0;
const tmp = mkdtempSync(join(tmpdir(), "jfs-bench-dump-"));
const rows: string[] = [];
try {
  for (const inodes of sizes) {
    const input = join(tmp, `in-${inodes}.jsonl`);
    const writer = Bun.file(input).writer();
    for (const line of generate(inodes)) writer.write(`${line}\n`);
    await writer.end();
    const url = `sqlite3://${join(tmp, `meta-${inodes}.db`)}`;
    const loaded = measured(MAIN, ["load", "--quiet", url, input]);
    const out = join(tmp, `out-${inodes}.jsonl`);
    // The baseline first as well: the first reader after a load pays for its WAL.
    if (old) measured(join(old, "src/main.ts"), ["dump", "--quiet", url, `${out}.old`]);
    const dumped = measured(MAIN, ["dump", "--quiet", url, out]);
    const dumpMiB = statSync(out).size / 2 ** 20;
    const cells = [
      `${inodes}`,
      `${inodes} + ${inodes / 4}`,
      `${dumpMiB.toFixed(0)} MiB`,
      `${dumped.rssMiB.toFixed(0)} MiB (${dumped.seconds.toFixed(1)} s)`,
      `${loaded.rssMiB.toFixed(0)} MiB (${loaded.seconds.toFixed(1)} s)`,
    ];
    if (old) {
      const before = measured(join(old, "src/main.ts"), ["dump", "--quiet", url, `${out}.old`]);
      cells.push(`${before.rssMiB.toFixed(0)} MiB (${before.seconds.toFixed(1)} s)`);
    }
    rows.push(`| ${cells.join(" | ")} |`);
    console.log(rows.at(-1));
    rmSync(input);
    rmSync(out, { force: true });
    rmSync(`${out}.old`, { force: true });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const body = [
  `Command: \`bun bench/dump.ts --inodes ${sizes.join(",")}${old ? ` --old ${old}` : ""}\` (${new Date().toISOString().slice(0, 10)}, load average ${load.toFixed(1)} at start, SQLite volume made by \`jfs load\` of a generated dump: directories of ${FILES_PER_DIR} files of one slice, a hard link every 100 files). Peak RSS of the whole CLI process (GNU time %M), wall time in brackets.`,
  "",
  `| inodes | unused slices + deleted files | dump size | jfs dump peak RSS | jfs load peak RSS |${old ? " jfs dump peak RSS before (all garbage in memory) |" : ""}`,
  `|---|---|---|---|---|${old ? "---|" : ""}`,
  ...rows,
].join("\n");
console.log(body);
if (writeTo) writeSection(writeTo, "dump and load memory", body);
