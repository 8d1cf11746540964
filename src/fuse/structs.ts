/**
 * Codecs of the fixed FUSE structs (linux/fuse.h). Requests are read with InReader, which
 * refuses to read past its record; replies are written into exactly-sized Buffers.
 * All integers are little-endian (the kernel's byte order on every platform we run on).
 */
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import { type Attr, FileType } from "../posix.ts";
import {
  ATTR_BYTES,
  ATTR_OUT_BYTES,
  COMPAT_ATTR_OUT_BYTES,
  COMPAT_ENTRY_OUT_BYTES,
  ENTRY_OUT_BYTES,
  IN_HEADER_BYTES,
  NOTIFY_INVAL_INODE_OUT_BYTES,
  NotifyCode,
  OUT_HEADER_BYTES,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  S_IFSOCK,
} from "./protocol.ts";

/** struct fuse_in_header, plus the payload that follows it (extensions cut off). */
export interface InHeader {
  len: number; // uint32_t
  opcode: number; // uint32_t
  unique: bigint; // uint64_t
  nodeid: number; // uint64_t, always one of our inode numbers (or 0)
  uid: number; // uint32_t
  gid: number; // uint32_t
  pid: number; // uint32_t
  totalExtlen: number; // uint16_t, in 8-byte units
}

export function decodeInHeader(buf: Uint8Array): InHeader {
  if (buf.length < IN_HEADER_BYTES) throw fsError("EIO", `short FUSE request: ${buf.length} bytes`);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length);
  const nodeid = v.getBigUint64(16, true);
  const header: InHeader = {
    len: v.getUint32(0, true),
    opcode: v.getUint32(4, true),
    unique: v.getBigUint64(8, true),
    nodeid: Number(nodeid),
    uid: v.getUint32(24, true),
    gid: v.getUint32(28, true),
    pid: v.getUint32(32, true),
    totalExtlen: v.getUint16(36, true),
  };
  if (header.len !== buf.length) {
    throw fsError("EIO", `FUSE request length ${header.len} != ${buf.length} bytes read`);
  }
  assert(Number.isSafeInteger(header.nodeid), "node ids we hand out are safe integers");
  return header;
}

/** Sequential reads within one request payload; reading past its end is EINVAL. */
export class InReader {
  #at = 0;
  readonly #view: DataView;

  constructor(readonly bytes: Buffer) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  get remaining(): number {
    return this.bytes.length - this.#at;
  }

  #take(n: number): number {
    if (this.#at + n > this.bytes.length) throw fsError("EINVAL", "truncated FUSE request");
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u32(): number {
    return this.#view.getUint32(this.#take(4), true);
  }

  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8), true);
  }

  /** A uint64_t offset/size/inode the core handles as a number; larger ones are refused. */
  u64Number(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fsError("EOVERFLOW", `${what} ${v}`);
    return Number(v);
  }

  skip(n: number): void {
    this.#take(n);
  }

  /** A NUL-terminated string (name, xattr name, symlink target), without the NUL. */
  cstring(): Buffer {
    const end = this.bytes.indexOf(0, this.#at);
    if (end < 0) throw fsError("EINVAL", "FUSE string without NUL");
    const s = this.bytes.subarray(this.#at, end);
    this.#at = end + 1;
    return s;
  }

  /** Exactly `n` bytes, as a view (no copy). */
  take(n: number): Buffer {
    const at = this.#take(n);
    return this.bytes.subarray(at, at + n);
  }
}

/** struct fuse_out_header { uint32_t len; int32_t error; uint64_t unique; } */
export function encodeOutHeader(totalBytes: number, error: number, unique: bigint): Buffer {
  assert(error <= 0, "out header error is a negated errno");
  const b = Buffer.allocUnsafe(OUT_HEADER_BYTES);
  b.writeUInt32LE(totalBytes, 0);
  b.writeInt32LE(error, 4);
  b.writeBigUInt64LE(unique, 8);
  return b;
}

/**
 * A notification: fuse_out_header with unique 0 and the notify code in `error`, then
 * struct fuse_notify_inval_inode_out { uint64_t ino; int64_t off, len; }. An offset of -1
 * invalidates the cached attributes only, never pages.
 */
export function encodeInvalInodeAttrs(ino: number): Buffer {
  return encodeInvalInode(ino, -1n);
}

/** Invalidates the cached attributes and every cached page (offset 0, length 0: to the end). */
export function encodeInvalInodeData(ino: number): Buffer {
  return encodeInvalInode(ino, 0n);
}

function encodeInvalInode(ino: number, offset: bigint): Buffer {
  const b = Buffer.alloc(OUT_HEADER_BYTES + NOTIFY_INVAL_INODE_OUT_BYTES);
  b.writeUInt32LE(b.length, 0);
  b.writeInt32LE(NotifyCode.INVAL_INODE, 4);
  b.writeBigUInt64LE(0n, 8);
  b.writeBigUInt64LE(BigInt(ino), 16);
  b.writeBigInt64LE(offset, 24);
  b.writeBigInt64LE(0n, 32);
  return b;
}

const TYPE_BITS: Record<FileType, number> = {
  [FileType.File]: S_IFREG,
  [FileType.Directory]: S_IFDIR,
  [FileType.Symlink]: S_IFLNK,
  [FileType.Fifo]: S_IFIFO,
  [FileType.BlockDevice]: S_IFBLK,
  [FileType.CharDevice]: S_IFCHR,
  [FileType.Socket]: S_IFSOCK,
};

/** st_mode of an attr: the type bits from `type`, the permission bits from `mode`. */
export function stMode(attr: Pick<Attr, "type" | "mode">): number {
  return TYPE_BITS[attr.type] | (attr.mode & 0o7777);
}

/** The FileType of st_mode's S_IFMT bits, or undefined for an unknown type. */
export function fileTypeOfMode(mode: number): FileType | undefined {
  const bits = mode & S_IFMT;
  for (const [type, b] of Object.entries(TYPE_BITS))
    if (b === bits) return Number(type) as FileType;
  return undefined;
}

/** d_type of a dirent (DT_REG etc.): the S_IFMT bits shifted down, as the kernel defines them. */
export function direntType(type: FileType): number {
  return TYPE_BITS[type] >> 12;
}

/** A cache timeout in seconds as fuse's (uint64_t sec, uint32_t nsec) pair. */
export function validPair(seconds: number): [bigint, number] {
  assert(seconds >= 0 && Number.isFinite(seconds), "cache timeout");
  const whole = Math.floor(seconds);
  return [BigInt(whole), Math.round((seconds - whole) * 1e9) % 1e9];
}

export interface AttrOptions {
  blksizeBytes: number;
}

/** struct fuse_attr (88 bytes) at `at`. Times are int64 in the kernel's reading of them. */
export function writeAttr(b: Buffer, at: number, ino: number, attr: Attr, opts: AttrOptions): void {
  assert(at + ATTR_BYTES <= b.length, "fuse_attr fits");
  b.writeBigUInt64LE(BigInt(ino), at); // ino
  b.writeBigUInt64LE(BigInt(attr.size), at + 8); // size
  b.writeBigUInt64LE(BigInt(Math.ceil(attr.size / 512)), at + 16); // blocks (512 B units)
  b.writeBigInt64LE(BigInt(attr.atime), at + 24);
  b.writeBigInt64LE(BigInt(attr.mtime), at + 32);
  b.writeBigInt64LE(BigInt(attr.ctime), at + 40);
  b.writeUInt32LE(attr.atimeNsec, at + 48);
  b.writeUInt32LE(attr.mtimeNsec, at + 52);
  b.writeUInt32LE(attr.ctimeNsec, at + 56);
  b.writeUInt32LE(stMode(attr), at + 60);
  b.writeUInt32LE(Math.min(attr.nlink, 0xffff_ffff), at + 64);
  b.writeUInt32LE(attr.uid, at + 68);
  b.writeUInt32LE(attr.gid, at + 72);
  b.writeUInt32LE(attr.rdev, at + 76);
  b.writeUInt32LE(opts.blksizeBytes, at + 80);
  b.writeUInt32LE(0, at + 84); // flags
}

export interface EntryTimeouts {
  entrySec: number;
  attrSec: number;
}

/**
 * struct fuse_entry_out at `at` (128 bytes; callers trim to 120 for minor < 9). `nodeid` is
 * the kernel's name of the inode, `ino` (st_ino) the volume's; they differ only for the root of
 * a --subdir mount, which the kernel always calls 1.
 */
export function writeEntryOut(
  b: Buffer,
  at: number,
  ino: number,
  attr: Attr,
  t: EntryTimeouts,
  opts: AttrOptions,
  nodeid = ino,
): void {
  const [entrySec, entryNsec] = validPair(t.entrySec);
  const [attrSec, attrNsec] = validPair(t.attrSec);
  b.writeBigUInt64LE(BigInt(nodeid), at); // nodeid
  b.writeBigUInt64LE(BigInt(attr.generation), at + 8); // generation
  b.writeBigUInt64LE(entrySec, at + 16); // entry_valid
  b.writeBigUInt64LE(attrSec, at + 24); // attr_valid
  b.writeUInt32LE(entryNsec, at + 32); // entry_valid_nsec
  b.writeUInt32LE(attrNsec, at + 36); // attr_valid_nsec
  writeAttr(b, at + 40, ino, attr, opts);
}

export function entryOut(
  minor: number,
  ino: number,
  attr: Attr,
  t: EntryTimeouts,
  opts: AttrOptions,
  nodeid = ino,
): Buffer {
  const b = Buffer.alloc(ENTRY_OUT_BYTES);
  writeEntryOut(b, 0, ino, attr, t, opts, nodeid);
  return minor < 9 ? b.subarray(0, COMPAT_ENTRY_OUT_BYTES) : b;
}

/** struct fuse_attr_out { uint64_t attr_valid; uint32_t attr_valid_nsec, dummy; fuse_attr } */
export function attrOut(
  minor: number,
  ino: number,
  attr: Attr,
  attrSec: number,
  opts: AttrOptions,
): Buffer {
  const b = Buffer.alloc(ATTR_OUT_BYTES);
  const [sec, nsec] = validPair(attrSec);
  b.writeBigUInt64LE(sec, 0);
  b.writeUInt32LE(nsec, 8);
  writeAttr(b, 16, ino, attr, opts);
  return minor < 9 ? b.subarray(0, COMPAT_ATTR_OUT_BYTES) : b;
}

/** struct fuse_open_out { uint64_t fh; uint32_t open_flags; uint32_t padding; } */
export function openOut(fh: number, openFlags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(fh), 0);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** A struct of one uint32_t + padding (fuse_write_out, fuse_getxattr_out). */
export function u32Out(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(value, 0);
  return b;
}

/** A struct of one uint64_t (fuse_lseek_out). */
export function u64Out(value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value), 0);
  return b;
}
