/**
 * jfs warmup [META-URL] PATH... — reads files of the volume once so their blocks land in the
 * local caches (memory and --cache-dir), like `juicefs warmup`. A PATH is a path on a jfs
 * mount of the volume ("/mnt/jfs/datasets/train", as JuiceFS takes them), or else a path inside
 * the volume ("/datasets/train"); directories are walked; `--file LIST` reads paths from a file.
 */
import { readFileSync, realpathSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { resolve } from "node:path";
import type { CAC } from "cac";
import { fsError, UserError } from "../errors.ts";
import { JFS_FSTYPE, type MountEntry, readMountInfo } from "../fuse/mountinfo.ts";
import { DOWNLOADS_MAX, TREE_WALK_PAGE_ENTRIES, Units } from "../limits.ts";
import { type Attr, FileType, type Ino, ROOT_CREDENTIALS } from "../meta/interface.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { parseIntFlag, stringFlag } from "./options.ts";
import { Progress, runPool } from "./progress.ts";
import { type DataFlags, runtimeOptions, withDataFlags } from "./runtime.ts";

/**
 * Default of --threads (shown in the help from here): as many files at once as the volume
 * runs GETs (DOWNLOADS_MAX), since small files are one GET each and wait on its latency.
 */
const THREADS_DEFAULT = DOWNLOADS_MAX;

const ctx = ROOT_CREDENTIALS;
const READ_PIECE_BYTES = 4 * Units.MiB;

interface WarmupFlags extends DataFlags {
  json?: boolean;
  file?: unknown;
  threads?: unknown;
}

/** The jfs mount `path` lies on (the deepest mount point above it), if any. */
export function jfsMountOf(path: string, mounts: MountEntry[]): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const m of mounts) {
    const above =
      m.mountPoint === "/" || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (above && (found === undefined || m.mountPoint.length >= found.mountPoint.length)) found = m;
  }
  return found?.fstype === JFS_FSTYPE ? found : undefined;
}

/** Where this volume is mounted on this host, by its live sessions. */
async function ourMountPoints(rt: Runtime): Promise<Set<string>> {
  const points = new Set<string>();
  for (const session of await rt.meta.listSessions()) {
    if (session.hostname !== hostname() || session.expiredAt !== undefined) continue;
    points.add(session.mountPoint);
    try {
      points.add(realpathSync(session.mountPoint));
    } catch {
      // a serve's "host:port", or a mount point gone meanwhile
    }
  }
  return points;
}

/**
 * The inode of a path on a jfs mount of this volume: a FUSE node id is the jfs inode, so the
 * mount's own stat() names it, whatever subdirectory the mount shows. Undefined when the path
 * is not on a jfs mount (it is then a path inside the volume). A mount of another volume (by
 * its name, or by this volume's sessions when the names agree) is refused.
 */
async function mountedInode(
  rt: Runtime,
  path: string,
  mounts: MountEntry[],
  command: string,
): Promise<Ino | undefined> {
  let real: string;
  try {
    real = realpathSync(resolve(path));
  } catch {
    return undefined;
  }
  const mount = jfsMountOf(real, mounts);
  if (mount === undefined) return undefined;
  const name = rt.format.name;
  if (mount.source !== `jfs:${name}` || !(await ourMountPoints(rt)).has(mount.mountPoint)) {
    throw new UserError(
      `${command}: ${path} is on ${mount.mountPoint}, a mount of ${mount.source}, not of volume "${name}" (${rt.metaUrl})`,
    );
  }
  return statSync(real).ino;
}

export async function resolvePath(
  rt: Runtime,
  path: string,
  mounts: MountEntry[],
  /** Names the command in errors. */
  command = "warmup",
): Promise<{ inode: Ino; attr: Attr }> {
  const vfs = rt.vfs;
  const mounted = await mountedInode(rt, path, mounts, command);
  if (mounted !== undefined) return { inode: mounted, attr: await vfs.getattr(ctx, mounted) };
  let inode: Ino = 1;
  let attr = await vfs.getattr(ctx, inode);
  for (const part of path.split("/").filter((p) => p !== "" && p !== ".")) {
    ({ inode, attr } = await vfs.lookup(ctx, inode, Buffer.from(part)));
  }
  return { inode, attr };
}

/** Files under the given paths (directories walked without recursion). */
async function collectFiles(
  rt: Runtime,
  paths: string[],
): Promise<Array<{ inode: Ino; size: number }>> {
  const vfs = rt.vfs;
  const files = new Map<Ino, number>();
  const dirs: Ino[] = [];
  const mounts = readMountInfo();
  for (const p of paths) {
    const { inode, attr } = await resolvePath(rt, p, mounts).catch((error: unknown) => {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `warmup: ${p}: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    if (attr.type === FileType.Directory) dirs.push(inode);
    else if (attr.type === FileType.File) files.set(inode, attr.size);
  }
  while (dirs.length > 0) {
    const dir = dirs.pop()!;
    for (let cookie = 0; ; ) {
      const page = await vfs.readdir(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES, true);
      const entries = page.filter((e) => e.name.toString() !== "." && e.name.toString() !== "..");
      if (page.length === 0) break;
      cookie = page.at(-1)!.cookie;
      for (const e of entries) {
        if (e.type === FileType.Directory) dirs.push(e.inode);
        else if (e.type === FileType.File) files.set(e.inode, e.attr?.size ?? 0);
      }
    }
  }
  return [...files].map(([inode, size]) => ({ inode, size }));
}

export function registerWarmup(cli: CAC): void {
  withDataFlags(
    cli
      .command(
        "warmup [...ARGS]",
        "Fill the local cache with files of a volume: [META-URL] PATH... (on a mount, or in the volume)",
      )
      .option("--file <list>", "Read the paths to warm up from this file, one per line")
      .option("--threads <n>", `Files read at once (default: ${THREADS_DEFAULT})`)
      .option("--json", "Print one JSON object, for scripts")
      .example("jfs warmup redis://127.0.0.1/1 /datasets/train --cache-dir /ssd/jfs"),
  ).action(async (args: string[], flags: WarmupFlags) => {
    const list = stringFlag(flags.file);
    const all = args.map(String);
    const metaUrl = all[0]?.includes("://") ? all.shift() : undefined;
    const paths = [
      ...all,
      ...(list
        ? readFileSync(list, "utf8")
            .split("\n")
            .filter((l) => l.trim())
        : []),
    ];
    if (paths.length === 0) throw new UserError("warmup needs at least one PATH (or --file LIST)");
    const threads = parseIntFlag("threads", flags.threads ?? THREADS_DEFAULT, 1, 256);
    // A local bucket's blocks otherwise enter the disk cache on their second load only.
    const rt = await openRuntime(
      metaUrl,
      { ...runtimeOptions(flags), cacheEveryLoad: true },
      "warmup",
    );
    try {
      const files = await collectFiles(rt, paths);
      const totalBytes = files.reduce((s, f) => s + f.size, 0);
      const progress = new Progress("warmup", files.length, { noun: "files" });
      const t0 = performance.now();
      await runPool(
        files.length,
        threads,
        async (i) => {
          const f = files[i]!;
          for (let at = 0; at < f.size; at += READ_PIECE_BYTES) {
            const bytes = await rt.vfs.read(ctx, f.inode, undefined, at, READ_PIECE_BYTES);
            if (bytes.length === 0) throw fsError("EIO", `file ${f.inode} ended early`);
            progress.addBytes(bytes.length);
            // Every loaded block is copied into the cache (none skipped): keep the copies
            // queued behind the cache disk bounded.
            await rt.data.chunks.diskCacheCaughtUp();
          }
        },
        progress,
      );
      const seconds = (performance.now() - t0) / 1000;
      if (flags.json)
        console.log(JSON.stringify({ files: files.length, bytes: totalBytes, seconds }));
      else {
        console.log(
          `warmed up ${files.length} files, ${(totalBytes / Units.MiB).toFixed(1)} MiB in ${seconds.toFixed(1)} s`,
        );
      }
    } finally {
      await rt.close();
    }
  });
}
