/**
 * The lock manager behind NLM v4: NFS clients' byte-range locks become the VFS's POSIX locks
 * (src/meta/locks.ts), so a FUSE mount of the same volume, or another server, sees them and
 * they see its. Every NLM client shares this server's session; a lock's owner is the client's
 * (caller_name, svid) pair, as knfsd keys it, hashed to the 64-bit owner id the VFS takes.
 *
 * Blocking requests: a LOCK with block set that conflicts is answered NLM4_BLOCKED and the
 * server keeps waiting for the lock on the client's behalf (the VFS's blocking setlk, which
 * polls the engine). Once the wait has the lock, the server calls NLM4_GRANTED on the client's
 * lockd; a client that answers GRANTED holds it. That callback is only a shortcut: the client
 * also polls, which the Linux client does by resending the same LOCK every 30 s
 * (NLMCLNT_POLL_TIMEOUT) while its caller waits, and the resend is answered GRANTED. A client
 * behind NAT (nfs-vm's guest, containers) cannot be called back and relies on the resend.
 * The VFS grants blocked requests in arrival order, so NLM waiters queue fairly with every
 * other node's. CANCEL ends the wait, and gives back the lock if the wait had already taken
 * it; so does a wait nobody collects (callback or resend) for NLM_BLOCKED_IDLE_MS.
 *
 * Reboots: after the server starts, a grace period of `graceMs` answers every TEST and every
 * non-reclaim LOCK with NLM4_DENIED_GRACE_PERIOD (the Linux client waits and retries), so the
 * clients that held locks before take them back first with reclaim set; a reclaim after the
 * grace period is refused the same way, as knfsd does. The hosts that took locks are kept in a
 * file (monitor.ts) and sent SM_NOTIFY at the next start, which is what makes them reclaim.
 * When a client reboots, its statd sends SM_NOTIFY here (nsm.ts) and every lock it held goes.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { assert } from "../../src/assert.ts";
import { FsError } from "../../src/errors.ts";
import { NLM_BLOCKED_IDLE_MS } from "../../src/limits.ts";
import { type Credentials, Errno, type FileLock, LOCK_END, LockType } from "../../src/posix.ts";
import type { NfsExport } from "../nfs3/context.ts";
import { NfsError } from "../nfs3/status.ts";
import type { RpcCall, RpcLogger } from "../rpc/dispatcher.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { callLockd, notifyStatd } from "./callback.ts";
import { Nlm4Stat, NlmProc } from "./constants.ts";
import { type MonitoredHost, MonitorList } from "./monitor.ts";
import { type Nlm4Holder, type Nlm4Lock, readRes, writeTestArgs } from "./types.ts";

export interface NlmServiceOptions {
  /** How long after start only reclaims are granted; 0 = no grace period. */
  graceMs: number;
  log?: RpcLogger;
  /** Where clients' portmappers are asked for their lockd and statd; default 111. */
  callbackPortmapPort?: number;
  /** The file listing the hosts that hold locks here, told of a restart (monitor.ts). */
  statePath?: string;
  /** The name this server gives itself in SM_NOTIFY; default the host name. */
  serverName?: string;
}

/** A request resolved to what the VFS takes. */
interface Target {
  ino: number;
  owner: bigint;
  lock: FileLock;
}

/** A blocked LOCK the server keeps trying on the client's behalf. */
interface Waiter {
  callerName: string;
  /** The request as the client sent it: a GRANTED callback echoes it. */
  request: { exclusive: boolean; lock: Nlm4Lock };
  /** Where the request came from: where the GRANTED callback goes. */
  address: string;
  target: Target;
  abort: AbortController;
  /** Settled: "granted" (the lock is held for the client) or an NLM status to answer. */
  outcome: "waiting" | "granted" | Nlm4Stat;
  idle: ReturnType<typeof setTimeout>;
}

export class NlmService {
  /** NSM state of this server: odd while up, higher at each start (seconds since the epoch). */
  readonly nsmState: number = Math.floor(Date.now() / 1000) | 1;
  readonly #exp: NfsExport;
  readonly #graceEndMs: number;
  readonly #log: RpcLogger | undefined;
  readonly #callbackPortmapPort: number;
  readonly #monitor: MonitorList;
  readonly #serverName: string;
  /** caller_name → (ino:owner → target): what FREE_ALL must give back. */
  readonly #held = new Map<string, Map<string, { ino: number; owner: bigint }>>();
  /** caller_name → addresses it called from: the hosts known to hold or wait for locks. */
  readonly #addresses = new Map<string, Set<string>>();
  readonly #waiters = new Map<string, Waiter>();

  constructor(exp: NfsExport, options: NlmServiceOptions) {
    assert(Number.isSafeInteger(options.graceMs) && options.graceMs >= 0, "grace period ms");
    this.#exp = exp;
    this.#graceEndMs = Date.now() + options.graceMs;
    this.#log = options.log;
    this.#callbackPortmapPort = options.callbackPortmapPort ?? 111;
    this.#monitor = new MonitorList(options.statePath, options.log);
    this.#serverName = options.serverName ?? hostname();
  }

  /**
   * After a (re)start: every host the last run recorded is sent SM_NOTIFY in the background,
   * so its lock manager reclaims during the grace period. Resolves once the list is read.
   */
  async start(): Promise<void> {
    let hosts: MonitoredHost[];
    try {
      hosts = await this.#monitor.load();
    } catch (error) {
      this.#log?.warn(`nlm: cannot read the hosts that held locks: ${String(error)}`);
      return;
    }
    for (const host of hosts) {
      notifyStatd(host.address, this.#serverName, this.nsmState, this.#callbackPortmapPort).then(
        () => this.#log?.info(`nlm: told ${host.name} (${host.address}) to reclaim its locks`),
        (error: unknown) =>
          this.#log?.warn(`nlm: cannot tell ${host.name} to reclaim its locks: ${String(error)}`),
      );
    }
  }

  /**
   * Whether an SM_NOTIFY is this server's own restart notice come back: sent to a client's
   * address that is in fact this host (loopback, NAT), it reaches this server's portmapper.
   */
  isOwnNotice(monName: string, state: number): boolean {
    return monName === this.#serverName && state === this.nsmState;
  }

  /** Resolves once the list of hosts holding locks is on disk (tests). */
  flushed(): Promise<void> {
    return this.#monitor.flushed();
  }

  /**
   * Answers an asynchronous request (TEST_MSG, LOCK_MSG ...) by calling the client's lockd with
   * procedure `proc` (TEST_RES, LOCK_RES ...), in the background: the message itself is
   * answered void at once. A client that cannot be reached resends its message.
   */
  answerLater(call: RpcCall, proc: number, work: () => Promise<XdrWriter>): void {
    const host = call.client.address;
    void (async () => {
      const args = await work();
      await callLockd(host, proc, args, this.#callbackPortmapPort);
    })().catch((error: unknown) => {
      this.#log?.warn(`nlm: cannot answer ${host}'s message (proc ${proc}): ${String(error)}`);
    });
  }

  inGrace(): boolean {
    return Date.now() < this.#graceEndMs;
  }

  /** NLMPROC4_TEST: GRANTED when the lock could be had, else DENIED with the holder. */
  async test(
    call: RpcCall,
    exclusive: boolean,
    alock: Nlm4Lock,
  ): Promise<{ stat: Nlm4Stat; holder?: Nlm4Holder }> {
    if (this.inGrace()) return { stat: Nlm4Stat.DENIED_GRACE_PERIOD };
    const target = await this.#target(call, exclusive, alock);
    if (typeof target === "number") return { stat: target };
    const op = this.#exp.op(call);
    const found = await this.#exp.vfs.getlk(op.cred, target.ino, target.owner, target.lock);
    if (found.type === LockType.UNLOCK) return { stat: Nlm4Stat.GRANTED };
    const holder: Nlm4Holder = {
      exclusive: found.type === LockType.WRITE,
      svid: found.pid | 0,
      // The holder's owner handle is not kept (the VFS keeps a pid); an empty one is allowed.
      oh: Buffer.alloc(0),
      offset: BigInt(found.start),
      len: found.end === LOCK_END ? 0n : BigInt(found.end - found.start + 1),
    };
    return { stat: Nlm4Stat.DENIED, holder };
  }

  /** NLMPROC4_LOCK (and NM_LOCK, which never blocks). */
  async lock(
    call: RpcCall,
    args: { block: boolean; exclusive: boolean; lock: Nlm4Lock; reclaim: boolean },
  ): Promise<Nlm4Stat> {
    if (this.inGrace() !== args.reclaim) return Nlm4Stat.DENIED_GRACE_PERIOD;
    const target = await this.#target(call, args.exclusive, args.lock);
    if (typeof target === "number") return target;
    const key = waiterKey(target);
    const waiter = this.#waiters.get(key);
    // The blocked request resent (a non-blocking one for the same range just tries: the wait
    // is the same owner's, so it is not in its way).
    if (waiter !== undefined && args.block) return this.#poll(key, waiter);
    const cred = this.#exp.op(call).cred;
    try {
      await this.#exp.vfs.setlk(cred, target.ino, target.owner, target.lock, false);
    } catch (error) {
      const stat = statOf(error);
      if (stat !== Nlm4Stat.DENIED || !args.block) return stat;
      this.#startWaiter(call, key, { exclusive: args.exclusive, lock: args.lock }, target);
      return Nlm4Stat.BLOCKED;
    }
    this.#noteHeld(call, args.lock.callerName, target);
    return Nlm4Stat.GRANTED;
  }

  /** NLMPROC4_CANCEL: ends a blocked request; a lock its wait already took is given back. */
  async cancel(call: RpcCall, exclusive: boolean, alock: Nlm4Lock): Promise<Nlm4Stat> {
    if (this.inGrace()) return Nlm4Stat.DENIED_GRACE_PERIOD;
    const target = await this.#target(call, exclusive, alock);
    if (typeof target === "number") return target;
    const key = waiterKey(target);
    const waiter = this.#waiters.get(key);
    if (waiter === undefined) return Nlm4Stat.DENIED;
    this.#endWaiter(key, waiter);
    if (waiter.outcome === "granted") {
      const cred = this.#exp.op(call).cred;
      const unlock = { ...target.lock, type: LockType.UNLOCK };
      await this.#exp.vfs.setlk(cred, target.ino, target.owner, unlock, false);
    }
    return Nlm4Stat.GRANTED;
  }

  /** NLMPROC4_UNLOCK: GRANTED even when nothing was held, as the protocol asks. */
  async unlock(call: RpcCall, alock: Nlm4Lock): Promise<Nlm4Stat> {
    const target = await this.#target(call, false, alock);
    if (typeof target === "number") return target;
    const unlock = { ...target.lock, type: LockType.UNLOCK };
    const cred = this.#exp.op(call).cred;
    try {
      await this.#exp.vfs.setlk(cred, target.ino, target.owner, unlock, false);
    } catch (error) {
      return statOf(error);
    }
    return Nlm4Stat.GRANTED;
  }

  /**
   * FREE_ALL, and SM_NOTIFY from a rebooted client: every lock and wait of the host called
   * `name` (case-insensitive, as host names are). Not by address: clients behind one NAT
   * share it, and one's reboot must not free the others' locks.
   */
  async freeAll(name: string): Promise<void> {
    const wanted = name.toLowerCase();
    const callers = [...this.#addresses.keys()].filter((c) => c.toLowerCase() === wanted);
    for (const caller of callers) {
      for (const [key, waiter] of this.#waiters) {
        if (waiter.callerName === caller) this.#endWaiter(key, waiter);
      }
      const held = this.#held.get(caller);
      this.#held.delete(caller);
      this.#addresses.delete(caller);
      this.#monitor.remove(caller);
      for (const { ino, owner } of held?.values() ?? []) {
        await this.#exp.vfs.releaseLocks(ino, owner, { posix: true, flock: false });
      }
      this.#log?.info(`nlm: freed the locks of ${caller} (${held?.size ?? 0} files)`);
    }
  }

  /** Ends every wait (the server stops; the session's close drops the locks themselves). */
  close(): void {
    for (const [key, waiter] of this.#waiters) this.#endWaiter(key, waiter);
  }

  /** Blocked requests being waited for (tests, stats). */
  get waiting(): number {
    return this.#waiters.size;
  }

  #startWaiter(
    call: RpcCall,
    key: string,
    request: { exclusive: boolean; lock: Nlm4Lock },
    target: Target,
  ): void {
    const callerName = request.lock.callerName;
    const abort = new AbortController();
    const cred = this.#exp.op(call).cred;
    const waiter: Waiter = {
      callerName,
      request,
      address: call.client.address,
      target,
      abort,
      outcome: "waiting",
      idle: setTimeout(() => void this.#expire(key, waiter, cred), NLM_BLOCKED_IDLE_MS),
    };
    this.#waiters.set(key, waiter);
    this.#noteCaller(call, callerName);
    const { ino, owner, lock } = target;
    this.#exp.vfs.setlk(cred, ino, owner, lock, true, abort.signal).then(
      () => {
        waiter.outcome = "granted";
        this.#noteHeld(call, callerName, target);
        if (abort.signal.aborted && this.#waiters.get(key) !== waiter) {
          // Cancelled or idle while the grant was on its way: nobody will collect it.
          const unlock = { ...lock, type: LockType.UNLOCK };
          this.#exp.vfs.setlk(cred, ino, owner, unlock, false).catch((error: unknown) => {
            this.#log?.warn(`nlm: cannot give back an uncollected lock: ${String(error)}`);
          });
        } else void this.#sendGranted(key, waiter);
      },
      (error: unknown) => {
        waiter.outcome = abort.signal.aborted ? Nlm4Stat.DENIED : statOf(error);
      },
    );
  }

  /**
   * Tells the client at once that its blocked request is granted (NLM4_GRANTED to its lockd),
   * rather than at its next resend. Best effort: a client that cannot be reached (NAT) or does
   * not take it still collects the grant by resending; one that answers GRANTED has it.
   */
  async #sendGranted(key: string, waiter: Waiter): Promise<void> {
    const args = new XdrWriter(256);
    writeTestArgs(args, { cookie: randomBytes(8), ...waiter.request });
    try {
      const reply = await callLockd(
        waiter.address,
        NlmProc.GRANTED,
        args,
        this.#callbackPortmapPort,
      );
      if (readRes(reply).stat === Nlm4Stat.GRANTED && this.#waiters.get(key) === waiter) {
        this.#endWaiter(key, waiter);
      }
    } catch (error) {
      this.#log?.debug(`nlm: no GRANTED callback to ${waiter.address}: ${String(error)}`);
    }
  }

  /** A resent blocked LOCK: GRANTED once the wait took the lock, BLOCKED while it waits. */
  #poll(key: string, waiter: Waiter): Nlm4Stat {
    if (waiter.outcome === "waiting") {
      waiter.idle.refresh();
      return Nlm4Stat.BLOCKED;
    }
    this.#endWaiter(key, waiter);
    return waiter.outcome === "granted" ? Nlm4Stat.GRANTED : waiter.outcome;
  }

  /**
   * Nobody resent the request for NLM_BLOCKED_IDLE_MS: its caller is gone (a client whose
   * process gave up sends CANCEL, so this is a lost CANCEL or a dead client). A lock the wait
   * took for it would keep everyone out with nobody to release it: it is given back.
   */
  async #expire(key: string, waiter: Waiter, cred: Credentials): Promise<void> {
    this.#endWaiter(key, waiter);
    if (waiter.outcome !== "granted") return;
    const { ino, owner, lock } = waiter.target;
    try {
      await this.#exp.vfs.setlk(cred, ino, owner, { ...lock, type: LockType.UNLOCK }, false);
    } catch (error) {
      this.#log?.warn(`nlm: cannot give back an uncollected lock: ${String(error)}`);
    }
  }

  #endWaiter(key: string, waiter: Waiter): void {
    if (this.#waiters.get(key) === waiter) this.#waiters.delete(key);
    clearTimeout(waiter.idle);
    if (waiter.outcome === "waiting") waiter.abort.abort();
  }

  #noteCaller(call: RpcCall, callerName: string): void {
    let addresses = this.#addresses.get(callerName);
    if (addresses === undefined) {
      addresses = new Set();
      this.#addresses.set(callerName, addresses);
    }
    addresses.add(call.client.address);
    this.#monitor.add({ name: callerName, address: call.client.address });
  }

  #noteHeld(call: RpcCall, callerName: string, target: Target): void {
    this.#noteCaller(call, callerName);
    let held = this.#held.get(callerName);
    if (held === undefined) {
      held = new Map();
      this.#held.set(callerName, held);
    }
    held.set(`${target.ino}:${target.owner}`, { ino: target.ino, owner: target.owner });
  }

  /** The inode, owner and range of a request, or the status that refuses it. */
  async #target(call: RpcCall, exclusive: boolean, alock: Nlm4Lock): Promise<Target | Nlm4Stat> {
    const range = rangeOf(alock.offset, alock.len);
    if (range === undefined) return Nlm4Stat.FBIG;
    let ino: number;
    try {
      ino = (await this.#exp.op(call).resolve(alock.fh)).inode;
    } catch (error) {
      if (error instanceof NfsError) return Nlm4Stat.STALE_FH;
      throw error;
    }
    const type = exclusive ? LockType.WRITE : LockType.READ;
    const owner = ownerOf(alock.callerName, alock.svid);
    return { ino, owner, lock: { type, ...range, pid: alock.svid >>> 0 } };
  }
}

/** One id per (client host, lock owner on that host): what the VFS calls a lock owner. */
export function ownerOf(callerName: string, svid: number): bigint {
  const digest = createHash("sha256").update(`nlm\0${callerName}\0${svid}`).digest();
  return digest.readBigUInt64BE(0);
}

/** NLM's (offset, len) as the VFS's inclusive range; len 0 and ranges past its end reach EOF. */
export function rangeOf(offset: bigint, len: bigint): { start: number; end: number } | undefined {
  const endMax = BigInt(LOCK_END);
  if (offset >= endMax) return undefined;
  if (len === 0n) return { start: Number(offset), end: LOCK_END };
  const last = offset + len - 1n;
  return { start: Number(offset), end: last >= endMax ? LOCK_END : Number(last) };
}

function waiterKey(t: Target): string {
  return `${t.ino}:${t.owner}:${t.lock.type}:${t.lock.start}:${t.lock.end}`;
}

/** What a VFS failure means to an NLM client. */
function statOf(error: unknown): Nlm4Stat {
  if (error instanceof NfsError) return Nlm4Stat.STALE_FH;
  if (!(error instanceof FsError)) throw error;
  switch (error.errno) {
    case Errno.EAGAIN:
      return Nlm4Stat.DENIED;
    case Errno.EROFS:
      return Nlm4Stat.ROFS;
    case Errno.ENOLCK:
      return Nlm4Stat.DENIED_NOLOCKS;
    case Errno.ENOENT:
    case Errno.ESTALE:
      return Nlm4Stat.STALE_FH;
    case Errno.EFBIG:
      return Nlm4Stat.FBIG;
    default:
      return Nlm4Stat.FAILED;
  }
}
