/**
 * File locks shared by every node of a volume: BSD flock (whole file, shared or exclusive, per
 * open file description) and POSIX byte-range locks (per lock owner, ranges split and merge),
 * as JuiceFS keeps them in its engines. A lock's holder is (session, owner): owner ids come from
 * one node's kernel, so only the session makes them unique across nodes.
 *
 * The records of one session on one inode are one row (txn.ts LockRecord[]); taking a lock reads
 * every row of the inode and writes this session's, so two nodes racing for it conflict in the
 * engine and one retries, seeing the other's lock. The two kinds never conflict with each other,
 * as on Linux. Locks go when their owner unlocks, closes (FUSE flush / release), when this
 * session closes, and when another node expires this session (sessions.ts cleanupSession).
 *
 * A blocking request polls: from LOCK_POLL_MS_MIN doubling to LOCK_POLL_MS_MAX, so a waiter on
 * another node wakes within LOCK_POLL_MS_MAX of the release, and an AbortSignal (FUSE INTERRUPT)
 * ends the wait with EINTR. An unlock on this node wakes this node's waiters at once.
 *
 * Blocking waits are granted in arrival order, across nodes: a request that must wait writes a
 * waiting record ("w") with a ticket one past the inode's highest, in the same transaction that
 * found the conflict, and a request is granted only when no lock conflicts and no waiter with a
 * lower ticket wants a conflicting range; a non-blocking request does not jump the queue either
 * (EAGAIN). One exception keeps upgrades from deadlocking: an owner is never queued behind a
 * waiter whose range overlaps a lock that owner already holds (the waiter waits for it). The
 * grant removes the record; an aborted or failed wait removes it on the way out, and the
 * session's end (close or expiry) removes any that are left.
 */
import { randomUUID } from "node:crypto";
import { assert } from "../assert.ts";
import { fsError } from "../errors.ts";
import { LOCK_POLL_MS_MAX, LOCK_POLL_MS_MIN, LOCK_RECORDS_MAX } from "../limits.ts";
import { type FileLock, LOCK_END, LockType } from "../posix.ts";
import type { MetaCore } from "./core.ts";
import type { Ino } from "./interface.ts";
import type { LockRecord, MetaTxn } from "./txn.ts";

export interface LockRequest {
  ino: Ino;
  /** The kernel's lock owner id (FUSE lock_owner). */
  owner: bigint;
}

/** Rows as engines store them: JSON of LockRecord[] per session. */
export function decodeLockRows(
  rows: ReadonlyArray<{ sid: number; records: string }>,
): Map<number, LockRecord[]> {
  const out = new Map<number, LockRecord[]>();
  for (const row of rows) {
    const records = JSON.parse(row.records) as LockRecord[];
    assert(Array.isArray(records), `lock row of session ${row.sid}: not a list`);
    out.set(row.sid, records);
  }
  return out;
}

function validateRange(lock: FileLock): void {
  const ok =
    Number.isSafeInteger(lock.start) &&
    Number.isSafeInteger(lock.end) &&
    lock.start >= 0 &&
    lock.end >= lock.start;
  if (!ok) throw fsError("EINVAL", `lock range ${lock.start}..${lock.end}`);
  if (
    lock.type !== LockType.READ &&
    lock.type !== LockType.WRITE &&
    lock.type !== LockType.UNLOCK
  ) {
    throw fsError("EINVAL", `lock type ${lock.type}`);
  }
}

const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) =>
  a.start <= b.end && b.start <= a.end;

/** The first lock of another holder that keeps `kind`/`type` on `range` from being granted. */
function findConflict(
  all: Map<number, LockRecord[]>,
  sid: number,
  owner: string,
  kind: "f" | "p",
  type: 0 | 1,
  range: { start: number; end: number },
): LockRecord | undefined {
  for (const [holder, records] of all) {
    for (const r of records) {
      if (r.kind !== kind || (holder === sid && r.owner === owner)) continue;
      if (type === LockType.READ && r.type === LockType.READ) continue;
      if (overlaps(r, range)) return r;
    }
  }
  return undefined;
}

/**
 * Whether a waiter of another owner queued before `ticket` (Infinity: not queued) wants a range
 * of `kind` that conflicts with `type`/`range`, so this request must let it go first.
 */
function queuedAhead(
  all: Map<number, LockRecord[]>,
  sid: number,
  owner: string,
  want: { kind: "f" | "p"; type: 0 | 1; range: { start: number; end: number } },
  ticket: number,
): boolean {
  const held = (all.get(sid) ?? []).filter((r) => r.kind === want.kind && r.owner === owner);
  for (const [holder, records] of all) {
    for (const r of records) {
      if (r.kind !== "w" || r.waits !== want.kind || (holder === sid && r.owner === owner))
        continue;
      if ((r.ticket ?? 0) >= ticket) continue;
      if (want.type === LockType.READ && r.type === LockType.READ) continue;
      if (!overlaps(r, want.range)) continue;
      // It may be waiting for what this owner holds: queueing behind it would deadlock.
      if (held.some((h) => overlaps(h, r))) continue;
      return true;
    }
  }
  return false;
}

/** The ticket after every waiter's on the inode. */
function nextTicket(all: Map<number, LockRecord[]>): number {
  let max = 0;
  for (const records of all.values()) {
    for (const r of records) if (r.kind === "w") max = Math.max(max, r.ticket ?? 0);
  }
  return max + 1;
}

/**
 * A request that cannot be granted now: queues it (once) when it is a blocking wait's, so
 * later requests let it go first. Returns the records this session keeps, or undefined when
 * nothing changes.
 */
function queueIfWaiting(
  all: Map<number, LockRecord[]>,
  mine: readonly LockRecord[],
  owner: string,
  want: { kind: "f" | "p"; type: 0 | 1; range: { start: number; end: number }; pid: number },
  waitId: string | undefined,
): LockRecord[] | undefined {
  if (waitId === undefined || mine.some((r) => r.kind === "w" && r.wait === waitId))
    return undefined;
  const record: LockRecord = {
    kind: "w",
    waits: want.kind,
    wait: waitId,
    ticket: nextTicket(all),
    owner,
    type: want.type,
    ...want.range,
    pid: want.pid,
  };
  return [...mine, record];
}

/** The ticket of this session's waiting record `waitId`, Infinity when it has none. */
function ticketOf(mine: readonly LockRecord[], waitId: string | undefined): number {
  if (waitId === undefined) return Number.POSITIVE_INFINITY;
  const record = mine.find((r) => r.kind === "w" && r.wait === waitId);
  return record?.ticket ?? Number.POSITIVE_INFINITY;
}

/**
 * The owner's POSIX ranges after setting `lock` over them: the range is cut out of what it held
 * (splitting a range that spans it), then added back with the new type unless it unlocks, and
 * touching ranges of one type merge, as fcntl(2) describes.
 */
export function applyRange(
  held: readonly LockRecord[],
  lock: LockRecord | undefined,
  cut: { start: number; end: number },
): LockRecord[] {
  const out: LockRecord[] = [];
  for (const r of held) {
    if (!overlaps(r, cut)) {
      out.push(r);
      continue;
    }
    if (r.start < cut.start) out.push({ ...r, end: cut.start - 1 });
    if (r.end > cut.end) out.push({ ...r, start: cut.end + 1 });
  }
  if (lock) out.push(lock);
  out.sort((a, b) => a.start - b.start);
  const merged: LockRecord[] = [];
  for (const r of out) {
    const last = merged[merged.length - 1];
    if (last && last.type === r.type && last.end !== LOCK_END && last.end + 1 >= r.start) {
      merged[merged.length - 1] = { ...last, end: Math.max(last.end, r.end), pid: r.pid };
    } else {
      merged.push(r);
    }
  }
  return merged;
}

/** F_GETLK: the first lock of another owner that conflicts with `lock`, or UNLOCK. */
export async function getlk(core: MetaCore, req: LockRequest, lock: FileLock): Promise<FileLock> {
  validateRange(lock);
  if (lock.type === LockType.UNLOCK) throw fsError("EINVAL", "F_GETLK with F_UNLCK");
  const sid = core.sid;
  const owner = req.owner.toString();
  const all = await core.read(async (tx) => tx.getLocks(req.ino));
  const found = findConflict(all, sid, owner, "p", lock.type, lock);
  if (!found) return { ...lock, type: LockType.UNLOCK };
  return { type: found.type, start: found.start, end: found.end, pid: found.pid };
}

/**
 * One attempt at a POSIX lock or unlock: true when done, false when another owner's lock (or an
 * earlier waiter) is in the way. `waitId` names the blocking wait making the attempt: it is
 * queued when it cannot be granted, and leaves the queue when it is.
 */
async function trySetlk(
  core: MetaCore,
  req: LockRequest,
  lock: FileLock,
  waitId?: string,
): Promise<boolean> {
  const sid = core.sid;
  const owner = req.owner.toString();
  const granted = await core.txn(async (tx) => {
    const all = await tx.getLocks(req.ino);
    const mine = all.get(sid) ?? [];
    if (lock.type === LockType.UNLOCK && mine.length === 0) return true;
    if (lock.type !== LockType.UNLOCK) {
      const want = { kind: "p" as const, type: lock.type, range: lock, pid: lock.pid };
      if (
        findConflict(all, sid, owner, "p", lock.type, lock) ||
        queuedAhead(all, sid, owner, want, ticketOf(mine, waitId))
      ) {
        const queued = queueIfWaiting(all, mine, owner, want, waitId);
        if (queued) writeOwn(tx, req.ino, sid, queued);
        return false;
      }
    }
    const isOwn = (r: LockRecord) => r.kind === "p" && r.owner === owner;
    const isThisWait = (r: LockRecord) =>
      r.kind === "w" && waitId !== undefined && r.wait === waitId;
    const added =
      lock.type === LockType.UNLOCK
        ? undefined
        : {
            kind: "p" as const,
            owner,
            type: lock.type,
            start: lock.start,
            end: lock.end,
            pid: lock.pid,
          };
    const own = applyRange(mine.filter(isOwn), added, lock);
    const rest = mine.filter((r) => !isOwn(r) && !isThisWait(r));
    writeOwn(tx, req.ino, sid, [...rest, ...own]);
    return true;
  });
  if (granted) noteHeld(core, req.ino, lock.type !== LockType.UNLOCK);
  else core.lockedInodes.add(req.ino);
  return granted;
}

/** One attempt at flock(2): LOCK_SH (READ), LOCK_EX (WRITE) or LOCK_UN (UNLOCK); as trySetlk. */
async function tryFlock(
  core: MetaCore,
  req: LockRequest,
  type: LockType,
  waitId?: string,
): Promise<boolean> {
  const sid = core.sid;
  const owner = req.owner.toString();
  const granted = await core.txn(async (tx) => {
    const all = await tx.getLocks(req.ino);
    const mine = all.get(sid) ?? [];
    const isOwn = (r: LockRecord) => r.kind === "f" && r.owner === owner;
    if (type === LockType.UNLOCK && !mine.some(isOwn)) return true;
    const whole = { start: 0, end: LOCK_END };
    if (type !== LockType.UNLOCK) {
      const want = { kind: "f" as const, type, range: whole, pid: 0 };
      if (
        findConflict(all, sid, owner, "f", type, whole) ||
        queuedAhead(all, sid, owner, want, ticketOf(mine, waitId))
      ) {
        const queued = queueIfWaiting(all, mine, owner, want, waitId);
        if (queued) writeOwn(tx, req.ino, sid, queued);
        return false;
      }
    }
    const isThisWait = (r: LockRecord) =>
      r.kind === "w" && waitId !== undefined && r.wait === waitId;
    const rest = mine.filter((r) => !isOwn(r) && !isThisWait(r));
    if (type !== LockType.UNLOCK) rest.push({ kind: "f", owner, type, ...whole, pid: 0 });
    writeOwn(tx, req.ino, sid, rest);
    return true;
  });
  if (granted) noteHeld(core, req.ino, type !== LockType.UNLOCK);
  else core.lockedInodes.add(req.ino);
  return granted;
}

/** Takes a wait's record out of the queue (it was aborted or failed). */
async function leaveQueue(core: MetaCore, ino: Ino, waitId: string): Promise<void> {
  const sid = core.sid;
  await core.txn(async (tx) => {
    const mine = (await tx.getLocks(ino)).get(sid) ?? [];
    const kept = mine.filter((r) => !(r.kind === "w" && r.wait === waitId));
    if (kept.length !== mine.length) tx.setLocks(ino, sid, kept);
  });
  // Whoever queued behind it may go now.
  wakeLocalWaiters(core);
}

function writeOwn(tx: MetaTxn, ino: Ino, sid: number, records: LockRecord[]): void {
  if (records.length > LOCK_RECORDS_MAX) throw fsError("ENOLCK", "too many lock ranges");
  tx.setLocks(ino, sid, records);
}

/** Remembers where this session may hold locks, so closing a file without any costs no read. */
function noteHeld(core: MetaCore, ino: Ino, locked: boolean): void {
  if (locked) core.lockedInodes.add(ino);
  else wakeLocalWaiters(core);
}

/** Something was unlocked here: this node's waiters try again now, not at their next poll. */
function wakeLocalWaiters(core: MetaCore): void {
  for (const wake of [...core.lockWaiters]) wake();
}

/**
 * Retries `attempt` (queued under one wait id) until it is granted, polling with backoff, until
 * `signal` aborts; an aborted or failed wait leaves the queue.
 */
async function waitFor(
  core: MetaCore,
  ino: Ino,
  attempt: (waitId: string) => Promise<boolean>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const waitId = randomUUID();
  let delayMs = LOCK_POLL_MS_MIN;
  let queued = false;
  try {
    for (;;) {
      if (signal?.aborted) throw fsError("EINTR", "lock wait interrupted");
      if (await attempt(waitId)) return;
      queued = true;
      await sleepUnlessAborted(core, delayMs, signal);
      delayMs = Math.min(delayMs * 2, LOCK_POLL_MS_MAX);
    }
  } catch (error) {
    if (queued) {
      // Best effort: if the engine is down too, the session's end removes the record.
      await leaveQueue(core, ino, waitId).catch(() => undefined);
    }
    throw error;
  }
}

function sleepUnlessAborted(
  core: MetaCore,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      core.lockWaiters.delete(done);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    core.lockWaiters.add(done);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** F_SETLK (`wait` false: EAGAIN on conflict) or F_SETLKW (waits until granted or aborted). */
export async function setlk(
  core: MetaCore,
  req: LockRequest,
  lock: FileLock,
  wait: boolean,
  signal?: AbortSignal,
): Promise<void> {
  validateRange(lock);
  if (core.sid === 0) throw fsError("ENOLCK", "locks need a session");
  if (!wait || lock.type === LockType.UNLOCK) {
    if (!(await trySetlk(core, req, lock))) throw fsError("EAGAIN");
    return;
  }
  return waitFor(core, req.ino, (waitId) => trySetlk(core, req, lock, waitId), signal);
}

export async function flock(
  core: MetaCore,
  req: LockRequest,
  type: LockType,
  wait: boolean,
  signal?: AbortSignal,
): Promise<void> {
  if (core.sid === 0) throw fsError("ENOLCK", "locks need a session");
  if (!wait || type === LockType.UNLOCK) {
    if (!(await tryFlock(core, req, type))) throw fsError("EAGAIN");
    return;
  }
  return waitFor(core, req.ino, (waitId) => tryFlock(core, req, type, waitId), signal);
}

/**
 * Drops what `owner` holds on `ino` (POSIX ranges on close of any of its descriptors, flock on
 * the release of its open file description). Costs nothing where this session took no lock.
 */
export async function releaseLocks(
  core: MetaCore,
  req: LockRequest,
  kinds: { posix: boolean; flock: boolean },
): Promise<void> {
  const sid = core.sid;
  if (sid === 0 || !core.lockedInodes.has(req.ino)) return;
  const owner = req.owner.toString();
  const left = await core.txn(async (tx) => {
    const mine = (await tx.getLocks(req.ino)).get(sid) ?? [];
    const drop = (r: LockRecord) =>
      r.owner === owner && ((r.kind === "p" && kinds.posix) || (r.kind === "f" && kinds.flock));
    const kept = mine.filter((r) => !drop(r));
    if (kept.length !== mine.length) tx.setLocks(req.ino, sid, kept);
    return kept.length;
  });
  if (left === 0) core.lockedInodes.delete(req.ino);
  wakeLocalWaiters(core);
}

/** Removes every lock of session `sid` (it closed or expired). */
export async function dropSessionLocks(core: MetaCore, sid: number): Promise<void> {
  const inodes = await core.read(async (tx) => tx.listLockedInodes(sid));
  for (const ino of inodes) await core.txn(async (tx) => tx.setLocks(ino, sid, []));
  if (sid === core.sid) core.lockedInodes.clear();
  if (inodes.length > 0) wakeLocalWaiters(core);
}
