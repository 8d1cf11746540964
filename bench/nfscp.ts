/**
 * One `jfs serve --nfs` per phase against libnfs's nfs-cp, for A/B runs of two checkouts on a
 * noisy machine: besides the rate, the server's CPU (utime + stime of every thread, and per
 * thread name: the JS thread, Bun's I/O pool, the collector) and its peak RSS, which load from
 * other work disturbs far less than the wall clock. Volume and server as bench/nfs.ts sets them
 * up (SQLite meta, a file bucket and a disk cache in /tmp); the server restarts between phases,
 * so a read phase is served from the disk cache or the bucket, not from memory. Written full
 * blocks are not in the disk cache (unless --serve-args --cache-large-write): the first read
 * after a write gets them from the bucket (a directory on the same disk) and caches them as
 * any read miss; a read phase repeated (`--phases write,read,read`) reads the disk cache.
 *
 *   bun bench/nfscp.ts [--tree DIR] [--phases write,read] [--size-mib 1024] [--cpu-prof-dir DIR]
 *                      [--serve-args "--buffer-size 128"] [--memory]
 *
 * Phases: write (one nfs-cp of SIZE_MIB into the volume), read (it back into tmpfs; may repeat), write4
 * and read4 (four nfs-cp at once, SIZE_MIB each). --tree runs another checkout's server (e.g.
 * the old main) with the same driver; --cpu-prof-dir profiles each phase's server into
 * DIR/PHASE (summarise with bench/cpuprof_summary.ts). --memory says what the server held at its
 * RSS peak: Bun's accounting (bench/memory_sampler.ts, preloaded) and the volume's own gauges
 * (write buffer in use, memory cache), scraped from its /metrics every 100 ms.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const tree = flag("tree", join(import.meta.dir, ".."));
const phases = flag("phases", "write,read").split(",");
const sizeMiB = Number(flag("size-mib", "1024"));
const profDir = flag("cpu-prof-dir", "");
const withMemory = process.argv.includes("--memory");
/** More flags for jfs serve (split at spaces). */
const serveArgs = flag("serve-args", "")
  .split(" ")
  .filter((a) => a !== "");
const MiB = 1 << 20;

const { openMeta } = await import(join(tree, "src/meta/index.ts"));
const { formatVolume, newFormat } = await import(join(tree, "src/volume/open.ts"));

/** user and system CPU seconds of each thread of `pid`, summed by thread name. */
function threadCpu(pid: number): Map<string, { user: number; system: number }> {
  const byName = new Map<string, { user: number; system: number }>();
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")).replace(/\d+$/, "#");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const sum = byName.get(name) ?? { user: 0, system: 0 };
    sum.user += Number(fields[11]) / 100;
    sum.system += Number(fields[12]) / 100;
    byName.set(name, sum);
  }
  return byName;
}

/**
 * user + system CPU seconds of the whole process, from /proc/PID/stat: it keeps the time of
 * threads that have exited (Bun's I/O pool lets idle threads go), which the per-thread
 * figures above lose.
 */
function totalCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMiB(pid: number, field = "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? Number.NaN) / 1024;
}

async function serve(dir: string, metaUrl: string, phase: string) {
  const bunArgs = profDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${join(profDir, phase)}`];
  if (withMemory) bunArgs.push("--preload", join(import.meta.dir, "memory_sampler.ts"));
  const args = ["serve", "--nfs", "--port", "0", "--insecure", "--squash", "none"];
  args.push("--cache-dir", join(dir, "cache"), ...serveArgs, metaUrl);
  const proc = Bun.spawn([process.execPath, ...bunArgs, join(tree, "src/main.ts"), ...args], {
    env: { ...process.env, HOME: dir, JFS_MEMORY_SAMPLES: samplesPath(dir) },
    stdout: "pipe",
    stderr: "ignore",
  });
  const reader = proc.stdout.getReader();
  let text = "";
  let port = 0;
  let metricsUrl = "";
  while (port === 0 || metricsUrl === "") {
    const { value, done } = await reader.read();
    if (done) throw new Error(`jfs serve exited: ${text}`);
    text += new TextDecoder().decode(value);
    port = Number(/ on 127\.0\.0\.1:(\d+)$/m.exec(text)?.[1] ?? 0);
    // (A busy default port moves the endpoint and says so after the URL.)
    metricsUrl = /^metrics: serving on (\S+)/m.exec(text)?.[1] ?? "";
  }
  void (async () => {
    while (!(await reader.read()).done) {}
  })();
  return { proc, port, metricsUrl };
}

const samplesPath = (dir: string) => join(dir, "memory-samples.json");

/** The gauges of /metrics that say where a server's memory is. */
async function memoryGauges(metricsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const gauge = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN) / MiB;
  return {
    writeBufferMiB: gauge(/^jfs_write_buffer_used_bytes (\S+)$/m),
    memCacheMiB: gauge(/^jfs_cache_used_bytes\{cache="memory"\} (\S+)$/m),
  };
}

const dir = mkdtempSync(join(tmpdir(), "jfs-bench-nfscp-"));
const source = join("/dev/shm", `jfs-bench-nfscp-${process.pid}`);
try {
  const metaUrl = `sqlite3://${join(dir, "meta.db")}`;
  const meta = await openMeta(metaUrl);
  const format = newFormat({ name: "bench", bucket: join(dir, "bucket"), trashDays: 0 });
  await formatVolume(meta, format, false);
  await meta.close();
  const out = Bun.file(source).writer();
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < sizeMiB; i++) out.write(crypto.getRandomValues(chunk));
  await out.end();
  console.log(`tree ${tree}, ${sizeMiB} MiB per copy, serve flags: ${serveArgs.join(" ")}`);
  for (const phase of phases) {
    const { proc, port, metricsUrl } = await serve(dir, metaUrl, phase);
    try {
      await runPhase(phase, proc, port, metricsUrl);
    } finally {
      // Stopped however the phase ended: a failed copy must not leave the server running.
      proc.kill("SIGTERM");
      await proc.exited;
      for (let i = 0; i < 4; i++) rmSync(`${source}.copy${i}`, { force: true });
      rmSync(`${source}.copy`, { force: true });
    }
  }
} finally {
  rmSync(source, { force: true });
  rmSync(dir, { recursive: true, force: true });
}

async function runPhase(
  phase: string,
  proc: Bun.Subprocess,
  port: number,
  metricsUrl: string,
): Promise<void> {
  const url = (name: string) =>
    `nfs://127.0.0.1//${name}?nfsport=${port}&mountport=${port}&version=3`;
  const copies: Record<string, string[][]> = {
    write: [["nfs-cp", source, url("big")]],
    read: [["nfs-cp", url("big"), `${source}.copy`]],
    write4: [0, 1, 2, 3].map((i) => ["nfs-cp", source, url(`big${i}`)]),
    read4: [0, 1, 2, 3].map((i) => ["nfs-cp", url(`big${i}`), `${source}.copy${i}`]),
  };
  const commands = copies[phase];
  if (commands === undefined) throw new Error(`unknown phase ${phase}`);
  const idle = rssMiB(proc.pid);
  let peak = idle;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(proc.pid));
  }, 50);
  let gaugesAtPeak: { rssMiB: number; gauges: Record<string, number> } | undefined;
  const scraper = !withMemory
    ? undefined
    : setInterval(async () => {
        const rss = rssMiB(proc.pid);
        const gauges = await memoryGauges(metricsUrl).catch(() => undefined);
        if (gauges !== undefined && rss >= (gaugesAtPeak?.rssMiB ?? 0)) {
          const split = {
            anonMiB: rssMiB(proc.pid, "RssAnon"),
            fileMiB: rssMiB(proc.pid, "RssFile"),
          };
          gaugesAtPeak = { rssMiB: rss, gauges: { ...split, ...gauges } };
        }
      }, 100);
  const cpuBefore = totalCpu(proc.pid);
  const started = performance.now();
  const codes = await Promise.all(commands.map((c) => Bun.spawn(c).exited));
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  clearInterval(scraper);
  if (codes.some((code) => code !== 0)) throw new Error(`${phase}: nfs-cp failed ${codes}`);
  const cpu = totalCpu(proc.pid) - cpuBefore;
  const threads = [...threadCpu(proc.pid)]
    .map(([name, t]) => `${name} ${t.user.toFixed(2)}/${t.system.toFixed(2)}`)
    .join(", ");
  const rate = (sizeMiB * commands.length) / seconds;
  console.log(
    `${phase}: ${rate.toFixed(0)} MiB/s, server CPU ${cpu.toFixed(2)} s, RSS idle ` +
      `${idle.toFixed(0)} peak ${peak.toFixed(0)} MiB, 1-min load ${loadavg()[0]?.toFixed(2)}`,
  );
  console.log(`  live server threads since start (user/system s): ${threads}`);
  if (withMemory) {
    const samples = readFileSync(samplesPath(dir), "utf8").trim().split("\n").at(-1) ?? "{}";
    const { atPeak } = JSON.parse(samples) as { atPeak: Record<string, number> };
    const round = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(1)}`)
        .join(", ");
    console.log(`  at the RSS peak, Bun: ${round(atPeak)}`);
    if (gaugesAtPeak !== undefined) {
      console.log(
        `  at RSS ${gaugesAtPeak.rssMiB.toFixed(0)} MiB, the volume: ${round(gaugesAtPeak.gauges)}`,
      );
    }
  }
}
