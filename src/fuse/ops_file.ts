/**
 * File operations: open/create (close-to-open through vfs.open), read/write, flush, release,
 * fsync, lseek, fallocate, copy_file_range. Handles are the VFS's fh numbers as fuse fh.
 */
import { isFsError } from "../errors.ts";
import { FUSE_COPY_RANGE_BYTES_MAX } from "../limits.ts";
import { OpenFlags } from "../posix.ts";
import { WRITEV_PIECES_MAX } from "./libc.ts";
import { nameArg } from "./ops_node.ts";
import {
  Fopen,
  FUSE_FSYNC_FDATASYNC,
  FUSE_RELEASE_FLOCK_UNLOCK,
  FUSE_WRITE_KILL_SUIDGID,
  Opcode,
  WRITE_IN_BYTES,
} from "./protocol.ts";
import type { Handler, OpState, Reply, Request } from "./state.ts";
import { openOut, u32Out, u64Out } from "./structs.ts";

const NONE: Reply = [];

function openFlagsOut(s: OpState, ino: number, attr: Parameters<OpState["keepCache"]>[1]): number {
  return s.keepCache(ino, attr) ? Fopen.KEEP_CACHE : 0;
}

/** struct fuse_open_in { uint32_t flags, open_flags; } */
const open: Handler = async (s, r) => {
  const flags = r.body.u32();
  const ino = r.header.nodeid;
  const { fh, attr } = await s.vfs.open(r.ctx, ino, flags);
  s.fileFlags.set(fh, flags);
  s.revalidate(ino, attr);
  return [openOut(fh, openFlagsOut(s, ino, attr) | s.openFlagsNoFlush(ino, fh, flags))];
};

/**
 * struct fuse_create_in { uint32_t flags, mode, umask, open_flags; } (8 bytes before 7.12).
 * The new file is committed without waiting for its sync (deferSync): POSIX makes a created
 * name durable at an fsync of the file or its directory, not at creat(2), and jfs's promise
 * that a close returns once the file is durable is kept by FLUSH, FSYNC and RELEASE of this
 * handle (vfs.ts #syncCreate), and FSYNCDIR. The kernel sends FLUSH and RELEASE for every
 * CREATE it answered, also when the application dies. MKNOD (fifos, devices, sockets) stays
 * synchronous: there is no handle to make it durable at close.
 */
const create: Handler = async (s, r) => {
  const flags = r.body.u32();
  const mode = r.body.u32();
  let umask = 0;
  if (s.minor >= 12) {
    umask = r.body.u32();
    r.body.skip(4);
  }
  const name = nameArg(r.body);
  const parent = r.header.nodeid;
  try {
    const e = await s.vfs.create(r.ctx, parent, name, mode & 0o7777, umask, flags, {
      deferSync: true,
    });
    s.fileFlags.set(e.fh, flags);
    return [s.entry(e.inode, e.attr), openOut(e.fh, 0)];
  } catch (error) {
    // The kernel sends CREATE for a name it believed absent; without O_EXCL a file that
    // appeared meanwhile (another client) is opened as open(2) would.
    if (!isFsError(error, "EEXIST") || flags & OpenFlags.EXCL) throw error;
  }
  const found = await s.vfs.lookup(r.ctx, parent, name);
  const { fh, attr } = await s.vfs.open(r.ctx, found.inode, flags);
  s.fileFlags.set(fh, flags);
  s.revalidate(found.inode, attr);
  return [s.entry(found.inode, attr), openOut(fh, openFlagsOut(s, found.inode, attr))];
};

/** The fh to read through: the kernel's writeback cache reads through write-only handles. */
function readHandle(s: OpState, fh: number): number | undefined {
  const flags = s.fileFlags.get(fh);
  if (
    s.config.writeback &&
    flags !== undefined &&
    (flags & OpenFlags.ACCMODE) === OpenFlags.WRONLY
  ) {
    return undefined;
  }
  return fh;
}

/**
 * struct fuse_read_in { uint64_t fh, offset; uint32_t size, read_flags; uint64_t lock_owner;
 * uint32_t flags, padding; }
 */
const read: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  const offset = r.body.u64();
  const size = r.body.u32();
  // An offset beyond what the core can address is past the end of every file.
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) return NONE;
  // Views of cached blocks, written with the reply header in one writev (channel.ts), which
  // copies them into the kernel before their pins go.
  const data = await s.vfs.readv(r.ctx, r.header.nodeid, readHandle(s, fh), Number(offset), size);
  if (data.parts.length < WRITEV_PIECES_MAX) {
    r.onReplied(() => data.release());
    return data.parts;
  }
  // Fragmented (small blocks, many slices): one copy keeps the writev (header + parts) within
  // its iovecs.
  try {
    return [Buffer.concat(data.parts, data.bytes)];
  } finally {
    data.release();
  }
};

/**
 * struct fuse_write_in { uint64_t fh, offset; uint32_t size, write_flags; uint64_t lock_owner;
 * uint32_t flags, padding; } (24 bytes before 7.9), then `size` bytes of data.
 */
const write: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  const offset = r.body.u64Number("offset");
  const size = r.body.u32();
  const writeFlags = r.body.u32();
  r.body.skip(s.minor >= 9 ? WRITE_IN_BYTES - 24 : 0);
  const data = r.body.take(size);
  const ino = r.header.nodeid;
  // The VFS drops set-id bits for non-root writers; the kernel's flag also covers a root
  // process without CAP_FSETID.
  if (writeFlags & FUSE_WRITE_KILL_SUIDGID && r.ctx.uid === 0) {
    await s.vfs.setattr(r.ctx, ino, { killSuidgid: true });
  }
  const n = await s.vfs.write(r.ctx, ino, fh, offset, data);
  return [u32Out(n)];
};

/**
 * struct fuse_flush_in { uint64_t fh; uint32_t unused, padding; uint64_t lock_owner; }
 * Every close(2) flushes: POSIX says it drops the process's fcntl locks on the file, even if
 * the data flush fails (the kernel keeps no lock of its own once we take them).
 */
const flush: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  r.body.skip(8);
  const lockOwner = r.body.remaining >= 8 ? r.body.u64() : undefined;
  const ino = r.header.nodeid;
  try {
    await s.vfs.flush(r.ctx, ino, fh);
  } finally {
    if (lockOwner !== undefined) {
      await s.vfs.releaseLocks(ino, lockOwner, { posix: true, flock: false });
    }
  }
  return NONE;
};

/**
 * struct fuse_release_in { uint64_t fh; uint32_t flags, release_flags; uint64_t lock_owner; }
 * The last close of an open file description drops its flock (FUSE_RELEASE_FLOCK_UNLOCK).
 */
const release: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  r.body.skip(4);
  const releaseFlags = r.body.remaining >= 4 ? r.body.u32() : 0;
  const lockOwner = r.body.remaining >= 8 ? r.body.u64() : undefined;
  const ino = r.header.nodeid;
  s.fileFlags.delete(fh);
  try {
    if (releaseFlags & FUSE_RELEASE_FLOCK_UNLOCK && lockOwner !== undefined) {
      await s.vfs.releaseLocks(ino, lockOwner, { posix: false, flock: true });
    }
    // No FLUSH came at close for a NOFLUSH handle: its lockers' POSIX locks end with it.
    for (const owner of s.takeNoFlushOwners(fh)) {
      await s.vfs.releaseLocks(ino, owner, { posix: true, flock: false });
    }
  } finally {
    await s.vfs.release(r.ctx, ino, fh);
  }
  return NONE;
};

/** struct fuse_fsync_in { uint64_t fh; uint32_t fsync_flags, padding; } */
const fsync: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  const dataOnly = (r.body.u32() & FUSE_FSYNC_FDATASYNC) !== 0;
  await s.vfs.fsync(r.ctx, r.header.nodeid, fh, dataOnly);
  return NONE;
};

/** struct fuse_lseek_in { uint64_t fh, offset; uint32_t whence, padding; } */
const lseek: Handler = async (s, r) => {
  r.body.skip(8);
  const offset = r.body.u64Number("offset");
  const whence = r.body.u32();
  return [u64Out(await s.vfs.lseek(r.ctx, r.header.nodeid, offset, whence))];
};

/** struct fuse_fallocate_in { uint64_t fh, offset, length; uint32_t mode, padding; } */
const fallocate: Handler = async (s, r) => {
  const fh = r.body.u64Number("fh");
  const offset = r.body.u64Number("offset");
  const length = r.body.u64Number("length");
  const mode = r.body.u32();
  await s.vfs.fallocate(r.ctx, r.header.nodeid, fh, mode, offset, length);
  return NONE;
};

/**
 * struct fuse_copy_file_range_in { uint64_t fh_in, off_in, nodeid_out, fh_out, off_out, len,
 * flags; } answered with fuse_write_out.
 */
async function copyFileRange(s: OpState, r: Request): Promise<Reply> {
  r.body.skip(8);
  const offIn = r.body.u64Number("off_in");
  const inoOut = s.toVfs(r.body.u64Number("nodeid_out"));
  r.body.skip(8);
  const offOut = r.body.u64Number("off_out");
  const lenWire = r.body.u64();
  const len =
    lenWire > BigInt(FUSE_COPY_RANGE_BYTES_MAX) ? FUSE_COPY_RANGE_BYTES_MAX : Number(lenWire);
  const n = await s.vfs.copyFileRange(r.ctx, r.header.nodeid, offIn, inoOut, offOut, len);
  return [u32Out(n)];
}

export const fileOps: ReadonlyMap<number, Handler> = new Map([
  [Opcode.OPEN, open],
  [Opcode.CREATE, create],
  [Opcode.READ, read],
  [Opcode.WRITE, write],
  [Opcode.FLUSH, flush],
  [Opcode.RELEASE, release],
  [Opcode.FSYNC, fsync],
  [Opcode.LSEEK, lseek],
  [Opcode.FALLOCATE, fallocate],
  [Opcode.COPY_FILE_RANGE, copyFileRange],
]);
