/**
 * jfs rmr [META-URL] PATH... — removes trees through the metadata engine (src/volume/rmr.ts),
 * like `juicefs rmr`: no kernel round trip per file. A PATH is a path on a jfs mount of the
 * volume or a path inside it, as warmup takes them; files go into the trash when it is on.
 */
import { realpathSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { CAC } from "cac";
import { describeError, UserError } from "../errors.ts";
import { readMountInfo } from "../fuse/mountinfo.ts";
import type { Credentials, Ino } from "../meta/interface.ts";
import { removeTree } from "../volume/rmr.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { Progress } from "./progress.ts";
import { type DataFlags, runtimeOptions, withDataFlags } from "./runtime.ts";
import { jfsMountOf, resolvePath } from "./warmup.ts";

interface RmrFlags extends DataFlags {
  json?: boolean;
}

/** The caller's own credentials: rmr may remove only what `rm -rf` by this user could. */
function callerCredentials(): Credentials {
  return {
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    groups: process.getgroups?.() ?? [],
    pid: process.pid,
  };
}

/** The directory holding PATH's last name, and that name; the root of a volume or mount is refused. */
async function parentAndName(rt: Runtime, path: string): Promise<{ parent: Ino; name: Buffer }> {
  const name = basename(path);
  if (name === "" || name === "." || name === ".." || path.replace(/\/+$/, "") === "") {
    throw new UserError(`rmr: ${path}: names no removable entry`);
  }
  const mounts = readMountInfo();
  let dir = dirname(path);
  try {
    // The leaf is not resolved: a symlink is removed, not what it points to.
    const realDir = realpathSync(dirname(resolve(path)));
    const mount = jfsMountOf(join(realDir, name), mounts);
    if (mount !== undefined) {
      if (join(realDir, name) === mount.mountPoint) {
        throw new UserError(`rmr: ${path} is the root of a mount; remove what is in it instead`);
      }
      dir = realDir;
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    // Not a local path: a path inside the volume.
  }
  const { inode } = await resolvePath(rt, dir, mounts, "rmr");
  return { parent: inode, name: Buffer.from(name) };
}

export function registerRmr(cli: CAC): void {
  withDataFlags(
    cli
      .command(
        "rmr [...ARGS]",
        "Remove trees through the metadata engine: [META-URL] PATH... (on a mount, or in the volume)",
      )
      .option("--json", "Print one JSON object, for scripts")
      .example("jfs rmr /mnt/jfs/scratch"),
  ).action(async (args: string[], flags: RmrFlags) => {
    const all = args.map(String);
    const metaUrl = all[0]?.includes("://") ? all.shift() : undefined;
    if (all.length === 0) throw new UserError("rmr needs at least one PATH");
    // No background deletion here: a round started meanwhile would delete every queued
    // object before rmr could exit (an rmr of 10,000 files took 3 s or 60 s by whether the
    // timer fired). The removed files' objects go as every deleted file's do: by the
    // background deletion of the mounts and servers, or jfs gc.
    const options = { ...runtimeOptions({ ...flags, cacheDir: "memory" }), gcIntervalMs: 0 };
    const rt = await openRuntime(metaUrl, options, "rmr");
    const ctx = callerCredentials();
    const total = { files: 0, dirs: 0 };
    let trashed = rt.format.trashDays > 0;
    const t0 = performance.now();
    try {
      for (const path of all) {
        const { parent, name } = await parentAndName(rt, path).catch((error: unknown) => {
          if (error instanceof UserError) throw error;
          throw new UserError(`rmr: ${path}: ${describeError(error)}`);
        });
        const progress = new Progress(`rmr ${path}`, 0, { noun: "names" });
        const counts = await removeTree(rt.meta, ctx, parent, name, (n) => progress.add(n))
          .catch((error: unknown) => {
            throw new UserError(`rmr: ${path}: ${describeError(error)}`);
          })
          .finally(() => progress.finish());
        if (counts.fromTrash) trashed = false;
        total.files += counts.files;
        total.dirs += counts.dirs;
      }
    } finally {
      await rt.close();
    }
    const seconds = (performance.now() - t0) / 1000;
    const trash = trashed ? `into the trash (${rt.format.trashDays} days)` : "for good";
    if (flags.json) console.log(JSON.stringify({ ...total, seconds, trash: trashed }));
    else {
      console.log(
        `removed ${total.files} files and ${total.dirs} directories ${trash} in ${seconds.toFixed(1)} s`,
      );
    }
  });
}
