/**
 * bench/durability — what power-loss durability costs: small files created, written, fsynced
 * and closed one after another through the VFS (SQLite meta, file object store, disk cache, all
 * in one temp dir on the same disk), once as shipped and once with the fsyncs taken out (SQLite
 * synchronous=NORMAL, object store without fsync), in the same run, alternating rounds.
 *
 *   bun bench/durability.ts [--files 300] [--size-kib 4] [--rounds 3] [--writers 1]
 *                           [--dir /path/on/disk] [--write docs/benchmarks.md]
 *
 * Each file is one block: one object put (fsync of the object and its directory) and the meta
 * transactions of create, slice commit and close (a WAL fsync each, unless they share one). The
 * meta is synced either by SQLite inside COMMIT (synchronous=FULL, on the event loop: the
 * default) or by the WAL barrier (synchronous=NORMAL and a shared fdatasync on the I/O pool
 * before a write settles: opt-in, SqliteOpenOptions). Rows with --writeback stage the block (cache file
 * and staging link fsynced, the upload follows in the background). --writers N runs N such
 * loops at once (FILES split between them), as concurrent closes do. CPU is this process's
 * user+system time per file.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, hostname, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { BaseMeta } from "../src/meta/base.ts";
import { ROOT_CREDENTIALS as ctx } from "../src/meta/interface.ts";
import { SqliteEngine } from "../src/meta/sqlite.ts";
import { FileObjectStore } from "../src/object/file.ts";
import { PrefixedObjectStore } from "../src/object/prefix.ts";
import { JfsVfs } from "../src/vfs/vfs.ts";
import { ChunkFileData, defaultFileDataOptions } from "../src/volume/filedata.ts";
import { writeSection } from "./report.ts";

const args = process.argv.slice(2);
const flag = (name: string): string | undefined =>
  args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
const FILES = Number(flag("--files") ?? 300);
const SIZE_BYTES = Number(flag("--size-kib") ?? 4) * 1024;
const ROUNDS = Number(flag("--rounds") ?? 3);
const PARENT = flag("--dir") ?? tmpdir();
const writeTo = flag("--write");
const O_WRONLY = 1;

const WRITERS = Number(flag("--writers") ?? 1);

interface Mode {
  label: string;
  meta: "none" | "full" | "wal-barrier";
  objectFsync: boolean;
  writeback?: boolean;
}
const MODES: readonly Mode[] = [
  {
    label: "fsyncs taken out (synchronous=NORMAL, no object fsync)",
    meta: "none",
    objectFsync: false,
  },
  { label: "SQLite synchronous=FULL only", meta: "full", objectFsync: false },
  { label: "SQLite WAL barrier only", meta: "wal-barrier", objectFsync: false },
  { label: "object + directory fsync only", meta: "none", objectFsync: true },
  { label: "durable, synchronous=FULL (default)", meta: "full", objectFsync: true },
  { label: "durable, WAL barrier (opt-in)", meta: "wal-barrier", objectFsync: true },
  {
    label: "--writeback, synchronous=FULL (default)",
    meta: "full",
    objectFsync: true,
    writeback: true,
  },
  {
    label: "--writeback, WAL barrier (opt-in)",
    meta: "wal-barrier",
    objectFsync: true,
    writeback: true,
  },
];

interface RoundResult {
  filesPerSec: number;
  cpuMsPerFile: number;
  /** WAL fsyncs per file: one per COMMIT with FULL, the barriers with the WAL barrier. */
  walSyncsPerFile: number;
}

/** Files per second and CPU per file for one round in a fresh volume. */
async function round(mode: Mode): Promise<RoundResult> {
  const dir = await mkdtemp(join(PARENT, "jfs-durability-"));
  try {
    const engine = SqliteEngine.open(`${dir}/meta.db`, "bench", {
      durability: mode.meta,
    });
    const meta = new BaseMeta(engine);
    const format = {
      name: "bench",
      uuid: crypto.randomUUID(),
      storage: "file" as const,
      bucket: `${dir}/data`,
      blockSizeKiB: 4096,
      compression: "none" as const,
      capacityBytes: 0,
      inodes: 0,
      trashDays: 0,
      metaVersion: 1,
      createdAt: new Date().toISOString(),
    };
    await meta.format(format, false);
    const base = new FileObjectStore(format.bucket, { fsync: mode.objectFsync });
    await base.create();
    const store = new PrefixedObjectStore(base, "bench/");
    const options = {
      ...defaultFileDataOptions(),
      cacheDir: `${dir}/cache`,
      writeback: mode.writeback === true,
    };
    const data = new ChunkFileData({ meta, store, format, options });
    const vfs = new JfsVfs(meta, data, format);
    await vfs.startSession({
      hostname: hostname(),
      pid: process.pid,
      version: "bench",
      mountPoint: dir,
    });
    const payload = Buffer.from(crypto.getRandomValues(new Uint8Array(SIZE_BYTES)));
    const writeFiles = async (writer: number) => {
      for (let i = writer; i < FILES; i += WRITERS) {
        const name = Buffer.from(`f${i}`);
        const { inode, fh } = await vfs.create(ctx, 1, name, 0o644, 0, O_WRONLY);
        await vfs.write(ctx, inode, fh, 0, payload);
        await vfs.fsync(ctx, inode, fh, false);
        await vfs.release(ctx, inode, fh);
      }
    };
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writeFiles(w)));
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const stats = engine.commitStats;
    const walSyncs = { none: 0, full: stats.commits, "wal-barrier": stats.walSyncs }[mode.meta];
    await vfs.close();
    return {
      filesPerSec: FILES / seconds,
      cpuMsPerFile: (cpu.user + cpu.system) / 1000 / FILES,
      walSyncsPerFile: walSyncs / FILES,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const load = () => loadavg()[0]!.toFixed(2);
const loadBefore = load();
const rates = MODES.map(() => [] as number[]);
const cpuMs = MODES.map(() => [] as number[]);
const walSyncs = MODES.map(() => [] as number[]);
for (let r = 0; r < ROUNDS; r++) {
  for (const [i, mode] of MODES.entries()) {
    const result = await round(mode);
    rates[i]!.push(result.filesPerSec);
    cpuMs[i]!.push(result.cpuMsPerFile);
    walSyncs[i]!.push(result.walSyncsPerFile);
    console.error(
      `round ${r + 1}: ${result.filesPerSec.toFixed(0).padStart(5)} files/s ` +
        `${result.cpuMsPerFile.toFixed(2)} ms CPU/file ` +
        `${result.walSyncsPerFile.toFixed(2)} WAL syncs/file  ${mode.label}`,
    );
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medians = rates.map(median);
const cpuMedians = cpuMs.map(median);
const walSyncMedians = walSyncs.map(median);
const baseline = medians[0]!;
const date = new Date().toISOString().slice(0, 10);
const lines = [
  `Command: \`${["bun bench/durability.ts", ...args].join(" ")}\` (${date}, ${cpus().length} cores,` +
    ` Bun ${Bun.version}; 1-minute load average ${loadBefore} → ${load()}).`,
  `${FILES} files of ${SIZE_BYTES / 1024} KiB, each created, written, fsynced and closed in`,
  `turn through the VFS by ${WRITERS === 1 ? "one writer" : `${WRITERS} writers at once`}`,
  `(SQLite meta + file store + disk cache on one disk, ${PARENT});`,
  `median of ${ROUNDS} rounds (modes alternate within each round).`,
  "",
  "| setting | files/s | vs no fsync | CPU ms per file | WAL fsyncs per file |",
  "|---|---:|---:|---:|---:|",
  ...MODES.map(
    (mode, i) =>
      `| ${mode.label} | ${medians[i]!.toFixed(0)} | ${(medians[i]! / baseline).toFixed(2)} | ` +
      `${cpuMedians[i]!.toFixed(2)} | ${walSyncMedians[i]!.toFixed(2)} |`,
  ),
];
console.log(lines.join("\n"));
if (writeTo !== undefined) writeSection(writeTo, "Durability: the cost of fsync", lines.join("\n"));
