/**
 * NFSv3 serving: `jfs serve --nfs` against nfs-ganesha (FSAL VFS over a local directory on the
 * same disk), in the same run, on the same terms:
 *   - host side, libnfs-utils: nfs-cp writing and reading a SIZE_MIB file (from and to tmpfs),
 *     then PARALLEL nfs-cp at once (one connection each) writing and reading PARALLEL files of
 *     SIZE_MIB / PARALLEL, as an aggregate rate, and that rate against one copy's. The read
 *     figures are hot reads: written full blocks are not in jfs's disk cache (as in JuiceFS
 *     without --cache-large-write), so the file is read first, untimed, until the jfs disk
 *     cache holds all of it (at most WARM_READS_MAX reads; ganesha's page cache has it after
 *     the write, one read is done there too), then read again, timed. The first read right
 *     after the write (jfs: from the bucket, a directory on the same disk, caching the blocks
 *     on disk as it goes) is given on its own;
 *   - memory (RSS from /proc/PID/status, sampled every 50 ms): the server idle after its start,
 *     its peak over the host copies, and its peak while STREAM_MIB are written in SIZE_MIB
 *     files one after the other and read back (default flags; `--stream-mib 0` skips it);
 *   - the Linux kernel client in nfs-vm: sequential write / cold read / hot read, O_DIRECT 4 KiB
 *     random reads, FILES files of 16 KiB created / listed with `ls -l` / stat'ed / read /
 *     removed (bench/nfsguest.ts), each given as jfs's figure, ganesha's, and their ratio.
 *
 *   bun bench/nfs.ts [--size-mib 1024] [--files 10000] [--random-reads 5000] [--no-vm]
 *                    [--parallel 4] [--stream-mib 4096] [--servers jfs,ganesha]
 *                    [--cpu-prof-dir DIR] [--write docs/benchmarks.md]
 *
 * Needs what bench/ganesha.ts needs (nfs-ganesha, nfs-ganesha-vfs, rpcbind) and, for the VM
 * part, shared/tools/nfs-vm. Everything runs in a network namespace of its own, holding only a
 * loopback interface (bench/ganesha.ts says why). Servers are stopped by PID.
 */
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openMeta } from "../src/meta/index.ts";
import { formatVolume, newFormat } from "../src/volume/open.ts";
import {
  inNamespace,
  insideNamespace,
  libnfsUrl,
  run,
  type Server,
  startGanesha,
  stopByPid,
  until,
} from "./ganesha.ts";
import { GUEST_SCRIPT } from "./nfsguest.ts";
import { PageCacheFiller } from "./pagecache.ts";
import { writeSection } from "./report.ts";

const MiB = 1 << 20;
const ROOT = join(import.meta.dir, "..");
const NFS_VM = join(ROOT, "../shared/tools/nfs-vm/nfs-vm");
/** Untimed reads before a hot read, until jfs's disk cache holds the file (best effort copies). */
const WARM_READS_MAX = 3;

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const sizeMiB = Number(flag("size-mib", "1024"));
const files = Number(flag("files", "10000"));
const randomReads = Number(flag("random-reads", "5000"));
const withVm = !process.argv.includes("--no-vm");
const parallel = Number(flag("parallel", "4"));
const streamMiB = Number(flag("stream-mib", "4096"));
const reportPath = process.argv.includes("--write") ? flag("write", "docs/benchmarks.md") : "";
/** Runs jfs under `bun --cpu-prof`; the profile is written into DIR when the server stops. */
const profDir = flag("cpu-prof-dir", "");
const serverNames = flag("servers", "jfs,ganesha").split(",");

async function startJfs(dir: string): Promise<Server> {
  const metaUrl = `sqlite3://${join(dir, "meta.db")}`;
  const meta = await openMeta(metaUrl);
  await formatVolume(
    meta,
    newFormat({ name: "bench", bucket: join(dir, "bucket"), trashDays: 0 }),
    false,
  );
  await meta.close();
  // --insecure: the VM's kernel client comes through qemu's NAT from an unreserved port.
  const loose = ["--insecure", "--squash", "none"];
  const args = [
    "serve",
    "--nfs",
    "--port",
    "0",
    ...loose,
    "--cache-dir",
    join(dir, "cache"),
    metaUrl,
  ];
  const bunArgs = profDir === "" ? [] : ["--cpu-prof", `--cpu-prof-dir=${profDir}`];
  const proc = Bun.spawn([process.execPath, ...bunArgs, join(ROOT, "src/main.ts"), ...args], {
    env: { ...process.env, HOME: dir },
    stdout: "pipe",
    stderr: "inherit",
  });
  let text = "";
  const reader = proc.stdout.getReader();
  let port = 0;
  await until("jfs serve", async () => {
    const { value, done } = await reader.read();
    if (done) throw new Error(`jfs serve exited: ${text}`);
    text += new TextDecoder().decode(value);
    port = Number(/^nfs: serving \S+ on 127\.0\.0\.1:(\d+)$/m.exec(text)?.[1] ?? 0);
    return port > 0;
  });
  void (async () => {
    while (!(await reader.read()).done) {}
  })();
  return {
    name: "jfs",
    nfsPort: port,
    mountPort: port,
    exportPath: "",
    pid: proc.pid,
    cachedBytes: () => treeBytes(join(dir, "cache")),
    stop: () => stopByPid(proc),
  };
}

/** Bytes of the files under `dir` (0 if it does not exist). */
function treeBytes(dir: string): number {
  let bytes = 0;
  try {
    for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
    }
  } catch {
    return 0;
  }
  return bytes;
}

/** RSS of a process in MiB. */
function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

/** CPU seconds (user + system, all threads) a process has used. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after "(comm)": utime is field 14, stime 15, in clock ticks of 10 ms.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Samples a process's RSS until stopped; the peak seen. */
function rssPeak(pid: number): { stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMiB(pid));
    },
  };
}

/** Set by main: fills free memory with page cache before each timed phase (bench/pagecache.ts). */
let pageCacheFiller: PageCacheFiller | undefined;

/** Runs the commands at once; the seconds until the last one ended. */
async function timed(commands: string[][]): Promise<number> {
  pageCacheFiller?.topUp();
  const start = performance.now();
  const results = await Promise.all(commands.map((args) => run(args)));
  results.forEach((result, i) => {
    if (result.code !== 0) throw new Error(`${commands[i]!.join(" ")}: ${result.out}`);
  });
  return (performance.now() - start) / 1000;
}

async function expectSame(server: Server, source: string, copy: string): Promise<void> {
  const same = (await run(["cmp", source, copy])).code === 0;
  rmSync(copy, { force: true });
  if (!same) throw new Error(`${server.name}: the file read back differs`);
}

/** Cuts the source into `parallel` files of SIZE_MIB / parallel (in tmpfs). */
function parallelSources(source: string): string[] {
  const whole = readFileSync(source);
  const partBytes = Math.floor(whole.length / parallel);
  return Array.from({ length: parallel }, (_, i) => {
    const part = `${source}.${i}`;
    writeFileSync(part, whole.subarray(i * partBytes, (i + 1) * partBytes));
    return part;
  });
}

async function hostBench(
  server: Server,
  source: string,
  parts: string[],
): Promise<Record<string, number>> {
  const copy = "/dev/shm/jfs-bench-copy";
  const rss = rssPeak(server.pid);
  const cpu0 = cpuSeconds(server.pid);
  const write = await timed([["nfs-cp", source, libnfsUrl(server, "big")]]);
  const cpu1 = cpuSeconds(server.pid);
  const readFirst = await timed([["nfs-cp", libnfsUrl(server, "big"), copy]]);
  const cpu2 = cpuSeconds(server.pid);
  await expectSame(server, source, copy);
  const warmReads = await warm(server, [["nfs-cp", libnfsUrl(server, "big"), copy]], sizeMiB);
  const cpu3 = cpuSeconds(server.pid);
  const read = await timed([["nfs-cp", libnfsUrl(server, "big"), copy]]);
  const cpu4 = cpuSeconds(server.pid);
  await expectSame(server, source, copy);
  const partMiB = sizeMiB / parallel;
  const copies = parts.map((_, i) => `${copy}.${i}`);
  const writeN = await timed(parts.map((p, i) => ["nfs-cp", p, libnfsUrl(server, `part${i}`)]));
  const readsN = parts.map((_, i) => ["nfs-cp", libnfsUrl(server, `part${i}`), copies[i]!]);
  await warm(server, readsN, 2 * sizeMiB);
  const readN = await timed(readsN);
  for (let i = 0; i < parts.length; i++) await expectSame(server, parts[i]!, copies[i]!);
  const figures: Record<string, number> = {
    host_write_mib_s: sizeMiB / write,
    host_read_first_mib_s: sizeMiB / readFirst,
    host_read_mib_s: sizeMiB / read,
    host_write_n_mib_s: (partMiB * parallel) / writeN,
    host_read_n_mib_s: (partMiB * parallel) / readN,
    host_rss_peak_mib: rss.stop(),
    host_write_cpu_s_gib: ((cpu1 - cpu0) * 1024) / sizeMiB,
    host_read_first_cpu_s_gib: ((cpu2 - cpu1) * 1024) / sizeMiB,
    host_read_cpu_s_gib: ((cpu4 - cpu3) * 1024) / sizeMiB,
    host_warm_reads: warmReads,
  };
  figures.host_write_n_vs_1 = figures.host_write_n_mib_s! / figures.host_write_mib_s!;
  figures.host_read_n_vs_1 = figures.host_read_n_mib_s! / figures.host_read_mib_s!;
  return figures;
}

/**
 * Reads (untimed) until the server's disk cache holds `cachedMiB` (jfs: its copies of read
 * misses are best effort, skipped while the cache disk lags), at most WARM_READS_MAX times;
 * once for a server without one. The number of reads done.
 */
async function warm(server: Server, reads: string[][], cachedMiB: number): Promise<number> {
  for (let done = 1; ; done++) {
    await timed(reads);
    for (const [, , target] of reads) rmSync(target!, { force: true });
    const cached = server.cachedBytes?.();
    if (cached === undefined || cached >= cachedMiB * MiB || done >= WARM_READS_MAX) return done;
  }
}

/** STREAM_MIB through the server, SIZE_MIB files one after the other, written then read. */
async function streamBench(server: Server, source: string): Promise<Record<string, number>> {
  const files = Math.max(1, Math.round(streamMiB / sizeMiB));
  const rssWrite = rssPeak(server.pid);
  for (let i = 0; i < files; i++) await timed([["nfs-cp", source, libnfsUrl(server, `s${i}`)]]);
  const writePeak = rssWrite.stop();
  const rssRead = rssPeak(server.pid);
  const copy = "/dev/shm/jfs-bench-stream";
  for (let i = 0; i < files; i++) {
    await timed([["nfs-cp", libnfsUrl(server, `s${i}`), copy]]);
    rmSync(copy, { force: true });
  }
  return { stream_write_rss_peak_mib: writePeak, stream_read_rss_peak_mib: rssRead.stop() };
}

async function vmBench(server: Server, dir: string): Promise<Record<string, number>> {
  const script = join(dir, "guest.py");
  writeFileSync(script, GUEST_SCRIPT);
  const args = [NFS_VM, "-p", String(server.nfsPort), "-m", String(server.mountPort)];
  args.push("-e", `/${server.exportPath}`, "--mem", "3072", "-t", "3600");
  args.push("--", "/usr/bin/python3", script, String(sizeMiB), String(files), String(randomReads));
  const result = await run(args);
  const line = result.out.split("\n").find((l) => l.startsWith("BENCH "));
  if (result.code !== 0 || line === undefined) {
    throw new Error(
      `${server.name} in the VM failed (${result.code}):\n${result.out.slice(-3000)}`,
    );
  }
  return JSON.parse(line.slice("BENCH ".length)) as Record<string, number>;
}

const METRICS: [string, string, "rate" | "seconds"][] = [
  ["host_write_mib_s", `host nfs-cp write ${sizeMiB} MiB (MiB/s)`, "rate"],
  ["host_read_mib_s", `host nfs-cp hot read ${sizeMiB} MiB (MiB/s)`, "rate"],
  [
    "host_write_n_mib_s",
    `host ${parallel} nfs-cp at once, write ${parallel} × ${sizeMiB / parallel} MiB (MiB/s, aggregate)`,
    "rate",
  ],
  [
    "host_read_n_mib_s",
    `host ${parallel} nfs-cp at once, hot read ${parallel} × ${sizeMiB / parallel} MiB (MiB/s, aggregate)`,
    "rate",
  ],
  [
    "host_read_first_mib_s",
    `host nfs-cp read ${sizeMiB} MiB right after its write (MiB/s)`,
    "rate",
  ],
  ["seq_write_mib_s", `VM sequential write ${sizeMiB} MiB + fsync (MiB/s)`, "rate"],
  ["seq_read_cold_mib_s", "VM sequential read, guest cache dropped (MiB/s)", "rate"],
  ["seq_read_hot_mib_s", "VM sequential read, guest cache hot (MiB/s)", "rate"],
  ["rand4k_reads_s", "VM 4 KiB O_DIRECT random reads, server cache warm (reads/s)", "rate"],
  ["create_s", `VM create ${files} files of 16 KiB (files/s)`, "rate"],
  ["ls_l_s", `VM ls -l of ${files} entries (s)`, "seconds"],
  ["stat_s", `VM stat ${files} files (files/s)`, "rate"],
  ["read_s", `VM read ${files} files (files/s)`, "rate"],
  ["unlink_s", `VM unlink ${files} files (files/s)`, "rate"],
];

function table(jfs: Record<string, number>, ganesha: Record<string, number>): string {
  const rows = ["| measure | jfs | nfs-ganesha | jfs vs ganesha |", "|---|---|---|---|"];
  for (const [key, label, kind] of METRICS) {
    const a = jfs[key];
    const b = ganesha[key];
    if (a === undefined || b === undefined) continue;
    // Higher is better for rates; for times the ratio is inverted so >1 still means jfs wins.
    const ratio = kind === "rate" ? a / b : b / a;
    const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
    rows.push(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${ratio.toFixed(2)}x |`);
  }
  return rows.join("\n");
}

/** What is not a ratio to ganesha: each server against itself, and memory. */
const OWN: [string, string][] = [
  ["host_write_n_vs_1", `${parallel} nfs-cp at once vs one, write (aggregate / single)`],
  ["host_read_n_vs_1", `${parallel} nfs-cp at once vs one, read (aggregate / single)`],
  ["host_write_cpu_s_gib", "server CPU for the single nfs-cp write (s per GiB, user + system)"],
  ["host_read_cpu_s_gib", "server CPU for the single nfs-cp hot read (s per GiB, user + system)"],
  [
    "host_read_first_cpu_s_gib",
    "server CPU for the read right after the write (s per GiB, user + system)",
  ],
  ["host_warm_reads", `reads of the ${sizeMiB} MiB file before its hot read (untimed)`],
  ["ls_l_local_s", `VM ls -l of ${files} empty files in the guest's own memory fs, no NFS (s)`],
  ["idle_rss_mib", "RSS idle after start (MiB)"],
  ["host_rss_peak_mib", "RSS peak over the host copies (MiB)"],
  ["stream_write_rss_peak_mib", `RSS peak writing ${streamMiB} MiB in ${sizeMiB} MiB files (MiB)`],
  ["stream_read_rss_peak_mib", `RSS peak reading them back (MiB)`],
];

function ownTable(results: Record<string, Record<string, number>>): string {
  const names = Object.keys(results);
  const rows = [`| measure | ${names.join(" | ")} |`, `|---|${names.map(() => "---|").join("")}`];
  for (const [key, label] of OWN) {
    if (names.every((n) => results[n]?.[key] === undefined)) continue;
    const cells = names.map((n) => {
      const v = results[n]?.[key];
      if (v === undefined) return "";
      if (key.endsWith("_vs_1")) return `${v.toFixed(2)}x`;
      return key.includes("_cpu_") || key.endsWith("_local_s") ? v.toFixed(2) : v.toFixed(0);
    });
    rows.push(`| ${label} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

/** The kernel client's NFS calls per file of each many-file phase, by procedure (nfsguest.ts). */
function callsTable(results: Record<string, Record<string, number>>): string {
  const names = Object.keys(results);
  const keys = new Set<string>();
  for (const n of names) {
    for (const key of Object.keys(results[n] ?? {})) if (key.startsWith("calls_")) keys.add(key);
  }
  if (keys.size === 0) return "";
  const phases = ["create", "ls_l", "stat", "read", "unlink"];
  const rows = [`| phase | ${names.join(" | ")} |`, `|---|${names.map(() => "---|").join("")}`];
  for (const phase of phases) {
    const prefix = `calls_${phase}_`;
    const cells = names.map((n) => {
      const got = Object.entries(results[n] ?? {}).filter(([k]) => k.startsWith(prefix));
      const total = got.reduce((sum, [, v]) => sum + v, 0);
      const parts = got.map(([k, v]) => `${k.slice(prefix.length).toUpperCase()} ${v.toFixed(2)}`);
      return got.length === 0 ? "" : `${total.toFixed(2)}: ${parts.join(", ")}`;
    });
    rows.push(`| ${phase.replace("_", " -")} | ${cells.join(" | ")} |`);
  }
  return rows.join("\n");
}

function loadAverage(): string {
  return readFileSync("/proc/loadavg", "utf8").split(" ")[0] ?? "?";
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "jfs-bench-nfs-"));
  const source = "/dev/shm/jfs-bench-source";
  const servers: Server[] = [];
  try {
    const chunk = Buffer.alloc(MiB);
    const out = Bun.file(source).writer();
    for (let i = 0; i < sizeMiB; i++) out.write(crypto.getRandomValues(chunk));
    await out.end();
    const parts = parallelSources(source);
    // Both servers then write their page cache into memory the hypervisor backs already.
    pageCacheFiller = new PageCacheFiller(dir);
    console.log(`page cache filled with ${(pageCacheFiller.topUp() / MiB).toFixed(0)} MiB`);
    const results: Record<string, Record<string, number>> = {};
    const loads: string[] = [];
    const starts = { jfs: startJfs, ganesha: startGanesha };
    for (const start of serverNames.map((n) => starts[n as keyof typeof starts])) {
      const serverDir = join(dir, start === startJfs ? "jfs" : "ganesha");
      mkdirSync(serverDir, { recursive: true });
      const server = await start(serverDir);
      const before = loadAverage();
      servers.push(server);
      console.log(`${server.name}: NFS ${server.nfsPort}, MOUNT ${server.mountPort}`);
      const idle = rssMiB(server.pid);
      const figures = { idle_rss_mib: idle, ...(await hostBench(server, source, parts)) };
      console.log(server.name, figures);
      if (withVm) Object.assign(figures, await vmBench(server, serverDir));
      if (streamMiB > 0) Object.assign(figures, await streamBench(server, source));
      console.log(server.name, figures);
      results[server.name] = figures;
      loads.push(`${server.name} ${before} → ${loadAverage()}`);
      await server.stop();
      servers.pop();
    }
    const body = [
      `Command: \`bun bench/nfs.ts --size-mib ${sizeMiB} --files ${files} --random-reads ${randomReads} --parallel ${parallel} --stream-mib ${streamMiB}${withVm ? "" : " --no-vm"}\` (${new Date().toISOString().slice(0, 10)}, 2 cores, Bun ${Bun.version}).`,
      "jfs: `jfs serve --nfs` on SQLite meta and a file bucket with a disk cache, all in /tmp (ext4); nfs-ganesha 4.3 with FSAL VFS over a directory of the same disk. Host figures use libnfs-utils' nfs-cp (source and target in tmpfs); VM figures use the Linux 6.1 kernel client in nfs-vm (TCG emulation, so absolute numbers are low: compare the ratio).",
      `1-minute load average at the start and end of each server's part: ${loads.join(", ")} (anything much above 0 means other work shared the 2 cores, and the figures are noisy).`,
      "",
      table(results.jfs ?? {}, results.ganesha ?? {}),
      "",
      `Each server against itself, and memory (RSS of the serving process, sampled every 50 ms; jfs with default flags but \`--cache-dir\`):`,
      "",
      ownTable(results),
      ...(withVm
        ? [
            "",
            "NFS calls the kernel client sent per file in each many-file phase (its /proc/net/rpc/nfs):",
            "",
            callsTable(results),
          ]
        : []),
    ].join("\n");
    console.log(`\n${body}`);
    if (reportPath) writeSection(reportPath, "NFS: jfs serve --nfs vs nfs-ganesha", body);
  } finally {
    pageCacheFiller?.remove();
    for (const server of servers) await server.stop().catch(() => undefined);
    rmSync(source, { force: true });
    for (let i = 0; i < parallel; i++) rmSync(`${source}.${i}`, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

if (insideNamespace()) await main();
else process.exit(await inNamespace());
