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
 * ends the wait with EINTR. An unlock on this node wakes this node's waiters at once. Waiters
 * are not queued: whoever tries first after a release wins.
 */
import { assert } from "../assert.ts";
import { FsError, fsError } from "../errors.ts";
import { LOCK_POLL_MS_MAX, LOCK_POLL_MS_MIN, LOCK_RECORDS_MAX } from "../limits.ts";
import { Errno, type FileLock, LOCK_END, LockType } from "../posix.ts";
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

/** One attempt at a POSIX lock or unlock; EAGAIN when another owner holds a conflicting one. */
async function trySetlk(core: MetaCore, req: LockRequest, lock: FileLock): Promise<void> {
  const sid = core.sid;
  const owner = req.owner.toString();
  await core.txn(async (tx) => {
    const all = await tx.getLocks(req.ino);
    const mine = all.get(sid) ?? [];
    if (lock.type === LockType.UNLOCK && mine.length === 0) return;
    if (lock.type !== LockType.UNLOCK) {
      if (findConflict(all, sid, owner, "p", lock.type, lock)) throw fsError("EAGAIN");
    }
    const isOwn = (r: LockRecord) => r.kind === "p" && r.owner === owner;
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
    writeOwn(tx, req.ino, sid, [...mine.filter((r) => !isOwn(r)), ...own]);
  });
  noteHeld(core, req.ino, lock.type !== LockType.UNLOCK);
}

/** One attempt at flock(2): LOCK_SH (READ), LOCK_EX (WRITE) or LOCK_UN (UNLOCK). */
async function tryFlock(core: MetaCore, req: LockRequest, type: LockType): Promise<void> {
  const sid = core.sid;
  const owner = req.owner.toString();
  await core.txn(async (tx) => {
    const all = await tx.getLocks(req.ino);
    const mine = all.get(sid) ?? [];
    const isOwn = (r: LockRecord) => r.kind === "f" && r.owner === owner;
    if (type === LockType.UNLOCK && !mine.some(isOwn)) return;
    const whole = { start: 0, end: LOCK_END };
    if (type !== LockType.UNLOCK && findConflict(all, sid, owner, "f", type, whole)) {
      throw fsError("EAGAIN");
    }
    const rest = mine.filter((r) => !isOwn(r));
    if (type !== LockType.UNLOCK) rest.push({ kind: "f", owner, type, ...whole, pid: 0 });
    writeOwn(tx, req.ino, sid, rest);
  });
  noteHeld(core, req.ino, type !== LockType.UNLOCK);
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

/** Retries `attempt` while it fails with EAGAIN, polling with backoff, until `signal` aborts. */
async function waitFor(
  core: MetaCore,
  attempt: () => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  let delayMs = LOCK_POLL_MS_MIN;
  for (;;) {
    if (signal?.aborted) throw fsError("EINTR", "lock wait interrupted");
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof FsError) || error.errno !== Errno.EAGAIN) throw error;
    }
    await sleepUnlessAborted(core, delayMs, signal);
    delayMs = Math.min(delayMs * 2, LOCK_POLL_MS_MAX);
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
  const attempt = () => trySetlk(core, req, lock);
  if (!wait || lock.type === LockType.UNLOCK) return attempt();
  return waitFor(core, attempt, signal);
}

export async function flock(
  core: MetaCore,
  req: LockRequest,
  type: LockType,
  wait: boolean,
  signal?: AbortSignal,
): Promise<void> {
  if (core.sid === 0) throw fsError("ENOLCK", "locks need a session");
  const attempt = () => tryFlock(core, req, type);
  if (!wait || type === LockType.UNLOCK) return attempt();
  return waitFor(core, attempt, signal);
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
