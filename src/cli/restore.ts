/**
 * jfs restore META-URL [HOUR...] [--put-back] [--into DIR] — brings removed files back from
 * the trash (src/volume/restore.ts), like `juicefs restore`. Without either flag it lists what
 * the trash holds. A target that exists is never overwritten; a file whose directory is gone
 * goes under --into DIR, or is reported and left in the trash.
 */
import type { CAC } from "cac";
import { describeError, UserError } from "../errors.ts";
import { readMountInfo } from "../fuse/mountinfo.ts";
import { FileType, type Ino, ROOT_CREDENTIALS } from "../meta/interface.ts";
import {
  directoryPath,
  type RestoreOutcome,
  restoreItem,
  type TrashItem,
  trashHours,
  trashItems,
} from "../volume/restore.ts";
import { openRuntime, type Runtime } from "../volume/runtime.ts";
import { stringFlag } from "./options.ts";
import { type DataFlags, runtimeOptions, withDataFlags } from "./runtime.ts";
import { resolvePath } from "./warmup.ts";

const ctx = ROOT_CREDENTIALS;

interface RestoreFlags extends DataFlags {
  putBack?: boolean;
  into?: unknown;
  json?: boolean;
}

const label = (i: TrashItem) => `.trash/${i.hour}/${i.trashName.toString()}`;

async function intoDirectory(rt: Runtime, path: string): Promise<Ino> {
  const found = await resolvePath(rt, path, readMountInfo()).catch((error: unknown) => {
    throw new UserError(`restore: --into ${path}: ${describeError(error)}`);
  });
  if (found.attr.type !== FileType.Directory) {
    throw new UserError(`restore: --into ${path} is not a directory`);
  }
  return found.inode;
}

async function selectedItems(rt: Runtime, hourNames: string[]): Promise<TrashItem[]> {
  const hours = await trashHours(rt.meta, ctx);
  if (hourNames.length > 0) {
    for (const h of hourNames) {
      if (!hours.has(h)) {
        const known = [...hours.keys()].join(", ") || "none";
        throw new UserError(`restore: the trash has no hour ${h} (it has: ${known})`);
      }
    }
    for (const h of [...hours.keys()]) if (!hourNames.includes(h)) hours.delete(h);
  }
  return trashItems(rt.meta, ctx, hours);
}

/** Names directories by their paths in the volume (by inode once they are gone). */
class DirNames {
  readonly #cache = new Map<Ino, string | undefined>();
  constructor(private readonly rt: Runtime) {}

  async file(dir: Ino, name: Buffer): Promise<string> {
    const path = await directoryPath(this.rt.meta, ctx, dir, this.#cache);
    if (path === undefined) return `${name.toString()} in a removed directory (inode ${dir})`;
    return `${path === "/" ? "" : path}/${name.toString()}`;
  }
}

async function describe(o: RestoreOutcome, names: DirNames): Promise<string> {
  if (o.status === "restored") {
    return `restored ${label(o.item)} as ${await names.file(o.parent, o.item.name)}`;
  }
  return `kept ${label(o.item)}: ${o.reason}`;
}

export function registerRestore(cli: CAC): void {
  withDataFlags(
    cli
      .command(
        "restore <META-URL> [...HOURS]",
        "Bring removed files back from the trash (all hours, or those named as YYYY-MM-DD-HH)",
      )
      .option("--put-back", "Move each file back to the directory it was removed from")
      .option("--into <dir>", "Put files here (with --put-back: those whose directory is gone)")
      .option("--json", "Print one JSON object, for scripts")
      .example("jfs restore redis://127.0.0.1/1 2026-12-03-16 --put-back"),
  ).action(async (metaUrl: string, hourArgs: string[], flags: RestoreFlags) => {
    const into = stringFlag(flags.into);
    const putBack = flags.putBack === true;
    const rt = await openRuntime(
      String(metaUrl),
      runtimeOptions({ ...flags, cacheDir: "memory" }),
      "restore",
    );
    const outcomes: RestoreOutcome[] = [];
    let items: TrashItem[];
    try {
      items = await selectedItems(rt, hourArgs.map(String));
      const intoIno = into === undefined ? undefined : await intoDirectory(rt, into);
      if (items.length === 0) {
        if (flags.json) console.log(JSON.stringify({ inTrash: 0, restored: 0, kept: [] }));
        else console.log("restore: the trash is empty; nothing to restore");
        return;
      }
      const names = new DirNames(rt);
      if (!putBack && intoIno === undefined) {
        if (flags.json) {
          const list = [];
          for (const i of items) {
            list.push({ entry: label(i), from: await names.file(i.parent, i.name) });
          }
          console.log(JSON.stringify({ inTrash: items.length, items: list }));
        } else {
          for (const i of items)
            console.log(`${label(i)}  (was ${await names.file(i.parent, i.name)})`);
          console.log(`${items.length} files in the trash; --put-back or --into DIR restores them`);
        }
        return;
      }
      for (const item of items) {
        const o = await restoreItem(rt.meta, ctx, item, putBack, intoIno);
        outcomes.push(o);
        if (!flags.json) console.log(await describe(o, names));
      }
    } finally {
      await rt.close();
    }
    const kept = outcomes.filter((o) => o.status !== "restored");
    const restored = outcomes.length - kept.length;
    if (flags.json) {
      const keptList = kept.map((o) => ({
        entry: label(o.item),
        status: o.status,
        reason: "reason" in o ? o.reason : "",
      }));
      console.log(JSON.stringify({ inTrash: items.length, restored, kept: keptList }));
    } else console.log(`restored ${restored} of ${items.length} files`);
    if (kept.length > 0) {
      throw new UserError(`restore: ${kept.length} files stayed in the trash (see above)`);
    }
  });
}
