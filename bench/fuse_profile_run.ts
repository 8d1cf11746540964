/**
 * The profile half of bench/fuse.ts: the small-file workload and the DataLoader on a fresh jfs
 * volume (same S3 server, its own bucket and Redis database) mounted by bench/fuse_profile.ts,
 * which counts FUSE requests per opcode and phase, times each from arrival to reply, and times
 * the meta and object store calls under them.
 */
import { closeSync, mkdirSync, openSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { dropCaches, python, type Runner } from "./fuse_run.ts";
import { REPO, run, type S3Target } from "./fuse_systems.ts";

const MAIN = join(REPO, "src/main.ts");
const READY = /profile: (\d+)/;
const READY_WAIT_MS = 60_000;

interface OpStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

type Stats = Record<string, Record<string, OpStats>>;

export interface OpProfile {
  op: string;
  perFile: number;
  meanMs: number;
}

export interface PhaseProfile {
  wallMsPerFile: number;
  /** Sum of the service times of the phase's FUSE requests, per file. */
  serviceMsPerFile: number;
  requestsPerFile: number;
  /** FUSE requests, most time first. */
  ops: OpProfile[];
  /** Calls into meta and the object store ("meta.write", "store.put"), most time first. */
  backend: OpProfile[];
}

export interface Profile {
  phases: Record<string, PhaseProfile>;
  cpu: { jfsS: number; s3rverS: number; workloadS: number; wallS: number };
}

async function readyPort(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const decoder = new TextDecoder();
  let text = "";
  const deadline = Date.now() + READY_WAIT_MS;
  for await (const chunk of stdout) {
    text += decoder.decode(chunk, { stream: true });
    const port = READY.exec(text)?.[1];
    if (port !== undefined) return Number(port);
    if (Date.now() > deadline) break;
  }
  throw new Error(`bench/fuse_profile.ts did not start: ${text}`);
}

/** One run of bench/fuse_profile.ts on `dir`. */
async function startProfiled(metaUrl: string, dir: string, cacheDir: string) {
  mkdirSync(dir, { recursive: true });
  const logFd = openSync(`${dir}.log`, "a");
  const argv = ["bun", join(REPO, "bench/fuse_profile.ts"), metaUrl, dir, cacheDir];
  const proc = Bun.spawn(argv, { cwd: REPO, stdout: "pipe", stderr: logFd });
  closeSync(logFd);
  const stop = async () => {
    await run(["bun", MAIN, "umount", dir]).catch(() => undefined);
    const timer = setTimeout(() => proc.kill(9), 120_000);
    await proc.exited;
    clearTimeout(timer);
  };
  try {
    const base = `http://127.0.0.1:${await readyPort(proc.stdout)}`;
    return {
      pid: proc.pid,
      phaseUrl: `${base}/phase`,
      phase: async (name: string) => void (await fetch(`${base}/phase/${name}`)).text(),
      stats: async () => (await (await fetch(`${base}/stats`)).json()) as Stats,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function summarize(stats: Stats, wallS: Record<string, number>, files: number) {
  const phases: Record<string, PhaseProfile> = {};
  for (const [phase, seconds] of Object.entries(wallS)) {
    const all = Object.entries(stats[phase] ?? {}).sort((a, b) => b[1].totalMs - a[1].totalMs);
    const isBackend = (op: string) => op.includes(".");
    const ops = all.filter(([op]) => !isBackend(op));
    let serviceMs = 0;
    let requests = 0;
    for (const [, s] of ops) {
      serviceMs += s.totalMs;
      requests += s.count;
    }
    const profile = ([op, s]: [string, OpStats]): OpProfile => ({
      op,
      perFile: s.count / files,
      meanMs: s.totalMs / s.count,
    });
    phases[phase] = {
      wallMsPerFile: (seconds * 1000) / files,
      serviceMsPerFile: serviceMs / files,
      requestsPerFile: requests / files,
      ops: ops.map(profile),
      backend: all.filter(([op]) => isBackend(op)).map(profile),
    };
  }
  return phases;
}

/**
 * Small files (create, stat, read, remove), then a DataLoader dataset written, the mount
 * restarted cold, and two epochs read: every phase counted request by request.
 */
export async function profileJfs(
  root: string,
  s3: S3Target,
  metaUrl: string,
  files: number,
  s3rverPid: number | undefined,
): Promise<Profile> {
  const dir = join(root, "profile");
  const cacheDir = `${dir}-cache`;
  const bucket = `${s3.endpoint}/jfs-profile`;
  await run(["bun", MAIN, "format", metaUrl, "profile", "--storage", "s3", "--bucket", bucket], {
    ACCESS_KEY: s3.accessKey,
    SECRET_KEY: s3.secretKey,
  });
  const wallS: Record<string, number> = {};
  const cpu = { jfsS: 0, s3rverS: 0, workloadS: 0, wallS: 0 };
  const account = (m: Awaited<ReturnType<typeof python>>) => {
    cpu.jfsS += m.cpu.fsS;
    cpu.s3rverS += m.cpu.s3rverS;
    cpu.workloadS += m.cpu.workloadS;
    cpu.wallS += m.wallS;
  };
  const script = join(REPO, "test/posix/dataloader.py");
  const dataset = join(dir, "dataset");
  const manifest = join(root, "profile-manifest.json");
  let m = await startProfiled(metaUrl, dir, cacheDir);
  let stats: Stats;
  try {
    const runner: Runner = { s3rverPid, fsPid: () => m.pid };
    const env = { FUSE_IO_PHASE_URL: m.phaseUrl };
    await mkdir(join(dir, "small"));
    const io = [join(REPO, "bench/fuse_io.py"), "smallfiles", join(dir, "small"), String(files)];
    const small = await python<{ seconds: Record<string, number> }>(runner, [...io, "16"], env);
    account(small);
    Object.assign(wallS, small.result[0]?.seconds);
    await mkdir(dataset);
    await writeFile(join(dataset, ".keep"), "");
    await m.phase("dataset");
    const perClass = String(Math.max(1, Math.round(files / 100)));
    const gen = ["generate", dataset, manifest, "--classes", "100", "--per-class", perClass];
    const generated = await python(runner, [script, ...gen]);
    account(generated);
    wallS.dataset = generated.wallS;
    stats = await m.stats();
  } finally {
    await m.stop();
  }
  rmSync(cacheDir, { recursive: true, force: true });
  await dropCaches();
  m = await startProfiled(metaUrl, dir, cacheDir);
  try {
    const runner: Runner = { s3rverPid, fsPid: () => m.pid };
    const load = await python<{ seconds: number }>(runner, [script, "load", dataset, manifest], {
      FUSE_IO_PHASE_URL: m.phaseUrl,
    });
    account(load);
    load.result.forEach((e, i) => {
      wallS[`epoch-${i + 1}`] = e.seconds;
    });
    Object.assign(stats, await m.stats());
  } finally {
    await m.stop();
  }
  return { phases: summarize(stats, wallS, files), cpu };
}
