/**
 * Bringing files back from the trash (`jfs restore`). A trash entry is the removed inode
 * itself, named `{parent}-{inode}-{name}` in an hour directory (src/meta/remove.ts), so a
 * restore is one rename per file: the inode, its attributes, xattrs and data come back as they
 * were. Renames use RENAME_NOREPLACE, so an existing target is never overwritten.
 */
import { FsError, isFsError } from "../errors.ts";
import { ROOT_INODE, TRASH_INODE, TREE_WALK_PAGE_ENTRIES } from "../limits.ts";
import { parseTrashHour } from "../meta/gc.ts";
import { type Credentials, FileType, type Ino, type Meta, RenameFlags } from "../meta/interface.ts";

export interface TrashItem {
  hour: string;
  hourIno: Ino;
  /** The entry's name in the hour directory. */
  trashName: Buffer;
  inode: Ino;
  /** The directory it was removed from, and its name there (parsed from trashName). */
  parent: Ino;
  name: Buffer;
}

export type RestoreOutcome =
  | { item: TrashItem; status: "restored"; parent: Ino }
  | { item: TrashItem; status: "exists" | "no-parent" | "failed"; reason: string };

/** Splits `{parent}-{inode}-{name}`; undefined for a name jfs did not make. */
export function parseTrashName(
  name: Buffer,
): { parent: Ino; inode: Ino; name: Buffer } | undefined {
  const text = name.toString("latin1");
  const m = /^(\d+)-(\d+)-/.exec(text);
  if (!m) return undefined;
  const rest = name.subarray(m[0].length);
  if (rest.length === 0) return undefined;
  return { parent: Number(m[1]), inode: Number(m[2]), name: rest };
}

async function readAll(meta: Meta, ctx: Credentials, dir: Ino) {
  const out = [];
  for (let cookie = 0; ; ) {
    const page = await meta.readdir(ctx, dir, cookie, TREE_WALK_PAGE_ENTRIES, false);
    if (page.length === 0) return out;
    out.push(...page);
    cookie = page.at(-1)!.cookie;
  }
}

/** The hour directories of the trash, oldest first. */
export async function trashHours(meta: Meta, ctx: Credentials): Promise<Map<string, Ino>> {
  const hours = (await readAll(meta, ctx, TRASH_INODE))
    .filter((e) => e.type === FileType.Directory && parseTrashHour(e.name.toString()) !== undefined)
    .sort((a, b) => a.name.compare(b.name));
  return new Map(hours.map((e) => [e.name.toString(), e.inode]));
}

/** The entries of the given hour directories. */
export async function trashItems(
  meta: Meta,
  ctx: Credentials,
  hours: Map<string, Ino>,
): Promise<TrashItem[]> {
  const items: TrashItem[] = [];
  for (const [hour, hourIno] of hours) {
    for (const e of await readAll(meta, ctx, hourIno)) {
      const parsed = parseTrashName(e.name);
      if (parsed === undefined || parsed.inode !== e.inode) continue;
      items.push({ hour, hourIno, trashName: e.name, ...parsed });
    }
  }
  return items;
}

/** Whether `ino` is a live directory (not removed, not in the trash). */
async function liveDirectory(meta: Meta, ctx: Credentials, ino: Ino): Promise<boolean> {
  try {
    const attr = await meta.getattr(ctx, ino);
    return attr.type === FileType.Directory && attr.nlink > 0 && attr.parent !== TRASH_INODE;
  } catch (error) {
    if (isFsError(error, "ENOENT")) return false;
    throw error;
  }
}

/**
 * Moves one item back: to its original directory with `putBack`, else (or when that
 * directory is gone) into `into`, under its original name.
 */
export async function restoreItem(
  meta: Meta,
  ctx: Credentials,
  item: TrashItem,
  putBack: boolean,
  into: Ino | undefined,
): Promise<RestoreOutcome> {
  let dst: Ino | undefined;
  if (putBack && (await liveDirectory(meta, ctx, item.parent))) dst = item.parent;
  else dst = into;
  if (dst === undefined) {
    return {
      item,
      status: "no-parent",
      reason: `its directory (inode ${item.parent}) is gone; pass --into DIR`,
    };
  }
  try {
    await meta.rename(ctx, item.hourIno, item.trashName, dst, item.name, RenameFlags.NOREPLACE);
    return { item, status: "restored", parent: dst };
  } catch (error) {
    if (isFsError(error, "EEXIST")) {
      return { item, status: "exists", reason: "the target exists; left in the trash" };
    }
    if (error instanceof FsError) return { item, status: "failed", reason: error.message };
    throw error;
  }
}

/**
 * A live directory's path in the volume, for reports: climbs the parents, finding each name
 * in its parent's listing. Undefined when the directory is gone or in the trash.
 */
export async function directoryPath(
  meta: Meta,
  ctx: Credentials,
  ino: Ino,
  cache: Map<Ino, string | undefined> = new Map(),
): Promise<string | undefined> {
  if (ino === ROOT_INODE) return "/";
  if (cache.has(ino)) return cache.get(ino);
  let path: string | undefined;
  if (await liveDirectory(meta, ctx, ino)) {
    const parent = (await meta.getattr(ctx, ino)).parent;
    const above = await directoryPath(meta, ctx, parent, cache);
    const entry =
      above === undefined
        ? undefined
        : (await readAll(meta, ctx, parent)).find((e) => e.inode === ino);
    if (above !== undefined && entry !== undefined) {
      path = `${above === "/" ? "" : above}/${entry.name.toString()}`;
    }
  }
  cache.set(ino, path);
  return path;
}
