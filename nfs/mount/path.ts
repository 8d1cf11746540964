/**
 * Export paths: the --export directory is resolved through the VFS at start, and MNT of a path
 * beneath it is resolved from the export's root, one lookup per component (never through "..":
 * a client cannot mount above its export).
 */
import { FsError, fsError, UserError } from "../../src/errors.ts";
import { MOUNT_PATH_BYTES_MAX, ROOT_INODE } from "../../src/limits.ts";
import { type Attr, type Credentials, FileType, type Ino } from "../../src/posix.ts";
import type { Vfs } from "../../src/vfs/interface.ts";

/**
 * "/a//b/" → "/a/b"; undefined for a relative path or one with "." or ".." in it. The empty
 * path is "/": libnfs asks for it when given nfs://host/file.
 */
export function normalizeExportPath(path: string): string | undefined {
  if (path === "") return "/";
  if (!path.startsWith("/")) return undefined;
  const parts = path.split("/").filter((part) => part !== "");
  if (parts.some((part) => part === "." || part === "..")) return undefined;
  return `/${parts.join("/")}`;
}

/** The components of `path` below `base` (both normalized), or undefined if not beneath it. */
export function componentsBelow(base: string, path: string): string[] | undefined {
  if (path === base) return [];
  const prefix = base === "/" ? "/" : `${base}/`;
  if (!path.startsWith(prefix)) return undefined;
  return path.slice(prefix.length).split("/");
}

/** Walks `components` from `start`; the final object must be a directory. Throws FsError. */
export async function walk(
  vfs: Vfs,
  ctx: Credentials,
  start: Ino,
  components: readonly string[],
): Promise<{ inode: Ino; attr: Attr }> {
  let inode = start;
  let attr = await vfs.getattr(ctx, start);
  for (const name of components) {
    const entry = await vfs.lookup(ctx, inode, Buffer.from(name));
    inode = entry.inode;
    attr = entry.attr;
  }
  if (attr.type !== FileType.Directory) throw fsError("ENOTDIR");
  return { inode, attr };
}

/** The inode of the --export directory, or a UserError that says what is wrong with it. */
export async function resolveExport(
  vfs: Vfs,
  ctx: Credentials,
  exportPath: string,
): Promise<{ path: string; inode: Ino }> {
  const path = normalizeExportPath(exportPath);
  if (path === undefined || Buffer.byteLength(path) > MOUNT_PATH_BYTES_MAX) {
    throw new UserError(`--export must be an absolute path without . or .., got "${exportPath}"`);
  }
  const components = path === "/" ? [] : path.slice(1).split("/");
  try {
    const { inode } = await walk(vfs, ctx, ROOT_INODE, components);
    return { path, inode };
  } catch (error) {
    if (error instanceof FsError) {
      throw new UserError(`--export ${path}: ${error.message} in volume "${vfs.format.name}"`);
    }
    throw error;
  }
}
