/**
 * Sessions on every engine: timestamps from the engine clock, expiry by each session's own
 * timeout, and a node that was expired while it stalled registering again, with its open files
 * either kept or answering ESTALE (src/meta/sessions.ts).
 */
import { beforeEach, expect, test } from "bun:test";
import { ROOT_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, type SessionInfo } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { expectErrno, n, root } from "./util.ts";

/** The shortest timeout a session may declare: keeps these tests near one second each. */
const TIMEOUT_MS = 1000;
const WAIT_MS_MAX = 10_000;

const info = (timeoutMs?: number) => ({
  hostname: "test",
  pid: 1,
  version: "test",
  mountPoint: "",
  ...(timeoutMs !== undefined && { timeoutMs }),
});

/** Waits until the engine clock says `s` is past its timeout (polling; no fixed sleep). */
async function waitUntilDead(meta: BaseMeta, s: SessionInfo): Promise<void> {
  const deadline = performance.now() + WAIT_MS_MAX;
  while ((await meta.clockMs()) - s.heartbeatAt <= (s.timeoutMs ?? 0)) {
    if (performance.now() > deadline) throw new Error(`session ${s.sid} never expired`);
    await Bun.sleep(20);
  }
}

export function sessionCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  let other: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
    other = await backend().open();
    await other.load();
  });
  const session = async (meta: BaseMeta, sid: number): Promise<SessionInfo | undefined> =>
    (await meta.listSessions()).find((s) => s.sid === sid);

  test("a session is stamped by the engine clock and records its timeout", async () => {
    const before = await m.clockMs();
    const sid = await m.newSession(info(TIMEOUT_MS));
    const after = await m.clockMs();
    const s = await session(other, sid);
    expect(s?.timeoutMs).toBe(TIMEOUT_MS);
    expect(s!.heartbeatAt).toBeGreaterThanOrEqual(before);
    expect(s!.heartbeatAt).toBeLessThanOrEqual(after);
    expect(s!.startedAt).toBe(s!.heartbeatAt);
    const defaulted = await other.newSession(info());
    expect((await session(m, defaulted))?.timeoutMs).toBe(5 * 60_000);
  });

  test("expireSessions removes only sessions past their own timeout, never its own", async () => {
    const short = await m.newSession(info(TIMEOUT_MS));
    const mine = await other.newSession(info(TIMEOUT_MS));
    const third = await backend().open();
    await third.load();
    const long = await third.newSession(info());
    await waitUntilDead(other, (await session(other, short))!);
    // `other` is as silent as `short`, but a node never expires itself.
    expect(await other.expireSessions()).toBe(1);
    const left = (await other.listSessions()).map((s) => s.sid);
    expect(left).toEqual([mine, long]);
    await waitUntilDead(third, (await session(third, mine))!);
    expect(await third.expireSessions()).toBe(1);
    expect((await third.listSessions()).map((s) => s.sid)).toEqual([long]);
  });

  test("a heartbeat within the timeout keeps the session alive", async () => {
    const sid = await m.newSession(info(TIMEOUT_MS));
    const first = (await session(m, sid))!;
    const deadline = performance.now() + WAIT_MS_MAX;
    while ((await m.clockMs()) - first.heartbeatAt < TIMEOUT_MS * 1.5) {
      expect(performance.now()).toBeLessThan(deadline);
      await m.heartbeat();
      expect(await other.expireSessions()).toBe(0);
      await Bun.sleep(100);
    }
    expect((await session(other, sid))?.heartbeatAt).toBeGreaterThan(first.heartbeatAt);
  });

  test("a node expired while it stalled registers again; its deleted open file is ESTALE", async () => {
    const oldSid = await m.newSession(info(TIMEOUT_MS));
    await other.newSession(info());
    const lost = await m.mknod(root, ROOT_INODE, n("lost"), FileType.File, 0o644, 0, 0);
    const kept = await m.mknod(root, ROOT_INODE, n("kept"), FileType.File, 0o644, 0, 0);
    const id = await m.newSliceId();
    await m.write(lost.inode, 0, { id, size: 100, off: 0, len: 100, pos: 0 });
    await m.open(root, lost.inode, 0);
    await m.open(root, kept.inode, 0);
    await other.unlink(root, ROOT_INODE, n("lost"));
    expect((await other.getattr(root, lost.inode)).nlink).toBe(0); // held open by m
    await waitUntilDead(other, (await session(other, oldSid))!);
    expect(await other.expireSessions()).toBe(1);
    expect(await other.releaseDeletedFiles(10)).toBe(1); // the data is gone for good
    // Before m's next heartbeat: its reads of the deleted file fail, never read as a hole.
    await expectErrno(m.readChunk(lost.inode, 0), "ESTALE");
    await m.heartbeat();
    const sessions = await other.listSessions();
    expect(sessions.map((s) => s.sid)).not.toContain(oldSid);
    expect(m.core.sid).not.toBe(oldSid);
    expect(sessions.map((s) => s.sid)).toContain(m.core.sid);
    expect((await session(other, m.core.sid))?.timeoutMs).toBe(TIMEOUT_MS);
    await expectErrno(m.getattr(root, lost.inode), "ESTALE");
    await expectErrno(m.readChunk(lost.inode, 0), "ESTALE");
    // The file that was still linked is registered again: unlinked now, it stays while open.
    await other.unlink(root, ROOT_INODE, n("kept"));
    expect((await m.getattr(root, kept.inode)).nlink).toBe(0);
    expect(await other.expireSessions()).toBe(0);
    await m.release(kept.inode);
    await expectErrno(other.getattr(root, kept.inode), "ENOENT");
    await m.release(lost.inode);
  });

  test("a released file stays registered for minutes: a reopen an epoch later needs no write", async () => {
    await m.newSession(info());
    await other.newSession(info());
    const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
    await m.open(root, f.inode, 0);
    await m.release(f.inode);
    // Longer than the old linger of 1 s; the heartbeat drops rows released longer ago than it.
    await Bun.sleep(1200);
    await m.heartbeat();
    // Still registered: deleted through another session, the file is kept for m (nlink 0)...
    await other.unlink(root, ROOT_INODE, n("f"));
    expect((await other.getattr(root, f.inode)).nlink).toBe(0);
    // ... until m's row goes (after OPEN_LINGER_MS, or at the end of its session).
    await m.unregisterReleased(Number.POSITIVE_INFINITY);
    await expectErrno(other.getattr(root, f.inode), "ENOENT");
  });

  test("files registered ahead (a prefetch) are held like released ones, and open as usual", async () => {
    await m.newSession(info());
    await other.newSession(info());
    const a = await m.mknod(root, ROOT_INODE, n("a"), FileType.File, 0o644, 0, 0);
    const b = await m.mknod(root, ROOT_INODE, n("b"), FileType.File, 0o644, 0, 0);
    await m.open(root, b.inode, 0); // open already: left alone
    await m.registerAhead([a.inode, b.inode]);
    // a is held for m though m never opened it: deleted elsewhere, it stays (nlink 0).
    await other.unlink(root, ROOT_INODE, n("a"));
    expect((await other.getattr(root, a.inode)).nlink).toBe(0);
    expect((await m.open(root, a.inode, 0)).nlink).toBe(0);
    await m.release(a.inode); // unlinked: its last close here frees it
    await expectErrno(other.getattr(root, a.inode), "ENOENT");
    await m.release(b.inode);
    await other.unlink(root, ROOT_INODE, n("b"));
    expect((await other.getattr(root, b.inode)).nlink).toBe(0); // b's row lingers
    await m.unregisterReleased(Number.POSITIVE_INFINITY);
    await expectErrno(other.getattr(root, b.inode), "ENOENT");
  });

  test("a file this session released (or registered ahead) and then unlinks is freed at once", async () => {
    await m.newSession(info());
    await other.newSession(info());
    const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
    const g = await m.mknod(root, ROOT_INODE, n("g"), FileType.File, 0o644, 0, 0);
    await m.open(root, f.inode, 0);
    await m.release(f.inode);
    await m.registerAhead([g.inode]);
    await m.unlink(root, ROOT_INODE, n("f"));
    // Replaced by a rename (a checkpoint saved as temp file, then renamed over the old one).
    await m.mknod(root, ROOT_INODE, n("tmp"), FileType.File, 0o644, 0, 0);
    await m.rename(root, ROOT_INODE, n("tmp"), ROOT_INODE, n("g"), 0);
    // Nothing here has them open: their rows held nothing, and went with the last link.
    await expectErrno(other.getattr(root, f.inode), "ENOENT");
    await expectErrno(other.getattr(root, g.inode), "ENOENT");
  });

  test("a session marked expired never comes back, even if its heartbeat races the cleanup", async () => {
    const oldSid = await m.newSession(info(TIMEOUT_MS));
    await other.newSession(info());
    const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
    await m.open(root, f.inode, 0);
    await other.unlink(root, ROOT_INODE, n("f"));
    await waitUntilDead(other, (await session(other, oldSid))!);
    // Both at once: either the heartbeat lands first (and the session lives on) or the expiry
    // does (and m registers again); never a live session whose open file was deleted.
    const [expired] = await Promise.all([other.expireSessions(), m.heartbeat()]);
    await m.heartbeat();
    const sids = (await other.listSessions()).map((s) => s.sid);
    expect(sids).toContain(m.core.sid);
    if (expired === 0) {
      expect(m.core.sid).toBe(oldSid);
      expect((await m.getattr(root, f.inode)).nlink).toBe(0);
    } else {
      expect(sids).not.toContain(oldSid);
      // The cleanup and m's re-registration of its opens race too (serializably): the file is
      // deleted, and m gets ESTALE, or m holds it again first, and it lives on for m.
      const deleted = await other.getattr(root, f.inode).then(
        () => false,
        () => true,
      );
      if (deleted) await expectErrno(m.getattr(root, f.inode), "ESTALE");
      else expect((await m.getattr(root, f.inode)).nlink).toBe(0);
    }
    await m.release(f.inode);
  });
}
