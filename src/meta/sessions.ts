/**
 * Sessions: each node that serves a volume registers one, stamps a heartbeat into it, and a
 * live node (or a command that reads sessions, such as status and destroy) expires those whose
 * heartbeat is older than their own timeout, cleaning up what they held open.
 *
 * Rules, so that a node that only stalled (SIGSTOP, a long GC pause, a suspended VM) is never
 * mistaken for alive by itself nor robbed while alive:
 * - Time is the engine's clock (MetaEngine.clockMs): Redis TIME, or the SQLite host. A node
 *   with a wrong wall clock neither expires live sessions nor keeps dead ones.
 * - Each session records its own timeoutMs, so the node that expires it needs no flag to agree.
 * - Expiry is two steps. First a transaction marks the session expired, re-checking its
 *   heartbeat against the same clock reading; a heartbeat racing it conflicts and one of the
 *   two retries. A marked session never comes back: its heartbeat sees the mark (or finds the
 *   session gone) and the node registers a new session. Then its open rows are removed (an
 *   unlinked file open nowhere else is deleted) and the session record last, so a cleaner
 *   that dies half-way leaves a marked session the next one finishes.
 * - The node that comes back registers again under a new sid and re-registers its open files
 *   first, so a cleaner still at work keeps those it has not reached yet. Files it already
 *   deleted are lost: that node answers ESTALE for them, never stale or zero data.
 */
import { SESSION_EXPIRE_MS, SESSION_HEARTBEAT_MS, SESSION_TIMEOUT_MS_MIN } from "../limits.ts";
import type { MetaCore } from "./core.ts";
import type { Ino, SessionInfo } from "./interface.ts";
import { dropSessionLocks } from "./locks.ts";
import { deleteInode } from "./remove.ts";

/** Open rows re-registered per transaction when a node registers again. */
const REREGISTER_BATCH = 128;
/** Rounds of open-row removal before giving up until the next expiry pass (rows may be added
 * concurrently by the stalled node before it notices). */
const CLEANUP_ROUNDS_MAX = 8;

export type NewSessionInfo = Omit<SessionInfo, "sid" | "startedAt" | "heartbeatAt" | "expiredAt">;

export function sessionTimeoutMs(s: Pick<SessionInfo, "timeoutMs">): number {
  return s.timeoutMs ?? SESSION_EXPIRE_MS;
}

/** How often a session with this timeout beats: five beats fit in one timeout. */
export function heartbeatIntervalMs(timeoutMs: number): number {
  return Math.max(1, Math.min(SESSION_HEARTBEAT_MS, Math.floor(timeoutMs / 5)));
}

/** Dead by the engine clock `nowMs`: marked expired, or silent for longer than its timeout. */
export function isExpired(s: SessionInfo, nowMs: number): boolean {
  return s.expiredAt !== undefined || nowMs - s.heartbeatAt > sessionTimeoutMs(s);
}

export async function registerSession(core: MetaCore, info: NewSessionInfo): Promise<number> {
  const timeoutMs = info.timeoutMs ?? SESSION_EXPIRE_MS;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < SESSION_TIMEOUT_MS_MIN) {
    throw new RangeError(`session timeout ${timeoutMs} ms is below ${SESSION_TIMEOUT_MS_MIN} ms`);
  }
  const sid = await core.engine.incrCounter("nextSession", 1);
  const t = await core.engine.clockMs();
  const session: SessionInfo = { ...info, timeoutMs, sid, startedAt: t, heartbeatAt: t };
  await core.txn(async (tx) => tx.setSession(session));
  return sid;
}

/** Stamps the heartbeat of `sid`; false when that session was expired (or removed) meanwhile. */
export async function refreshSession(core: MetaCore, sid: number): Promise<boolean> {
  const nowMs = await core.engine.clockMs();
  return core.txn(async (tx) => {
    const s = await tx.getSession(sid);
    if (!s || s.expiredAt !== undefined) return false;
    tx.setSession({ ...s, heartbeatAt: Math.max(s.heartbeatAt, nowMs) });
    return true;
  });
}

/**
 * Re-registers the inodes open here under `sid` (a session just registered again); returns
 * those whose inode is gone: the data of these files was deleted while this node was expired.
 */
export async function reregisterOpens(
  core: MetaCore,
  sid: number,
  inodes: readonly Ino[],
): Promise<Ino[]> {
  const lost: Ino[] = [];
  for (let i = 0; i < inodes.length; i += REREGISTER_BATCH) {
    const batch = inodes.slice(i, i + REREGISTER_BATCH);
    const gone = await core.txn(async (tx) => {
      const attrs = await tx.getAttrs(batch);
      const missing: Ino[] = [];
      batch.forEach((ino, j) => {
        if (attrs[j] === undefined) missing.push(ino);
        else tx.addOpen(sid, ino);
      });
      return missing;
    });
    lost.push(...gone);
  }
  return lost;
}

/** Expires every session but `ownSid` that is dead by the engine clock; returns how many. */
export async function expireSessions(core: MetaCore, ownSid: number): Promise<number> {
  const nowMs = await core.engine.clockMs();
  const sessions = await core.read(async (tx) => tx.listSessions());
  let expired = 0;
  for (const s of sessions) {
    if (s.sid === ownSid || !isExpired(s, nowMs)) continue;
    if (!(await markExpired(core, s.sid, nowMs))) continue;
    await cleanupSession(core, s.sid);
    expired++;
  }
  return expired;
}

/** Marks `sid` expired unless its heartbeat, read in the same transaction, says it is alive. */
async function markExpired(core: MetaCore, sid: number, nowMs: number): Promise<boolean> {
  return core.txn(async (tx) => {
    const s = await tx.getSession(sid);
    if (!s || !isExpired(s, nowMs)) return false;
    if (s.expiredAt === undefined) tx.setSession({ ...s, expiredAt: nowMs });
    return true;
  });
}

/**
 * Removes the locks and open rows of a session that is expired (marked, or its own node re-registered),
 * deleting unlinked files no other session holds, then the session record.
 */
export async function cleanupSession(core: MetaCore, sid: number): Promise<void> {
  for (let round = 0; round < CLEANUP_ROUNDS_MAX; round++) {
    // Its locks first: waiters on other nodes get them at their next poll.
    await dropSessionLocks(core, sid);
    const inodes = await core.read(async (tx) => tx.listOpenInodes(sid));
    for (const ino of inodes) {
      await core.txn(async (tx) => {
        const attr = await tx.getAttr(ino);
        const others = (await tx.listOpenSessions(ino)).filter((s) => s !== sid);
        tx.deleteOpen(sid, ino);
        if (attr && attr.nlink === 0 && others.length === 0) deleteInode(tx, ino, attr);
      });
    }
    // The record goes only once no row is left: rows are found through it.
    const done = await core.txn(async (tx) => {
      if ((await tx.listOpenInodes(sid)).length > 0) return false;
      if ((await tx.listLockedInodes(sid)).length > 0) return false;
      tx.deleteSession(sid);
      return true;
    });
    if (done) return;
  }
}
