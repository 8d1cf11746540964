/**
 * Export confinement: whether an inode lies inside the export, so that a handle built by hand
 * (the volume root's, /.trash's, any inode number of the volume) gets nothing from an export
 * of a subdirectory, and the trash is out of reach unless --expose-trash asks for it. A file
 * just deleted sits in the trash, so its old handle turns STALE on every server at once.
 *
 * Handles carry no proof of where they were given out (they are plain {volume, inode,
 * generation}, the same on every server of a volume), so the server checks ancestry instead:
 * it walks parent links up from the inode until it meets the export root (inside), the volume
 * root or the trash (outside). A file with several hard links is inside when one of its links
 * is. Directories found inside are cached, bounded and for NFS_SCOPE_CACHE_TTL_MS: a file
 * then costs nothing beyond the getattr its call does anyway (its parent is cached), and a
 * directory moved out of the export stops being reachable within the TTL. (Through this
 * server itself no directory can leave: a rename's target lies inside too, and nothing is
 * ever renamed into the trash.)
 */
import { assert } from "../../src/assert.ts";
import { isFsError } from "../../src/errors.ts";
import {
  NFS_SCOPE_CACHE_ENTRIES_MAX,
  NFS_SCOPE_CACHE_TTL_MS,
  NFS_SCOPE_DEPTH_MAX,
  NFS_SCOPE_PARENTS_MAX,
  ROOT_INODE,
  TRASH_INODE,
} from "../../src/limits.ts";
import { LruMap } from "../../src/lru.ts";
import { type Attr, FileType, type Ino, ROOT_CREDENTIALS } from "../../src/posix.ts";
import type { Vfs } from "../../src/vfs/interface.ts";

export interface ExportScopeOptions {
  vfs: Vfs;
  exportRoot: Ino;
  /** Whether /.trash and what it holds are inside (only an export of "/" can hold it). */
  exposeTrash: boolean;
  cacheEntriesMax?: number;
  cacheTtlMs?: number;
}

interface Known {
  /** The parent the directory had when found inside: another one now means a re-check. */
  parent: Ino;
  expiresMs: number;
}

export class ExportScope {
  private readonly vfs: Vfs;
  private readonly exportRoot: Ino;
  private readonly trashInside: boolean;
  /** Everything is inside: an export of "/" that exposes the trash. */
  private readonly everything: boolean;
  private readonly cacheEntriesMax: number;
  private readonly cacheTtlMs: number;
  /** Directories known inside, the least recently confirmed first. */
  private readonly known = new LruMap<Ino, Known>();

  constructor(options: ExportScopeOptions) {
    this.vfs = options.vfs;
    this.exportRoot = options.exportRoot;
    this.trashInside = options.exposeTrash && options.exportRoot === ROOT_INODE;
    this.everything = this.trashInside;
    this.cacheEntriesMax = options.cacheEntriesMax ?? NFS_SCOPE_CACHE_ENTRIES_MAX;
    this.cacheTtlMs = options.cacheTtlMs ?? NFS_SCOPE_CACHE_TTL_MS;
    assert(this.cacheEntriesMax >= 1 && this.cacheTtlMs >= 0);
  }

  /** How many directories are known inside (for tests and stats). */
  get knownDirectories(): number {
    return this.known.size;
  }

  /** Whether `inode` (whose current attributes are `attr`) lies inside the export. */
  async contains(inode: Ino, attr: Attr): Promise<boolean> {
    if (this.everything || inode === this.exportRoot) return true;
    if (attr.type === FileType.Directory) return this.directoryInside(inode, attr);
    const parents =
      attr.parent !== 0
        ? [attr.parent]
        : [...(await this.parentsOf(inode)).keys()].slice(0, NFS_SCOPE_PARENTS_MAX);
    for (const parent of parents) {
      if (await this.directoryInside(parent, undefined)) return true;
    }
    return false;
  }

  /** Walks up from a directory (no recursion: one loop, bounded by NFS_SCOPE_DEPTH_MAX). */
  private async directoryInside(start: Ino, startAttr: Attr | undefined): Promise<boolean> {
    const walked: { inode: Ino; parent: Ino }[] = [];
    let inode = start;
    let attr = startAttr;
    for (let depth = 0; depth < NFS_SCOPE_DEPTH_MAX; depth++) {
      if (inode === this.exportRoot) return this.remember(walked);
      if (inode === TRASH_INODE) return this.trashInside && this.remember(walked);
      // The export root is not the volume root here (checked above), so this is above it.
      if (inode === ROOT_INODE) return false;
      if (this.isKnown(inode, attr)) return this.remember(walked);
      attr ??= await this.attrOf(inode);
      if (attr === undefined || attr.type !== FileType.Directory) return false;
      walked.push({ inode, parent: attr.parent });
      inode = attr.parent;
      attr = undefined;
    }
    return false;
  }

  private isKnown(inode: Ino, attr: Attr | undefined): boolean {
    const known = this.known.peek(inode);
    if (known === undefined) return false;
    if (
      known.expiresMs < performance.now() ||
      (attr !== undefined && attr.parent !== known.parent)
    ) {
      this.known.delete(inode);
      return false;
    }
    return true;
  }

  private remember(walked: readonly { inode: Ino; parent: Ino }[]): true {
    const expiresMs = performance.now() + this.cacheTtlMs;
    for (const { inode, parent } of walked) {
      this.known.set(inode, { parent, expiresMs });
    }
    this.known.trimTo(this.cacheEntriesMax);
    return true;
  }

  /** Current attributes, or undefined for an inode that is gone (then it is nowhere). */
  private async attrOf(inode: Ino): Promise<Attr | undefined> {
    try {
      return await this.vfs.getattr(ROOT_CREDENTIALS, inode);
    } catch (error) {
      if (isFsError(error, "ENOENT")) return undefined;
      throw error;
    }
  }

  private async parentsOf(inode: Ino): Promise<Map<Ino, number>> {
    try {
      return await this.vfs.parents(ROOT_CREDENTIALS, inode);
    } catch (error) {
      if (isFsError(error, "ENOENT")) return new Map();
      throw error;
    }
  }
}
