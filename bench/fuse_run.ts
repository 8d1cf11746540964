/**
 * Running and accounting one workload of bench/fuse.ts: /usr/bin/python3 scripts as children
 * (the bench's event loop stays free, since it hosts the S3 server's SigV4 gate), with the CPU
 * time each party spent during it: the workload (with its DataLoader workers), the file system
 * process, s3rver (node) and the gate (this process).
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

const PYTHON = "/usr/bin/python3";

/** A child spawned with stdout and stderr piped. */
interface PipedChild {
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
}

/** Everything a piped child printed, once it has exited, and its exit code. */
export async function outputOf(proc: PipedChild) {
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout, stderr, code };
}
const CLOCK_TICKS_PER_S = 100;

export interface Cpu {
  workloadS: number;
  fsS: number;
  s3rverS: number;
  gateS: number;
}

export interface Measured<T> {
  wallS: number;
  cpu: Cpu;
  result: T;
}

/** CPU seconds (user + system, every thread) of a live process; 0 when it is gone. */
function cpuOfPid(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of proc(5) (utime, stime) are 12 and 13 after the ")".
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}

/** The s3rver child (node … s3rver.js) of this process. */
export function findS3rverPid(): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (ppid === process.pid && cmdline.includes("s3rver")) return Number(name);
    } catch {}
  }
  return undefined;
}

const selfCpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

export interface Runner {
  s3rverPid: number | undefined;
  fsPid: () => number | undefined;
}

/** Runs /usr/bin/python3 ARGS; its last stdout line is JSON. Times and CPU around it. */
export async function python<T>(
  runner: Runner,
  args: string[],
  env: Record<string, string> = {},
): Promise<Measured<T[]>> {
  const fsPid = runner.fsPid();
  const before = [cpuOfPid(fsPid), cpuOfPid(runner.s3rverPid), selfCpuS()] as const;
  const start = performance.now();
  const proc = Bun.spawn([PYTHON, ...args], {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const { stdout, stderr, code } = await outputOf(proc);
  const wallS = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`python3 ${args.join(" ")} exited with ${code}: ${stderr}`);
  const usage = proc.resourceUsage();
  const cpu: Cpu = {
    workloadS: usage === undefined ? 0 : Number(usage.cpuTime.total) / 1e6,
    fsS: cpuOfPid(fsPid) - before[0],
    s3rverS: cpuOfPid(runner.s3rverPid) - before[1],
    gateS: selfCpuS() - before[2],
  };
  const result = stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as T);
  return { wallS, cpu, result };
}

/** Drops the page, dentry and inode caches; false where this process may not. */
export async function dropCaches(): Promise<boolean> {
  const sync = Bun.spawn(["sync"]);
  await sync.exited;
  try {
    writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}
