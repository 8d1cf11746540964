/**
 * Where the RSS of a FUSE mount comes from: one default mount per phase (SQLite meta, an S3
 * bucket on s3rver behind the SigV4 gate, a disk cache), a sequential write of SIZE_MIB then,
 * remounted with the caches emptied, a cold read of it. Per phase: the peak RSS (VmHWM), the
 * server's CPU (utime + stime), and Bun's accounting at the RSS peak (bench/memory_sampler.ts:
 * JS heap, extra memory the heap knows of, ArrayBuffers), to tell JS garbage from native memory.
 *
 *   bun bench/memory.ts [--tree DIR] [--size-mib 1024] [--phases write,read]
 *                       [--mount-args "--buffer-size 128"] [--rounds 1] [--storage s3|file]
 *
 * --tree runs another checkout's mount (e.g. /work/wt-old) with this driver; with --rounds N the
 * phases of this tree and --tree alternate (A B A B) when --compare DIR is given too.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { findMount, JFS_FSTYPE } from "../src/fuse/mountinfo.ts";
import { startS3Server } from "../test/harness/s3server.ts";

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const HERE = resolve(import.meta.dir, "..");
const trees = [flag("tree", HERE), ...(flag("compare", "") === "" ? [] : [flag("compare", "")])];
const sizeMiB = Number(flag("size-mib", "1024"));
const phases = flag("phases", "write,read").split(",");
const rounds = Number(flag("rounds", "1"));
/** "s3" (s3rver behind the SigV4 gate) or "file" (a directory: no HTTP in the data path). */
const storage = flag("storage", "s3");
const mountArgs = flag("mount-args", "")
  .split(" ")
  .filter((a) => a !== "");
const SAMPLER = join(import.meta.dir, "memory_sampler.ts");
const FUSE_IO = join(import.meta.dir, "fuse_io.py");

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (clock ticks)
}
function peakRssMiB(pid: number): number {
  const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kib) / 1024;
}

async function run(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(argv, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}: ${err}${out}`);
  return out;
}

await using s3 = await startS3Server();
const root = mkdtempSync(join(tmpdir(), "jfs-memory-"));
const keys = { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey };
console.log(`load ${loadavg()[0]!.toFixed(2)}; size ${sizeMiB} MiB; mount args [${mountArgs}]`);

async function phase(tree: string, volume: string, name: string): Promise<void> {
  const main = join(tree, "src/main.ts");
  const meta = `sqlite3://${join(root, `${volume}.db`)}`;
  const dir = join(root, volume);
  const cacheDir = join(root, `${volume}-cache`);
  const samples = join(root, `${volume}-${name}.json`);
  if (name === "write") {
    const bucket =
      storage === "s3" ? s3.bucketUrl(`${volume}-bucket`) : join(root, `${volume}-bucket`);
    await run(
      ["bun", main, "format", meta, volume, "--storage", storage, "--bucket", bucket],
      keys,
    );
  }
  rmSync(cacheDir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const argv = ["bun", "--preload", SAMPLER, main, "mount", meta, dir, "--cache-dir", cacheDir];
  const proc = Bun.spawn([...argv, ...mountArgs], {
    env: { ...process.env, JFS_MEMORY_SAMPLES: samples },
    stdout: "ignore",
    stderr: "inherit",
  });
  while (findMount(dir)?.fstype !== JFS_FSTYPE) {
    if (proc.exitCode !== null) throw new Error(`mount exited with ${proc.exitCode}`);
    await Bun.sleep(20);
  }
  await Bun.sleep(300);
  const cpu0 = cpuSeconds(proc.pid);
  const rss0 = peakRssMiB(proc.pid);
  const t0 = performance.now();
  const file = join(dir, "big");
  if (name === "write") await run(["/usr/bin/python3", FUSE_IO, "seqwrite", file, `${sizeMiB}`]);
  else {
    await Bun.write("/proc/sys/vm/drop_caches", "3\n");
    await run(["/usr/bin/python3", FUSE_IO, "seqread", file]);
  }
  const seconds = (performance.now() - t0) / 1000;
  await Bun.sleep(250);
  const cpu = cpuSeconds(proc.pid) - cpu0;
  const peak = peakRssMiB(proc.pid);
  const sampled = JSON.parse(readFileSync(samples, "utf8"));
  await run(["bun", main, "umount", dir]);
  await proc.exited;
  const at = sampled.atPeak;
  const fmt = (n: number) => n.toFixed(0);
  console.log(
    `${tree === HERE ? "this" : tree} ${name}: ${fmt((sizeMiB / seconds) | 0)} MiB/s, ` +
      `CPU ${(cpu / (sizeMiB / 1024)).toFixed(2)} s/GiB, idle ${fmt(rss0)} MiB, peak RSS ${fmt(peak)} MiB; ` +
      `at the sampled peak ${fmt(at.rssMiB)}: heap ${fmt(at.heapSizeMiB)}, heap extra ${fmt(at.heapExtraMiB)}, ` +
      `ArrayBuffers ${fmt(at.arrayBuffersMiB)}; max ArrayBuffers ${fmt(sampled.max.arrayBuffersMiB)}, ` +
      `max heap ${fmt(sampled.max.heapSizeMiB)} (load ${loadavg()[0]!.toFixed(2)})`,
  );
}

for (let round = 0; round < rounds; round++) {
  for (const [i, tree] of trees.entries()) {
    const volume = `v${round}t${i}`;
    for (const name of phases) await phase(tree, volume, name);
  }
}
rmSync(root, { recursive: true, force: true });
