/**
 * jfs bench [PATH | META-URL] — JuiceFS's `juicefs bench`: a big file written and read in 1 MiB
 * pieces, then many small files written, read and stat'ed, by `--threads` workers each. On a
 * directory it goes through the kernel (a FUSE or NFS mount); on a META-URL (or none: the
 * embedded default volume) straight through the VFS.
 */
import { existsSync, statSync } from "node:fs";
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { Units } from "../limits.ts";
import { openRuntime } from "../volume/runtime.ts";
import { type BenchTarget, pathTarget, vfsTarget } from "./benchtarget.ts";
import { parseIntFlag } from "./options.ts";
import { Progress, table } from "./progress.ts";
import { type DataFlags, runtimeOptions, withDataFlags } from "./runtime.ts";

/** Defaults of the workload flags (shown in the help from here). */
const BIG_FILE_MIB_DEFAULT = 1024;
const SMALL_FILE_KIB_DEFAULT = 128;
const SMALL_FILES_DEFAULT = 100;
const THREADS_DEFAULT = 1;
const IO_KIB_DEFAULT = 1024;

interface BenchFlags extends DataFlags {
  json?: boolean;
  bigFileSize?: unknown;
  smallFileSize?: unknown;
  smallFileCount?: unknown;
  threads?: unknown;
  ioSize?: unknown;
}

interface Phase {
  name: string;
  seconds: number;
  bytes: number;
  files: number;
}

export interface BenchPlan {
  bigFileBytes: number;
  smallFileBytes: number;
  smallFiles: number;
  threads: number;
  ioBytes: number;
}

async function phase(
  name: string,
  files: number,
  threads: number,
  progressTotal: number,
  run: (i: number, progress: Progress) => Promise<number>,
  unit: "items" | "bytes" = "items",
): Promise<Phase> {
  const progress = new Progress(name, progressTotal, { unit, noun: "files" });
  let bytes = 0;
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: threads }, async () => {
      for (let i = next++; i < files; i = next++) bytes += await run(i, progress);
    }),
  );
  progress.finish();
  return { name, seconds: (performance.now() - t0) / 1000, bytes, files };
}

export async function runBench(target: BenchTarget, plan: BenchPlan): Promise<Phase[]> {
  const { threads, ioBytes } = plan;
  const big = (i: number) => `big.${i}`;
  const small = (i: number) => `small.${i}`;
  const bigTotal = threads * plan.bigFileBytes;
  const smallCount = threads * plan.smallFiles;
  const phases: Phase[] = [];
  try {
    if (plan.bigFileBytes > 0) {
      phases.push(
        await phase(
          "Write big file",
          threads,
          threads,
          bigTotal,
          async (i, p) => {
            await target.write(big(i), plan.bigFileBytes, ioBytes, (n) => p.add(n));
            return plan.bigFileBytes;
          },
          "bytes",
        ),
      );
      phases.push(
        await phase(
          "Read big file",
          threads,
          threads,
          bigTotal,
          async (i, p) => {
            await target.read(big(i), ioBytes, (n) => p.add(n));
            return plan.bigFileBytes;
          },
          "bytes",
        ),
      );
    }
    if (smallCount > 0) {
      const piece = Math.min(ioBytes, plan.smallFileBytes);
      phases.push(
        await phase("Write small file", smallCount, threads, smallCount, async (i, p) => {
          await target.write(small(i), plan.smallFileBytes, piece, () => undefined);
          p.add(1, plan.smallFileBytes);
          return plan.smallFileBytes;
        }),
      );
      phases.push(
        await phase("Read small file", smallCount, threads, smallCount, async (i, p) => {
          await target.read(small(i), piece, () => undefined);
          p.add(1, plan.smallFileBytes);
          return plan.smallFileBytes;
        }),
      );
      phases.push(
        await phase("Stat file", smallCount, threads, smallCount, async (i, p) => {
          await target.stat(small(i));
          p.add();
          return 0;
        }),
      );
    }
  } finally {
    await target.cleanup();
  }
  return phases;
}

export function formatPhases(phases: Phase[]): string {
  const rows = phases.map((p) => {
    const throughput = p.bytes > 0 ? `${(p.bytes / Units.MiB / p.seconds).toFixed(1)} MiB/s` : "";
    const rate = `${(p.files / p.seconds).toFixed(1)} files/s`;
    const perFile = `${((p.seconds * 1000) / Math.max(1, p.files)).toFixed(2)} ms`;
    return [p.name, p.name.includes("big") ? throughput : `${rate}`, perFile];
  });
  return table(["ITEM", "VALUE", "COST/FILE"], rows);
}

/** The phases for scripts: per phase its seconds, bytes, files and the rates derived from them. */
export function phasesJson(description: string, plan: BenchPlan, phases: Phase[]): string {
  return JSON.stringify({
    target: description,
    plan,
    phases: phases.map((p) => ({
      ...p,
      bytesPerSecond: p.bytes / p.seconds,
      filesPerSecond: p.files / p.seconds,
    })),
  });
}

export function registerBench(cli: CAC): void {
  withDataFlags(
    cli
      .command("bench [PATH-OR-META-URL]", "Run a file system benchmark on a directory or a volume")
      .option("--big-file-size <MiB>", `Size of each big file (default: ${BIG_FILE_MIB_DEFAULT})`)
      .option(
        "--small-file-size <KiB>",
        `Size of each small file (default: ${SMALL_FILE_KIB_DEFAULT})`,
      )
      .option("--small-file-count <n>", `Small files per thread (default: ${SMALL_FILES_DEFAULT})`)
      .option("--threads <n>", `Workers, each with its own files (default: ${THREADS_DEFAULT})`)
      .option("--io-size <KiB>", `Size of each read and write (default: ${IO_KIB_DEFAULT})`)
      .option("--json", "Print one JSON object, for scripts"),
  ).action(async (where: string | undefined, flags: BenchFlags) => {
    const plan: BenchPlan = {
      bigFileBytes:
        parseIntFlag("big-file-size", flags.bigFileSize ?? BIG_FILE_MIB_DEFAULT, 0) * Units.MiB,
      smallFileBytes:
        parseIntFlag("small-file-size", flags.smallFileSize ?? SMALL_FILE_KIB_DEFAULT, 1) *
        Units.KiB,
      smallFiles: parseIntFlag("small-file-count", flags.smallFileCount ?? SMALL_FILES_DEFAULT, 0),
      threads: parseIntFlag("threads", flags.threads ?? THREADS_DEFAULT, 1, 256),
      ioBytes: parseIntFlag("io-size", flags.ioSize ?? IO_KIB_DEFAULT, 4, 16384) * Units.KiB,
    };
    const arg = where === undefined ? undefined : String(where);
    if (arg !== undefined && !arg.includes("://")) {
      // Not a META-URL, so a directory: say what is wrong with it, not that the URL is bad.
      if (!existsSync(arg)) throw new UserError(`bench: directory ${arg} does not exist`);
      if (!statSync(arg).isDirectory()) throw new UserError(`bench: ${arg} is not a directory`);
      const target = await pathTarget(arg);
      if (!flags.json) console.log(`bench in ${target.description}`);
      const phases = await runBench(target, plan);
      console.log(flags.json ? phasesJson(target.description, plan, phases) : formatPhases(phases));
      return;
    }
    const rt = await openRuntime(arg, runtimeOptions(flags), "bench");
    try {
      const target = await vfsTarget(rt.vfs);
      const where = `${target.description} (through the VFS, no front end)`;
      if (!flags.json) console.log(`bench in ${where}`);
      const phases = await runBench(target, plan);
      console.log(flags.json ? phasesJson(where, plan, phases) : formatPhases(phases));
    } finally {
      await rt.close();
    }
  });
}
