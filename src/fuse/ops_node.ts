/**
 * Namespace and attribute operations: each decodes its fuse_*_in struct and names, calls the
 * VFS with the request's credentials, and answers fuse_entry_out / fuse_attr_out.
 */
import { fsError } from "../errors.ts";
import { FUSE_STATFS_BLOCK_BYTES, NAME_BYTES_MAX } from "../limits.ts";
import { RenameFlags, type SetAttrRequest, type TimeSpec } from "../posix.ts";
import {
  COMPAT_STATFS_OUT_BYTES,
  Fattr,
  Opcode,
  RENAME_WHITEOUT,
  STATFS_OUT_BYTES,
} from "./protocol.ts";
import type { Handler, OpState, Reply, Request } from "./state.ts";
import { fileTypeOfMode, type InReader } from "./structs.ts";

const NONE: Reply = [];

/**
 * struct fuse_setattr_in { uint32_t valid, padding; uint64_t fh, size, lock_owner, atime,
 * mtime, ctime; uint32_t atimensec, mtimensec, ctimensec, mode, unused4, uid, gid, unused5; }
 */
export function decodeSetattr(body: InReader, killprivV2 = true): SetAttrRequest {
  const valid = body.u32();
  body.skip(4 + 8); // padding, fh (truncate through a handle needs no other check here)
  const size = body.u64Number("size");
  body.skip(8); // lock_owner
  // Times are int64_t seconds to the kernel (before 1970 is negative).
  const atime = Number(BigInt.asIntN(64, body.u64()));
  const mtime = Number(BigInt.asIntN(64, body.u64()));
  body.skip(8); // ctime: only the kernel's writeback cache sets it; the VFS keeps its own
  const atimeNsec = body.u32();
  const mtimeNsec = body.u32();
  body.skip(4); // ctimensec
  const mode = body.u32();
  body.skip(4);
  const uid = body.u32();
  const gid = body.u32();
  const request: SetAttrRequest = {};
  if (valid & Fattr.MODE) request.mode = mode & 0o7777;
  if (valid & Fattr.UID) request.uid = uid;
  if (valid & Fattr.GID) request.gid = gid;
  if (valid & Fattr.SIZE) request.size = size;
  const at = timeSpec(valid, Fattr.ATIME, Fattr.ATIME_NOW, atime, atimeNsec);
  const mt = timeSpec(valid, Fattr.MTIME, Fattr.MTIME_NOW, mtime, mtimeNsec);
  if (at !== undefined) request.atime = at;
  if (mt !== undefined) request.mtime = mt;
  if (valid & Fattr.KILL_SUIDGID) request.killSuidgid = true;
  // Without HANDLE_KILLPRIV_V2 the kernel drops set-id bits itself, by a SETATTR of the mode
  // sent as the writer (who may not own the file). With default_permissions, always on, the
  // kernel refuses a real chmod by a non-owner before it reaches us, so such a request is that.
  if (!killprivV2 && valid & Fattr.MODE && !(valid & (Fattr.UID | Fattr.GID))) {
    request.killSuidgid = true;
  }
  return request;
}

function timeSpec(
  valid: number,
  bit: number,
  nowBit: number,
  sec: number,
  nsec: number,
): TimeSpec | undefined {
  if (valid & nowBit) return "now";
  if (valid & bit) return { sec, nsec };
  return undefined;
}

/** A name argument: NUL-terminated, at most NAME_BYTES_MAX bytes. */
export function nameArg(body: InReader): Buffer {
  const name = body.cstring();
  if (name.length > NAME_BYTES_MAX) throw fsError("ENAMETOOLONG");
  return name;
}

const lookup: Handler = async (s, r) => {
  const e = await s.vfs.lookup(r.ctx, r.header.nodeid, nameArg(r.body));
  return [s.entry(e.inode, e.attr)];
};

const getattr: Handler = async (s, r) => {
  // fuse_getattr_in (7.9+) may name a handle; attributes are the same either way.
  const attr = await s.vfs.getattr(r.ctx, r.header.nodeid);
  return [s.attr(r.header.nodeid, attr)];
};

const setattr: Handler = async (s, r) => {
  const ino = r.header.nodeid;
  const request = decodeSetattr(r.body, s.killprivV2);
  if (s.config.writeback) await kernelTimesAsNow(s, r, request);
  const attr = await s.vfs.setattr(r.ctx, ino, request);
  return [s.attr(ino, attr)];
};

/**
 * With the writeback cache the kernel keeps mtime itself and sends it as an explicit time
 * after a truncate, fallocate or touch by anyone allowed to write. Explicit times by a
 * non-owner never come from the user: default_permissions (always on) makes the kernel refuse
 * those first. So for a non-owner they are the kernel's "now", which needs write access only.
 */
async function kernelTimesAsNow(s: OpState, r: Request, request: SetAttrRequest): Promise<void> {
  const explicit = (t: TimeSpec | undefined) => t !== undefined && t !== "now";
  if (r.ctx.uid === 0 || !(explicit(request.atime) || explicit(request.mtime))) return;
  const attr = await s.vfs.getattr(r.ctx, r.header.nodeid);
  if (attr.uid === r.ctx.uid) return;
  if (request.atime !== undefined) request.atime = "now";
  if (request.mtime !== undefined) request.mtime = "now";
}

const readlink: Handler = async (s, r) => [await s.vfs.readlink(r.ctx, r.header.nodeid)];

const symlink: Handler = async (s, r) => {
  const name = nameArg(r.body);
  const target = r.body.cstring();
  const e = await s.vfs.symlink(r.ctx, r.header.nodeid, name, target);
  return [s.entry(e.inode, e.attr)];
};

/** struct fuse_mknod_in { uint32_t mode, rdev, umask, padding; } (8 bytes before 7.12). */
const mknod: Handler = async (s, r) => {
  const mode = r.body.u32();
  const rdev = r.body.u32();
  let umask = 0;
  if (s.minor >= 12) {
    umask = r.body.u32();
    r.body.skip(4);
  }
  const type = fileTypeOfMode(mode);
  if (type === undefined) throw fsError("EINVAL", `mknod of mode ${mode.toString(8)}`);
  const e = await s.vfs.mknod(
    r.ctx,
    r.header.nodeid,
    nameArg(r.body),
    type,
    mode & 0o7777,
    umask,
    rdev,
  );
  return [s.entry(e.inode, e.attr)];
};

/** struct fuse_mkdir_in { uint32_t mode, umask; } */
const mkdir: Handler = async (s, r) => {
  const mode = r.body.u32();
  const umask = r.body.u32();
  const e = await s.vfs.mkdir(r.ctx, r.header.nodeid, nameArg(r.body), mode & 0o7777, umask);
  return [s.entry(e.inode, e.attr)];
};

const unlink: Handler = async (s, r) => {
  await s.vfs.unlink(r.ctx, r.header.nodeid, nameArg(r.body));
  return NONE;
};

const rmdir: Handler = async (s, r) => {
  await s.vfs.rmdir(r.ctx, r.header.nodeid, nameArg(r.body));
  return NONE;
};

async function renameWith(s: OpState, r: Request, newDir: number, flags: number): Promise<Reply> {
  if (flags & RENAME_WHITEOUT || flags & ~(RenameFlags.NOREPLACE | RenameFlags.EXCHANGE)) {
    throw fsError("EINVAL", `rename flags ${flags}`);
  }
  const oldName = nameArg(r.body);
  const newName = nameArg(r.body);
  await s.vfs.rename(r.ctx, r.header.nodeid, oldName, newDir, newName, flags);
  return NONE;
}

/** struct fuse_rename_in { uint64_t newdir; } */
const rename: Handler = async (s, r) => renameWith(s, r, s.toVfs(r.body.u64Number("newdir")), 0);

/** struct fuse_rename2_in { uint64_t newdir; uint32_t flags, padding; } */
const rename2: Handler = async (s, r) => {
  const newDir = s.toVfs(r.body.u64Number("newdir"));
  const flags = r.body.u32();
  r.body.skip(4);
  return renameWith(s, r, newDir, flags);
};

/** struct fuse_link_in { uint64_t oldnodeid; } */
const link: Handler = async (s, r) => {
  const ino = s.toVfs(r.body.u64Number("oldnodeid"));
  const e = await s.vfs.link(r.ctx, ino, r.header.nodeid, nameArg(r.body));
  return [s.entry(e.inode, e.attr)];
};

/**
 * struct fuse_kstatfs { uint64_t blocks, bfree, bavail, files, ffree; uint32_t bsize, namelen,
 * frsize, padding, spare[6]; }
 */
const statfs: Handler = async (s, r) => {
  const st = await s.vfs.statfs(r.ctx, r.header.nodeid);
  const b = Buffer.alloc(STATFS_OUT_BYTES);
  const block = FUSE_STATFS_BLOCK_BYTES;
  b.writeBigUInt64LE(BigInt(Math.floor(st.totalBytes / block)), 0);
  b.writeBigUInt64LE(BigInt(Math.floor(st.availBytes / block)), 8);
  b.writeBigUInt64LE(BigInt(Math.floor(st.availBytes / block)), 16);
  b.writeBigUInt64LE(BigInt(st.totalInodes), 24);
  b.writeBigUInt64LE(BigInt(st.availInodes), 32);
  b.writeUInt32LE(block, 40); // bsize
  b.writeUInt32LE(NAME_BYTES_MAX, 44); // namelen
  b.writeUInt32LE(block, 48); // frsize
  return [s.minor < 4 ? b.subarray(0, COMPAT_STATFS_OUT_BYTES) : b];
};

/** struct fuse_access_in { uint32_t mask, padding; } */
const access: Handler = async (s, r) => {
  await s.vfs.access(r.ctx, r.header.nodeid, r.body.u32() & 7);
  return NONE;
};

export const nodeOps: ReadonlyMap<number, Handler> = new Map([
  [Opcode.LOOKUP, lookup],
  [Opcode.GETATTR, getattr],
  [Opcode.SETATTR, setattr],
  [Opcode.READLINK, readlink],
  [Opcode.SYMLINK, symlink],
  [Opcode.MKNOD, mknod],
  [Opcode.MKDIR, mkdir],
  [Opcode.UNLINK, unlink],
  [Opcode.RMDIR, rmdir],
  [Opcode.RENAME, rename],
  [Opcode.RENAME2, rename2],
  [Opcode.LINK, link],
  [Opcode.STATFS, statfs],
  [Opcode.ACCESS, access],
]);
