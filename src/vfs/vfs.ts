/**
 * JfsVfs: the Vfs over a Meta and a FileData. It adds what neither knows alone: open handles,
 * the size of data still buffered here, close-to-open revalidation, "." and ".." in listings,
 * and the housekeeping timers of a session.
 */
import { assert } from "../assert.ts";
import { type FsError, fsError, isFsError } from "../errors.ts";
import {
  COPY_PIECE_BYTES,
  FILE_SIZE_BYTES_MAX,
  FORMAT_RELOAD_MS,
  PREFETCH_APPEND_XATTR,
  PREFETCH_REGISTER_BATCH,
  PREFETCH_REGISTER_DELAY_MS,
  PREFETCH_XATTR,
  READDIR_ENTRIES_MAX,
  ROOT_INODE,
  SESSION_EXPIRE_MS,
  TRASH_CLEANUP_MS,
} from "../limits.ts";
import { log } from "../log.ts";
import type { Format, Meta, MknodOptions, NewNode, StatFs, SyncToken } from "../meta/interface.ts";
import { permittedBits, setidDroppedByWrite } from "../meta/policy.ts";
import { heartbeatIntervalMs } from "../meta/sessions.ts";
import { vfsBytes } from "../metrics/jfs.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  type FileLock,
  FileType,
  type Ino,
  LockType,
  OpenFlags,
  type SetAttrRequest,
} from "../posix.ts";
import { AttrCache, ChangeStamps } from "./attrcache.ts";
import { type FileData, NO_READ_PARTS, type ReadParts } from "./data.ts";
import { DirPrefetcher } from "./dirprefetch.ts";
import type {
  Vfs,
  VfsDirEntry,
  VfsEntry,
  VfsLookup,
  VfsNewEntry,
  VfsRenamed,
} from "./interface.ts";
import { Whence } from "./interface.ts";
import { EpochPrefetcher } from "./prefetch.ts";
import { type ErrorSink, WriteErrors } from "./writeerrors.ts";

/** "." and ".." take cookies 1 and 2; an entry of sequence s gets cookie s + 2. */
const DOT_COOKIES = 2;

interface Handle extends ErrorSink {
  ino: Ino;
  flags: number;
  directory: boolean;
  /** Set while the file this handle created (deferSync) may not be durable yet. */
  createToken: SyncToken | undefined;
}

export interface VfsSession {
  hostname: string;
  pid: number;
  version: string;
  mountPoint: string;
  /** Session timeout (default SESSION_EXPIRE_MS); heartbeats come five times per timeout. */
  timeoutMs?: number;
}

export class JfsVfs implements Vfs {
  readonly #handles = new Map<number, Handle>();
  readonly #openPerInode = new Map<Ino, number>();
  readonly #attrs = new AttrCache();
  readonly #stamps = new ChangeStamps();
  readonly #writeErrors = new WriteErrors();
  #nextFh = 1;
  #timers: ReturnType<typeof setInterval>[] = [];
  #closed = false;
  readonly #prefetch: EpochPrefetcher;
  readonly #dirPrefetch: DirPrefetcher;
  readonly #dirPrefetchOn: boolean;

  constructor(
    readonly meta: Meta,
    readonly data: FileData,
    readonly format: Format,
    options: { dirPrefetch?: boolean } = {},
  ) {
    data.setRefusalListener((ino, error) => this.#writeErrors.refused(ino, error));
    this.#prefetch = new EpochPrefetcher({
      lookup: (ctx, parent, name) => this.lookup(ctx, parent, name),
      permitted: (ctx, attr) => this.permitted(ctx, attr),
      preload: (ino, bytes) => data.preload(ino, bytes),
      registerAhead: (ino) => this.#registerAhead(ino),
      readMisses: () => data.readMisses(),
      aheadBytesMax: () => data.readaheadBytesMax,
    });
    this.#dirPrefetchOn = options.dirPrefetch !== false;
    this.#dirPrefetch = new DirPrefetcher({
      readdirPlus: (ctx, dir, cookie, limit) => this.readdir(ctx, dir, cookie, limit, true),
      permitted: (ctx, attr) => this.permitted(ctx, attr),
      preload: (ino, bytes) => data.preload(ino, bytes),
      registerAhead: (ino) => this.#registerAhead(ino),
      aheadBytesMax: () => data.readaheadBytesMax,
      ordered: () => this.#prefetch.active(),
    });
  }

  get volumeId(): string {
    return this.format.uuid;
  }

  /** Registers a session and starts its heartbeat, trash cleanup and settings reload. */
  async startSession(info: VfsSession): Promise<number> {
    const sid = await this.meta.newSession(info);
    const every = (ms: number, what: string, job: () => Promise<unknown>) => {
      const timer = setInterval(() => {
        job().catch((error: unknown) => log.warn(`${what}: ${String(error)}`));
      }, ms);
      timer.unref();
      this.#timers.push(timer);
    };
    const beatMs = heartbeatIntervalMs(info.timeoutMs ?? SESSION_EXPIRE_MS);
    every(beatMs, "session heartbeat", () => this.meta.heartbeat());
    every(TRASH_CLEANUP_MS, "trash cleanup", () => this.meta.cleanupTrash());
    every(Math.min(FORMAT_RELOAD_MS, beatMs), "settings reload", async () => {
      const changed = await this.meta.reloadSettings();
      if (changed.length > 0) log.info(`settings changed by jfs config: ${changed.join(", ")}`);
    });
    return sid;
  }

  #aheadBatch: Ino[] = [];
  #aheadTimer: ReturnType<typeof setTimeout> | undefined;

  /** Gathers files a prefetch loads into batches of Meta.registerAhead. */
  #registerAhead(ino: Ino): void {
    if (this.#closed) return;
    this.#aheadBatch.push(ino);
    if (this.#aheadBatch.length >= PREFETCH_REGISTER_BATCH) this.#flushAhead();
    else this.#aheadTimer ??= setTimeout(() => this.#flushAhead(), PREFETCH_REGISTER_DELAY_MS);
  }

  #flushAhead(): void {
    clearTimeout(this.#aheadTimer);
    this.#aheadTimer = undefined;
    const batch = this.#aheadBatch;
    this.#aheadBatch = [];
    if (batch.length === 0) return;
    // A failure costs only speed: each open then registers itself.
    this.meta.registerAhead(batch).catch((e: unknown) => log.debug(`register ahead: ${String(e)}`));
  }

  // ---- attributes ----

  /**
   * The attr with this process's buffered size on top; cached for reads. Attributes fresh from
   * meta also keep the data path honest: when a file's mtime or ctime moved since this process
   * last saw it, someone (maybe another node) changed it, and cached slice lists of it are
   * dropped. That is close-to-open for stateless NFS too: a client revalidates with GETATTR.
   */
  #remember(ino: Ino, attr: Attr): Attr {
    if (this.#stamps.changed(ino, attr)) this.data.invalidate(ino);
    const end = this.data.bufferedEnd(ino);
    const view = end !== undefined && end > attr.size ? { ...attr, size: end } : attr;
    this.#attrs.set(ino, view);
    return view;
  }

  async statfs(ctx: Credentials, ino: Ino): Promise<StatFs> {
    return this.meta.statfs(ctx, ino);
  }

  async lookup(ctx: Credentials, parent: Ino, name: Buffer): Promise<VfsLookup> {
    const r = await this.meta.lookup(ctx, parent, name);
    const parentAttr = this.#remember(parent, r.parentAttr);
    return { inode: r.inode, attr: this.#remember(r.inode, r.attr), parentAttr };
  }

  async getattr(ctx: Credentials, ino: Ino): Promise<Attr> {
    return this.#remember(ino, await this.meta.getattr(ctx, ino));
  }

  async setattr(ctx: Credentials, ino: Ino, request: SetAttrRequest): Promise<Attr> {
    if (request.size !== undefined) {
      // Buffered writes must land first, or their commit would undo the truncation.
      await this.data.flush(ino);
    }
    try {
      return this.#remember(ino, await this.meta.setattr(ctx, ino, request));
    } finally {
      if (request.size !== undefined) this.data.invalidate(ino);
    }
  }

  async access(ctx: Credentials, ino: Ino, mask: number): Promise<void> {
    await this.meta.access(ctx, ino, mask);
  }

  permitted(ctx: Credentials, attr: Attr): number {
    return permittedBits(ctx, attr);
  }

  async readlink(ctx: Credentials, ino: Ino): Promise<Buffer> {
    return this.meta.readlink(ctx, ino);
  }

  async parents(ctx: Credentials, ino: Ino): Promise<Map<Ino, number>> {
    return this.meta.parents(ctx, ino);
  }

  // ---- names ----

  async mknod(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    type: FileType,
    mode: number,
    umask: number,
    rdev: number,
    options?: MknodOptions,
  ): Promise<VfsNewEntry> {
    return this.#made(
      parent,
      await this.meta.mknod(ctx, parent, name, type, mode, umask, rdev, options),
    );
  }

  async mkdir(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
  ): Promise<VfsNewEntry> {
    return this.#made(parent, await this.meta.mkdir(ctx, parent, name, mode, umask));
  }

  async symlink(ctx: Credentials, parent: Ino, name: Buffer, target: Buffer): Promise<VfsNewEntry> {
    return this.#made(parent, await this.meta.symlink(ctx, parent, name, target));
  }

  #made(parent: Ino, r: NewNode): VfsNewEntry {
    const parentAttr = this.#remember(parent, r.parentAttr);
    return { inode: r.inode, attr: this.#remember(r.inode, r.attr), parentAttr };
  }

  async unlink(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr> {
    return this.#remember(parent, await this.meta.unlink(ctx, parent, name));
  }

  async rmdir(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr> {
    return this.#remember(parent, await this.meta.rmdir(ctx, parent, name));
  }

  async rename(
    ctx: Credentials,
    srcParent: Ino,
    srcName: Buffer,
    dstParent: Ino,
    dstName: Buffer,
    flags: number,
  ): Promise<VfsRenamed> {
    const r = await this.meta.rename(ctx, srcParent, srcName, dstParent, dstName, flags);
    return {
      inode: r.inode,
      attr: this.#remember(r.inode, r.attr),
      srcParentAttr: this.#remember(srcParent, r.srcParentAttr),
      dstParentAttr: this.#remember(dstParent, r.dstParentAttr),
    };
  }

  async link(ctx: Credentials, ino: Ino, parent: Ino, name: Buffer): Promise<VfsEntry> {
    const attr = await this.meta.link(ctx, ino, parent, name);
    return { inode: ino, attr: this.#remember(ino, attr) };
  }

  // ---- files ----

  async create(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
    flags: number,
    options: { deferSync?: boolean } = {},
  ): Promise<VfsNewEntry & { fh: number }> {
    // One transaction: the file and this session's open row (one commit, not two).
    const made = await this.meta.create(ctx, parent, name, mode, umask, options);
    const { inode, attr } = made;
    const fh = this.#addHandle(inode, flags, false);
    // Taken after the create returned: it covers the create's commit.
    if (options.deferSync === true) this.#handles.get(fh)!.createToken = this.meta.commitToken();
    const parentAttr = this.#remember(parent, made.parentAttr);
    return { inode, attr: this.#remember(inode, attr), parentAttr, fh };
  }

  /**
   * Makes the file `h` created durable, if it may not be yet. Usually free: the slice commit
   * of the flush before it (a durable commit after the create's) covered it already.
   */
  async #syncCreate(h: Handle): Promise<void> {
    const token = h.createToken;
    if (token === undefined) return;
    await this.meta.syncThrough(token);
    h.createToken = undefined;
  }

  async fsyncdir(_ctx: Credentials, _ino: Ino): Promise<void> {
    // Every change of meta but deferred creates is durable when its call returns.
    await this.meta.syncThrough(this.meta.commitToken());
  }

  async open(ctx: Credentials, ino: Ino, flags: number): Promise<{ fh: number; attr: Attr }> {
    let attr = await this.meta.open(ctx, ino, flags);
    if (attr.type === FileType.Directory) {
      await this.meta.release(ino);
      throw fsError("EISDIR");
    }
    // Close-to-open: whatever another client committed before our open is what we read.
    this.data.invalidate(ino);
    this.#prefetch.opened(ino);
    const fh = this.#addHandle(ino, flags, false);
    if (
      flags & OpenFlags.TRUNC &&
      (flags & OpenFlags.ACCMODE) !== OpenFlags.RDONLY &&
      attr.type === FileType.File
    ) {
      attr = await this.setattr(ctx, ino, { size: 0 });
    }
    return { fh, attr: this.#remember(ino, attr) };
  }

  #addHandle(ino: Ino, flags: number, directory: boolean): number {
    const fh = this.#nextFh++;
    const h: Handle = { ino, flags, directory, writeError: undefined, createToken: undefined };
    this.#handles.set(fh, h);
    if (!directory) this.#openPerInode.set(ino, (this.#openPerInode.get(ino) ?? 0) + 1);
    if (!directory && (flags & OpenFlags.ACCMODE) !== OpenFlags.RDONLY)
      this.#writeErrors.addWriter(ino, h);
    return fh;
  }

  #handle(fh: number, ino: Ino, directory: boolean): Handle {
    const h = this.#handles.get(fh);
    if (!h || h.ino !== ino || h.directory !== directory) throw fsError("EBADF");
    return h;
  }

  /** The file's size as this process sees it, without a meta round trip when known. */
  async #sizeForIo(ctx: Credentials, ino: Ino): Promise<Attr> {
    const cached = this.#attrs.get(ino);
    const attr = cached ?? (await this.getattr(ctx, ino));
    if (attr.type === FileType.Directory) throw fsError("EISDIR");
    if (attr.type !== FileType.File) throw fsError("EINVAL", "not a regular file");
    return attr;
  }

  async read(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    size: number,
    into?: Buffer,
  ): Promise<Buffer> {
    const range = await this.#readRange(ctx, ino, fh, offset, size);
    if (range === undefined) return Buffer.alloc(0);
    const missesBefore = this.data.readMisses().misses;
    const data = await this.data.read(ino, offset, range.bytes, range.fileSize, into);
    this.#readDone(ctx, ino, range.attr, data.length, missesBefore);
    return data;
  }

  async readv(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    size: number,
    spare?: Buffer,
  ): Promise<ReadParts> {
    const range = await this.#readRange(ctx, ino, fh, offset, size);
    if (range === undefined) return NO_READ_PARTS;
    const missesBefore = this.data.readMisses().misses;
    const data = await this.data.readv(ino, offset, range.bytes, range.fileSize, spare);
    this.#readDone(ctx, ino, range.attr, data.bytes, missesBefore);
    return data;
  }

  /** Checks a read; the bytes it may return (undefined: none) in a file of fileSize. */
  async #readRange(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    size: number,
  ): Promise<{ attr: Attr; fileSize: number; bytes: number } | undefined> {
    if (offset < 0 || size < 0) throw fsError("EINVAL");
    if (fh !== undefined) {
      const h = this.#handle(fh, ino, false);
      if ((h.flags & OpenFlags.ACCMODE) === OpenFlags.WRONLY)
        throw fsError("EBADF", "not open for reading");
    }
    const attr = await this.#sizeForIo(ctx, ino);
    if (fh === undefined && ctx.uid !== attr.uid) {
      await this.meta.access(ctx, ino, AccessMask.R);
    }
    const fileSize = Math.max(attr.size, this.data.bufferedEnd(ino) ?? 0);
    if (offset >= fileSize || size === 0) return undefined;
    return { attr, fileSize, bytes: Math.min(size, fileSize - offset) };
  }

  #readDone(ctx: Credentials, ino: Ino, attr: Attr, bytes: number, missesBefore: number): void {
    vfsBytes("read", bytes);
    // (Concurrent reads may share the count: close enough for a hint.)
    if (this.#dirPrefetchOn && this.data.readMisses().misses > missesBefore) {
      this.#dirPrefetch.missed(ctx, ino, attr);
    }
  }

  async write(
    ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    offset: number,
    bytes: Uint8Array,
  ): Promise<number> {
    if (offset < 0) throw fsError("EINVAL");
    if (offset + bytes.length > FILE_SIZE_BYTES_MAX) throw fsError("EFBIG");
    if (fh !== undefined) {
      const h = this.#handle(fh, ino, false);
      if ((h.flags & OpenFlags.ACCMODE) === OpenFlags.RDONLY)
        throw fsError("EBADF", "not open for writing");
    }
    let attr = await this.#sizeForIo(ctx, ino);
    // Stateless (NFS) writes check permission per call; the owner may always write, as knfsd.
    if (fh === undefined && ctx.uid !== attr.uid) {
      await this.meta.access(ctx, ino, AccessMask.W);
    }
    if (bytes.length === 0) return 0;
    if (setidDroppedByWrite(ctx, attr) !== 0) attr = await this.#killSetid(ctx, ino, attr);
    await this.data.write(ino, offset, bytes);
    vfsBytes("write", bytes.length);
    const end = offset + bytes.length;
    if (end > attr.size) this.#attrs.set(ino, { ...attr, size: end });
    return bytes.length;
  }

  /**
   * A write by anyone but root drops the file's set-id bits first, as Linux's file_remove_privs
   * (the FUSE kernel leaves it to us under HANDLE_KILLPRIV_V2; knfsd does it for NFS writers).
   */
  async #killSetid(ctx: Credentials, ino: Ino, attr: Attr): Promise<Attr> {
    try {
      return await this.setattr(ctx, ino, { killSuidgid: true });
    } catch (error) {
      // A handle opened for writing before a chmod took the permission away keeps writing.
      if (isFsError(error, "EACCES")) return attr;
      throw error;
    }
  }

  async flush(_ctx: Credentials, ino: Ino, fh: number): Promise<void> {
    const h = this.#handle(fh, ino, false);
    await this.data.flush(ino);
    await this.#syncCreate(h);
    throwIfSet(this.#writeErrors.take(h));
  }

  /**
   * With a handle (FUSE) it hears what meta refused of its data; without one (NFS COMMIT and
   * stable WRITEs, which have no handles) the first stateless fsync after a refusal hears it.
   */
  async fsync(
    _ctx: Credentials,
    ino: Ino,
    fh: number | undefined,
    _dataOnly: boolean,
  ): Promise<void> {
    const h = fh === undefined ? undefined : this.#handle(fh, ino, false);
    // Attributes are committed with the data; both are durable when flush returns.
    await this.data.flush(ino);
    if (h !== undefined) await this.#syncCreate(h);
    throwIfSet(h ? this.#writeErrors.take(h) : this.#writeErrors.takeStateless(ino));
  }

  writeErrorEpoch(ino: Ino): number {
    return this.#writeErrors.epoch(ino);
  }

  async release(_ctx: Credentials, ino: Ino, fh: number): Promise<void> {
    const h = this.#handle(fh, ino, false);
    this.#handles.delete(fh);
    const left = (this.#openPerInode.get(ino) ?? 1) - 1;
    if (left > 0) this.#openPerInode.set(ino, left);
    else this.#openPerInode.delete(ino);
    try {
      if (left === 0) await this.data.flush(ino);
      await this.#syncCreate(h);
      throwIfSet(this.#writeErrors.take(h));
    } finally {
      this.#writeErrors.removeWriter(ino, h);
      await this.meta.release(ino);
    }
  }

  async fallocate(
    ctx: Credentials,
    ino: Ino,
    _fh: number | undefined,
    mode: number,
    offset: number,
    length: number,
  ): Promise<void> {
    await this.data.flush(ino);
    try {
      this.#remember(ino, await this.meta.fallocate(ctx, ino, mode, offset, length));
    } finally {
      this.data.invalidate(ino);
    }
  }

  async copyFileRange(
    ctx: Credentials,
    inoIn: Ino,
    offsetIn: number,
    inoOut: Ino,
    offsetOut: number,
    length: number,
  ): Promise<number> {
    if (inoIn === inoOut && offsetIn < offsetOut + length && offsetOut < offsetIn + length) {
      throw fsError("EINVAL", "overlapping copy within one file");
    }
    let copied = 0;
    while (copied < length) {
      const piece = Math.min(COPY_PIECE_BYTES, length - copied);
      const bytes = await this.read(ctx, inoIn, undefined, offsetIn + copied, piece);
      if (bytes.length === 0) break;
      await this.write(ctx, inoOut, undefined, offsetOut + copied, bytes);
      copied += bytes.length;
    }
    return copied;
  }

  /** The whole file counts as data (POSIX allows it): holes are only reported at the end. */
  async lseek(ctx: Credentials, ino: Ino, offset: number, whence: number): Promise<number> {
    const attr = await this.getattr(ctx, ino);
    switch (whence) {
      case Whence.DATA:
        if (offset >= attr.size) throw fsError("ENXIO");
        return offset;
      case Whence.HOLE:
        if (offset >= attr.size) throw fsError("ENXIO");
        return attr.size;
      case Whence.SET:
        return offset;
      case Whence.END:
        return attr.size + offset;
      default:
        throw fsError("EINVAL", `lseek whence ${whence}`);
    }
  }

  // ---- directories ----

  async opendir(ctx: Credentials, ino: Ino): Promise<number> {
    const attr = await this.getattr(ctx, ino);
    if (attr.type !== FileType.Directory) throw fsError("ENOTDIR");
    await this.meta.access(ctx, ino, AccessMask.R);
    return this.#addHandle(ino, 0, true);
  }

  async readdir(
    ctx: Credentials,
    ino: Ino,
    cookie: number,
    limit: number,
    plus: boolean,
  ): Promise<VfsDirEntry[]> {
    assert(limit > 0, "readdir limit");
    const out: VfsDirEntry[] = [];
    if (cookie < DOT_COOKIES) {
      const self = await this.getattr(ctx, ino);
      if (self.type !== FileType.Directory) throw fsError("ENOTDIR");
      const parent = ino === ROOT_INODE ? ROOT_INODE : self.parent;
      const dots: VfsDirEntry[] = [
        { name: Buffer.from("."), inode: ino, type: FileType.Directory, cookie: 1 },
        { name: Buffer.from(".."), inode: parent, type: FileType.Directory, cookie: 2 },
      ];
      for (const dot of dots.slice(cookie)) {
        if (plus) dot.attr = dot.inode === ino ? self : await this.getattr(ctx, dot.inode);
        out.push(dot);
      }
    }
    const want = Math.min(limit, READDIR_ENTRIES_MAX) - out.length;
    if (want <= 0) return out.slice(0, limit);
    const afterSeq = Math.max(0, cookie - DOT_COOKIES);
    const entries = await this.meta.readdir(ctx, ino, afterSeq, want, plus);
    for (const e of entries) {
      const entry: VfsDirEntry = {
        name: e.name,
        inode: e.inode,
        type: e.type,
        cookie: e.cookie + DOT_COOKIES,
      };
      if (e.attr) entry.attr = this.#remember(e.inode, e.attr);
      out.push(entry);
    }
    return out;
  }

  async releasedir(_ctx: Credentials, ino: Ino, fh: number): Promise<void> {
    this.#handle(fh, ino, true);
    this.#handles.delete(fh);
  }

  // ---- xattrs ----

  async getxattr(ctx: Credentials, ino: Ino, name: string): Promise<Buffer> {
    if (name === PREFETCH_XATTR) {
      await this.meta.getattr(ctx, ino); // the inode exists
      const { dirs, loaded } = this.#dirPrefetch.counts;
      const progress = {
        ...this.#prefetch.progress(),
        dirsPrefetched: dirs,
        dirFilesLoaded: loaded,
      };
      return Buffer.from(JSON.stringify(progress));
    }
    return this.meta.getxattr(ctx, ino, name);
  }

  async setxattr(
    ctx: Credentials,
    ino: Ino,
    name: string,
    value: Buffer,
    flags: number,
  ): Promise<void> {
    if (name === PREFETCH_XATTR || name === PREFETCH_APPEND_XATTR) {
      const attr = await this.meta.getattr(ctx, ino);
      if (attr.type !== FileType.Directory)
        throw fsError("ENOTDIR", "prefetch orders name a directory");
      this.#prefetch.submit(ctx, ino, value, name === PREFETCH_APPEND_XATTR);
      return;
    }
    await this.meta.setxattr(ctx, ino, name, value, flags);
  }

  async listxattr(ctx: Credentials, ino: Ino): Promise<string[]> {
    return this.meta.listxattr(ctx, ino);
  }

  async removexattr(ctx: Credentials, ino: Ino, name: string): Promise<void> {
    await this.meta.removexattr(ctx, ino, name);
  }

  // ---- lifecycle ----

  // ---- locks ----

  getlk(ctx: Credentials, ino: Ino, owner: bigint, lock: FileLock): Promise<FileLock> {
    return this.meta.getlk(ctx, ino, owner, lock);
  }

  async setlk(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.meta.setlk(ctx, ino, owner, lock, wait, signal);
    // What another node committed before it unlocked is what the new holder reads (as an NFS
    // client revalidates on lock): cached slice lists and attributes go.
    if (lock.type !== LockType.UNLOCK) this.#lockRevalidate(ino);
  }

  #lockRevalidate(ino: Ino): void {
    this.data.invalidate(ino);
    this.#attrs.delete(ino);
  }

  flock(
    ctx: Credentials,
    ino: Ino,
    owner: bigint,
    type: LockType,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    return this.meta.flock(ctx, ino, owner, type, wait, signal);
  }

  releaseLocks(ino: Ino, owner: bigint, kinds: { posix: boolean; flock: boolean }): Promise<void> {
    return this.meta.releaseLocks(ino, owner, kinds);
  }

  async flushAll(): Promise<void> {
    await this.data.flushAll();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#prefetch.close();
    this.#dirPrefetch.close();
    clearTimeout(this.#aheadTimer);
    this.#aheadBatch = [];
    try {
      await this.data.close();
    } finally {
      await this.meta.closeSession().catch((e: unknown) => log.warn(`close session: ${String(e)}`));
      await this.meta.close();
    }
  }
}

function throwIfSet(error: FsError | undefined): void {
  if (error !== undefined) throw error;
}
