/**
 * Directory operations. READDIR(PLUS) offsets are the VFS cookies: each record's `off` is the
 * cookie of its entry (never 0), and the kernel's next request passes the last one back.
 * A reply is filled up to the requested size with whole 8-byte-aligned records.
 *
 * Plain READDIR pages come from a batch of FUSE_READDIR_BATCH entries kept per open handle,
 * so a large listing costs one VFS call per batch rather than one per 4 KiB page. READDIRPLUS
 * is never served from such a batch: its attributes must be read after the kernel sent the
 * request, or they could undo a size the kernel learned from a write in between.
 */
import { assert } from "../assert.ts";
import { FUSE_READDIR_BATCH } from "../limits.ts";
import type { VfsDirEntry } from "../vfs/interface.ts";
import {
  DIRENT_BYTES,
  DIRENTPLUS_BYTES,
  direntAlign,
  ENTRY_OUT_BYTES,
  Opcode,
} from "./protocol.ts";
import type { Handler, OpState, Reply, Request } from "./state.ts";
import { direntType, openOut } from "./structs.ts";

const NONE: Reply = [];

/** Bytes of one record: fuse_dirent (+ fuse_entry_out for plus) + name, 8-aligned. */
export function recordBytes(nameBytes: number, plus: boolean): number {
  return direntAlign((plus ? DIRENTPLUS_BYTES : DIRENT_BYTES) + nameBytes);
}

/** Packs whole records of `entries` into at most `size` bytes. */
export function packDirents(
  s: OpState,
  entries: readonly VfsDirEntry[],
  size: number,
  plus: boolean,
): Buffer {
  let total = 0;
  let count = 0;
  for (const e of entries) {
    const n = recordBytes(e.name.length, plus);
    if (total + n > size) break;
    total += n;
    count++;
  }
  const b = Buffer.alloc(total);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const e = entries[i]!;
    assert(e.cookie > 0, "readdir cookies are never 0");
    if (plus) {
      // nodeid 0 in fuse_entry_out: "no attributes for this entry", the kernel just lists it.
      if (e.attr !== undefined) s.entry(e.inode, e.attr).copy(b, at);
      at += ENTRY_OUT_BYTES;
    }
    // struct fuse_dirent { uint64_t ino, off; uint32_t namelen, type; char name[]; }
    b.writeBigUInt64LE(BigInt(e.inode), at);
    b.writeBigUInt64LE(BigInt(e.cookie), at + 8);
    b.writeUInt32LE(e.name.length, at + 16);
    b.writeUInt32LE(direntType(e.type), at + 20);
    e.name.copy(b, at + DIRENT_BYTES);
    at = direntAlign(at + DIRENT_BYTES + e.name.length);
  }
  assert(at === total, "dirent packing");
  return b;
}

/** struct fuse_open_in { uint32_t flags, open_flags; } */
const opendir: Handler = async (s, r) => {
  const fh = await s.vfs.opendir(r.ctx, r.header.nodeid);
  return [openOut(fh, 0)];
};

/** Entries after `cookie` for a plain READDIR, from the handle's batch when it has them. */
async function plainEntries(
  s: OpState,
  r: Request,
  fh: number,
  cookie: number,
): Promise<VfsDirEntry[]> {
  const byFh = s.dirBatches;
  const batch = byFh.get(fh);
  if (batch !== undefined && cookie !== 0) {
    const i = batch.entries.findIndex((e) => e.cookie === cookie);
    if (i >= 0 && (i + 1 < batch.entries.length || batch.complete)) {
      return batch.entries.slice(i + 1);
    }
  }
  const entries = await s.vfs.readdir(r.ctx, r.header.nodeid, cookie, FUSE_READDIR_BATCH, false);
  byFh.set(fh, { entries, complete: entries.length < FUSE_READDIR_BATCH });
  return entries;
}

/** struct fuse_read_in { uint64_t fh, offset; uint32_t size, read_flags; ... } */
async function readdirWith(s: OpState, r: Request, plus: boolean): Promise<Reply> {
  const fh = r.body.u64Number("fh");
  const cookie = r.body.u64Number("offset");
  const size = r.body.u32();
  let entries: VfsDirEntry[];
  if (plus) {
    // No record is smaller than this, so no more entries than this fit.
    const fit = Math.max(1, Math.floor(size / recordBytes(1, true)));
    entries = await s.vfs.readdir(r.ctx, r.header.nodeid, cookie, fit, true);
  } else {
    entries = await plainEntries(s, r, fh, cookie);
  }
  if (entries.length === 0) return NONE;
  return [packDirents(s, entries, size, plus)];
}

const readdir: Handler = (s, r) => readdirWith(s, r, false);
const readdirplus: Handler = (s, r) => readdirWith(s, r, true);

/** struct fuse_release_in { uint64_t fh; ... } */
const releasedir: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  s.dirBatches.delete(fh);
  await s.vfs.releasedir(r.ctx, r.header.nodeid, fh);
  return NONE;
};

/**
 * struct fuse_fsync_in { uint64_t fh; uint32_t fsync_flags, padding; }
 * Every directory change is durable in meta when it is made but CREATE, whose commit waits for
 * the file's close or fsync, or for this (ops_file.ts).
 */
const fsyncdir: Handler = async (s, r) => {
  await s.vfs.fsyncdir(r.ctx, r.header.nodeid);
  return NONE;
};

export const dirOps: ReadonlyMap<number, Handler> = new Map([
  [Opcode.OPENDIR, opendir],
  [Opcode.READDIR, readdir],
  [Opcode.READDIRPLUS, readdirplus],
  [Opcode.RELEASEDIR, releasedir],
  [Opcode.FSYNCDIR, fsyncdir],
]);
