/**
 * The file systems bench/fuse.ts compares, each behind one small interface: `jfs mount` (S3
 * storage, Redis meta), `rclone mount` (VFS cache mode full), `s3fs`, all three on one S3 server,
 * and a directory of the local disk. Mount processes are children of the bench, stopped by
 * unmounting their mount point and then by their own PID, never by name.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { findMount, JFS_FSTYPE } from "../src/fuse/mountinfo.ts";
import { S3ObjectStore } from "../src/object/s3.ts";
import { outputOf } from "./fuse_run.ts";

export const REPO = resolve(import.meta.dir, "..");
/** The jfs under test: this checkout, or another one's (JFS_BENCH_TREE=/work/wt-old) for A/B. */
const MAIN = join(process.env.JFS_BENCH_TREE ?? REPO, "src/main.ts");
const MOUNT_WAIT_MS = 60_000;
const EXIT_WAIT_MS = 600_000;
const SETTLE_WAIT_MS = 1_800_000;

export interface S3Target {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

export interface BenchFs {
  name: string;
  /** Where the workloads run (a mount point, or a local directory). */
  dir: string;
  /** The exact commands, for the report. */
  commands: string[];
  mount(): Promise<void>;
  /** Unmounts and waits for the server to exit (rclone uploads what is left before it exits). */
  unmount(): Promise<void>;
  /** Empties this system's own local caches (while unmounted): the next mount starts cold. */
  clearCaches(): void;
  /**
   * Resolves once what was written under `prefix` (relative to the mount) is in the object
   * store: `files` objects of `bytes` in all. Only rclone needs to wait (it uploads after close,
   * and its unmount does not wait for every upload); jfs and s3fs upload before close returns.
   */
  settle(prefix: string, files: number, bytes: number): Promise<void>;
  /** PID of the process serving the mount, for CPU accounting. */
  pid(): number | undefined;
  /** Highest peak RSS (VmHWM) of the serving process over its mounts so far; 0 for none. */
  peakRssBytes(): number;
}

/** VmHWM of a live process (its peak resident set), in bytes; 0 when it is gone. */
function peakRssOfPid(pid: number): number {
  try {
    const kib = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const proc = Bun.spawn(argv, {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const { stdout, stderr, code } = await outputOf(proc);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}: ${stderr}${stdout}`);
  return stdout;
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** A FUSE server run in the foreground as a child, its output in `logPath`. */
class MountProcess {
  proc: Subprocess | undefined;
  /** The highest VmHWM seen at an unmount (the process is alive until then). */
  peakRssBytes = 0;

  constructor(
    readonly dir: string,
    readonly fstype: string,
    readonly logPath: string,
  ) {}

  async start(argv: string[], env: Record<string, string> = {}): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const logFd = openSync(this.logPath, "a");
    const proc = Bun.spawn(argv, {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdout: logFd,
      stderr: logFd,
    });
    closeSync(logFd);
    this.proc = proc;
    const live = () => findMount(this.dir)?.fstype === this.fstype;
    await waitFor(
      `${this.fstype} on ${this.dir}`,
      () => live() || proc.exitCode !== null,
      MOUNT_WAIT_MS,
    );
    if (!live()) {
      throw new Error(`${argv[0]} exited with ${proc.exitCode}: ${this.log()}`);
    }
  }

  async stop(unmount: string[]): Promise<void> {
    const proc = this.proc;
    if (proc === undefined) return;
    this.peakRssBytes = Math.max(this.peakRssBytes, peakRssOfPid(proc.pid));
    if (findMount(this.dir) !== undefined) await run(unmount);
    const timer = setTimeout(() => proc.kill(9), EXIT_WAIT_MS);
    await proc.exited;
    clearTimeout(timer);
    this.proc = undefined;
  }

  log(): string {
    return readFileSync(this.logPath, "utf8").slice(-4000);
  }
}

/**
 * jfs: a volume with --storage s3 on the server, meta in `metaUrl`, its own block cache;
 * `name` names the mount point, the volume and its bucket; `flags` are extra mount flags;
 * `main` the src/main.ts of the checkout to run (A/B of two trees in one run).
 */
export async function jfsFs(
  root: string,
  s3: S3Target,
  metaUrl: string,
  name = "jfs",
  flags: string[] = [],
  main = MAIN,
): Promise<BenchFs> {
  const dir = join(root, name);
  const cacheDir = join(root, `${name}-cache`);
  const bucket = `${s3.endpoint}/${name}-bench`;
  const format = ["format", metaUrl, `${name}-bench`, "--storage", "s3", "--bucket", bucket];
  await run(["bun", main, ...format], { ACCESS_KEY: s3.accessKey, SECRET_KEY: s3.secretKey });
  const mount = ["mount", metaUrl, dir, "--cache-dir", cacheDir, ...flags];
  const m = new MountProcess(dir, JFS_FSTYPE, `${dir}.log`);
  return {
    name,
    dir,
    commands: [`ACCESS_KEY=… SECRET_KEY=… jfs ${format.join(" ")}`, `jfs ${mount.join(" ")}`],
    mount: () => m.start(["bun", main, ...mount]),
    unmount: () => m.stop(["bun", main, "umount", dir]),
    clearCaches: () => rmSync(cacheDir, { recursive: true, force: true }),
    settle: async () => undefined,
    pid: () => m.proc?.pid,
    peakRssBytes: () => m.peakRssBytes,
  };
}

/** rclone mount with the VFS cache in mode full (reads and writes through a local cache). */
export async function rcloneFs(root: string, s3: S3Target): Promise<BenchFs> {
  const dir = join(root, "rclone");
  const cacheDir = join(root, "rclone-cache");
  const config = join(root, "rclone.conf");
  const remote = (access: string, secret: string) =>
    [
      "[bench]",
      "type = s3",
      "provider = Other",
      `access_key_id = ${access}`,
      `secret_access_key = ${secret}`,
      `endpoint = ${s3.endpoint}`,
      "force_path_style = true",
      "region = us-east-1",
    ].join("\n");
  writeFileSync(config, `${remote(s3.accessKey, s3.secretKey)}\n`, { mode: 0o600 });
  await createBucket(s3, "rclone-bench");
  // This machine sets AWS_CA_BUNDLE, which rclone 1.60 refuses to start with.
  const argv = ["env", "-u", "AWS_CA_BUNDLE", "rclone", "--config", config, "mount"];
  argv.push("bench:rclone-bench", dir, "--vfs-cache-mode", "full", "--cache-dir", cacheDir);
  // Uploads start at close, not 5 s later. No HEAD after each upload: s3rver answers a PUT
  // before the bytes are on its disk, so a HEAD right after may see 0 bytes, and rclone then
  // drops the upload as "corrupted on transfer" (seen with 2 of 10,000 files).
  argv.push("--vfs-write-back", "0s", "--s3-no-head");
  const m = new MountProcess(dir, "fuse.rclone", `${dir}.log`);
  const bucket = storeOf(s3, "rclone-bench");
  return {
    name: "rclone",
    dir,
    commands: [`cat ${config}`, ...remote("…", "…").split("\n"), argv.join(" ")],
    mount: () => m.start(argv),
    unmount: () => m.stop(["fusermount3", "-u", dir]),
    clearCaches: () => rmSync(cacheDir, { recursive: true, force: true }),
    settle: async (prefix, files, bytes) => {
      const deadline = Date.now() + SETTLE_WAIT_MS;
      for (;;) {
        const have = await stored(bucket, prefix);
        if (have.files >= files && have.bytes >= bytes) return;
        if (Date.now() > deadline) {
          throw new Error(`rclone uploaded ${have.files}/${files} files under ${prefix}`);
        }
        await Bun.sleep(200);
      }
    },
    pid: () => m.proc?.pid,
    peakRssBytes: () => m.peakRssBytes,
  };
}

/** s3fs with its defaults: no local data cache (use_cache unset), path-style requests. */
export async function s3fsFs(root: string, s3: S3Target): Promise<BenchFs> {
  const dir = join(root, "s3fs");
  const passwd = join(root, "s3fs.passwd");
  writeFileSync(passwd, `${s3.accessKey}:${s3.secretKey}\n`, { mode: 0o600 });
  await createBucket(s3, "s3fs-bench");
  const options = `url=${s3.endpoint},use_path_request_style,passwd_file=${passwd}`;
  const argv = ["s3fs", "s3fs-bench", dir, "-f", "-o", options];
  const m = new MountProcess(dir, "fuse.s3fs", `${dir}.log`);
  return {
    name: "s3fs",
    dir,
    commands: [`echo ACCESS_KEY:SECRET_KEY > ${passwd}`, argv.join(" ")],
    mount: () => m.start(argv),
    unmount: () => m.stop(["fusermount3", "-u", dir]),
    clearCaches: () => undefined,
    settle: async () => undefined,
    pid: () => m.proc?.pid,
    peakRssBytes: () => m.peakRssBytes,
  };
}

/** A plain directory on the local disk (the page cache is its only cache). */
export function localFs(root: string): BenchFs {
  const dir = join(root, "local");
  return {
    name: "local",
    dir,
    commands: [`mkdir ${dir}`],
    mount: async () => {
      mkdirSync(dir, { recursive: true });
    },
    unmount: async () => undefined,
    clearCaches: () => undefined,
    settle: async () => undefined,
    pid: () => undefined,
    peakRssBytes: () => 0,
  };
}

function storeOf(s3: S3Target, name: string): S3ObjectStore {
  return new S3ObjectStore({
    bucketUrl: `${s3.endpoint}/${name}`,
    accessKey: s3.accessKey,
    secretKey: s3.secretKey,
  });
}

async function createBucket(s3: S3Target, name: string): Promise<void> {
  await storeOf(s3, name).create();
}

/** Objects and bytes under `prefix`, from a full listing. */
async function stored(store: S3ObjectStore, prefix: string) {
  let files = 0;
  let bytes = 0;
  let after: string | undefined = "";
  while (after !== undefined) {
    const page = await store.list(prefix, after);
    for (const o of page.objects) {
      files++;
      bytes += o.sizeBytes;
    }
    after = page.nextStartAfter;
  }
  return { files, bytes };
}
