import { beforeEach, describe, expect, test } from "bun:test";
import { ROOT_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, RenameFlags } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { alice, bob, expectErrno, n, root } from "./util.ts";

export function renameCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });
  const file = (parent: number, name: string) =>
    m.mknod(root, parent, n(name), FileType.File, 0o644, 0, 0);
  const dir = (parent: number, name: string) => m.mkdir(root, parent, n(name), 0o755, 0);

  describe("rename", () => {
    test("returns both directories as it left them: move, replace, exchange, no-op", async () => {
      const d = await dir(ROOT_INODE, "d");
      const e = await dir(ROOT_INODE, "e");
      await file(ROOT_INODE, "a");
      await file(d.inode, "x");
      await dir(ROOT_INODE, "sub");
      const cases: Array<[number, string, number, string, number]> = [
        [ROOT_INODE, "a", ROOT_INODE, "b", 0], // same directory
        [ROOT_INODE, "b", d.inode, "x", 0], // across, replacing x
        [ROOT_INODE, "sub", e.inode, "sub", 0], // a directory across: both link counts change
        [d.inode, "x", e.inode, "sub", RenameFlags.EXCHANGE],
      ];
      for (const [from, a, to, b, flags] of cases) {
        const r = await m.rename(root, from, n(a), to, n(b), flags);
        expect(r.srcParentAttr).toEqual(await m.getattr(root, from));
        expect(r.dstParentAttr).toEqual(await m.getattr(root, to));
        expect(r.attr).toEqual(await m.getattr(root, r.inode));
      }
      expect((await m.getattr(root, e.inode)).nlink).toBe(2);
      expect((await m.getattr(root, d.inode)).nlink).toBe(3);
      await m.link(root, (await m.lookup(root, e.inode, n("sub"))).inode, ROOT_INODE, n("h"));
      const same = await m.rename(root, e.inode, n("sub"), ROOT_INODE, n("h"), 0);
      expect(same.srcParentAttr).toEqual(await m.getattr(root, e.inode));
      expect(same.dstParentAttr).toEqual(await m.getattr(root, ROOT_INODE));
    });

    test("moves a file within and across directories", async () => {
      const d = await dir(ROOT_INODE, "d");
      const f = await file(ROOT_INODE, "a");
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), 0);
      expect((await m.lookup(root, ROOT_INODE, n("b"))).inode).toBe(f.inode);
      await expectErrno(m.lookup(root, ROOT_INODE, n("a")), "ENOENT");
      await m.rename(root, ROOT_INODE, n("b"), d.inode, n("c"), 0);
      expect((await m.lookup(root, d.inode, n("c"))).inode).toBe(f.inode);
      expect(await m.parents(root, f.inode)).toEqual(new Map([[d.inode, 1]]));
      await expectErrno(m.rename(root, ROOT_INODE, n("zz"), d.inode, n("c"), 0), "ENOENT");
    });

    test("replaces a file atomically; the old inode goes", async () => {
      const a = await file(ROOT_INODE, "a");
      const b = await file(ROOT_INODE, "b");
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), 0);
      expect((await m.lookup(root, ROOT_INODE, n("b"))).inode).toBe(a.inode);
      await expectErrno(m.getattr(root, b.inode), "ENOENT");
      expect(
        (await m.readdir(root, ROOT_INODE, 0, 10, false)).map((e) => e.name.toString()),
      ).toEqual(["b"]);
    });

    test("directories: replace an empty one, not a full one, nor a file, nor by a file", async () => {
      const a = await dir(ROOT_INODE, "a");
      const b = await dir(ROOT_INODE, "b");
      const full = await dir(ROOT_INODE, "full");
      await file(full.inode, "x");
      await file(ROOT_INODE, "f");
      const nlink = (await m.getattr(root, ROOT_INODE)).nlink;
      await expectErrno(m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("full"), 0), "ENOTEMPTY");
      await expectErrno(m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("f"), 0), "ENOTDIR");
      await expectErrno(m.rename(root, ROOT_INODE, n("f"), ROOT_INODE, n("a"), 0), "EISDIR");
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), 0);
      expect((await m.lookup(root, ROOT_INODE, n("b"))).inode).toBe(a.inode);
      await expectErrno(m.getattr(root, b.inode), "ENOENT");
      expect((await m.getattr(root, ROOT_INODE)).nlink).toBe(nlink - 1);
    });

    test("a directory moves with its '..' and the link counts of both parents", async () => {
      const p1 = await dir(ROOT_INODE, "p1");
      const p2 = await dir(ROOT_INODE, "p2");
      const c = await dir(p1.inode, "c");
      await m.rename(root, p1.inode, n("c"), p2.inode, n("c"), 0);
      expect((await m.lookup(root, c.inode, n(".."))).inode).toBe(p2.inode);
      expect((await m.getattr(root, p1.inode)).nlink).toBe(2);
      expect((await m.getattr(root, p2.inode)).nlink).toBe(3);
    });

    test("never into its own subtree", async () => {
      const a = await dir(ROOT_INODE, "a");
      const b = await dir(a.inode, "b");
      const c = await dir(b.inode, "c");
      await expectErrno(m.rename(root, ROOT_INODE, n("a"), c.inode, n("a"), 0), "EINVAL");
      await expectErrno(m.rename(root, ROOT_INODE, n("a"), a.inode, n("a"), 0), "EINVAL");
      await expectErrno(m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("."), 0), "EBUSY");
    });

    test("hard links of one file: rename is a successful no-op", async () => {
      const f = await file(ROOT_INODE, "a");
      await m.link(root, f.inode, ROOT_INODE, n("b"));
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), 0);
      expect((await m.lookup(root, ROOT_INODE, n("a"))).inode).toBe(f.inode);
      expect((await m.getattr(root, f.inode)).nlink).toBe(2);
    });

    test("hard links of one file in two directories: RENAME_EXCHANGE is a no-op too", async () => {
      const d = await dir(ROOT_INODE, "d");
      const f = await file(ROOT_INODE, "a");
      await m.link(root, f.inode, d.inode, n("b"));
      await m.rename(root, ROOT_INODE, n("a"), d.inode, n("b"), RenameFlags.EXCHANGE);
      expect((await m.lookup(root, ROOT_INODE, n("a"))).inode).toBe(f.inode);
      expect((await m.lookup(root, d.inode, n("b"))).inode).toBe(f.inode);
      expect((await m.getattr(root, f.inode)).nlink).toBe(2);
      expect(await m.parents(root, f.inode)).toEqual(
        new Map([
          [ROOT_INODE, 1],
          [d.inode, 1],
        ]),
      );
    });

    test("RENAME_NOREPLACE refuses an existing target", async () => {
      await file(ROOT_INODE, "a");
      await file(ROOT_INODE, "b");
      await expectErrno(
        m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("b"), RenameFlags.NOREPLACE),
        "EEXIST",
      );
      await m.rename(root, ROOT_INODE, n("a"), ROOT_INODE, n("c"), RenameFlags.NOREPLACE);
      await expectErrno(
        m.rename(
          root,
          ROOT_INODE,
          n("c"),
          ROOT_INODE,
          n("d"),
          RenameFlags.NOREPLACE | RenameFlags.EXCHANGE,
        ),
        "EINVAL",
      );
    });

    test("RENAME_EXCHANGE swaps a file and a directory across parents", async () => {
      const p1 = await dir(ROOT_INODE, "p1");
      const p2 = await dir(ROOT_INODE, "p2");
      const f = await file(p1.inode, "x");
      const d = await dir(p2.inode, "y");
      await m.rename(root, p1.inode, n("x"), p2.inode, n("y"), RenameFlags.EXCHANGE);
      expect((await m.lookup(root, p2.inode, n("y"))).inode).toBe(f.inode);
      expect((await m.lookup(root, p1.inode, n("x"))).inode).toBe(d.inode);
      expect((await m.lookup(root, d.inode, n(".."))).inode).toBe(p1.inode);
      expect((await m.getattr(root, p1.inode)).nlink).toBe(3);
      expect((await m.getattr(root, p2.inode)).nlink).toBe(2);
      expect(await m.parents(root, f.inode)).toEqual(new Map([[p2.inode, 1]]));
      await expectErrno(
        m.rename(root, p1.inode, n("x"), p2.inode, n("nope"), RenameFlags.EXCHANGE),
        "ENOENT",
      );
    });

    test("RENAME_EXCHANGE refuses to swap a directory into its own subtree", async () => {
      const a = await dir(ROOT_INODE, "a");
      await dir(a.inode, "b");
      await expectErrno(
        m.rename(root, ROOT_INODE, n("a"), a.inode, n("b"), RenameFlags.EXCHANGE),
        "EINVAL",
      );
    });

    test("needs write permission on both parents, and on a moved directory", async () => {
      const mine = await m.mkdir(alice, ROOT_INODE, n("mine"), 0o755, 0);
      const theirs = await m.mkdir(bob, ROOT_INODE, n("theirs"), 0o777, 0);
      await m.mknod(alice, mine.inode, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.rename(bob, mine.inode, n("f"), theirs.inode, n("f"), 0), "EACCES");
      await m.rename(alice, mine.inode, n("f"), theirs.inode, n("f"), 0);
      await m.mkdir(alice, theirs.inode, n("ro"), 0o555, 0);
      const other = await m.mkdir(alice, ROOT_INODE, n("other"), 0o777, 0);
      await expectErrno(m.rename(bob, theirs.inode, n("ro"), other.inode, n("ro"), 0), "EACCES");
    });

    test("the source's ctime and both parents' mtimes move", async () => {
      const d = await dir(ROOT_INODE, "d");
      const f = await file(ROOT_INODE, "a");
      await Bun.sleep(5);
      await m.rename(root, ROOT_INODE, n("a"), d.inode, n("a"), 0);
      const moved = await m.getattr(root, f.inode);
      const stamp = (s: number, ns: number) => s * 1e9 + ns;
      expect(stamp(moved.ctime, moved.ctimeNsec)).toBeGreaterThan(
        stamp(f.attr.ctime, f.attr.ctimeNsec),
      );
      const parent = await m.getattr(root, d.inode);
      expect(stamp(parent.mtime, parent.mtimeNsec)).toBeGreaterThan(
        stamp(d.attr.mtime, d.attr.mtimeNsec),
      );
    });
  });
}
