/**
 * POSIX policy shared by every engine: name rules, permission checks, clocks, new attributes.
 * Pure functions; nothing here touches storage.
 */
import { fsError } from "../errors.ts";
import { NAME_BYTES_MAX } from "../limits.ts";
import { OpenFlags } from "../posix.ts";
import { AccessMask, type Attr, type Credentials, FileType, Mode } from "./interface.ts";

const SLASH = 0x2f;
const NUL = 0x00;
const DOT = 0x2e;
const GROUP_EXEC = 0o010;

export function isDot(name: Buffer): boolean {
  return name.length === 1 && name[0] === DOT;
}

export function isDotDot(name: Buffer): boolean {
  return name.length === 2 && name[0] === DOT && name[1] === DOT;
}

/** A name that may become a directory entry: not empty, not "." or "..", no '/' or NUL. */
export function validateNewName(name: Buffer): void {
  validateName(name);
  if (isDot(name) || isDotDot(name)) throw fsError("EEXIST", "name is . or ..");
}

/** A name that may be looked up (where "." and ".." are handled by the caller). */
export function validateName(name: Buffer): void {
  if (name.length === 0) throw fsError("ENOENT", "empty name");
  if (name.length > NAME_BYTES_MAX) throw fsError("ENAMETOOLONG");
  if (name.includes(SLASH) || name.includes(NUL)) throw fsError("EINVAL", "name holds / or NUL");
}

export function inGroup(ctx: Credentials, gid: number): boolean {
  return ctx.gid === gid || ctx.groups.includes(gid);
}

/** The rwx bits (0..7) `ctx` gets on a file with `attr`. */
export function permittedBits(ctx: Credentials, attr: Attr): number {
  if (ctx.uid === 0) {
    // Root reads and writes anything; it may execute only what someone may execute.
    const anyExec = attr.type === FileType.Directory || (attr.mode & 0o111) !== 0;
    return AccessMask.R | AccessMask.W | (anyExec ? AccessMask.X : 0);
  }
  if (ctx.uid === attr.uid) return (attr.mode >> 6) & 7;
  if (inGroup(ctx, attr.gid)) return (attr.mode >> 3) & 7;
  return attr.mode & 7;
}

export function checkAccess(ctx: Credentials, attr: Attr, mask: number): void {
  if ((permittedBits(ctx, attr) & mask) !== mask) throw fsError("EACCES");
}

/**
 * The set-id bits a write or truncate by `ctx` drops from a file, as Linux's
 * setattr_should_drop_suidgid (fs/attr.c, 6.x): S_ISUID always; S_ISGID when group-exec is
 * set (without it the bit only marks mandatory locking), or when the writer is outside the
 * file's group. Regular files only, and never for root (CAP_FSETID) unless `unprivileged`
 * says the kernel found the caller without that capability (FUSE_WRITE_KILL_SUIDGID).
 */
export function setidDroppedByWrite(ctx: Credentials, attr: Attr, unprivileged = false): number {
  if (attr.type !== FileType.File || (ctx.uid === 0 && !unprivileged)) return 0;
  let drop = attr.mode & Mode.SUID;
  if (attr.mode & Mode.SGID && (attr.mode & GROUP_EXEC || !inGroup(ctx, attr.gid))) {
    drop |= Mode.SGID;
  }
  return drop;
}

/**
 * The set-id bits a chown drops from a non-directory, for root too (Linux chown_common and
 * knfsd's nfsd_sanitize_attrs): S_ISUID always; S_ISGID with group-exec, or when a non-root
 * caller is outside the file's group.
 */
export function setidDroppedByChown(ctx: Credentials, attr: Attr): number {
  if (attr.type === FileType.Directory) return 0;
  let drop = attr.mode & Mode.SUID;
  const outside = ctx.uid !== 0 && !inGroup(ctx, attr.gid);
  if (attr.mode & Mode.SGID && (attr.mode & GROUP_EXEC || outside)) drop |= Mode.SGID;
  return drop;
}

export function requireDirectory(attr: Attr): void {
  if (attr.type !== FileType.Directory) throw fsError("ENOTDIR");
}

/** Sticky directories: only the owner of the entry, of the directory, or root may remove it. */
export function checkSticky(ctx: Credentials, dir: Attr, victim: Attr): void {
  if ((dir.mode & Mode.STICKY) === 0 || ctx.uid === 0) return;
  if (ctx.uid === dir.uid || ctx.uid === victim.uid) return;
  throw fsError("EPERM", "sticky directory");
}

export interface Timestamp {
  sec: number;
  nsec: number;
}

export function now(): Timestamp {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1e6));
  return { sec, nsec };
}

export function setMtime(attr: Attr, t: Timestamp): void {
  attr.mtime = t.sec;
  attr.mtimeNsec = t.nsec;
}

export function setCtime(attr: Attr, t: Timestamp): void {
  attr.ctime = t.sec;
  attr.ctimeNsec = t.nsec;
}

export function setAtime(attr: Attr, t: Timestamp): void {
  attr.atime = t.sec;
  attr.atimeNsec = t.nsec;
}

/** A directory changed its entries: mtime and ctime move. */
export function touchDirectory(attr: Attr, t: Timestamp): void {
  setMtime(attr, t);
  setCtime(attr, t);
}

/** Space a file is charged for: whole 4 KiB units, as JuiceFS counts it. */
export function chargedBytes(attr: Pick<Attr, "type" | "size">): number {
  if (attr.type === FileType.Directory) return 4096;
  if (attr.type !== FileType.File) return 0;
  return Math.ceil(attr.size / 4096) * 4096;
}

export function directorySizeBytes(): number {
  return 4096;
}

export interface NewAttrSpec {
  type: Attr["type"];
  mode: number;
  umask: number;
  rdev: number;
  parent: number;
  generation: number;
}

/** Attributes of a new inode in `parentAttr`, with BSD group semantics under a setgid dir. */
export function newAttr(
  ctx: Credentials,
  parentAttr: Pick<Attr, "mode" | "gid">,
  spec: NewAttrSpec,
  t: Timestamp,
): Attr {
  let mode = spec.mode & Mode.PERMS & ~spec.umask;
  let gid = ctx.gid;
  if ((parentAttr.mode & Mode.SGID) !== 0) {
    gid = parentAttr.gid;
    if (spec.type === FileType.Directory) mode |= Mode.SGID;
    else if ((mode & Mode.SGID) !== 0 && ctx.uid !== 0 && !inGroup(ctx, gid)) mode &= ~Mode.SGID;
  }
  const isDir = spec.type === FileType.Directory;
  return {
    type: spec.type,
    mode,
    uid: ctx.uid,
    gid,
    atime: t.sec,
    atimeNsec: t.nsec,
    mtime: t.sec,
    mtimeNsec: t.nsec,
    ctime: t.sec,
    ctimeNsec: t.nsec,
    nlink: isDir ? 2 : 1,
    size: isDir ? directorySizeBytes() : 0,
    rdev: spec.rdev,
    parent: spec.parent,
    generation: spec.generation,
  };
}

/** O_ACCMODE of open(2) flags as an access mask. */
export function accessMaskOfOpenFlags(flags: number): number {
  let mask = 0;
  switch (flags & OpenFlags.ACCMODE) {
    case OpenFlags.RDONLY:
      mask = AccessMask.R;
      break;
    case OpenFlags.WRONLY:
      mask = AccessMask.W;
      break;
    default:
      mask = AccessMask.R | AccessMask.W;
  }
  if ((flags & OpenFlags.TRUNC) !== 0) mask |= AccessMask.W;
  return mask;
}
