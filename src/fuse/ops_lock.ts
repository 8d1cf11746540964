/**
 * GETLK, SETLK, SETLKW: POSIX fcntl locks, and flock(2) when lk_flags has FUSE_LK_FLOCK (the
 * kernel sends those only because INIT granted FUSE_POSIX_LOCKS and FUSE_FLOCK_LOCKS). The VFS
 * keeps them in the meta engine, so every node sees them. A SETLKW wait is a pending promise,
 * not a blocked reader thread; INTERRUPT aborts it with EINTR (dispatch.ts). Granting a POSIX
 * lock drops the kernel's cached pages of the file (and the VFS its cached slices), so that
 * programs that read under a lock, such as SQLite, see what other nodes committed.
 */
import { fsError } from "../errors.ts";
import { type FileLock, LOCK_END, LockType } from "../posix.ts";
import { FUSE_LK_FLOCK, FUSE_OFFSET_MAX, LK_OUT_BYTES, Opcode } from "./protocol.ts";
import type { Handler, Reply, Request } from "./state.ts";
import { encodeInvalInodeData } from "./structs.ts";

interface LkIn {
  fh: number;
  owner: bigint;
  lock: FileLock;
  flock: boolean;
}

/** A kernel offset as a lock bound: OFFSET_MAX (and anything past the core's range) is EOF. */
function bound(v: bigint): number {
  return v >= BigInt(LOCK_END) ? LOCK_END : Number(v);
}

function lockType(t: number): LockType {
  if (t === LockType.READ || t === LockType.WRITE || t === LockType.UNLOCK) return t;
  throw fsError("EINVAL", `lock type ${t}`);
}

/**
 * struct fuse_lk_in { uint64_t fh, owner; struct fuse_file_lock lk; uint32_t lk_flags, padding; }
 * struct fuse_file_lock { uint64_t start, end; uint32_t type, pid; }
 */
function lkIn(r: Request): LkIn {
  // Locks belong to the owner, not to a handle; fh only tells which open took them.
  const fh = r.body.u64Number("fh");
  const owner = r.body.u64();
  const start = bound(r.body.u64());
  const end = bound(r.body.u64());
  const type = lockType(r.body.u32());
  const pid = r.body.u32();
  const lkFlags = r.body.remaining >= 4 ? r.body.u32() : 0;
  return { fh, owner, lock: { type, start, end, pid }, flock: (lkFlags & FUSE_LK_FLOCK) !== 0 };
}

function lkOut(lock: FileLock): Buffer {
  const b = Buffer.alloc(LK_OUT_BYTES);
  b.writeBigUInt64LE(BigInt(lock.start), 0);
  b.writeBigUInt64LE(lock.end === LOCK_END ? FUSE_OFFSET_MAX : BigInt(lock.end), 8);
  b.writeUInt32LE(lock.type, 16);
  b.writeUInt32LE(lock.pid, 20);
  return b;
}

const getlk: Handler = async (s, r) => {
  const { owner, lock } = lkIn(r);
  return [lkOut(await s.vfs.getlk(r.ctx, r.header.nodeid, owner, lock))];
};

function setlk(wait: boolean): Handler {
  return async (s, r): Promise<Reply> => {
    const { fh, owner, lock, flock } = lkIn(r);
    const ino = r.header.nodeid;
    if (flock) await s.vfs.flock(r.ctx, ino, owner, lock.type, wait, r.signal);
    else {
      await s.vfs.setlk(r.ctx, ino, owner, lock, wait, r.signal);
      if (lock.type !== LockType.UNLOCK) s.lockedThrough(ino, fh, owner);
      // The new holder reads what the last one wrote on any node (as an NFS client does on
      // lock): the kernel drops this file's cached pages and attributes before we answer.
      if (lock.type !== LockType.UNLOCK) await s.notifyOffThread(encodeInvalInodeData(ino));
    }
    return [];
  };
}

export const lockOps: ReadonlyMap<number, Handler> = new Map([
  [Opcode.GETLK, getlk],
  [Opcode.SETLK, setlk(false)],
  [Opcode.SETLKW, setlk(true)],
]);
