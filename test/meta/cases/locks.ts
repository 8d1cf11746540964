/**
 * Locks on every engine (src/meta/locks.ts): two BaseMetas on one volume are two nodes, each
 * with its own session. POSIX ranges conflict per owner, split and merge; flock is per owner and
 * apart from POSIX locks; blocking waits are granted on release and end with EINTR on abort;
 * every lock goes with its owner's close, its session's close, and its session's expiry.
 */
import { beforeEach, expect, test } from "bun:test";
import { ROOT_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, LOCK_END, LockType } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { expectErrno, n, root } from "./util.ts";

const info = (timeoutMs?: number) => ({
  hostname: "test",
  pid: 1,
  version: "test",
  mountPoint: "",
  ...(timeoutMs !== undefined && { timeoutMs }),
});

const W = LockType.WRITE;
const R = LockType.READ;
const U = LockType.UNLOCK;
const range = (type: LockType, start: number, end: number, pid = 7) => ({ type, start, end, pid });

export function lockCases(backend: () => MetaBackend): void {
  let a: BaseMeta;
  let b: BaseMeta;
  let ino: number;
  beforeEach(async () => {
    await backend().reset();
    a = await formatted(backend());
    b = await backend().open();
    await b.load();
    await a.newSession(info());
    await b.newSession(info());
    ino = (await a.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0)).inode;
  });

  test("a write lock keeps other owners out; F_GETLK reports it with its pid", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, 99, 101), false);
    await expectErrno(b.setlk(root, ino, 1n, range(R, 50, 60), false), "EAGAIN");
    // Another owner of the same node conflicts too; the owner itself does not.
    await expectErrno(a.setlk(root, ino, 2n, range(R, 0, 0), false), "EAGAIN");
    await a.setlk(root, ino, 1n, range(R, 10, 20, 101), false);
    expect(await b.getlk(root, ino, 1n, range(R, 0, LOCK_END))).toEqual(range(W, 0, 9, 101));
    expect(await b.getlk(root, ino, 1n, range(R, 100, 200))).toEqual(range(U, 100, 200));
    // Read locks share: b reads 10..20 beside a's read lock, but not a's write range.
    await b.setlk(root, ino, 5n, range(R, 12, 15), false);
    await expectErrno(b.setlk(root, ino, 5n, range(R, 5, 15), false), "EAGAIN");
  });

  test("unlocking the middle splits a range; touching ranges of one type merge", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, 99), false);
    await a.setlk(root, ino, 1n, range(U, 40, 59), false);
    await b.setlk(root, ino, 1n, range(W, 40, 59), false);
    expect(await b.getlk(root, ino, 1n, range(W, 0, LOCK_END))).toEqual(range(W, 0, 39, 7));
    expect(await b.getlk(root, ino, 1n, range(W, 41, LOCK_END))).toEqual(range(W, 60, 99, 7));
    await b.setlk(root, ino, 1n, range(U, 0, LOCK_END), false);
    await a.setlk(root, ino, 1n, range(W, 40, 59), false);
    expect(await b.getlk(root, ino, 1n, range(R, 0, LOCK_END))).toEqual(range(W, 0, 99, 7));
    await a.setlk(root, ino, 1n, range(W, 100, LOCK_END), false);
    expect(await b.getlk(root, ino, 1n, range(R, 5, 5))).toEqual(range(W, 0, LOCK_END, 7));
  });

  test("flock is shared or exclusive per owner and apart from POSIX locks", async () => {
    await a.flock(root, ino, 1n, R, false);
    await b.flock(root, ino, 1n, R, false);
    await expectErrno(b.flock(root, ino, 2n, W, false), "EAGAIN");
    await a.setlk(root, ino, 3n, range(W, 0, LOCK_END), false); // no conflict with flock
    await a.flock(root, ino, 1n, U, false);
    await b.flock(root, ino, 1n, W, false); // b's own shared lock converts
    await expectErrno(a.flock(root, ino, 1n, R, false), "EAGAIN");
  });

  test("closing releases the owner's locks: POSIX on flush, flock on release", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, 9), false);
    await a.flock(root, ino, 1n, W, false);
    await a.releaseLocks(ino, 1n, { posix: true, flock: false });
    await b.setlk(root, ino, 1n, range(W, 0, 9), false);
    await expectErrno(b.flock(root, ino, 1n, R, false), "EAGAIN");
    await a.releaseLocks(ino, 1n, { posix: false, flock: true });
    await b.flock(root, ino, 1n, R, false);
  });

  test("a blocking wait is granted when the holder unlocks, and ends with EINTR on abort", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, 0), false);
    let granted = false;
    const waiting = b.setlk(root, ino, 1n, range(W, 0, 0), true).then(() => {
      granted = true;
    });
    await Bun.sleep(50);
    expect(granted).toBe(false);
    await a.setlk(root, ino, 1n, range(U, 0, 0), false);
    await waiting;
    expect(granted).toBe(true);
    const abort = new AbortController();
    const flockWait = a.flock(root, ino, 9n, W, false).then(() => {
      const blocked = b.setlk(root, ino, 2n, range(W, 0, 0), true, abort.signal);
      setTimeout(() => abort.abort(), 30);
      return blocked;
    });
    await expectErrno(flockWait, "EINTR");
  });

  /** Waiting records on the inode, every session's. */
  const queued = async () => {
    const rows = await a.core.read(async (tx) => tx.getLocks(ino));
    return [...rows.values()].flat().filter((r) => r.kind === "w").length;
  };
  /** Until `count` waits are queued in the engine (2 s at most: then the test's checks fail). */
  const untilQueued = async (count: number) => {
    const deadline = Date.now() + 2000;
    while ((await queued()) < count && Date.now() < deadline) await Bun.sleep(5);
  };

  test("blocking waits are granted in arrival order, across nodes", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, 0), false);
    const order: number[] = [];
    const nodes = [b, a, b];
    const waits: Promise<void>[] = [];
    for (const [i, node] of nodes.entries()) {
      const owner = BigInt(10 + i);
      const granted = node.setlk(root, ino, owner, range(W, 0, 0), true).then(async () => {
        order.push(i);
        await Bun.sleep(20);
        await node.setlk(root, ino, owner, range(U, 0, 0), false);
      });
      waits.push(granted);
      // Arrival is when the engine has its waiting record: wait for it before the next one.
      await untilQueued(i + 1);
    }
    // The holder's node wakes its own waiter (the second) first: it must still let b's go.
    await a.setlk(root, ino, 1n, range(U, 0, 0), false);
    // Nobody jumps the queue, not even a non-blocking request on a free moment.
    await expectErrno(a.setlk(root, ino, 99n, range(R, 0, 0), false), "EAGAIN");
    await Promise.all(waits);
    expect(order).toEqual([0, 1, 2]);
    await a.setlk(root, ino, 99n, range(W, 0, 0), false); // the queue is empty again
  });

  test("an owner upgrading its lock is not queued behind a waiter for it; aborted waits leave", async () => {
    await a.setlk(root, ino, 1n, range(R, 0, 9), false);
    const waiting = b.setlk(root, ino, 2n, range(W, 0, 9), true);
    await untilQueued(1);
    await a.setlk(root, ino, 1n, range(W, 0, 9), false); // b waits for it: no deadlock
    await a.setlk(root, ino, 1n, range(U, 0, 9), false);
    await waiting;
    await b.setlk(root, ino, 2n, range(U, 0, 9), false);

    await a.flock(root, ino, 5n, W, false);
    const abort = new AbortController();
    const aborted = b.flock(root, ino, 6n, W, true, abort.signal);
    await untilQueued(1);
    abort.abort();
    await expectErrno(aborted, "EINTR");
    expect(await queued()).toBe(0); // it left the queue
    await a.flock(root, ino, 5n, U, false);
    await b.flock(root, ino, 7n, W, false); // the aborted wait is no longer ahead of it
  });

  test("a session's locks go when it closes, and when another node expires it", async () => {
    await a.setlk(root, ino, 1n, range(W, 0, LOCK_END), false);
    await a.flock(root, ino, 1n, W, false);
    await a.closeSession();
    await b.setlk(root, ino, 1n, range(W, 0, LOCK_END), false);
    await b.flock(root, ino, 1n, W, false);
    const c = await backend().open();
    await c.load();
    const sid = await c.newSession(info(1000));
    await b.setlk(root, ino, 1n, range(U, 0, LOCK_END), false);
    await c.setlk(root, ino, 1n, range(W, 0, 0), false);
    await expectErrno(b.setlk(root, ino, 2n, range(W, 0, 0), false), "EAGAIN");
    // c goes silent; b expires it and may lock.
    const deadline = performance.now() + 10_000;
    for (;;) {
      const s = (await b.listSessions()).find((x) => x.sid === sid)!;
      if ((await b.clockMs()) - s.heartbeatAt > 1000) break;
      expect(performance.now()).toBeLessThan(deadline);
      await Bun.sleep(20);
    }
    expect(await b.expireSessions()).toBe(1);
    await b.setlk(root, ino, 2n, range(W, 0, 0), false);
  });
}
