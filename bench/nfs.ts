/**
 * NFSv3 serving: `jfs serve --nfs` against nfs-ganesha (FSAL VFS over a local directory on the
 * same disk), in the same run, on the same terms:
 *   - host side, libnfs-utils: nfs-cp writing and reading a SIZE_MIB file (from and to tmpfs);
 *   - the Linux kernel client in nfs-vm: sequential write / cold read / hot read, O_DIRECT 4 KiB
 *     random reads, FILES files of 16 KiB created / listed with `ls -l` / stat'ed / read /
 *     removed (bench/nfsguest.ts), each given as jfs's figure, ganesha's, and their ratio.
 *
 *   bun bench/nfs.ts [--size-mib 1024] [--files 10000] [--random-reads 5000] [--no-vm]
 *                    [--write docs/benchmarks.md]
 *
 * Needs nfs-ganesha, nfs-ganesha-vfs and rpcbind (Debian packages) and, for the VM part,
 * shared/tools/nfs-vm. Everything runs in a network namespace of its own (unshare -n) holding
 * only a loopback interface: rpcbind (which ganesha needs, `rpcbind -w`) listens on all
 * addresses and could not be kept to 127.0.0.1 otherwise. Two extra addresses on that loopback
 * (192.0.2.1, fd00::1) exist only because ganesha's getaddrinfo(AI_ADDRCONFIG) wants a
 * non-loopback address before it accepts Bind_addr = 127.0.0.1. Servers are stopped by PID.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { openMeta } from "../src/meta/index.ts";
import { formatVolume, newFormat } from "../src/volume/open.ts";
import { GUEST_SCRIPT } from "./nfsguest.ts";
import { writeSection } from "./report.ts";

const MiB = 1 << 20;
const ROOT = join(import.meta.dir, "..");
const NFS_VM = join(ROOT, "../shared/tools/nfs-vm/nfs-vm");
const NETNS_MARK = "JFS_BENCH_NETNS";
const START_TIMEOUT_MS = 60_000;

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}
const sizeMiB = Number(flag("size-mib", "1024"));
const files = Number(flag("files", "10000"));
const randomReads = Number(flag("random-reads", "5000"));
const withVm = !process.argv.includes("--no-vm");
const reportPath = process.argv.includes("--write") ? flag("write", "docs/benchmarks.md") : "";
/** Runs jfs under `bun --cpu-prof`; the profile is written into DIR when the server stops. */
const profDir = flag("cpu-prof-dir", "");
const serverNames = flag("servers", "jfs,ganesha").split(",");

interface Server {
  name: string;
  nfsPort: number;
  mountPort: number;
  exportPath: string;
  stop(): Promise<void>;
}

/** Re-runs this script inside a fresh network namespace; returns its exit code. */
async function inNamespace(): Promise<number> {
  const setup = [
    "ip link set lo up",
    "ip addr add 192.0.2.1/32 dev lo",
    "ip -6 addr add fd00::1/128 dev lo nodad",
    `exec ${process.execPath} ${process.argv
      .slice(1)
      .map((a) => `'${a}'`)
      .join(" ")}`,
  ].join(" && ");
  const child = Bun.spawn(["unshare", "-n", "bash", "-c", setup], {
    env: { ...process.env, [NETNS_MARK]: "1" },
    stdio: ["inherit", "inherit", "inherit"],
  });
  return child.exited;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(),
      );
    });
  });
}

async function until(what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!(await ready())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out: out + err };
}

async function stopByPid(proc: Subprocess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  await proc.exited;
  clearTimeout(timer);
}

const libnfsUrl = (s: Server, path: string) =>
  `nfs://127.0.0.1/${s.exportPath}/${path}?nfsport=${s.nfsPort}&mountport=${s.mountPort}&version=3`;

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
    stop: () => stopByPid(proc),
  };
}

async function startGanesha(dir: string): Promise<Server> {
  const exportPath = join(dir, "export");
  mkdirSync(exportPath, { recursive: true });
  mkdirSync("/run/rpcbind", { recursive: true });
  const rpcbind = Bun.spawn(["rpcbind", "-w", "-f"], { stdout: "ignore", stderr: "inherit" });
  await until("rpcbind", async () => (await run(["rpcinfo", "-p", "127.0.0.1"])).code === 0);
  const [nfsPort, mountPort] = [await freePort(), await freePort()];
  const config = join(dir, "ganesha.conf");
  writeFileSync(
    config,
    `NFS_CORE_PARAM { NFS_Port = ${nfsPort}; MNT_Port = ${mountPort}; Bind_addr = 127.0.0.1;
  Protocols = 3; Enable_NLM = false; Enable_RQUOTA = false; }
EXPORT { Export_Id = 1; Path = ${exportPath}; Pseudo = ${exportPath}; Access_Type = RW;
  Squash = No_Root_Squash; Protocols = 3; Transports = TCP; SecType = sys; FSAL { Name = VFS; } }
LOG { Default_Log_Level = WARN; }
`,
  );
  const log = join(dir, "ganesha.log");
  const ganesha = Bun.spawn(
    ["ganesha.nfsd", "-F", "-f", config, "-L", log, "-p", join(dir, "ganesha.pid")],
    { stdout: "ignore", stderr: "inherit" },
  );
  const server: Server = {
    name: "ganesha",
    nfsPort,
    mountPort,
    exportPath: exportPath.slice(1),
    stop: async () => {
      await stopByPid(ganesha);
      await stopByPid(rpcbind);
    },
  };
  // The grace period of a fresh start can refuse the first operations: wait until one works.
  await until("ganesha", async () => {
    if (ganesha.exitCode !== null) throw new Error(`ganesha.nfsd exited; see ${log}`);
    return (await run(["nfs-ls", libnfsUrl(server, "")])).code === 0;
  });
  return server;
}

async function hostBench(server: Server, source: string): Promise<Record<string, number>> {
  const timed = async (args: string[]) => {
    const start = performance.now();
    const result = await run(args);
    if (result.code !== 0) throw new Error(`${args.join(" ")}: ${result.out}`);
    return (performance.now() - start) / 1000;
  };
  const copy = "/dev/shm/jfs-bench-copy";
  const write = await timed(["nfs-cp", source, libnfsUrl(server, "big")]);
  const read = await timed(["nfs-cp", libnfsUrl(server, "big"), copy]);
  const same = (await run(["cmp", source, copy])).code === 0;
  rmSync(copy, { force: true });
  if (!same) throw new Error(`${server.name}: the file read back differs`);
  return { host_write_mib_s: sizeMiB / write, host_read_mib_s: sizeMiB / read };
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
  ["host_read_mib_s", `host nfs-cp read ${sizeMiB} MiB (MiB/s)`, "rate"],
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
      const figures = await hostBench(server, source);
      console.log(server.name, figures);
      if (withVm) Object.assign(figures, await vmBench(server, serverDir));
      console.log(server.name, figures);
      results[server.name] = figures;
      loads.push(`${server.name} ${before} → ${loadAverage()}`);
      await server.stop();
      servers.pop();
    }
    const body = [
      `Command: \`bun bench/nfs.ts --size-mib ${sizeMiB} --files ${files} --random-reads ${randomReads}${withVm ? "" : " --no-vm"}\` (${new Date().toISOString().slice(0, 10)}, 2 cores, Bun ${Bun.version}).`,
      "jfs: `jfs serve --nfs` on SQLite meta and a file bucket with a disk cache, all in /tmp (ext4); nfs-ganesha 4.3 with FSAL VFS over a directory of the same disk. Host figures use libnfs-utils' nfs-cp (source and target in tmpfs); VM figures use the Linux 6.1 kernel client in nfs-vm (TCG emulation, so absolute numbers are low: compare the ratio).",
      `1-minute load average at the start and end of each server's part: ${loads.join(", ")} (anything much above 0 means other work shared the 2 cores, and the figures are noisy).`,
      "",
      table(results.jfs ?? {}, results.ganesha ?? {}),
    ].join("\n");
    console.log(`\n${body}`);
    if (reportPath) writeSection(reportPath, "NFS: jfs serve --nfs vs nfs-ganesha", body);
  } finally {
    for (const server of servers) await server.stop().catch(() => undefined);
    rmSync(source, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env[NETNS_MARK] === "1") await main();
else process.exit(await inNamespace());
