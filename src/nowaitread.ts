/**
 * Reads of bytes the kernel already holds in its page cache, done on the calling thread:
 * preadv2(2) with RWF_NOWAIT (Linux 4.14+, through bun:ffi) copies what is cached and returns at
 * once where a plain read would wait for the disk.
 *
 * Why: an asynchronous read goes through the I/O thread pool, and the hop there and back costs
 * more than copying a MiB that is in memory (docs/benchmarks.md, "Disk-cache reads"), while a
 * blocking read on the event loop would stall every connection behind one disk seek. With
 * RWF_NOWAIT the event loop only ever copies from memory; what is not cached still goes to the
 * pool. Elsewhere (macOS, no libc found, a file system that refuses the flag) it reads nothing
 * and callers do what they did before.
 */
import { type dlopen, FFIType, ptr, read } from "bun:ffi";
import { assert } from "./assert.ts";
import { dlopenLibc } from "./libc.ts";
import { Errno } from "./posix.ts";

const RWF_NOWAIT = 0x8;

const symbols = {
  preadv2: {
    args: [FFIType.i32, FFIType.ptr, FFIType.i32, FFIType.i64, FFIType.i32],
    returns: FFIType.i64,
  },
  __errno_location: { args: [], returns: FFIType.ptr },
} as const;

type Calls = ReturnType<typeof dlopen<typeof symbols>>["symbols"];

/** undefined: not tried yet; null: not available here. */
let calls: Calls | null | undefined;
/** One iovec (base, length), reused: the call is synchronous, on this thread. */
const iovec = new BigUint64Array(2);

function load(): Calls | null {
  if (calls !== undefined) return calls;
  calls = null;
  if (process.platform !== "linux" || process.env.JFS_NO_NOWAIT_READ === "1") return calls;
  try {
    calls = dlopenLibc(symbols);
  } catch {
    // no libc to call: callers read as before
  }
  return calls;
}

/**
 * Copies into `into` what the page cache holds of the file at `position` onwards, up to
 * `into.length` bytes, without waiting for the disk: the count copied, 0 when the first page is
 * not cached or this is not available. A short count is not the end of the file, only of what
 * was cached.
 */
export function preadCached(fd: number, into: Uint8Array, position: number): number {
  const libc = load();
  if (libc === null || into.length === 0) return 0;
  iovec[0] = BigInt(ptr(into));
  iovec[1] = BigInt(into.length);
  const n = Number(libc.preadv2(fd, ptr(iovec), 1, position, RWF_NOWAIT));
  if (n >= 0) {
    assert(n <= into.length, "preadv2 read within its buffer");
    return n;
  }
  // EAGAIN: not cached. EOPNOTSUPP (a file system without it), ENOSYS or EINVAL (a kernel
  // without preadv2 or the flag) would fail every time: stop trying. Anything else (EBADF, EIO)
  // is for the ordinary read that follows to report.
  const p = libc.__errno_location();
  const errno = p === null ? Errno.EINVAL : read.i32(p, 0);
  if (errno === Errno.EOPNOTSUPP || errno === Errno.ENOSYS || errno === Errno.EINVAL) calls = null;
  return 0;
}
