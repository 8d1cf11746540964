/**
 * File data in meta: chunks hold slice lists; slices may be shared (copy_file_range), so they
 * are reference counted, and unreferenced ones are queued for the chunk store to delete.
 */
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import { CHUNK_BYTES, DELETED_CHUNKS_PER_TXN, FILE_SIZE_BYTES_MAX } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  FileType,
  type Ino,
  type Slice,
  type UnusedSlice,
} from "./interface.ts";
import {
  chargedBytes,
  checkAccess,
  now,
  setCtime,
  setidDroppedByWrite,
  setMtime,
} from "./policy.ts";
import { chargeSpace } from "./quota.ts";
import type { MetaTxn } from "./txn.ts";

/** Drops one reference per listed slice; slices left without any are queued as unused. */
export async function releaseSlices(tx: MetaTxn, slices: readonly Slice[]): Promise<void> {
  const counts = new Map<number, { size: number; refs: number }>();
  for (const s of slices) {
    if (s.id === 0) continue;
    const c = counts.get(s.id);
    if (c) c.refs++;
    else counts.set(s.id, { size: s.size, refs: 1 });
  }
  const unused: UnusedSlice[] = [];
  // Reads issued together: a Redis transaction pipelines them into one round trip.
  const ids = [...counts.keys()];
  const extras = await Promise.all(ids.map((id) => tx.getSliceExtraRefs(id)));
  for (const [i, id] of ids.entries()) {
    const { size, refs } = counts.get(id)!;
    const extra = extras[i]!;
    if (extra >= refs) {
      tx.setSliceExtraRefs(id, extra - refs);
    } else {
      if (extra > 0) tx.setSliceExtraRefs(id, 0);
      unused.push({ id, size });
    }
  }
  if (unused.length > 0) tx.addUnusedSlices(unused);
}

export function validateSlice(chunkIndex: number, s: Slice): void {
  assert(Number.isInteger(chunkIndex) && chunkIndex >= 0, "chunk index");
  assert(s.id > 0, "written slices have ids");
  assert(s.len > 0 && s.off + s.len <= s.size, "slice range");
  assert(s.pos + s.len <= CHUNK_BYTES, "slice within its chunk");
}

export async function write(
  core: MetaCore,
  ino: Ino,
  chunkIndex: number,
  slice: Slice,
): Promise<Attr> {
  validateSlice(chunkIndex, slice);
  const end = chunkIndex * CHUNK_BYTES + slice.pos + slice.len;
  if (end > FILE_SIZE_BYTES_MAX) throw fsError("EFBIG");
  const capacity = core.format.capacityBytes;
  return core.txn(async (tx) => {
    // Read together: a Redis transaction sends both in one round trip.
    const [attr, current, quotas] = await Promise.all([
      mustGetAttr(tx, ino),
      tx.getChunk(ino, chunkIndex),
      tx.listQuotas(),
    ]);
    if (attr.type !== FileType.File) throw fsError("EINVAL", "write to a non-file");
    // Idempotent by slice id: a commit whose reply was lost (a Redis EXEC that ran, then the
    // connection dropped) is retried by the writer, and must not append the slice twice.
    if (current.some((s) => s.id === slice.id)) return attr;
    const newSize = Math.max(attr.size, end);
    const spaceDelta = chargedBytes({ type: attr.type, size: newSize }) - chargedBytes(attr);
    if (spaceDelta > 0 && capacity > 0) {
      const used = await tx.getCounter("usedSpace");
      if (used + spaceDelta > capacity) throw fsError("ENOSPC", "volume capacity reached");
    }
    await chargeSpace(tx, quotas, ino, attr, spaceDelta);
    tx.appendSlice(ino, chunkIndex, slice);
    const t = now();
    attr.size = newSize;
    setMtime(attr, t);
    setCtime(attr, t);
    tx.setAttr(ino, attr);
    if (spaceDelta !== 0) tx.addCounter("usedSpace", spaceDelta);
    return attr;
  });
}

export async function readChunk(core: MetaCore, ino: Ino, chunkIndex: number): Promise<Slice[]> {
  return core.read(async (tx) => {
    const slices = await tx.getChunk(ino, chunkIndex);
    // A file open here that another node deleted (this session expired, not yet noticed): its
    // released chunks read as empty, which must not pass for a hole of zeros.
    if (slices.length === 0 && core.opens.isOpen(ino) && !(await tx.getAttr(ino))) {
      throw fsError("ESTALE", `inode ${ino} was deleted while open here`);
    }
    return slices;
  });
}

function sameSlices(a: readonly Slice[], b: readonly Slice[]): boolean {
  return a.every((s, i) => {
    const o = b[i];
    return (
      o !== undefined && o.id === s.id && o.pos === s.pos && o.off === s.off && o.len === s.len
    );
  });
}

/**
 * Replaces the first `expected.length` slices of a chunk by `replacement` (slices appended
 * meanwhile stay after it). False when the chunk changed underneath, and nothing is done.
 */
export async function compactChunk(
  core: MetaCore,
  ino: Ino,
  chunkIndex: number,
  expected: readonly Slice[],
  replacement: readonly Slice[],
): Promise<boolean> {
  return core.txn(async (tx) => {
    const current = await tx.getChunk(ino, chunkIndex);
    if (current.length < expected.length || !sameSlices(expected, current)) return false;
    tx.setChunk(ino, chunkIndex, [...replacement, ...current.slice(expected.length)]);
    await releaseSlices(tx, expected);
    return true;
  });
}

/**
 * Turns every use of the given slices in a chunk into a hole (reads as zeros) and releases
 * them: `jfs fsck --repair` of slices whose blocks are gone. Returns how many uses it dropped.
 */
export async function dropSlices(
  core: MetaCore,
  ino: Ino,
  chunkIndex: number,
  ids: ReadonlySet<number>,
): Promise<number> {
  return core.txn(async (tx) => {
    const current = await tx.getChunk(ino, chunkIndex);
    const dropped = current.filter((s) => ids.has(s.id));
    if (dropped.length === 0) return 0;
    const kept = current.map((s) =>
      ids.has(s.id) ? { id: 0, size: s.len, off: 0, len: s.len, pos: s.pos } : s,
    );
    tx.setChunk(ino, chunkIndex, kept);
    await releaseSlices(tx, dropped);
    return dropped.length;
  });
}

/**
 * Turns deleted files into unused slices. Chunks of many files share a transaction, up to
 * DELETED_CHUNKS_PER_TXN, so a burst of small deletes costs a commit per batch rather than two
 * per file, and a huge file still never makes a huge transaction: its chunks spread over as
 * many as it needs. A file's row goes in the transaction that releases its last chunk; a crash
 * in between releases the rest again (an emptied chunk releases nothing). Returns how many
 * files were finished.
 */
export async function releaseDeletedFiles(core: MetaCore, limit: number): Promise<number> {
  const files = await core.read(async (tx) => tx.listDeletedFiles(limit));
  if (files.length === 0) return 0;
  const indexes = await core.read(async (tx) =>
    Promise.all(files.map((f) => tx.listChunkIndexes(f.inode))),
  );
  // A file's row joins the batch holding its last chunk (or the current one, with no chunks).
  const batches = [{ chunks: [] as Array<{ inode: Ino; index: number }>, done: [] as Ino[] }];
  for (const [i, file] of files.entries()) {
    for (const index of indexes[i]!) {
      if (batches.at(-1)!.chunks.length === DELETED_CHUNKS_PER_TXN) {
        batches.push({ chunks: [], done: [] });
      }
      batches.at(-1)!.chunks.push({ inode: file.inode, index });
    }
    batches.at(-1)!.done.push(file.inode);
  }
  for (const { chunks, done } of batches) {
    await core.txn(async (tx) => {
      // Reads issued together: one round trip on Redis.
      const lists = await Promise.all(chunks.map((c) => tx.getChunk(c.inode, c.index)));
      await releaseSlices(tx, lists.flat());
      for (const c of chunks) tx.setChunk(c.inode, c.index, []);
      for (const inode of done) tx.deleteDeletedFile(inode);
    });
  }
  return files.length;
}

export const FALLOC_FL = { KEEP_SIZE: 1, PUNCH_HOLE: 2, ZERO_RANGE: 0x10 } as const;

export async function fallocate(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  mode: number,
  offset: number,
  length: number,
): Promise<Attr> {
  const known = FALLOC_FL.KEEP_SIZE | FALLOC_FL.PUNCH_HOLE | FALLOC_FL.ZERO_RANGE;
  if (mode & ~known) throw fsError("EOPNOTSUPP", `fallocate mode ${mode}`);
  if (mode & FALLOC_FL.PUNCH_HOLE && !(mode & FALLOC_FL.KEEP_SIZE)) {
    throw fsError("EOPNOTSUPP", "PUNCH_HOLE needs KEEP_SIZE");
  }
  if (offset < 0 || length <= 0) throw fsError("EINVAL");
  const end = offset + length;
  if (end > FILE_SIZE_BYTES_MAX) throw fsError("EFBIG");
  const capacity = core.format.capacityBytes;
  return core.txn(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    if (attr.type === FileType.Directory) throw fsError("EISDIR");
    if (attr.type !== FileType.File) throw fsError("ENODEV");
    checkAccess(ctx, attr, AccessMask.W);
    // Like a write, for every mode (Linux's file_modified in fallocate).
    attr.mode &= ~setidDroppedByWrite(ctx, attr);
    const zeroing = (mode & (FALLOC_FL.PUNCH_HOLE | FALLOC_FL.ZERO_RANGE)) !== 0;
    const newSize = mode & FALLOC_FL.KEEP_SIZE ? attr.size : Math.max(attr.size, end);
    if (zeroing) {
      // Holes cover only what exists; past the end reads zeros anyway.
      const holeEnd = Math.min(end, Math.max(attr.size, newSize));
      for (let at = offset; at < holeEnd; ) {
        const index = Math.floor(at / CHUNK_BYTES);
        const pos = at % CHUNK_BYTES;
        const len = Math.min(CHUNK_BYTES - pos, holeEnd - at);
        tx.appendSlice(ino, index, { id: 0, size: len, off: 0, len, pos });
        at += len;
      }
    }
    const spaceDelta = chargedBytes({ type: attr.type, size: newSize }) - chargedBytes(attr);
    if (spaceDelta > 0 && capacity > 0) {
      const used = await tx.getCounter("usedSpace");
      if (used + spaceDelta > capacity) throw fsError("ENOSPC", "volume capacity reached");
    }
    await chargeSpace(tx, await tx.listQuotas(), ino, attr, spaceDelta);
    const t = now();
    attr.size = newSize;
    if (zeroing || spaceDelta !== 0) setMtime(attr, t);
    setCtime(attr, t);
    tx.setAttr(ino, attr);
    if (spaceDelta !== 0) tx.addCounter("usedSpace", spaceDelta);
    return attr;
  });
}
