import { beforeEach, describe, expect, test } from "bun:test";
import {
  CHUNK_BYTES,
  DELETED_CHUNKS_PER_TXN,
  ROOT_INODE,
  TRASH_INODE,
} from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, type Slice } from "../../../src/meta/interface.ts";
import { chargedBytes } from "../../../src/meta/policy.ts";
import { cleanupSession } from "../../../src/meta/sessions.ts";
import type { MetaTxn, TxnOptions } from "../../../src/meta/txn.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { alice, expectErrno, n, root } from "./util.ts";

const SESSION = { hostname: "test", pid: 1, version: "test", mountPoint: "" };

export function dataCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });
  const file = (name = "f") => m.mknod(root, ROOT_INODE, n(name), FileType.File, 0o644, 0, 0);
  const slice = async (pos: number, len: number): Promise<Slice> => ({
    id: await m.newSliceId(),
    size: len,
    off: 0,
    len,
    pos,
  });

  describe("chunks and slices", () => {
    test("write appends slices in order and extends the size", async () => {
      const f = await file();
      const s1 = await slice(0, 100);
      const s2 = await slice(50, 100);
      await m.write(f.inode, 0, s1);
      const a = await m.write(f.inode, 0, s2);
      expect(a.size).toBe(150);
      expect(await m.readChunk(f.inode, 0)).toEqual([s1, s2]);
      const s3 = await slice(0, 10);
      expect((await m.write(f.inode, 2, s3)).size).toBe(2 * CHUNK_BYTES + 10);
      expect(await m.readChunk(f.inode, 1)).toEqual([]);
      expect(s2.id).toBeGreaterThan(s1.id);
    });

    test("a slice committed again (a retry after a lost reply) is a no-op success", async () => {
      const f = await file();
      const s1 = await slice(0, 100);
      const s2 = await slice(50, 100);
      await m.write(f.inode, 0, s1);
      const after = await m.write(f.inode, 0, s2);
      const used = (await m.counters()).usedSpaceBytes;
      // Appended again, s1 would land on top of s2 and bring back the bytes s2 replaced.
      const again = await m.write(f.inode, 0, s1);
      expect(await m.readChunk(f.inode, 0)).toEqual([s1, s2]);
      expect(again.size).toBe(150);
      expect([again.mtime, again.mtimeNsec]).toEqual([after.mtime, after.mtimeNsec]);
      expect((await m.counters()).usedSpaceBytes).toBe(used);
    });

    test("truncate drops chunks past the end and covers the rest with a hole", async () => {
      const f = await file();
      const s0 = await slice(0, 1000);
      const s1 = await slice(0, 1000);
      await m.write(f.inode, 0, s0);
      await m.write(f.inode, 1, s1);
      await m.setattr(root, f.inode, { size: 500 });
      expect(await m.readChunk(f.inode, 1)).toEqual([]);
      const chunk0 = await m.readChunk(f.inode, 0);
      expect(chunk0.length).toBe(2);
      expect(chunk0[1]).toEqual({
        id: 0,
        size: CHUNK_BYTES - 500,
        off: 0,
        len: CHUNK_BYTES - 500,
        pos: 500,
      });
      expect(await m.unusedSlices(10)).toEqual([{ id: s1.id, size: s1.size }]);
      await m.ackUnusedSlices([{ id: s1.id, size: s1.size }]);
      expect(await m.unusedSlices(10)).toEqual([]);
    });

    test("compaction swaps a prefix of the slice list and frees the old slices", async () => {
      const f = await file();
      const old = [await slice(0, 10), await slice(10, 10)];
      for (const s of old) await m.write(f.inode, 0, s);
      const late = await slice(20, 10);
      await m.write(f.inode, 0, late);
      const merged = await slice(0, 20);
      expect(await m.compactChunk(f.inode, 0, [old[1]!], [merged])).toBe(false);
      expect(await m.compactChunk(f.inode, 0, old, [merged])).toBe(true);
      expect(await m.readChunk(f.inode, 0)).toEqual([merged, late]);
      const unused = (await m.unusedSlices(10)).map((u) => u.id).sort((a, b) => a - b);
      expect(unused).toEqual(old.map((s) => s.id));
    });

    test("dropSlices turns a slice's uses into holes and releases it", async () => {
      const f = await file();
      const keep = await slice(0, 100);
      const lost = await slice(50, 100);
      await m.write(f.inode, 0, keep);
      await m.write(f.inode, 0, lost);
      expect(await m.dropSlices(f.inode, 0, new Set([lost.id, 999_999]))).toBe(1);
      const hole = { id: 0, size: lost.len, off: 0, len: lost.len, pos: lost.pos };
      expect(await m.readChunk(f.inode, 0)).toEqual([keep, hole]);
      expect((await m.getattr(root, f.inode)).size).toBe(150);
      expect((await m.unusedSlices(10)).map((u) => u.id)).toEqual([lost.id]);
      expect(await m.dropSlices(f.inode, 0, new Set([lost.id]))).toBe(0);
    });

    test("reloadSettings applies capacity, inodes and trash days stored by another node", async () => {
      const f0 = await m.load();
      expect(await m.reloadSettings()).toEqual([]);
      const stored = { ...f0, capacityBytes: 1 << 30, inodes: 5, trashDays: 3, bucket: "/else" };
      // Written as `jfs config` in another process does: this node's copy is not updated.
      await m.core.txn(async (tx) => tx.setSetting(JSON.stringify(stored)));
      expect(await m.reloadSettings()).toEqual(["capacityBytes", "inodes", "trashDays"]);
      expect(m.core.format).toMatchObject({ capacityBytes: 1 << 30, inodes: 5, trashDays: 3 });
      expect(m.core.format.bucket).toBe(f0.bucket); // the store is opened once: a restart
      expect(await m.reloadSettings()).toEqual([]);
    });

    test("capacity: writes past the volume capacity fail with ENOSPC", async () => {
      const f0 = await m.load();
      await m.format({ ...f0, capacityBytes: 64 * 1024 + 16384 }, true);
      const f = await file();
      await m.write(f.inode, 0, await slice(0, 32 * 1024));
      await expectErrno(m.write(f.inode, 0, await slice(0, 1 << 20)), "ENOSPC");
      await expectErrno(m.setattr(root, f.inode, { size: 1 << 20 }), "ENOSPC");
    });

    test("a deleted file's slices are released chunk by chunk", async () => {
      const f = await file();
      const s = [await slice(0, 100), await slice(0, 100)];
      await m.write(f.inode, 0, s[0]!);
      await m.write(f.inode, 3, s[1]!);
      await m.unlink(root, ROOT_INODE, n("f"));
      expect(await m.unusedSlices(10)).toEqual([]);
      expect(await m.releaseDeletedFiles(10)).toBe(1);
      const ids = (await m.unusedSlices(10)).map((u) => u.id).sort((a, b) => a - b);
      expect(ids).toEqual(s.map((x) => x.id));
      expect(await m.releaseDeletedFiles(10)).toBe(0);
    });

    test("many deleted files release together, a big one across several transactions", async () => {
      const ids: number[] = [];
      for (let i = 0; i < 40; i++) {
        const f = await file(`small${i}`);
        const s = await slice(0, 100);
        await m.write(f.inode, 0, s);
        ids.push(s.id);
      }
      // More chunks than one transaction takes, between the small files in the queue.
      const big = await file("big");
      for (let index = 0; index < DELETED_CHUNKS_PER_TXN + 22; index++) {
        const s = await slice(0, 10);
        await m.write(big.inode, index, s);
        ids.push(s.id);
      }
      const empty = await file("empty");
      for (let i = 0; i < 40; i++) await m.unlink(root, ROOT_INODE, n(`small${i}`));
      await m.unlink(root, ROOT_INODE, n("big"));
      await m.unlink(root, ROOT_INODE, n("empty"));
      expect(empty.inode).toBeGreaterThan(0);
      expect(await m.releaseDeletedFiles(30)).toBe(30);
      expect(await m.releaseDeletedFiles(100)).toBe(12);
      expect(await m.releaseDeletedFiles(100)).toBe(0);
      const unused = (await m.unusedSlices(1000)).map((u) => u.id).sort((a, b) => a - b);
      expect(unused).toEqual(ids.sort((a, b) => a - b));
    });

    test("space accounting follows writes, truncates and deletes", async () => {
      const base = (await m.counters()).usedSpaceBytes;
      const f = await file();
      await m.write(f.inode, 0, await slice(0, 5000));
      expect((await m.counters()).usedSpaceBytes).toBe(base + 8192);
      await m.setattr(root, f.inode, { size: 100 });
      expect((await m.counters()).usedSpaceBytes).toBe(base + 4096);
      await m.unlink(root, ROOT_INODE, n("f"));
      expect((await m.counters()).usedSpaceBytes).toBe(base);
    });
  });

  describe("trash", () => {
    test("unlinked files wait in the trash and are removed after trashDays", async () => {
      const f0 = await m.load();
      await m.format({ ...f0, trashDays: 1 }, true);
      const f = await file("doomed");
      await m.write(f.inode, 0, await slice(0, 100));
      await m.unlink(root, ROOT_INODE, n("doomed"));
      await expectErrno(m.lookup(root, ROOT_INODE, n("doomed")), "ENOENT");
      const [hour] = await m.readdir(root, TRASH_INODE, 0, 10, false);
      expect(hour).toBeDefined();
      const [kept] = await m.readdir(root, hour!.inode, 0, 10, true);
      expect(kept?.name.toString()).toBe(`${ROOT_INODE}-${f.inode}-doomed`);
      expect(kept?.attr?.size).toBe(100);
      expect(await m.cleanupTrash()).toBe(0); // too young
      // Removing from the trash deletes for real.
      await m.unlink(root, hour!.inode, kept!.name);
      expect(await m.releaseDeletedFiles(10)).toBe(1);
      expect((await m.unusedSlices(10)).length).toBe(1);
    });

    test("rename over a file puts the replaced file in the trash", async () => {
      const f0 = await m.load();
      await m.format({ ...f0, trashDays: 1 }, true);
      const victim = await file("b");
      await file("a");
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), 0);
      const [hour] = await m.readdir(root, TRASH_INODE, 0, 10, false);
      const [kept] = await m.readdir(root, hour!.inode, 0, 10, false);
      expect(kept?.inode).toBe(victim.inode);
    });

    test("a trashed file renamed back (jfs restore) is whole again; NOREPLACE spares a target", async () => {
      const f0 = await m.load();
      await m.format({ ...f0, trashDays: 1 }, true);
      const dir = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      const f = await m.mknod(root, dir.inode, n("f"), FileType.File, 0o640, 0, 0);
      const s = await slice(0, 100);
      await m.write(f.inode, 0, s);
      await m.setattr(root, f.inode, { uid: 7, gid: 8 });
      const before = await m.counters();
      await m.unlink(root, dir.inode, n("f"));
      const [hour] = await m.readdir(root, TRASH_INODE, 0, 10, false);
      const [kept] = await m.readdir(root, hour!.inode, 0, 10, false);
      // Another file took the name meanwhile: restore must not replace it.
      await m.mknod(root, dir.inode, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.rename(root, hour!.inode, kept!.name, dir.inode, n("f"), 1), "EEXIST");
      await m.unlink(root, dir.inode, n("f"));
      const [, second] = await m.readdir(root, hour!.inode, 0, 10, false);
      await m.unlink(root, hour!.inode, second!.name);
      await m.rename(root, hour!.inode, kept!.name, dir.inode, n("f"), 1);
      const back = await m.lookup(root, dir.inode, n("f"));
      expect(back.inode).toBe(f.inode);
      expect(back.attr).toMatchObject({ uid: 7, gid: 8, size: 100, nlink: 1, parent: dir.inode });
      expect(back.attr.mode & 0o7777).toBe(0o640);
      expect(await m.readChunk(f.inode, 0)).toEqual([s]);
      expect(await m.readdir(root, hour!.inode, 0, 10, false)).toEqual([]);
      expect(await m.parents(root, f.inode)).toEqual(new Map([[dir.inode, 1]]));
      const after = await m.counters();
      // Back to what it was, but for the new hour directory.
      const hourCharge = chargedBytes(await m.getattr(root, hour!.inode));
      expect(after.usedSpaceBytes).toBe(before.usedSpaceBytes + hourCharge);
      expect(after.usedInodes).toBe(before.usedInodes + 1);
    });
  });

  describe("sessions and open files", () => {
    test("an unlinked file open in another session keeps its data until released", async () => {
      const other = await backend().open();
      await other.load();
      await m.newSession(SESSION);
      await other.newSession(SESSION);
      const f = await file();
      await m.write(f.inode, 0, await slice(0, 100));
      await other.open(root, f.inode, 0);
      await m.unlink(root, ROOT_INODE, n("f"));
      const kept = await m.getattr(root, f.inode);
      expect(kept.nlink).toBe(0);
      expect(await m.readChunk(f.inode, 0)).toHaveLength(1);
      expect(await m.releaseDeletedFiles(10)).toBe(0);
      await other.release(f.inode);
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
      expect(await m.releaseDeletedFiles(10)).toBe(1);
    });

    test("create makes the file the caller's, with its mode, and refuses a bad name", async () => {
      const f = await m.create(alice, ROOT_INODE, n("mine"), 0o600, 0o022);
      expect(f.attr).toMatchObject({ type: FileType.File, uid: alice.uid, size: 0, nlink: 1 });
      expect(f.attr.mode & 0o7777).toBe(0o600);
      await expectErrno(m.create(alice, ROOT_INODE, n("c2/"), 0o600, 0), "EINVAL");
      await m.release(f.inode);
    });

    test("create makes and opens a file in one transaction: another session's unlink keeps it until release", async () => {
      const other = await backend().open();
      await other.load();
      await m.newSession(SESSION);
      await other.newSession(SESSION);
      // Inode and entry numbers come in batches (a transaction of their own on SQLite): one now.
      await file("warm");
      const engine = m.core.engine;
      const txn = engine.txn;
      let writeTxns = 0;
      engine.txn = <T>(fn: (tx: MetaTxn) => Promise<T>, options?: TxnOptions): Promise<T> => {
        if (options?.readOnly !== true) writeTxns++;
        return txn.call(engine, fn, options) as Promise<T>;
      };
      let created: Awaited<ReturnType<BaseMeta["create"]>>;
      try {
        created = await m.create(root, ROOT_INODE, n("c"), 0o640, 0o022);
      } finally {
        engine.txn = txn;
      }
      expect(writeTxns).toBe(1);
      expect(created.attr.type).toBe(FileType.File);
      expect(created.attr.mode & 0o777).toBe(0o640);
      await m.write(created.inode, 0, await slice(0, 100));
      await other.unlink(root, ROOT_INODE, n("c"));
      expect((await m.getattr(root, created.inode)).nlink).toBe(0);
      expect(await m.readChunk(created.inode, 0)).toHaveLength(1);
      expect(await other.releaseDeletedFiles(10)).toBe(0);
      await m.release(created.inode);
      await expectErrno(m.getattr(root, created.inode), "ENOENT");
      expect(await m.releaseDeletedFiles(10)).toBe(1);
    });

    test("a released file stays registered briefly; its rows go in a batch, freeing it", async () => {
      const other = await backend().open();
      await other.load();
      await m.newSession(SESSION);
      await other.newSession(SESSION);
      const f = await file();
      await m.open(root, f.inode, 0);
      await m.release(f.inode);
      // Still registered by m: the unlink in the other session keeps the inode.
      await other.unlink(root, ROOT_INODE, n("f"));
      expect((await m.getattr(root, f.inode)).nlink).toBe(0);
      // A reopen by inode reuses the registration, and its release finishes the file.
      await m.open(root, f.inode, 0);
      await m.release(f.inode);
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
      const g = await file("g");
      await m.open(root, g.inode, 0);
      await m.release(g.inode);
      await other.unlink(root, ROOT_INODE, n("g"));
      await m.unregisterReleased(Number.POSITIVE_INFINITY);
      await expectErrno(m.getattr(root, g.inode), "ENOENT");
      expect(await m.releaseDeletedFiles(10)).toBe(2);
    });

    test("a crashed session's open-unlinked files are cleaned by a live session", async () => {
      const crashed = await backend().open();
      await crashed.load();
      const sid = await crashed.newSession(SESSION);
      await m.newSession(SESSION);
      const f = await file();
      await crashed.open(root, f.inode, 0);
      await m.unlink(root, ROOT_INODE, n("f"));
      expect((await m.getattr(root, f.inode)).nlink).toBe(0);
      expect((await m.listSessions()).map((s) => s.sid)).toContain(sid);
      await cleanupSession(m.core, sid);
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
      expect((await m.listSessions()).map((s) => s.sid)).not.toContain(sid);
    });

    test("heartbeat refreshes the session; closeSession releases its opens", async () => {
      const sid = await m.newSession(SESSION);
      const [before] = await m.listSessions();
      await Bun.sleep(2);
      await m.heartbeat();
      const [after] = await m.listSessions();
      expect(after?.sid).toBe(sid);
      expect(after!.heartbeatAt).toBeGreaterThan(before!.heartbeatAt);
      const f = await file();
      await m.open(root, f.inode, 0);
      await m.unlink(root, ROOT_INODE, n("f"));
      await m.closeSession();
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
      expect(await m.listSessions()).toEqual([]);
    });
  });

  describe("transactions", () => {
    test("concurrent creates from two sessions in one directory all land", async () => {
      const other = await backend().open();
      await other.load();
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          i % 3 === 0
            ? (i % 2 ? m : other).mkdir(root, d.inode, n(`d${i}`), 0o755, 0)
            : (i % 2 ? m : other).mknod(root, d.inode, n(`f${i}`), FileType.File, 0o644, 0, 0),
        ),
      );
      const entries = await m.readdir(root, d.inode, 0, 1000, false);
      expect(entries.length).toBe(60);
      expect((await m.getattr(root, d.inode)).nlink).toBe(2 + 20);
    });

    test("racing renames of one name: exactly one wins", async () => {
      const other = await backend().open();
      await other.load();
      await file("src");
      const results = await Promise.allSettled([
        m.rename(root, ROOT_INODE, n("src"), ROOT_INODE, n("a"), 0),
        other.rename(root, ROOT_INODE, n("src"), ROOT_INODE, n("b"), 0),
      ]);
      expect(results.filter((r) => r.status === "fulfilled").length).toBe(1);
      expect((await m.readdir(root, ROOT_INODE, 0, 10, false)).length).toBe(1);
    });
  });
}
