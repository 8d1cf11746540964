/**
 * jfs mount [options] [META-URL] DIR — serves a volume through FUSE (JuiceFS's `juicefs mount`).
 * jfs umount DIR [--force]          — unmounts it (lazily with --force, or when its server died).
 *
 * Foreground by default: SIGINT/SIGTERM unmount, flush and close the session; a second signal
 * exits at once. -d/--background starts the same command detached, waits until the mount is
 * live in /proc/self/mountinfo, and exits 0 (its logs go to --log).
 */
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, resolve } from "node:path";
import type { CAC } from "cac";
import { UserError } from "../errors.ts";
import { isStaleMount, prepareMountPoint, unmountNow } from "../fuse/mount.ts";
import { findMount, JFS_FSTYPE } from "../fuse/mountinfo.ts";
import type { FuseSession } from "../fuse/session.ts";
import { DEFAULT_FUSE_CONFIG, type FuseConfig } from "../fuse/state.ts";
import { FUSE_MOUNT_WAIT_MS, ROOT_INODE } from "../limits.ts";
import { log } from "../log.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../posix.ts";
import type { Vfs } from "../vfs/interface.ts";
import { openVolume } from "../volume/open.ts";
import { openRuntime } from "../volume/runtime.ts";
import {
  type Metrics,
  type MetricsFlags,
  metricsListenOf,
  withMetrics,
  withMetricsFlags,
} from "./metrics.ts";
import { parseIntFlag, parseNumberFlag, stringFlag } from "./options.ts";
import {
  type DataFlags,
  fileDataOptions,
  runtimeOptions,
  sessionTimeoutMsOf,
  withDataFlags,
  withSessionFlags,
} from "./runtime.ts";
import { finishStopping } from "./stopping.ts";

export interface MountFlags extends DataFlags, MetricsFlags {
  attrCache?: unknown;
  entryCache?: unknown;
  dirEntryCache?: unknown;
  openCache?: unknown;
  writebackCache?: boolean;
  allowOther?: boolean;
  background?: boolean;
  log?: unknown;
  fuseThreads?: unknown;
  readOnly?: boolean;
  subdir?: unknown;
}

const CACHE_SEC_MAX = 365 * 24 * 3600;
const DEFAULT_LOG = "~/.jfs/jfs-mount.log";

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : path;
}

export function fuseConfigOf(flags: MountFlags): FuseConfig {
  const sec = (name: string, v: unknown, dflt: number) =>
    v === undefined ? dflt : parseNumberFlag(name, v, 0, CACHE_SEC_MAX);
  return {
    attrCacheSec: sec("attr-cache", flags.attrCache, DEFAULT_FUSE_CONFIG.attrCacheSec),
    entryCacheSec: sec("entry-cache", flags.entryCache, DEFAULT_FUSE_CONFIG.entryCacheSec),
    dirEntryCacheSec: sec(
      "dir-entry-cache",
      flags.dirEntryCache,
      DEFAULT_FUSE_CONFIG.dirEntryCacheSec,
    ),
    openCacheSec: sec("open-cache", flags.openCache, DEFAULT_FUSE_CONFIG.openCacheSec),
    writeback: flags.writebackCache === true,
    readers:
      flags.fuseThreads === undefined
        ? DEFAULT_FUSE_CONFIG.readers
        : parseIntFlag("fuse-threads", flags.fuseThreads, 1, 16),
  };
}

function splitArgs(args: unknown[]): { metaUrl: string | undefined; dir: string } {
  const words = args.map(String);
  if (words.length === 1) return { metaUrl: undefined, dir: resolve(words[0]!) };
  if (words.length === 2) return { metaUrl: words[0], dir: resolve(words[1]!) };
  throw new UserError("usage: jfs mount [options] [META-URL] DIR");
}

async function mountForeground(
  metaUrl: string | undefined,
  dir: string,
  flags: MountFlags,
  metrics?: Metrics,
): Promise<void> {
  const config = fuseConfigOf(flags);
  fileDataOptions(flags); // every flag is checked before the mount point is touched
  prepareMountPoint(dir);
  // Loaded here, not at start-up: the other commands (and --version) need no FUSE code.
  const fuse = await import("../fuse/session.ts");
  const runtime = await openRuntime(metaUrl, runtimeOptions(flags), dir);
  const vfs = runtime.vfs;
  metrics?.attach(runtime);
  let session: FuseSession;
  try {
    const subdir = stringFlag(flags.subdir);
    const rootIno = subdir === undefined ? undefined : await subdirInode(vfs, subdir);
    session = await fuse.FuseSession.start(vfs, dir, {
      ...(rootIno !== undefined && { rootIno }),
      ...config,
      fsname: `jfs:${vfs.format.name}`,
      allowOther: flags.allowOther === true,
      readOnly: flags.readOnly === true,
      defaultPermissions: true,
      forceHelper: process.env.JFS_FUSE_HELPER === "fusermount3",
      ...(metrics !== undefined && { metricsAddress: metrics.address }),
    });
  } catch (error) {
    await runtime.close().catch(() => undefined);
    throw error;
  }
  if (metrics !== undefined) log.info(metrics.readyLine.trimEnd());
  let signals = 0;
  let stopping: Promise<void> | undefined;
  const requested = Promise.withResolvers<void>();
  const onSignal = (signal: string) => {
    signals++;
    if (signals > 1) {
      log.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    log.info(`${signal}: unmounting ${dir}`);
    stopping = session.stop();
    requested.resolve();
  };
  const onInt = () => onSignal("SIGINT");
  const onTerm = () => onSignal("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    // Unmounted from outside (jfs umount), or a signal: then stop() returns once the kernel
    // connection ended, or once it gave up on it (a request stuck in a flush holds it).
    await Promise.race([session.ended, requested.promise]);
    const closing = (async () => {
      if (stopping !== undefined) await stopping;
      log.info(`${dir} unmounted: flushing and closing the session`);
      await runtime.close();
    })();
    const what =
      stopping === undefined
        ? "flushing and closing the session"
        : "unmounting and flushing the volume";
    await finishStopping(what, closing);
  } finally {
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
  }
}

/** The directory of the volume a --subdir mount shows as its root. */
async function subdirInode(vfs: Vfs, subdir: string): Promise<Ino> {
  let ino: Ino = ROOT_INODE;
  for (const part of subdir.split("/").filter((p) => p !== "" && p !== ".")) {
    try {
      ino = (await vfs.lookup(ROOT_CREDENTIALS, ino, Buffer.from(part))).inode;
    } catch {
      throw new UserError(`--subdir ${subdir}: no such directory in volume "${vfs.format.name}"`);
    }
  }
  const attr = await vfs.getattr(ROOT_CREDENTIALS, ino);
  if (attr.type !== FileType.Directory) throw new UserError(`--subdir ${subdir}: not a directory`);
  return ino;
}

/** The command line of this process without -d/--background (the detached child's). */
function foregroundArgv(): string[] {
  const [, script, ...rest] = process.argv;
  // A compiled binary's argv[1] is its embedded entry (/$bunfs/...), not a file to run.
  const lead = script !== undefined && !script.startsWith("/$bunfs/") ? [script] : [];
  const args = rest.filter(
    (a) => a !== "-d" && a !== "--background" && !a.startsWith("--background="),
  );
  return [...lead, ...args];
}

async function mountBackground(
  metaUrl: string | undefined,
  dir: string,
  flags: MountFlags,
): Promise<void> {
  fuseConfigOf(flags);
  fileDataOptions(flags);
  sessionTimeoutMsOf(flags);
  metricsListenOf(flags);
  prepareMountPoint(dir);
  // Open the volume here too: a bad URL or an unformatted volume is one line on this terminal.
  const { meta } = await openVolume(metaUrl);
  await meta.close();
  const logPath = resolve(expandHome(stringFlag(flags.log) ?? DEFAULT_LOG));
  mkdirSync(dirname(logPath), { recursive: true });
  const logFd = openSync(logPath, "a");
  const child = spawn(process.execPath, foregroundArgv(), {
    detached: true,
    stdio: ["ignore", logFd, logFd],
  });
  closeSync(logFd);
  child.unref();
  let exited: number | null = null;
  child.on("exit", (code) => {
    exited = code ?? 1;
  });
  const deadline = Date.now() + FUSE_MOUNT_WAIT_MS;
  for (;;) {
    if (findMount(dir)?.fstype === JFS_FSTYPE) {
      log.info(`mounted on ${dir} in the background (pid ${child.pid}, log ${logPath})`);
      return;
    }
    if (exited !== null)
      throw new UserError(`background mount failed: ${lastLine(logPath)} (see ${logPath})`);
    if (Date.now() > deadline)
      throw new UserError(
        `mount did not appear within ${FUSE_MOUNT_WAIT_MS / 1000} s (see ${logPath})`,
      );
    await Bun.sleep(50);
  }
}

function lastLine(path: string): string {
  const lines = readFileSync(path, "utf8").trim().split("\n");
  return lines[lines.length - 1] ?? "";
}

/** jfs speaks the Linux /dev/fuse protocol only; macOS has no FUSE without a kernel extension. */
export function fuseUnavailableReason(platform: NodeJS.Platform): string | undefined {
  if (platform === "linux") return undefined;
  const os = platform === "darwin" ? "macOS" : platform;
  return `FUSE is not available on ${os}: serve the volume with \`jfs serve --nfs\` and mount it with the system's NFS client`;
}

export function registerMount(cli: CAC): void {
  const mount = cli.command(
    "mount [...args]",
    "Mount a volume with FUSE: jfs mount [META-URL] DIR",
  );
  withMetricsFlags(withSessionFlags(withDataFlags(mount)))
    .option("-d, --background", "Run in the background once the mount is live")
    .option("--log <path>", `Log file in the background (default: ${DEFAULT_LOG})`)
    .option("--attr-cache <sec>", "Kernel attribute cache timeout (default: 1)")
    .option("--entry-cache <sec>", "Kernel cache timeout of file names (default: 1)")
    .option("--dir-entry-cache <sec>", "Kernel cache timeout of directory names (default: 1)")
    .option(
      "--open-cache <sec>",
      "Keep pages of unchanged files across opens only within SEC (default: no limit; 0: never)",
    )
    .option(
      "--writeback-cache",
      "Kernel writeback cache: buffer small writes in the kernel (-o writeback_cache)",
    )
    .option("--allow-other", "Let other users access the mount")
    .option("--read-only", "Mount read-only: every change answers EROFS")
    .option("--subdir <dir>", "Mount this directory of the volume as the root")
    .option("--fuse-threads <n>", "Threads reading /dev/fuse (default: 2)")
    .example("jfs mount /mnt/jfs")
    .example("jfs mount -d sqlite3://myjfs.db /mnt/jfs")
    .action(async (args: unknown[], flags: MountFlags) => {
      const unavailable = fuseUnavailableReason(process.platform);
      if (unavailable !== undefined) throw new UserError(unavailable);
      const { metaUrl, dir } = splitArgs(args);
      if (flags.background) await mountBackground(metaUrl, dir, flags);
      else await withMetrics(flags, (metrics) => mountForeground(metaUrl, dir, flags, metrics));
    });
  cli
    .command("umount <DIR>", "Unmount a jfs mount point")
    .option("-f, --force", "Detach even while files are open (lazy unmount)")
    .action(async (dirArg: string, flags: { force?: boolean }) => {
      const dir = resolve(String(dirArg));
      const stale = isStaleMount(dir);
      if (!stale && findMount(dir) === undefined) throw new UserError(`${dir} is not mounted`);
      unmountNow(dir, flags.force === true || stale);
    });
}
