/**
 * What the FUSE operations share: the VFS, the mount's cache settings, the protocol minor the
 * kernel agreed to at INIT, and the small per-handle state FUSE needs on top of the VFS (open
 * flags of file handles, the open cache). Reply helpers pick the cache timeouts per file type.
 */

import { assert } from "../assert.ts";
import {
  FUSE_ATTR_CACHE_SEC_DEFAULT,
  FUSE_BLKSIZE_BYTES,
  FUSE_DIR_ENTRY_CACHE_SEC_DEFAULT,
  FUSE_ENTRY_CACHE_SEC_DEFAULT,
  FUSE_LOCKED_INODES_MAX,
  FUSE_OPEN_CACHE_INODES_MAX,
  FUSE_OPEN_CACHE_SEC_DEFAULT,
  FUSE_READER_THREADS,
} from "../limits.ts";
import { LruMap } from "../lru.ts";
import { type Attr, type Credentials, FileType, OpenFlags } from "../posix.ts";
import type { Vfs, VfsDirEntry } from "../vfs/interface.ts";
import { FOPEN_NOFLUSH_MINOR, Fopen, FUSE_KERNEL_MINOR_VERSION, FUSE_ROOT_ID } from "./protocol.ts";
import {
  type AttrOptions,
  attrOut,
  encodeInvalInodeAttrs,
  entryOut,
  type InHeader,
  type InReader,
} from "./structs.ts";

/** Attributes that, when changed, mean the kernel's cached copy is stale. */
function attrKey(a: Attr): string {
  return `${a.size}:${a.mtime}.${a.mtimeNsec}:${a.ctime}.${a.ctimeNsec}`;
}

export interface FuseConfig {
  /** attr_valid of replies, seconds. */
  attrCacheSec: number;
  /** entry_valid of names of files, and of directories, seconds. */
  entryCacheSec: number;
  dirEntryCacheSec: number;
  /**
   * A reopen within this many seconds of the last open keeps the kernel's page cache of a file
   * whose size, mtime and ctime did not change in between (Infinity by default; 0: never).
   */
  openCacheSec: number;
  /** Negotiate FUSE_WRITEBACK_CACHE (the kernel buffers writes). */
  writeback: boolean;
  /** Reader threads, each on its own cloned /dev/fuse fd. */
  readers: number;
  /** The mount's metrics endpoint, answered as the root's xattr METRICS_XATTR (jfs stats DIR). */
  metricsAddress?: string;
}

export const DEFAULT_FUSE_CONFIG: Readonly<FuseConfig> = Object.freeze({
  attrCacheSec: FUSE_ATTR_CACHE_SEC_DEFAULT,
  entryCacheSec: FUSE_ENTRY_CACHE_SEC_DEFAULT,
  dirEntryCacheSec: FUSE_DIR_ENTRY_CACHE_SEC_DEFAULT,
  openCacheSec: FUSE_OPEN_CACHE_SEC_DEFAULT,
  writeback: false,
  readers: FUSE_READER_THREADS,
});

/** One decoded request as a handler sees it. */
export interface Request {
  header: InHeader;
  ctx: Credentials;
  /** The opcode's arguments (after fuse_in_header, extensions cut off). */
  body: InReader;
  /** Aborted when the kernel sends INTERRUPT for this request (lock waits listen). */
  signal: AbortSignal;
  /** Runs `hook` once the reply (or the error reply) is written, or none was sent. */
  onReplied(hook: () => void): void;
}

/** Payload pieces after fuse_out_header; empty for a bare success. */
export type Reply = readonly Uint8Array[];

export type Handler = (s: OpState, r: Request) => Promise<Reply>;

/** A listing batch of one open directory handle. */
export interface DirBatch {
  entries: VfsDirEntry[];
  /** No entries exist after the last one of `entries`. */
  complete: boolean;
}

/** What an open of this mount last saw of a file: the kernel's pages are at least that new. */
interface OpenSeen {
  atMs: number;
  /** attrKey of the fresh attributes that open read from meta. */
  key: string;
}

export class OpState {
  /** Protocol minor in use; set by INIT, before any other request arrives. */
  minor = FUSE_KERNEL_MINOR_VERSION;
  /** Granted FUSE_HANDLE_KILLPRIV_V2: set-id bits are dropped on the kernel's word (see INIT). */
  killprivV2 = false;
  readonly attrOptions: AttrOptions = { blksizeBytes: FUSE_BLKSIZE_BYTES };
  /** open(2) flags of each open file handle (the VFS checks them; FUSE needs O_ACCMODE). */
  readonly fileFlags = new Map<number, number>();
  /** Plain READDIR batches per open directory handle (see ops_dir.ts). */
  readonly dirBatches = new Map<number, DirBatch>();
  readonly #openSeen = new LruMap<number, OpenSeen>();
  /** Handles opened with FOPEN_NOFLUSH. */
  readonly #noFlush = new Set<number>();
  /** Of those, the ones POSIX locks were taken through, and by which owners. */
  readonly #noFlushLockers = new Map<number, Set<bigint>>();
  /** Inodes a POSIX lock was granted on through this mount, the least recent first. */
  readonly #lockedInodes = new LruMap<number, true>();
  /** What the kernel was last told of each inode's attributes (see revalidate). */
  readonly #told = new LruMap<number, string>();
  /** Sends a notification to the kernel; set by the session. */
  notify: (message: Uint8Array) => void = () => undefined;
  /** Sends one the kernel may block on (page invalidation) off this thread; set by the session. */
  notifyOffThread: (message: Uint8Array) => Promise<void> = async () => undefined;

  constructor(
    readonly vfs: Vfs,
    readonly config: FuseConfig,
    /** The volume inode the mount shows as its root (--subdir); the kernel calls it 1. */
    readonly rootIno: number = FUSE_ROOT_ID,
  ) {}

  /** The volume inode of a kernel node id (from a request). */
  toVfs(nodeid: number): number {
    return nodeid === FUSE_ROOT_ID ? this.rootIno : nodeid;
  }

  /** The kernel node id of a volume inode (for a reply or a notification). */
  toKernel(ino: number): number {
    return ino === this.rootIno ? FUSE_ROOT_ID : ino;
  }

  entry(ino: number, attr: Attr): Buffer {
    this.#tell(ino, attr);
    const entrySec =
      attr.type === FileType.Directory ? this.config.dirEntryCacheSec : this.config.entryCacheSec;
    return entryOut(
      this.minor,
      ino,
      attr,
      { entrySec, attrSec: this.config.attrCacheSec },
      this.attrOptions,
      this.toKernel(ino),
    );
  }

  attr(ino: number, attr: Attr): Buffer {
    this.#tell(ino, attr);
    return attrOut(this.minor, ino, attr, this.config.attrCacheSec, this.attrOptions);
  }

  #tell(ino: number, attr: Attr): void {
    this.#told.set(ino, attrKey(attr));
    this.#told.trimTo(FUSE_OPEN_CACHE_INODES_MAX);
  }

  /**
   * Close-to-open for attributes: OPEN has no attributes in its reply, so when the ones vfs.open
   * just re-read differ from what the kernel was last told (another client changed the file),
   * the kernel's copy is invalidated before the open returns; its next stat, or a read past its
   * idea of the end of file, asks again instead of trusting the attribute cache.
   */
  revalidate(ino: number, attr: Attr): void {
    if (this.#told.peek(ino) === attrKey(attr)) return;
    this.notify(encodeInvalInodeAttrs(this.toKernel(ino)));
    this.#tell(ino, attr);
  }

  /**
   * Close-to-open for data, decided per open from the attributes vfs.open just read from meta
   * (as JuiceFS's openfiles): the kernel keeps its cached pages (FOPEN_KEEP_CACHE) only when
   * size, mtime and ctime are those the previous open of this mount saw. Every page in the
   * cache was read after that open dropped or validated it, so a change made since, here or on
   * another node, changes one of the three and the kernel drops its pages before the open
   * returns. The first open of an inode this mount has no record of (or forgot) drops them.
   * ctime is compared because a rewrite may restore mtime (utimes, rsync -t, tar), never ctime.
   */
  keepCache(ino: number, attr: Attr, nowMs = Date.now()): boolean {
    if (this.config.openCacheSec <= 0) return false;
    const key = attrKey(attr);
    const seen = this.#openSeen.peek(ino);
    const keep =
      seen !== undefined &&
      seen.key === key &&
      nowMs - seen.atMs <= this.config.openCacheSec * 1000;
    this.#openSeen.set(ino, { atMs: nowMs, key });
    this.#openSeen.trimTo(FUSE_OPEN_CACHE_INODES_MAX);
    return keep;
  }

  /**
   * FOPEN_NOFLUSH for a read-only open: the kernel then sends no FLUSH at each close(2), one
   * round trip less per open file in a DataLoader epoch. A read-only handle has nothing to
   * flush or to report (write errors belong to handles that wrote; close-to-open is decided
   * at OPEN), but FLUSH is also where close drops the process's POSIX locks (the kernel keeps
   * none of its own under FUSE_POSIX_LOCKS). So files locked through this mount keep FLUSH,
   * and locks taken through a NOFLUSH handle are dropped at its RELEASE (lockedThrough).
   */
  openFlagsNoFlush(ino: number, fh: number, flags: number): number {
    if (this.minor < FOPEN_NOFLUSH_MINOR || this.config.writeback) return 0;
    if ((flags & OpenFlags.ACCMODE) !== OpenFlags.RDONLY || this.#lockedInodes.has(ino)) return 0;
    assert(!this.#noFlush.has(fh), "a new handle number");
    this.#noFlush.add(fh);
    return Fopen.NOFLUSH;
  }

  /** A POSIX lock of `owner` was granted on `ino` through handle `fh`. */
  lockedThrough(ino: number, fh: number, owner: bigint): void {
    if (this.#noFlush.has(fh)) {
      const owners = this.#noFlushLockers.get(fh) ?? new Set<bigint>();
      owners.add(owner);
      this.#noFlushLockers.set(fh, owners);
    }
    this.#lockedInodes.set(ino, true);
    this.#lockedInodes.trimTo(FUSE_LOCKED_INODES_MAX);
  }

  /** At RELEASE: the owners whose POSIX locks no FLUSH dropped (empty for most handles). */
  takeNoFlushOwners(fh: number): ReadonlySet<bigint> {
    this.#noFlush.delete(fh);
    const owners = this.#noFlushLockers.get(fh);
    if (owners === undefined) return NO_OWNERS;
    this.#noFlushLockers.delete(fh);
    return owners;
  }
}

const NO_OWNERS: ReadonlySet<bigint> = new Set();
