/**
 * FUSE_INIT: agree on the protocol minor and the features. We answer with the lower of the
 * kernel's minor and ours, and an init_out no larger than that minor knows (8 bytes before
 * 7.5, 24 before 7.23, 64 after). Feature flags are the kernel's offer ANDed with ours.
 */
import { FsError } from "../errors.ts";
import {
  FUSE_CONGESTION_THRESHOLD,
  FUSE_MAX_BACKGROUND,
  FUSE_MAX_PAGES,
  FUSE_MAX_WRITE_BYTES,
} from "../limits.ts";
import { log } from "../log.ts";
import { Errno } from "../posix.ts";
import {
  COMPAT_22_INIT_OUT_BYTES,
  COMPAT_INIT_OUT_BYTES,
  FUSE_KERNEL_MINOR_VERSION,
  FUSE_KERNEL_VERSION,
  FUSE_MINOR_VERSION_MIN,
  INIT_OUT_BYTES,
  InitFlag,
} from "./protocol.ts";
import type { FuseConfig } from "./state.ts";
import type { InReader } from "./structs.ts";

/** What we ask for; the kernel grants the subset it supports. */
export function wantedInitFlags(config: Pick<FuseConfig, "writeback">): number {
  let flags =
    InitFlag.ASYNC_READ | // several READs of one file in flight (readahead)
    InitFlag.ATOMIC_O_TRUNC | // O_TRUNC comes with OPEN, not as a separate SETATTR
    InitFlag.BIG_WRITES | // WRITEs up to max_write, not 4 KiB
    InitFlag.MAX_PAGES | // max_write of 1 MiB rather than 128 KiB
    InitFlag.PARALLEL_DIROPS | // lookups and readdirs of one directory run concurrently
    InitFlag.DO_READDIRPLUS | // READDIRPLUS returns attributes with names (ls -l)
    InitFlag.READDIRPLUS_AUTO | // ... only while the names are being looked up
    InitFlag.ASYNC_DIO | // O_DIRECT I/O split into concurrent requests
    InitFlag.CACHE_SYMLINKS | // a symlink's target never changes: keep it in the page cache
    // fcntl and flock locks come to us and are shared by every node (ops_lock.ts), instead of
    // being kept by this node's kernel alone.
    InitFlag.POSIX_LOCKS |
    InitFlag.FLOCK_LOCKS |
    // Writes, truncates and chowns tell us to drop set-id bits (the *_KILL_SUIDGID flags), so
    // the kernel does not send a SETATTR of the mode as the writer, who may not own the file.
    InitFlag.HANDLE_KILLPRIV_V2;
  if (config.writeback) flags |= InitFlag.WRITEBACK_CACHE;
  return flags >>> 0;
}

export interface InitResult {
  reply: Buffer;
  minor: number;
  flags: number;
}

/**
 * struct fuse_init_in { uint32_t major, minor, max_readahead, flags, flags2, unused[11]; }
 * (max_readahead and flags from 7.6, flags2 with FUSE_INIT_EXT).
 */
export function negotiateInit(body: InReader, config: Pick<FuseConfig, "writeback">): InitResult {
  const major = body.u32();
  const kernelMinor = body.u32();
  const maxReadahead = body.remaining >= 4 ? body.u32() : 0;
  const kernelFlags = body.remaining >= 4 ? body.u32() : 0;
  if (major < FUSE_KERNEL_VERSION || (major === 7 && kernelMinor < FUSE_MINOR_VERSION_MIN)) {
    log.error(
      `FUSE kernel protocol ${major}.${kernelMinor} is too old (need 7.${FUSE_MINOR_VERSION_MIN}+)`,
    );
    throw new FsError(Errno.EPROTO);
  }
  if (major > FUSE_KERNEL_VERSION) {
    // A newer major: answer with ours only; the kernel sends INIT again with major 7.
    const b = Buffer.alloc(COMPAT_INIT_OUT_BYTES);
    b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
    b.writeUInt32LE(FUSE_KERNEL_MINOR_VERSION, 4);
    return { reply: b, minor: FUSE_KERNEL_MINOR_VERSION, flags: 0 };
  }
  const minor = Math.min(kernelMinor, FUSE_KERNEL_MINOR_VERSION);
  const flags = (kernelFlags & wantedInitFlags(config)) >>> 0;
  return { reply: encodeInitOut(minor, maxReadahead, flags), minor, flags };
}

/**
 * struct fuse_init_out { uint32_t major, minor, max_readahead, flags; uint16_t max_background,
 * congestion_threshold; uint32_t max_write, time_gran; uint16_t max_pages, map_alignment;
 * uint32_t flags2, unused[7]; }
 */
function encodeInitOut(minor: number, maxReadahead: number, flags: number): Buffer {
  const b = Buffer.alloc(INIT_OUT_BYTES);
  b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  b.writeUInt32LE(minor, 4);
  b.writeUInt32LE(maxReadahead, 8); // the kernel's own proposal; it only ever lowers it
  b.writeUInt32LE(flags, 12);
  b.writeUInt16LE(FUSE_MAX_BACKGROUND, 16);
  b.writeUInt16LE(FUSE_CONGESTION_THRESHOLD, 18);
  b.writeUInt32LE(FUSE_MAX_WRITE_BYTES, 20);
  b.writeUInt32LE(1, 24); // time_gran: timestamps have nanosecond precision
  b.writeUInt16LE(FUSE_MAX_PAGES, 28);
  const size = minor < 5 ? COMPAT_INIT_OUT_BYTES : minor < 23 ? COMPAT_22_INIT_OUT_BYTES : b.length;
  return b.subarray(0, size);
}
