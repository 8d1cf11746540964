/**
 * removeBatch (`jfs rmr`): many names of one directory in one transaction, with the unlink and
 * rmdir rules, the trash, hard links left for unlink, and a failed batch removing nothing.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { ROOT_INODE, TRASH_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { checkNamespace } from "../../../src/meta/check.ts";
import { FileType, Mode } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { alice, bob, expectErrno, n, root } from "./util.ts";

export function batchCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });

  const names = (count: number, prefix: string) =>
    Array.from({ length: count }, (_, i) => n(`${prefix}${i}`));

  async function listed(dir: number): Promise<string[]> {
    const page = await m.readdir(root, dir, 0, 1000, false);
    return page.map((e) => e.name.toString()).sort();
  }

  describe("removeBatch", () => {
    test("removes files and empty directories at once; counters and nlink follow", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      for (const name of names(30, "f")) {
        await m.mknod(root, d.inode, name, FileType.File, 0o644, 0, 0);
      }
      for (const name of names(3, "sub")) await m.mkdir(root, d.inode, name, 0o755, 0);
      await m.symlink(root, d.inode, n("link"), n("f0"));
      const before = await m.counters();
      const r = await m.removeBatch(root, d.inode, [
        ...names(30, "f"),
        ...names(3, "sub"),
        n("link"),
        n("never-there"),
      ]);
      expect(r).toEqual({ files: 31, dirs: 3, left: [] });
      expect(await listed(d.inode)).toEqual([]);
      expect((await m.getattr(root, d.inode)).nlink).toBe(2);
      expect((await m.counters()).usedInodes).toBe(before.usedInodes - 34);
      expect((await checkNamespace(m)).problems).toEqual([]);
      await m.rmdir(root, ROOT_INODE, n("d"));
    });

    test("a directory that is not empty fails the batch, and nothing of it is removed", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      await m.mknod(root, d.inode, n("a"), FileType.File, 0o644, 0, 0);
      const full = await m.mkdir(root, d.inode, n("full"), 0o755, 0);
      await m.mknod(root, full.inode, n("inside"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.removeBatch(root, d.inode, [n("a"), n("full")]), "ENOTEMPTY");
      expect(await listed(d.inode)).toEqual(["a", "full"]);
      expect((await checkNamespace(m)).problems).toEqual([]);
    });

    test("files with other hard links are left for unlink", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      const f = await m.mknod(root, d.inode, n("a"), FileType.File, 0o644, 0, 0);
      await m.link(root, f.inode, d.inode, n("b"));
      await m.mknod(root, d.inode, n("c"), FileType.File, 0o644, 0, 0);
      const r = await m.removeBatch(root, d.inode, [n("a"), n("b"), n("c")]);
      expect(r.files).toBe(1);
      expect(r.left.map(String).sort()).toEqual(["a", "b"]);
      expect(await listed(d.inode)).toEqual(["a", "b"]);
      for (const name of r.left) await m.unlink(root, d.inode, name);
      expect((await checkNamespace(m)).problems).toEqual([]);
    });

    test("files go into the trash when the volume keeps one", async () => {
      const f0 = await m.load();
      await m.format({ ...f0, trashDays: 1 }, true);
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      for (const name of names(5, "f")) {
        await m.mknod(root, d.inode, name, FileType.File, 0o644, 0, 0);
      }
      expect((await m.removeBatch(root, d.inode, names(5, "f"))).files).toBe(5);
      const [hour] = await m.readdir(root, TRASH_INODE, 0, 10, false);
      expect(await listed(hour!.inode)).toHaveLength(5);
      expect((await checkNamespace(m)).problems).toEqual([]);
    });

    test("needs write permission, and the sticky bit protects others' files", async () => {
      const d = await m.mkdir(alice, ROOT_INODE, n("d"), 0o755, 0);
      await m.mknod(alice, d.inode, n("a"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.removeBatch(bob, d.inode, [n("a")]), "EACCES");
      const tmp = await m.mkdir(root, ROOT_INODE, n("tmp"), 0o777 | Mode.STICKY, 0);
      await m.mknod(alice, tmp.inode, n("mine"), FileType.File, 0o644, 0, 0);
      await m.mknod(bob, tmp.inode, n("bobs"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.removeBatch(bob, tmp.inode, [n("bobs"), n("mine")]), "EPERM");
      expect(await listed(tmp.inode)).toEqual(["bobs", "mine"]);
      expect(await m.removeBatch(bob, tmp.inode, [n("bobs")])).toEqual({
        files: 1,
        dirs: 0,
        left: [],
      });
    });
  });
}
