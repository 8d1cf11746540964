/**
 * jfs info [META-URL] PATH... — what a path is in the volume, like `juicefs info`: a file's
 * inode, type, size, chunks, slices and the object key of every block; a directory's files,
 * directories and bytes, counted under it. PATH is on a jfs mount of the volume (the mount's
 * inode is the volume's, as warmup maps it); `--path /x` or `--inode N` name one inside the
 * volume instead. A PATH on no jfs mount is refused in one line, before any volume is opened.
 */
import { realpathSync } from "node:fs";
import { resolve } from "node:path";
import type { CAC } from "cac";
import { describeError, UserError } from "../errors.ts";
import { JFS_FSTYPE, type MountEntry, readMountInfo } from "../fuse/mountinfo.ts";
import { ROOT_INODE } from "../limits.ts";
import { type Attr, FileType, type Ino, ROOT_CREDENTIALS } from "../meta/interface.ts";
import { directoryUsage, fileLayout } from "../volume/info.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { formatBytes, parseIntFlag, stringFlag } from "./options.ts";
import { Progress } from "./progress.ts";
import { type DataFlags, runtimeOptions } from "./runtime.ts";
import { jfsMountOf, resolvePath } from "./warmup.ts";

const ctx = ROOT_CREDENTIALS;

export interface TargetFlags extends DataFlags {
  path?: unknown;
  inode?: unknown;
  json?: boolean;
}

/** What the user named: a path on a mount, a path inside the volume, or an inode. */
export type Target =
  | { kind: "mount"; shown: string }
  | { kind: "volume"; shown: string; path: string }
  | { kind: "inode"; shown: string; inode: Ino };

export const TYPE_NAMES: Record<FileType, string> = {
  [FileType.File]: "file",
  [FileType.Directory]: "directory",
  [FileType.Symlink]: "symlink",
  [FileType.Fifo]: "fifo",
  [FileType.BlockDevice]: "block device",
  [FileType.CharDevice]: "char device",
  [FileType.Socket]: "socket",
};

/** The mount `path` is on, checked without the volume: a path on none is refused here. */
function mountOf(command: string, path: string, mounts: MountEntry[]): MountEntry {
  let real: string;
  try {
    real = realpathSync(resolve(path));
  } catch (error) {
    throw new UserError(`${command}: ${path}: ${describeError(error)}`);
  }
  const mount = jfsMountOf(real, mounts);
  if (mount === undefined || mount.fstype !== JFS_FSTYPE) {
    throw new UserError(
      `${command}: ${path} is not on a jfs mount (for a path inside a volume: jfs ${command} META-URL --path /DIR)`,
    );
  }
  return mount;
}

/** Splits the words into META-URL and targets; checks mount paths before anything opens. */
export function parseTargets(
  command: string,
  words: string[],
  flags: TargetFlags,
): { metaUrl: string | undefined; targets: Target[] } {
  const all = words.map(String);
  const metaUrl = all[0]?.includes("://") ? all.shift() : undefined;
  const mounts = readMountInfo();
  const targets: Target[] = all.map((p) => {
    mountOf(command, p, mounts);
    return { kind: "mount", shown: p };
  });
  const path = stringFlag(flags.path);
  if (path !== undefined) targets.push({ kind: "volume", shown: path, path });
  if (flags.inode !== undefined) {
    const inode = parseIntFlag("inode", flags.inode, 1);
    targets.push({ kind: "inode", shown: `inode ${inode}`, inode });
  }
  if (targets.length === 0) {
    throw new UserError(`${command} needs a PATH on a jfs mount, or --path DIR or --inode N`);
  }
  return { metaUrl, targets };
}

/** The inode and attributes a target names. */
export async function resolveTarget(
  rt: Runtime,
  command: string,
  target: Target,
): Promise<{ inode: Ino; attr: Attr }> {
  try {
    if (target.kind === "mount")
      return await resolvePath(rt, target.shown, readMountInfo(), command);
    if (target.kind === "inode") {
      return { inode: target.inode, attr: await rt.meta.getattr(ctx, target.inode) };
    }
    let inode: Ino = ROOT_INODE;
    let attr = await rt.meta.getattr(ctx, inode);
    for (const part of target.path.split("/").filter((p) => p !== "" && p !== ".")) {
      ({ inode, attr } = await rt.meta.lookup(ctx, inode, Buffer.from(part)));
    }
    return { inode, attr };
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`${command}: ${target.shown}: ${describeError(error)}`);
  }
}

/** The runtime info and summary read through: blocks are never read, so no disk cache. */
export function openForInfo(metaUrl: string | undefined, flags: DataFlags, command: string) {
  return openRuntime(metaUrl, runtimeOptions({ ...flags, cacheDir: "memory" }), command);
}

async function describeTarget(rt: Runtime, target: Target): Promise<Record<string, unknown>> {
  const { inode, attr } = await resolveTarget(rt, "info", target);
  const base = {
    path: target.shown,
    inode,
    type: TYPE_NAMES[attr.type],
    size: attr.size,
    mode: `0${(attr.mode & 0o7777).toString(8)}`,
    uid: attr.uid,
    gid: attr.gid,
    nlink: attr.nlink,
  };
  if (attr.type === FileType.Directory) {
    const progress = new Progress(`info ${target.shown}`, 0, { noun: "entries" });
    const usage = await directoryUsage(rt.meta, inode, (bytes) => {
      progress.add(1, bytes);
    });
    progress.finish();
    return { ...base, ...usage };
  }
  if (attr.type !== FileType.File) return base;
  return { ...base, chunks: await fileLayout(rt.meta, rt.format, inode) };
}

/** The description as lines, for people. */
function infoLines(d: Record<string, unknown>): string[] {
  const lines = [
    `${d.path}`,
    `  inode: ${d.inode}`,
    `  type: ${d.type}`,
    `  mode: ${d.mode}  uid: ${d.uid}  gid: ${d.gid}  nlink: ${d.nlink}`,
  ];
  if (d.type === "directory") {
    const bytes = d.bytes as number;
    lines.push(`  files: ${d.files}  dirs: ${d.dirs}  bytes: ${bytes} (${formatBytes(bytes)})`);
    return lines;
  }
  const size = d.size as number;
  lines.push(`  size: ${size} (${formatBytes(size)})`);
  const chunks = d.chunks as Awaited<ReturnType<typeof fileLayout>> | undefined;
  if (chunks === undefined) return lines;
  const slices = chunks.reduce((n, c) => n + c.slices.length, 0);
  const objects = chunks.reduce(
    (n, c) => n + c.slices.reduce((m, s) => m + s.objects.length, 0),
    0,
  );
  lines.push(`  chunks: ${chunks.length}  slices: ${slices}  objects: ${objects}`);
  for (const c of chunks) {
    lines.push(`  chunk ${c.index}:`);
    for (const s of c.slices) {
      const what = s.id === 0 ? "hole" : `slice ${s.id}`;
      const used = `chunk bytes ${s.pos}..${s.pos + s.len}`;
      lines.push(`    ${what}: ${used}, from its bytes ${s.off}..${s.off + s.len} of ${s.size}`);
      for (const o of s.objects) lines.push(`      ${o.key}  ${o.bytes}`);
    }
  }
  return lines;
}

export function registerInfo(cli: CAC): void {
  cli
    .command(
      "info [...ARGS]",
      "Show a file's inode, chunks, slices and object keys, or a directory's usage: [META-URL] PATH...",
    )
    .option("--path <dir>", "A path inside the volume instead of one on a mount")
    .option("--inode <n>", "An inode of the volume instead of a path")
    .option("--json", "Print one JSON object per target, for scripts")
    .example("jfs info /mnt/jfs/datasets/train.bin")
    .example("jfs info redis://127.0.0.1/1 --path /datasets --json")
    .action(async (words: string[], flags: TargetFlags) => {
      const { metaUrl, targets } = parseTargets("info", words, flags);
      const rt = await openForInfo(metaUrl, flags, "info");
      try {
        for (const target of targets) {
          const d = await describeTarget(rt, target);
          console.log(flags.json ? JSON.stringify(d) : infoLines(d).join("\n"));
        }
      } finally {
        await rt.close();
      }
    });
}
