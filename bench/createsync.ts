/**
 * Durable small-file creates through FUSE: another checkout's jfs (--old, e.g. the session's
 * starting main) against this one, alternated A B A B in one run, with rclone's rate from the
 * same run. The workloads are bench/fuse.ts's: `fuse_io.py smallfiles` (one process; its
 * "create" phase: open, write 16 KiB, close) and `fuse_io.py parcreate` (8 writer processes),
 * each on a fresh volume on s3rver (SQLite meta, the default mount, then --writeback). Then, not
 * timed, the mount's fsync and fdatasync calls per created file (strace -f on the mount process
 * while one process creates --trace-files files), by what they sync: the SQLite WAL, the
 * --writeback staging files and directory, anything else.
 *
 *   bun bench/createsync.ts [--old /work/wt-old] [--files 2000] [--rounds 2] [--trace-files 200]
 *
 * Prints one JSON line per measurement and a summary; the figures go in docs/benchmarks.md by
 * hand ("Small-file writes and memory").
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { startS3Server } from "../test/harness/s3server.ts";
import { traceSyncs } from "../test/harness/strace.ts";
import { findS3rverPid, python, type Runner } from "./fuse_run.ts";
import { type BenchFs, jfsFs, REPO, rcloneFs, type S3Target } from "./fuse_systems.ts";

const { values: flags } = parseArgs({
  options: {
    old: { type: "string", default: "/work/wt-old" },
    files: { type: "string", default: "2000" },
    rounds: { type: "string", default: "2" },
    "trace-files": { type: "string", default: "200" },
  },
});
const FILES = Number(flags.files);
const ROUNDS = Number(flags.rounds);
const TRACE_FILES = Number(flags["trace-files"]);
const SMALL_KIB = 16;
const WRITERS = 8;
const IO = join(REPO, "bench/fuse_io.py");
const TREES = { old: join(flags.old, "src/main.ts"), new: join(REPO, "src/main.ts") };
const MODES = { default: [] as string[], writeback: ["--writeback"] };

interface Rates {
  oneProcess: number;
  writers: number;
  /** CPU time of the mount process per file (utime+stime from /proc), ms. */
  oneProcessCpuMs: number;
  writersCpuMs: number;
}

const log = (text: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${text}`);
const load1 = () => loadavg()[0]!.toFixed(1);

async function measure(fs: BenchFs, s3rverPid: number | undefined, tag: string): Promise<Rates> {
  const runner: Runner = { s3rverPid, fsPid: () => fs.pid() };
  await fs.mount();
  try {
    const one = join(fs.dir, `one-${tag}`);
    await mkdir(one);
    const small = await python<{ seconds: { create: number } }>(runner, [
      IO,
      "smallfiles",
      one,
      String(FILES),
      String(SMALL_KIB),
    ]);
    const par = join(fs.dir, `par-${tag}`);
    await mkdir(par);
    const parallel = await python<{ seconds: number }>(runner, [
      IO,
      "parcreate",
      par,
      String(FILES),
      String(SMALL_KIB),
      String(WRITERS),
    ]);
    return {
      oneProcess: FILES / small.result[0]!.seconds.create,
      writers: FILES / parallel.result[0]!.seconds,
      // smallfiles also stats, reads and removes: its CPU is per file for all four phases.
      oneProcessCpuMs: (small.cpu.fsS * 1000) / FILES,
      writersCpuMs: (parallel.cpu.fsS * 1000) / FILES,
    };
  } finally {
    await fs.unmount();
  }
}

/** The mount's syncs per file while one process creates TRACE_FILES files, by target. */
async function syncsPerFile(fs: BenchFs, root: string): Promise<Record<string, number>> {
  await fs.mount();
  try {
    const dir = join(fs.dir, "traced");
    await mkdir(dir);
    const pid = fs.pid();
    if (pid === undefined) throw new Error(`${fs.name}: no mount process`);
    const trace = await traceSyncs(pid, join(root, `${fs.name}.strace`));
    const script = `
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
data = os.urandom(${SMALL_KIB} * 1024)
for i in range(n):
    with open(f"{d}/f{i}", "wb") as f:
        f.write(data)
`;
    const proc = Bun.spawn(["/usr/bin/python3", "-c", script, dir, String(TRACE_FILES)]);
    if ((await proc.exited) !== 0) throw new Error(`${fs.name}: traced workload failed`);
    const calls = await trace.stop();
    const by: Record<string, number> = { wal: 0, staging: 0, other: 0, all: calls.length };
    for (const c of calls) {
      const kind = c.path.endsWith("-wal")
        ? "wal"
        : c.path.includes("staging")
          ? "staging"
          : "other";
      by[kind]!++;
    }
    for (const k of Object.keys(by)) by[k] = Number((by[k]! / TRACE_FILES).toFixed(2));
    return by;
  } finally {
    await fs.unmount();
  }
}

const root = mkdtempSync(join(tmpdir(), "jfs-createsync-"));
try {
  await using s3 = await startS3Server();
  const target: S3Target = s3;
  const s3rverPid = findS3rverPid();
  const rates: Record<string, Rates[]> = {};
  const record = (key: string, r: Rates) => {
    rates[key] = [...(rates[key] ?? []), r];
    console.log(JSON.stringify({ key, ...r, load1: load1() }));
  };
  log(`start, load ${load1()}`);
  // One rclone mount for every round (its bucket is fixed), fresh directories each time.
  const rclone = await rcloneFs(root, target);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [tree, main] of Object.entries(TREES)) {
      for (const [mode, modeFlags] of Object.entries(MODES)) {
        const name = `${tree}-${mode}-${round}`;
        const url = `sqlite3://${join(root, `${name}.db`)}`;
        const fs = await jfsFs(root, target, url, name, modeFlags, main);
        record(`${tree} ${mode}`, await measure(fs, s3rverPid, name));
      }
    }
    record("rclone", await measure(rclone, s3rverPid, String(round)));
    log(`round ${round} done, load ${load1()}`);
  }
  const syncs: Record<string, Record<string, number>> = {};
  for (const [tree, main] of Object.entries(TREES)) {
    for (const [mode, modeFlags] of Object.entries(MODES)) {
      const name = `${tree}-${mode}-trace`;
      const url = `sqlite3://${join(root, `${name}.db`)}`;
      syncs[`${tree} ${mode}`] = await syncsPerFile(
        await jfsFs(root, target, url, name, modeFlags, main),
        root,
      );
      console.log(
        JSON.stringify({ key: `${tree} ${mode}`, syncsPerFile: syncs[`${tree} ${mode}`] }),
      );
    }
  }
  log(`end, load ${load1()}`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const rc = rates.rclone!;
  for (const [key, rs] of Object.entries(rates)) {
    const one = rs.map((r) => r.oneProcess);
    const par = rs.map((r) => r.writers);
    const cpu = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(" / ");
    console.log(
      `${key.padEnd(18)} one process ${one.map((x) => x.toFixed(0)).join(" / ")} files/s ` +
        `(${(mean(one) / mean(rc.map((r) => r.oneProcess))).toFixed(2)}x rclone), ` +
        `${WRITERS} writers ${par.map((x) => x.toFixed(0)).join(" / ")} ` +
        `(${(mean(par) / mean(rc.map((r) => r.writers))).toFixed(2)}x); mount CPU ms/file ` +
        `${cpu(rs.map((r) => r.oneProcessCpuMs))} and ${cpu(rs.map((r) => r.writersCpuMs))}`,
    );
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
