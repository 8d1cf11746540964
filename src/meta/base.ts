/**
 * BaseMeta implements the Meta interface once, over any MetaEngine: the engines store tables,
 * this class and the modules it calls hold every POSIX rule.
 */
import { hostname } from "node:os";
import { assert, assertSafeUint } from "../assert.ts";
import { fsError, UserError } from "../errors.ts";
import {
  OPEN_LINGER_BATCH,
  OPEN_LINGER_FILES_MAX,
  OPEN_LINGER_MS,
  ROOT_INODE,
  TRASH_INODE,
} from "../limits.ts";
import { log } from "../log.ts";
import { MetaCore, mustGetAttr } from "./core.ts";
import { cleanupTrash } from "./gc.ts";
import type {
  Attr,
  Counters,
  Credentials,
  Entry,
  FileLock,
  FileType,
  Format,
  Ino,
  LockType,
  Meta,
  MknodOptions,
  NewNode,
  Renamed,
  SessionInfo,
  SetAttrRequest,
  Slice,
  StatFs,
  UnusedSlice,
} from "./interface.ts";
import { AccessMask, checksumOf, FileType as FT, ROOT_CREDENTIALS } from "./interface.ts";
import * as locks from "./locks.ts";
import * as ns from "./namespace.ts";
import { accessMaskOfOpenFlags, checkAccess, newAttr, now } from "./policy.ts";
import { nearestQuota } from "./quota.ts";
import * as quotas from "./quotaadmin.ts";
import * as rm from "./remove.ts";
import { removeBatch } from "./removebatch.ts";
import { rename } from "./rename.ts";
import {
  cleanupSession,
  expireSessions,
  type NewSessionInfo,
  refreshSession,
  registerSession,
  reregisterOpens,
  sessionTimeoutMs,
} from "./sessions.ts";
import { setattr } from "./setattr.ts";
import * as data from "./slices.ts";
import type { MetaEngine, MetaTxn, QuotaLimits, QuotaRecord, SyncToken } from "./txn.ts";
import * as xattr from "./xattr.ts";

const UNLIMITED_BYTES = 1024 ** 5; // 1 PiB shown as the size of an unlimited volume
const UNLIMITED_INODES_HEADROOM = 10 << 20;

/**
 * Settings a running node applies when `jfs config` changes them. The others need a restart:
 * the store is opened once (bucket, keys), and checksums may change only with every node stopped.
 */
const LIVE_SETTINGS = ["capacityBytes", "inodes", "trashDays"] as const;

export class BaseMeta implements Meta {
  readonly core: MetaCore;

  constructor(private readonly engineImpl: MetaEngine) {
    this.core = new MetaCore(engineImpl);
  }

  get engine(): string {
    return this.engineImpl.engine;
  }

  get displayUrl(): string {
    return this.engineImpl.displayUrl;
  }

  // ---- volume ----

  async format(format: Format, force: boolean): Promise<void> {
    const existing = await this.core.read(async (tx) => tx.getSetting());
    if (existing !== undefined) {
      const old = JSON.parse(existing) as Format;
      if (!force) {
        throw new UserError(
          `${this.displayUrl} already holds volume "${old.name}" (use --force to update its settings)`,
        );
      }
      checkUnchangeable(old, format);
      const updated: Format = { ...format, uuid: old.uuid, createdAt: old.createdAt };
      await this.core.txn(async (tx) => tx.setSetting(JSON.stringify(updated)));
      this.core.setFormat(updated);
      return;
    }
    await this.core.txn(async (tx) => {
      if ((await tx.getSetting()) !== undefined)
        throw new UserError("volume formatted concurrently");
      tx.setSetting(JSON.stringify(format));
      const t = now();
      const spec = { type: FT.Directory, umask: 0, rdev: 0, parent: ROOT_INODE, generation: 1 };
      const root = newAttr(ROOT_CREDENTIALS, { mode: 0, gid: 0 }, { ...spec, mode: 0o777 }, t);
      root.nlink = 3; // ".", "..", and the hidden trash directory's ".."
      tx.setAttr(ROOT_INODE, root);
      const trash = newAttr(ROOT_CREDENTIALS, root, { ...spec, mode: 0o555 }, t);
      tx.setAttr(TRASH_INODE, trash);
      tx.addCounter("usedInodes", 2);
      tx.addCounter("usedSpace", 2 * 4096);
    });
    this.core.setFormat(format);
  }

  async load(): Promise<Format> {
    const json = await this.core.read(async (tx) => tx.getSetting());
    if (json === undefined) {
      throw new UserError(
        `Cannot open volume "${this.displayUrl}": not formatted (run jfs format)`,
      );
    }
    const format = JSON.parse(json) as Format;
    this.core.setFormat(format);
    return format;
  }

  async reloadSettings(): Promise<string[]> {
    const json = await this.core.read(async (tx) => tx.getSetting());
    if (json === undefined) return [];
    const stored = JSON.parse(json) as Format;
    const current = this.core.format;
    const changed = LIVE_SETTINGS.filter((k) => stored[k] !== current[k]);
    if (changed.length === 0) return [];
    const next: Format = { ...current };
    for (const k of changed) next[k] = stored[k];
    this.core.setFormat(next);
    return changed;
  }

  async destroy(): Promise<void> {
    await this.engineImpl.destroy();
  }

  async counters(): Promise<Counters> {
    return this.core.read(async (tx) => ({
      usedSpaceBytes: await tx.getCounter("usedSpace"),
      usedInodes: await tx.getCounter("usedInodes"),
      nextInode: await tx.getCounter("nextInode"),
      nextSliceId: await tx.getCounter("nextSliceId"),
    }));
  }

  async close(): Promise<void> {
    await this.engineImpl.close();
  }

  // An engine without deferred commits has nothing left to sync: one token covers all.
  commitToken(): SyncToken {
    return this.engineImpl.commitToken?.() ?? 0;
  }

  async syncThrough(token: SyncToken): Promise<void> {
    await this.engineImpl.syncThrough?.(token);
  }

  // ---- sessions ----

  /** What this node registered, to register again if another node expires it. */
  #session: NewSessionInfo | undefined;
  /** open() transactions adding this session's rows, in flight. */
  readonly #registering = new Set<Promise<unknown>>();

  async newSession(info: NewSessionInfo): Promise<number> {
    const sid = await registerSession(this.core, info);
    this.core.sid = sid;
    this.#session = info;
    // Starting is a moment to clean up after the dead (gc and fsck run briefly); a failure
    // here must not stop this node from starting: its heartbeats try again.
    await this.expireSessions().catch((error: unknown) => {
      log.warn(`expiring dead sessions: ${String(error)}`);
    });
    return sid;
  }

  #beating: Promise<void> | undefined;

  /** One heartbeat at a time: two that both found the session expired would register twice. */
  heartbeat(): Promise<void> {
    this.#beating ??= this.#beat().finally(() => {
      this.#beating = undefined;
    });
    return this.#beating;
  }

  async #beat(): Promise<void> {
    const sid = this.core.sid;
    if (sid !== 0 && !(await refreshSession(this.core, sid))) await this.#registerAgain(sid);
    await this.unregisterReleased(Date.now() - OPEN_LINGER_MS);
    await this.expireSessions();
  }

  /**
   * Another node expired `oldSid` (this node stalled past its timeout): a new session takes its
   * place, holding what is still open here; what was deleted meanwhile is lost (ESTALE).
   */
  async #registerAgain(oldSid: number): Promise<void> {
    const info = this.#session ?? DEFAULT_SESSION_INFO;
    const sid = await registerSession(this.core, info);
    this.core.sid = sid;
    // Opens from now on register under the new sid; those still adding rows under the old one
    // finish first, so the old session's cleanup below finds every row it must remove.
    await Promise.allSettled([...this.#registering]);
    // Released files lingering under the old sid need no row: the old session's cleanup drops it.
    this.core.opens.takeLingering(Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER);
    const lost = await reregisterOpens(this.core, sid, this.core.opens.openInodes());
    for (const ino of lost) this.core.lost.add(ino);
    log.warn(
      `session ${oldSid} was expired by another node (no heartbeat for over ${sessionTimeoutMs(info) / 1000} s): ` +
        `registered again as session ${sid}${lost.length > 0 ? `; ${lost.length} open file(s) were deleted meanwhile and now give ESTALE` : ""}`,
    );
    await cleanupSession(this.core, oldSid);
  }

  expireSessions(): Promise<number> {
    return expireSessions(this.core, this.core.sid);
  }

  clockMs(): Promise<number> {
    return this.engineImpl.clockMs();
  }

  cleanupTrash(): Promise<number> {
    return cleanupTrash(this.core, Date.now());
  }

  async listSessions(): Promise<SessionInfo[]> {
    return this.core.read(async (tx) => tx.listSessions());
  }

  /** Rewrites where this session serves (serve --port 0 learns its port once listening). */
  async updateSessionMountPoint(mountPoint: string): Promise<void> {
    const sid = this.core.sid;
    if (sid === 0) return;
    // A session registered again after expiry must carry the same mount point.
    if (this.#session) this.#session = { ...this.#session, mountPoint };
    await this.core.txn(async (tx) => {
      const s = await tx.getSession(sid);
      if (s) tx.setSession({ ...s, mountPoint });
    });
  }

  async closeSession(): Promise<void> {
    const sid = this.core.sid;
    if (sid === 0) return;
    clearTimeout(this.#unregisterTimer);
    this.#unregisterTimer = undefined;
    await this.unregisterReleased(Number.POSITIVE_INFINITY);
    // Files still open here are closed with the session.
    const open = this.core.opens.openInodes();
    for (const ino of open) while (!this.core.opens.release(ino)) {}
    this.core.lost.clear();
    if (open.length > 0) await this.#unregister(open);
    // Any row left (an open that failed while the session registered again) goes with it.
    await cleanupSession(this.core, sid);
    this.core.sid = 0;
  }

  /** ESTALE for a file open here whose data another node deleted while this one was expired. */
  #checkLost(ino: Ino): void {
    if (this.core.lost.size > 0 && this.core.lost.has(ino)) {
      throw fsError("ESTALE", `inode ${ino} was deleted while this node's session was expired`);
    }
  }

  // ---- directory quotas (rules in quota.ts, management in quotaadmin.ts) ----

  setQuota(ino: Ino, limits: QuotaLimits): Promise<QuotaRecord> {
    return quotas.setQuota(this.core, ino, limits);
  }

  listQuotas(): Promise<QuotaRecord[]> {
    return quotas.listQuotas(this.core);
  }

  deleteQuota(ino: Ino): Promise<boolean> {
    return quotas.deleteQuota(this.core, ino);
  }

  /** fsck --repair-quota: recounts usage from the tree; returns the quotas that were wrong. */
  repairQuotas(only?: Ino): Promise<quotas.QuotaRepair[]> {
    return quotas.repairQuotas(this.core, only);
  }

  directoryPath(ino: Ino): Promise<string> {
    return quotas.directoryPath(this.core, ino);
  }

  // ---- namespace ----

  async statfs(_ctx: Credentials, ino: Ino): Promise<StatFs> {
    const { capacityBytes, inodes } = this.core.format;
    const c = await this.counters();
    const totalBytes = capacityBytes > 0 ? capacityBytes : UNLIMITED_BYTES;
    const usedBytes = Math.min(c.usedSpaceBytes, totalBytes);
    const totalInodes = inodes > 0 ? inodes : c.usedInodes + UNLIMITED_INODES_HEADROOM;
    const usedInodes = Math.min(c.usedInodes, totalInodes);
    const volume: StatFs = {
      totalBytes,
      usedBytes,
      availBytes: totalBytes - usedBytes,
      totalInodes,
      usedInodes,
      availInodes: totalInodes - usedInodes,
    };
    const quota = await this.core.read(async (tx) => nearestQuota(tx, ino));
    return quota ? quotaStatFs(volume, quota) : volume;
  }

  lookup(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
  ): Promise<{ inode: Ino; attr: Attr; parentAttr: Attr }> {
    return ns.lookup(this.core, ctx, parent, name);
  }

  async getattr(_ctx: Credentials, ino: Ino): Promise<Attr> {
    assertSafeUint(ino, "inode");
    this.#checkLost(ino);
    return this.core.read(async (tx) => mustGetAttr(tx, ino));
  }

  setattr(ctx: Credentials, ino: Ino, request: SetAttrRequest): Promise<Attr> {
    this.#checkLost(ino);
    return setattr(this.core, ctx, ino, request);
  }

  async access(ctx: Credentials, ino: Ino, mask: number): Promise<void> {
    const attr = await this.getattr(ctx, ino);
    checkAccess(ctx, attr, mask);
  }

  async mknod(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    type: FileType,
    mode: number,
    umask: number,
    rdev: number,
    options: MknodOptions = {},
  ): Promise<NewNode> {
    if (type === FT.Directory || type === FT.Symlink) {
      throw fsError("EINVAL", "mknod makes files, fifos, sockets and devices");
    }
    const keepRdev = type === FT.BlockDevice || type === FT.CharDevice;
    // Linux needs CAP_MKNOD for device nodes; fifos and sockets anyone may make.
    if (keepRdev && ctx.uid !== 0) throw fsError("EPERM", "only root makes device nodes");
    const spec = { type, mode, umask, rdev: keepRdev ? rdev : 0, times: options.times };
    return ns.createNode(this.core, ctx, parent, name, spec);
  }

  async create(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
    options: { deferSync?: boolean } = {},
  ): Promise<NewNode> {
    const sid = this.core.sid;
    const spec = { type: FT.File, mode, umask, rdev: 0 };
    // The inode is the same in every run of the transaction: counted open once, in the first.
    let acquired: Ino | undefined;
    const alsoWrite = (tx: MetaTxn, ino: Ino) => {
      if (acquired === undefined) {
        acquired = ino;
        assert(this.core.opens.acquire(ino), "a new inode is open already");
      }
      if (sid !== 0) tx.addOpen(sid, ino);
    };
    const deferSync = options.deferSync === true;
    const creating = ns.createNode(this.core, ctx, parent, name, spec, alsoWrite, deferSync);
    this.#registering.add(creating);
    try {
      return await creating;
    } catch (error) {
      if (acquired !== undefined) this.core.opens.abandon(acquired);
      throw error;
    } finally {
      this.#registering.delete(creating);
    }
  }

  mkdir(
    ctx: Credentials,
    parent: Ino,
    name: Buffer,
    mode: number,
    umask: number,
  ): Promise<NewNode> {
    const spec = { type: FT.Directory, mode, umask, rdev: 0 };
    return ns.createNode(this.core, ctx, parent, name, spec);
  }

  async symlink(ctx: Credentials, parent: Ino, name: Buffer, target: Buffer): Promise<NewNode> {
    ns.validateSymlinkTarget(target);
    const spec = { type: FT.Symlink, mode: 0o777, umask: 0, rdev: 0, symlinkTarget: target };
    return ns.createNode(this.core, ctx, parent, name, spec);
  }

  readlink(_ctx: Credentials, ino: Ino): Promise<Buffer> {
    return ns.readlink(this.core, ino);
  }

  unlink(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr> {
    return rm.unlink(this.core, ctx, parent, name);
  }

  rmdir(ctx: Credentials, parent: Ino, name: Buffer): Promise<Attr> {
    return rm.rmdir(this.core, ctx, parent, name);
  }

  removeBatch(ctx: Credentials, parent: Ino, names: readonly Buffer[]) {
    return removeBatch(this.core, ctx, parent, names);
  }

  rename(
    ctx: Credentials,
    srcParent: Ino,
    srcName: Buffer,
    dstParent: Ino,
    dstName: Buffer,
    flags: number,
  ): Promise<Renamed> {
    return rename(this.core, ctx, { srcParent, srcName, dstParent, dstName, flags });
  }

  link(ctx: Credentials, ino: Ino, parent: Ino, name: Buffer): Promise<Attr> {
    return ns.link(this.core, ctx, ino, parent, name);
  }

  readdir(
    ctx: Credentials,
    ino: Ino,
    cookie: number,
    limit: number,
    plus: boolean,
  ): Promise<Entry[]> {
    return ns.readdir(this.core, ctx, ino, cookie, limit, plus);
  }

  async parents(_ctx: Credentials, ino: Ino): Promise<Map<Ino, number>> {
    return this.core.read(async (tx) => {
      const attr = await mustGetAttr(tx, ino);
      if (attr.parent !== 0) return new Map([[attr.parent, 1]]);
      const parents = await tx.getParents(ino);
      for (const [p, links] of parents) if (links === 0) parents.delete(p);
      return parents;
    });
  }

  // ---- xattrs ----

  getxattr(ctx: Credentials, ino: Ino, name: string): Promise<Buffer> {
    return xattr.getxattr(this.core, ctx, ino, name);
  }

  setxattr(ctx: Credentials, ino: Ino, name: string, value: Buffer, flags: number): Promise<void> {
    return xattr.setxattr(this.core, ctx, ino, name, value, flags);
  }

  listxattr(ctx: Credentials, ino: Ino): Promise<string[]> {
    return xattr.listxattr(this.core, ctx, ino);
  }

  removexattr(ctx: Credentials, ino: Ino, name: string): Promise<void> {
    return xattr.removexattr(this.core, ctx, ino, name);
  }

  // ---- open files ----

  /** registerAhead() transactions in flight, by inode: an open of one waits for its row. */
  readonly #ahead = new Map<Ino, Promise<boolean>>();

  async registerAhead(inos: readonly Ino[]): Promise<void> {
    const sid = this.core.sid;
    if (sid === 0) return;
    const now = Date.now();
    const fresh = inos.filter((ino) => this.core.opens.preregister(ino, now));
    if (fresh.length === 0) return;
    const writing = this.core.txn(async (tx) => {
      for (const ino of fresh) tx.addOpen(sid, ino);
    });
    const done = writing.then(
      () => true,
      () => false,
    );
    for (const ino of fresh) this.#ahead.set(ino, done);
    this.#registering.add(writing);
    try {
      await writing;
      this.#scheduleUnregister();
      this.#trimLingering();
    } catch (error) {
      this.core.opens.unregistered(fresh.filter((ino) => !this.core.opens.isOpen(ino)));
      throw error;
    } finally {
      this.#registering.delete(writing);
      for (const ino of fresh) if (this.#ahead.get(ino) === done) this.#ahead.delete(ino);
    }
  }

  async open(ctx: Credentials, ino: Ino, flags: number, justCreated = false): Promise<Attr> {
    const mask = accessMaskOfOpenFlags(flags);
    const sid = this.core.sid;
    // Registered ahead by a prefetch: its row must be committed before this open returns,
    // and if writing it failed, this open writes its own.
    const ahead = this.#ahead.get(ino);
    const aheadFailed = ahead !== undefined && !(await ahead);
    const register = (this.core.opens.acquire(ino) || aheadFailed) && sid !== 0;
    try {
      const check = async (tx: MetaTxn) => {
        const attr = await mustGetAttr(tx, ino);
        if (attr.type === FT.Directory && mask & AccessMask.W) throw fsError("EISDIR");
        if (!justCreated) checkAccess(ctx, attr, mask);
        // Registered before open returns, so other sessions keep the data if they unlink it.
        if (register) tx.addOpen(sid, ino);
        return attr;
      };
      if (!register) return await this.core.read(check);
      const registering = this.core.txn(check);
      this.#registering.add(registering);
      try {
        return await registering;
      } finally {
        this.#registering.delete(registering);
      }
    } catch (error) {
      this.core.opens.abandon(ino);
      throw error;
    }
  }

  async release(ino: Ino): Promise<void> {
    if (!this.core.opens.release(ino)) return;
    this.core.lost.delete(ino);
    if (this.core.sid === 0) return;
    // An unlinked file is finished now; any other keeps its registration a while (opens.ts).
    const attr = await this.core.read(async (tx) => tx.getAttr(ino));
    if (attr && attr.nlink > 0) {
      this.core.opens.linger(ino, Date.now());
      this.#scheduleUnregister();
      this.#trimLingering();
      return;
    }
    await this.#unregister([ino]);
  }

  /** Removes this session's open rows of `inos` (skipping any reopened), freeing unlinked files. */
  async #unregister(inos: readonly Ino[]): Promise<void> {
    const sid = this.core.sid;
    const opens = this.core.opens;
    await this.core.txn(async (tx) => {
      // Checked inside the transaction: a retry after a racing reopen must skip that inode.
      const closed = inos.filter((ino) => !opens.isOpen(ino));
      const attrs = await tx.getAttrs(closed);
      const holders = await Promise.all(closed.map((ino) => tx.listOpenSessions(ino)));
      closed.forEach((ino, i) => {
        tx.deleteOpen(sid, ino);
        const attr = attrs[i];
        const others = holders[i]!.filter((s) => s !== sid);
        if (attr && attr.nlink === 0 && others.length === 0) rm.deleteInode(tx, ino, attr);
      });
    });
  }

  /** Over OPEN_LINGER_FILES_MAX released files registered: the oldest rows go now. */
  #trimLingering(): void {
    const excess = this.core.opens.lingeringCount - OPEN_LINGER_FILES_MAX;
    if (excess <= 0) return;
    const batch = this.core.opens.takeLingering(
      Number.POSITIVE_INFINITY,
      Math.min(excess, OPEN_LINGER_BATCH),
    );
    this.#unregister(batch).catch((error: unknown) =>
      log.warn(`unregistering released files: ${String(error)}`),
    );
  }

  #unregisterTimer: ReturnType<typeof setTimeout> | undefined;

  #scheduleUnregister(): void {
    if (this.#unregisterTimer !== undefined) return;
    this.#unregisterTimer = setTimeout(() => {
      this.#unregisterTimer = undefined;
      this.unregisterReleased(Date.now() - OPEN_LINGER_MS)
        .catch((error: unknown) => log.warn(`unregistering released files: ${String(error)}`))
        .finally(() => {
          if (this.core.opens.lingeringCount > 0 && this.core.sid !== 0) this.#scheduleUnregister();
        });
    }, OPEN_LINGER_MS);
    this.#unregisterTimer.unref();
  }

  /** Removes the rows of files released before `beforeMs` (Infinity: all of them). */
  async unregisterReleased(beforeMs: number): Promise<void> {
    for (;;) {
      const batch = this.core.opens.takeLingering(beforeMs);
      if (batch.length === 0) return;
      await this.#unregister(batch);
    }
  }

  // ---- locks ----

  getlk(_ctx: Credentials, ino: Ino, owner: bigint, lock: FileLock): Promise<FileLock> {
    return locks.getlk(this.core, { ino, owner }, lock);
  }

  setlk(
    _ctx: Credentials,
    ino: Ino,
    owner: bigint,
    lock: FileLock,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    return locks.setlk(this.core, { ino, owner }, lock, wait, signal);
  }

  flock(
    _ctx: Credentials,
    ino: Ino,
    owner: bigint,
    type: LockType,
    wait: boolean,
    signal?: AbortSignal,
  ): Promise<void> {
    return locks.flock(this.core, { ino, owner }, type, wait, signal);
  }

  releaseLocks(ino: Ino, owner: bigint, kinds: { posix: boolean; flock: boolean }): Promise<void> {
    return locks.releaseLocks(this.core, { ino, owner }, kinds);
  }

  // ---- file data ----

  newSliceId(): Promise<number> {
    return this.core.sliceIds.next();
  }

  async readChunk(ino: Ino, chunkIndex: number): Promise<Slice[]> {
    this.#checkLost(ino);
    return data.readChunk(this.core, ino, chunkIndex);
  }

  async write(ino: Ino, chunkIndex: number, slice: Slice): Promise<Attr> {
    this.#checkLost(ino);
    return data.write(this.core, ino, chunkIndex, slice);
  }

  fallocate(
    ctx: Credentials,
    ino: Ino,
    mode: number,
    offset: number,
    length: number,
  ): Promise<Attr> {
    return data.fallocate(this.core, ctx, ino, mode, offset, length);
  }

  compactChunk(
    ino: Ino,
    chunkIndex: number,
    expected: readonly Slice[],
    replacement: readonly Slice[],
  ): Promise<boolean> {
    return data.compactChunk(this.core, ino, chunkIndex, expected, replacement);
  }

  dropSlices(ino: Ino, chunkIndex: number, ids: ReadonlySet<number>): Promise<number> {
    return data.dropSlices(this.core, ino, chunkIndex, ids);
  }

  releaseDeletedFiles(limit: number): Promise<number> {
    return data.releaseDeletedFiles(this.core, limit);
  }

  chunkIndexes(ino: Ino): Promise<number[]> {
    return this.core.read(async (tx) => tx.listChunkIndexes(ino));
  }

  async unreachableInodes(): Promise<Ino[]> {
    const found = new Set<Ino>();
    const sessions = await this.listSessions();
    await this.core.read(async (tx) => {
      for (const s of sessions) for (const ino of await tx.listOpenInodes(s.sid)) found.add(ino);
      for (const f of await tx.listDeletedFiles(Number.MAX_SAFE_INTEGER)) found.add(f.inode);
    });
    return [...found];
  }

  unusedSlices(limit: number): Promise<UnusedSlice[]> {
    return this.core.read(async (tx) => tx.listUnusedSlices(limit));
  }

  async ackUnusedSlices(slices: readonly UnusedSlice[]): Promise<void> {
    await this.core.txn(async (tx) => tx.deleteUnusedSlices(slices));
  }
}

/**
 * `df` inside a quota directory shows the quota (JuiceFS's): its limits as the size, its usage
 * as used, and never more room than the volume has. An unlimited side stays the volume's.
 */
function quotaStatFs(volume: StatFs, q: QuotaRecord): StatFs {
  const side = (limit: number, used: number, vTotal: number, vAvail: number) => {
    if (limit <= 0) return { total: vTotal, used: vTotal - vAvail, avail: vAvail };
    const shown = Math.max(0, Math.min(used, limit));
    return { total: limit, used: shown, avail: Math.min(limit - shown, vAvail) };
  };
  const bytes = side(q.capacityBytes, q.usedBytes, volume.totalBytes, volume.availBytes);
  const files = side(q.inodes, q.usedInodes, volume.totalInodes, volume.availInodes);
  return {
    totalBytes: bytes.total,
    usedBytes: bytes.used,
    availBytes: bytes.avail,
    totalInodes: files.total,
    usedInodes: files.used,
    availInodes: files.avail,
  };
}

/** The settings that shape stored data cannot change after format. */
export function checkUnchangeable(old: Format, next: Format): void {
  const fixed = ["name", "storage", "blockSizeKiB", "compression"] as const;
  for (const key of fixed) {
    if (old[key] !== next[key]) {
      throw new UserError(
        `cannot change ${key} of volume "${old.name}" (${old[key]} -> ${next[key]})`,
      );
    }
  }
  // A trailer changes every stored object: objects written without one cannot gain it later.
  // Turning checksums on for the slices written from now on is the one change allowed.
  const turnedOn =
    checksumOf(old) === "none" &&
    checksumOf(next) === "crc32" &&
    next.checksumSinceSliceId !== undefined;
  const changed =
    checksumOf(old) !== checksumOf(next) || old.checksumSinceSliceId !== next.checksumSinceSliceId;
  if (changed && !turnedOn) {
    throw new UserError(
      `cannot change checksum of volume "${old.name}" (${checksumOf(old)} -> ${checksumOf(next)}): ` +
        "its objects are already stored that way (jfs config --checksum crc32 turns it on for new data)",
    );
  }
}

export const DEFAULT_SESSION_INFO: NewSessionInfo = {
  hostname: hostname(),
  pid: process.pid,
  version: "",
  mountPoint: "",
};
