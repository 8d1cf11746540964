/**
 * Real mounts for the FUSE tests: a volume (SQLite meta in a temp dir, file object store)
 * formatted in-process, mounted by a child `bun src/main.ts mount ...` (so kill -9 is real),
 * readiness and unmounts observed in /proc/self/mountinfo, never with fixed sleeps.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { isStaleMount } from "../../src/fuse/mount.ts";
import { findMount, JFS_FSTYPE } from "../../src/fuse/mountinfo.ts";
import { openMeta } from "../../src/meta/index.ts";
import { formatVolume, newFormat } from "../../src/volume/open.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const MAIN = join(REPO, "src/main.ts");
/**
 * The FUSE suites run where /dev/fuse exists, and in CI (CI=true) always: a CI machine without
 * FUSE then fails them rather than passing green with FUSE untested (as test/nfs/kernel.test.ts).
 */
export const HAVE_FUSE = existsSync("/dev/fuse") || process.env.CI === "true";
export const IS_ROOT = process.getuid?.() === 0;

export interface TestVolume {
  root: string;
  metaUrl: string;
  cacheDir: string;
  cleanup(): void;
}

/**
 * `capacityBytes` sets the space quota below `jfs format --capacity`'s whole GiB, so that a
 * test reaches ENOSPC in a few KiB; `trashDays` as `jfs format --trash-days`.
 */
export async function createVolume(
  name = "fusetest",
  options: { capacityBytes?: number; trashDays?: number; blockSizeKiB?: number } = {},
): Promise<TestVolume> {
  const root = mkdtempSync(join(tmpdir(), "jfs-fuse-"));
  const metaUrl = `sqlite3://${root}/meta.db`;
  const meta = await openMeta(metaUrl, { create: true });
  try {
    const capacityBytes = options.capacityBytes ?? 0;
    const trash = options.trashDays === undefined ? {} : { trashDays: options.trashDays };
    const blocks = options.blockSizeKiB === undefined ? {} : { blockSizeKiB: options.blockSizeKiB };
    const format = newFormat({
      name,
      bucket: join(root, "data"),
      capacityBytes,
      ...trash,
      ...blocks,
    });
    await formatVolume(meta, format, false);
  } finally {
    await meta.close();
  }
  return {
    root,
    metaUrl,
    cacheDir: join(root, "cache"),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

/** Runs `jfs ARGS` to completion. */
export async function jfs(args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(["bun", MAIN, ...args], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr };
}

/** Polls a condition every few ms (no fixed sleeps); throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

export const isMounted = (dir: string): boolean => findMount(dir)?.fstype === JFS_FSTYPE;

/** st_dev of a device number as glibc encodes it (gnu_dev_makedev). */
function encodeDev(major: number, minor: number): number {
  return (
    (major & 0xfff) * 0x100 + (major >>> 12) * 2 ** 44 + (minor & 0xff) + (minor >>> 8) * 2 ** 20
  );
}

/**
 * A jfs mount is listed on `dir` and answers there as that very mount. A stale mount of a
 * crashed server fails statfs (ENOTCONN) though its root may still stat. Mount table and the
 * calls on `dir` are read at different moments, so they are checked against each other: while
 * a new mount detaches a crashed one, the old entry can still be listed when statfs already
 * reaches the directory underneath, whose device is not the entry's.
 */
function isLiveMount(dir: string): boolean {
  const entry = findMount(dir);
  if (entry?.fstype !== JFS_FSTYPE || isStaleMount(dir)) return false;
  try {
    return statSync(dir).dev === encodeDev(entry.major, entry.minor);
  } catch {
    return false;
  }
}

export interface Mounted {
  dir: string;
  proc: ReturnType<typeof Bun.spawn>;
  log(): Promise<string>;
}

/** Starts a foreground mount as a child process and waits until it is live. */
export async function startMount(
  volume: TestVolume,
  dir: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<Mounted> {
  // A stale mount of a crashed server is still listed until the new mount detaches it (and
  // the new one may get the same mount id): live means listed and answering as that mount.
  const live = () => isLiveMount(dir);
  if (!isStaleMount(dir)) mkdirSync(dir, { recursive: true });
  const logPath = `${dir}.log`;
  const logFd = openSync(logPath, "w");
  const proc = Bun.spawn(
    ["bun", MAIN, "mount", volume.metaUrl, dir, "--cache-dir", volume.cacheDir, ...extra],
    { cwd: REPO, env: { ...process.env, ...env }, stdout: logFd, stderr: logFd },
  );
  closeSync(logFd);
  const log = () => Bun.file(logPath).text();
  try {
    await waitFor(`mount on ${dir}`, () => live() || proc.exitCode !== null);
  } catch (error) {
    proc.kill(9);
    throw error;
  }
  if (!live()) throw new Error(`mount exited with ${proc.exitCode}: ${await log()}`);
  return { dir, proc, log };
}

/** jfs umount, then the mount process exits on its own (after flushing). */
export async function stopMount(m: Mounted): Promise<void> {
  if (isMounted(m.dir)) {
    const r = await jfs(["umount", m.dir]);
    if (r.code !== 0) throw new Error(`jfs umount failed: ${r.stderr}`);
  }
  const code = await m.proc.exited;
  if (code !== 0) throw new Error(`mount exited with ${code}: ${await m.log()}`);
}

/** Best-effort cleanup for afterAll: kill, detach. */
export async function forceCleanup(m: Mounted | undefined): Promise<void> {
  if (m === undefined) return;
  if (m.proc.exitCode === null) m.proc.kill(9);
  await m.proc.exited;
  await jfs(["umount", "--force", m.dir]);
}

/** Runs the POSIX workload script in a phase; returns its combined output on failure. */
export async function workload(dir: string, phase: "write" | "verify", bigMib: number) {
  const proc = Bun.spawn(["bash", join(REPO, "test/posix/workload.sh"), dir, phase], {
    env: { ...process.env, WORKLOAD_BIG_MIB: String(bigMib) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: stdout + stderr };
}
