/**
 * nfs-ganesha for the benches that compare against it (bench/nfs.ts, bench/nfsrpc.ts), and what
 * starting it needs: nfs-ganesha, nfs-ganesha-vfs and rpcbind (Debian packages). They run in a
 * network namespace of their own (unshare -n) holding only a loopback interface: rpcbind (which
 * ganesha needs, `rpcbind -w`) listens on all addresses and could not be kept to 127.0.0.1
 * otherwise. Two extra addresses on that loopback (192.0.2.1, fd00::1) exist only because
 * ganesha's getaddrinfo(AI_ADDRCONFIG) wants a non-loopback address before it accepts Bind_addr =
 * 127.0.0.1. Servers are stopped by PID.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "../test/harness/redis.ts";

const NETNS_MARK = "JFS_BENCH_NETNS";
const START_TIMEOUT_MS = 60_000;

export function insideNamespace(): boolean {
  return process.env[NETNS_MARK] === "1";
}

export interface Server {
  name: string;
  nfsPort: number;
  mountPort: number;
  exportPath: string;
  /** The serving process, whose RSS is sampled. */
  pid: number;
  /** Bytes of block files in the server's disk cache (jfs); undefined: no such cache. */
  cachedBytes?: () => number;
  stop(): Promise<void>;
}

/**
 * Re-runs this script inside a fresh network namespace (see the file comment); returns its exit
 * code. Inside it, `insideNamespace()` is true.
 */
export async function inNamespace(): Promise<number> {
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

export async function until(what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + START_TIMEOUT_MS;
  while (!(await ready())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

export async function run(args: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, out: out + err };
}

export async function stopByPid(proc: Subprocess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
  await proc.exited;
  clearTimeout(timer);
}

export const libnfsUrl = (s: Server, path: string) =>
  `nfs://127.0.0.1/${s.exportPath}/${path}?nfsport=${s.nfsPort}&mountport=${s.mountPort}&version=3`;

export async function startGanesha(dir: string): Promise<Server> {
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
    pid: ganesha.pid,
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
