/**
 * The few libc calls FUSE needs that Node has no API for, through bun:ffi: the /dev/fuse fd
 * (open/read/writev/ioctl), mount(2)/umount2(2), and the socketpair + recvmsg(SCM_RIGHTS) of
 * fusermount3's _FUSE_COMMFD handshake. Linux x86-64 / aarch64 only (LP64: size_t is 8 bytes).
 *
 * errno is read through __errno_location() right after the failing call, on the same thread:
 * it is thread-local, and nothing in between calls into libc.
 */
import { type dlopen, FFIType, ptr, read } from "bun:ffi";
import { assert } from "../assert.ts";
import { dlopenLibc } from "../libc.ts";
import { Errno, OpenFlags } from "../posix.ts";

const symbols = {
  open: { args: [FFIType.ptr, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  writev: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  mount: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr],
    returns: FFIType.i32,
  },
  umount2: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  socketpair: {
    args: [FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr],
    returns: FFIType.i32,
  },
  recvmsg: { args: [FFIType.i32, FFIType.ptr, FFIType.i32], returns: FFIType.i64 },
  fcntl: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
  getxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Libc = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

let libc: Libc | undefined;

function lib(): Libc {
  if (libc !== undefined) return libc;
  try {
    libc = dlopenLibc(symbols);
  } catch (error) {
    throw new Error(`cannot load libc for FUSE: ${String(error)}`);
  }
  return libc;
}

function errno(): number {
  const p = lib().__errno_location();
  assert(p !== null, "__errno_location");
  return read.i32(p, 0);
}

/** A libc call's failure: `errno` is the Linux errno. */
export class SyscallError extends Error {
  override name = "SyscallError";
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call}: errno ${errno}`);
  }
}

/** NUL-terminated bytes for a `const char *` argument. */
function cstr(text: string): Buffer {
  return Buffer.from(`${text}\0`);
}

function check(call: string, result: number | bigint): number {
  const n = Number(result);
  if (n < 0) throw new SyscallError(call, errno());
  return n;
}

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** _IOR(229, 0, uint32_t): attach a new /dev/fuse fd to the session of another (linux/fuse.h). */
const FUSE_DEV_IOC_CLONE = 0x8004e500;
export const MNT_FORCE = 1;
export const MNT_DETACH = 2;

export function openPath(path: string, flags: number): number {
  return check(`open ${path}`, lib().open(ptr(cstr(path)), flags, 0));
}

export function closeFd(fd: number): void {
  lib().close(fd);
}

/** One read(2); returns bytes read, or -errno (the caller decides which errors are final). */
export function readFd(fd: number, into: Uint8Array): number {
  const n = Number(lib().read(fd, ptr(into), into.length));
  return n < 0 ? -errno() : n;
}

/** iovecs one writevFd takes (a reply: fuse_out_header, then its payload pieces). */
export const WRITEV_PIECES_MAX = 16;

/** writev(2) of the pieces in order; returns bytes written, or -errno. */
export function writevFd(fd: number, pieces: readonly Uint8Array[]): number {
  assert(pieces.length > 0 && pieces.length <= WRITEV_PIECES_MAX, "writev piece count");
  // struct iovec { void *iov_base; size_t iov_len; } — 16 bytes on LP64.
  const iov = new BigUint64Array(pieces.length * 2);
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    iov[i * 2] = piece.length === 0 ? 0n : BigInt(ptr(piece));
    iov[i * 2 + 1] = BigInt(piece.length);
  }
  const n = Number(lib().writev(fd, ptr(iov), pieces.length));
  return n < 0 ? -errno() : n;
}

/** A new fd on the same FUSE connection as `fd`, with its own request queue for a reader. */
export function cloneFuseFd(fd: number): number {
  const clone = openPath("/dev/fuse", OpenFlags.RDWR | OpenFlags.CLOEXEC);
  const arg = new Uint32Array([fd]);
  try {
    check("ioctl FUSE_DEV_IOC_CLONE", lib().ioctl(clone, FUSE_DEV_IOC_CLONE, ptr(arg)));
  } catch (error) {
    closeFd(clone);
    throw error;
  }
  return clone;
}

export function mountSyscall(
  source: string,
  target: string,
  fstype: string,
  flags: number,
  data: string,
): void {
  check(
    `mount ${target}`,
    lib().mount(ptr(cstr(source)), ptr(cstr(target)), ptr(cstr(fstype)), flags, ptr(cstr(data))),
  );
}

export function umount2(target: string, flags: number): void {
  check(`umount ${target}`, lib().umount2(ptr(cstr(target)), flags));
}

/** A connected AF_UNIX stream pair; neither end is close-on-exec, so a child can inherit one. */
export function unixSocketPair(): [number, number] {
  const sv = new Int32Array(2);
  check("socketpair", lib().socketpair(AF_UNIX, SOCK_STREAM, 0, ptr(sv)));
  return [sv[0]!, sv[1]!];
}

export function setCloseOnExec(fd: number, on: boolean): void {
  const flags = check("fcntl F_GETFD", lib().fcntl(fd, F_GETFD, 0));
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  check("fcntl F_SETFD", lib().fcntl(fd, F_SETFD, next));
}

/**
 * Receives one message carrying one fd (SCM_RIGHTS), as fusermount3 sends the /dev/fuse fd.
 * Returns undefined when the peer closed without sending one (the mount failed).
 */
export function receiveFd(socket: number): number | undefined {
  const data = new Uint8Array(1);
  const iov = new BigUint64Array([BigInt(ptr(data)), 1n]);
  // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } + one int, 8-aligned.
  const CMSG_HEADER_BYTES = 16;
  const control = new Uint8Array(CMSG_HEADER_BYTES + 8);
  // struct msghdr (LP64): name, namelen(+pad), iov, iovlen, control, controllen, flags(+pad).
  const msg = new BigUint64Array(7);
  msg[2] = BigInt(ptr(iov));
  msg[3] = 1n;
  msg[4] = BigInt(ptr(control));
  msg[5] = BigInt(control.length);
  let n: number;
  for (;;) {
    n = Number(lib().recvmsg(socket, ptr(msg), 0));
    if (n >= 0) break;
    const e = errno();
    if (e !== Errno.EINTR) throw new SyscallError("recvmsg", e);
  }
  if (n === 0) return undefined;
  const view = new DataView(control.buffer);
  const cmsgLen = Number(view.getBigUint64(0, true));
  const level = view.getInt32(8, true);
  const type = view.getInt32(12, true);
  if (Number(msg[5]) < CMSG_HEADER_BYTES + 4 || level !== SOL_SOCKET || type !== SCM_RIGHTS) {
    return undefined;
  }
  assert(cmsgLen === CMSG_HEADER_BYTES + 4, "one fd in SCM_RIGHTS");
  return view.getInt32(CMSG_HEADER_BYTES, true);
}

/**
 * getxattr(2) of `path` (following symlinks), at most `sizeMax` bytes; undefined when the file
 * has no such attribute (ENODATA) or its filesystem has none (ENOTSUP). Never call it on a
 * mount this process serves: the call blocks the thread that would answer it.
 */
export function getXattr(path: string, name: string, sizeMax: number): Buffer | undefined {
  const value = Buffer.alloc(sizeMax);
  const n = Number(lib().getxattr(ptr(cstr(path)), ptr(cstr(name)), ptr(value), sizeMax));
  if (n >= 0) return value.subarray(0, n);
  const e = errno();
  if (e === Errno.ENODATA || e === Errno.EOPNOTSUPP) return undefined;
  throw new SyscallError(`getxattr ${path}`, e);
}
