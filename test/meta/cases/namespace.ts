import { beforeEach, describe, expect, test } from "bun:test";
import { ROOT_INODE, TRASH_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, Mode } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { alice, bob, carol, expectErrno, n, root } from "./util.ts";

export function namespaceCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });

  describe("format and load", () => {
    test("an unformatted volume says so and names jfs format", async () => {
      await backend().reset();
      const fresh = await backend().open();
      await expect(fresh.load()).rejects.toThrow(/not formatted \(run jfs format\)/);
    });

    test("format twice needs --force; force may change capacity, not block size", async () => {
      const again = await backend().open();
      const f = await again.load();
      await expect(again.format({ ...f, capacityBytes: 1 << 30 }, false)).rejects.toThrow(
        /--force/,
      );
      await again.format({ ...f, capacityBytes: 1 << 30 }, true);
      expect((await again.load()).capacityBytes).toBe(1 << 30);
      expect((await again.load()).uuid).toBe(f.uuid);
      await expect(again.format({ ...f, blockSizeKiB: 128 }, true)).rejects.toThrow(/blockSizeKiB/);
    });

    test("root is a world-writable directory; .trash is found but never listed", async () => {
      const attr = await m.getattr(root, ROOT_INODE);
      expect(attr.type).toBe(FileType.Directory);
      expect(attr.mode).toBe(0o777);
      expect((await m.lookup(root, ROOT_INODE, n(".trash"))).inode).toBe(TRASH_INODE);
      expect(await m.readdir(root, ROOT_INODE, 0, 100, false)).toEqual([]);
    });
  });

  describe("lookup", () => {
    test("finds children, '.', '..' and reports ENOENT / ENOTDIR", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      const f = await m.mknod(root, d.inode, n("f"), FileType.File, 0o644, 0, 0);
      expect((await m.lookup(root, d.inode, n("f"))).inode).toBe(f.inode);
      expect((await m.lookup(root, d.inode, n("."))).inode).toBe(d.inode);
      expect((await m.lookup(root, d.inode, n(".."))).inode).toBe(ROOT_INODE);
      expect((await m.lookup(root, ROOT_INODE, n(".."))).inode).toBe(ROOT_INODE);
      await expectErrno(m.lookup(root, d.inode, n("missing")), "ENOENT");
      await expectErrno(m.lookup(root, f.inode, n("x")), "ENOTDIR");
      await expectErrno(m.lookup(root, d.inode, Buffer.alloc(256, 0x61)), "ENAMETOOLONG");
      await expectErrno(m.lookup(root, d.inode, n("a/b")), "EINVAL");
    });

    test("needs search permission on the directory", async () => {
      const d = await m.mkdir(alice, ROOT_INODE, n("private"), 0o700, 0);
      await m.mknod(alice, d.inode, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.lookup(bob, d.inode, n("f")), "EACCES");
      expect((await m.lookup(root, d.inode, n("f"))).attr.uid).toBe(alice.uid);
    });

    test("names are bytes: non-UTF-8 names round trip", async () => {
      const name = Buffer.from([0xff, 0xfe, 0x41, 0x80]);
      const f = await m.mknod(root, ROOT_INODE, name, FileType.File, 0o644, 0, 0);
      expect((await m.lookup(root, ROOT_INODE, name)).inode).toBe(f.inode);
      const [entry] = await m.readdir(root, ROOT_INODE, 0, 10, false);
      expect(entry?.name.equals(name)).toBe(true);
    });
  });

  describe("create", () => {
    test("mknod makes files, fifos, sockets and devices with rdev", async () => {
      const kinds = [FileType.File, FileType.Fifo, FileType.Socket, FileType.CharDevice];
      for (const [i, type] of kinds.entries()) {
        const r = await m.mknod(root, ROOT_INODE, n(`k${i}`), type, 0o640, 0, 0x0103);
        expect(r.attr.type).toBe(type);
        expect(r.attr.rdev).toBe(type === FileType.CharDevice ? 0x0103 : 0);
        expect((await m.getattr(root, r.inode)).type).toBe(type);
      }
      await expectErrno(
        m.mknod(root, ROOT_INODE, n("x"), FileType.Directory, 0o755, 0, 0),
        "EINVAL",
      );
    });

    test("umask, owner, times and parent links", async () => {
      const before = await m.getattr(root, ROOT_INODE);
      const d = await m.mkdir(alice, ROOT_INODE, n("d"), 0o777, 0o022);
      expect(d.attr.mode).toBe(0o755);
      expect(d.attr.uid).toBe(alice.uid);
      expect(d.attr.gid).toBe(alice.gid);
      expect(d.attr.nlink).toBe(2);
      const after = await m.getattr(root, ROOT_INODE);
      expect(after.nlink).toBe(before.nlink + 1);
      expect(after.mtime * 1e9 + after.mtimeNsec).toBeGreaterThanOrEqual(
        before.mtime * 1e9 + before.mtimeNsec,
      );
      const f = await m.mknod(alice, d.inode, n("f"), FileType.File, 0o666, 0o027, 0);
      expect(f.attr.mode).toBe(0o640);
      expect(f.attr.nlink).toBe(1);
      expect(f.attr.size).toBe(0);
      expect((await m.getattr(root, d.inode)).nlink).toBe(2);
    });

    test("EEXIST, bad names, and a file is not a directory", async () => {
      const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.mkdir(root, ROOT_INODE, n("f"), 0o755, 0), "EEXIST");
      await expectErrno(m.mkdir(root, ROOT_INODE, n("."), 0o755, 0), "EEXIST");
      await expectErrno(m.mkdir(root, ROOT_INODE, n(".."), 0o755, 0), "EEXIST");
      await expectErrno(
        m.mkdir(root, ROOT_INODE, Buffer.alloc(256, 0x62), 0o755, 0),
        "ENAMETOOLONG",
      );
      await expectErrno(m.mkdir(root, ROOT_INODE, n("a\0b"), 0o755, 0), "EINVAL");
      await expectErrno(m.mkdir(root, f.inode, n("x"), 0o755, 0), "ENOTDIR");
      const ok = await m.mkdir(root, ROOT_INODE, Buffer.alloc(255, 0x63), 0o755, 0);
      expect(ok.attr.type).toBe(FileType.Directory);
    });

    test("needs write and search permission on the parent", async () => {
      const d = await m.mkdir(alice, ROOT_INODE, n("d"), 0o755, 0);
      await expectErrno(m.mknod(bob, d.inode, n("f"), FileType.File, 0o644, 0, 0), "EACCES");
      await m.mknod(root, d.inode, n("f"), FileType.File, 0o644, 0, 0);
    });

    test("a setgid directory passes its group and the bit on", async () => {
      const d = await m.mkdir(alice, ROOT_INODE, n("shared"), 0o2777, 0);
      expect(d.attr.mode & Mode.SGID).toBe(Mode.SGID);
      const sub = await m.mkdir(carol, d.inode, n("sub"), 0o755, 0);
      expect(sub.attr.gid).toBe(alice.gid);
      expect(sub.attr.mode & Mode.SGID).toBe(Mode.SGID);
      const f = await m.mknod(carol, d.inode, n("f"), FileType.File, 0o644, 0, 0);
      expect(f.attr.gid).toBe(alice.gid);
    });

    test("inode numbers are unique and generations are set", async () => {
      const seen = new Set<number>();
      for (let i = 0; i < 50; i++) {
        const r = await m.mknod(root, ROOT_INODE, n(`f${i}`), FileType.File, 0o644, 0, 0);
        expect(seen.has(r.inode)).toBe(false);
        seen.add(r.inode);
        expect(r.attr.generation).toBeGreaterThan(0);
      }
    });

    test("two sessions allocate disjoint inode batches", async () => {
      const other = await backend().open();
      await other.load();
      const made = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 ? m : other).mknod(root, ROOT_INODE, n(`c${i}`), FileType.File, 0o644, 0, 0),
        ),
      );
      expect(new Set(made.map((r) => r.inode)).size).toBe(40);
      expect((await m.readdir(root, ROOT_INODE, 0, 100, false)).length).toBe(40);
    });
  });

  describe("symlinks", () => {
    test("target round trips as bytes; readlink of a file is EINVAL", async () => {
      const target = Buffer.concat([n("../a/"), Buffer.from([0xc3, 0x28])]);
      const s = await m.symlink(alice, ROOT_INODE, n("s"), target);
      expect(s.attr.type).toBe(FileType.Symlink);
      expect(s.attr.size).toBe(target.length);
      expect(s.attr.mode).toBe(0o777);
      expect((await m.readlink(alice, s.inode)).equals(target)).toBe(true);
      const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.readlink(root, f.inode), "EINVAL");
      await expectErrno(m.symlink(root, ROOT_INODE, n("e"), Buffer.alloc(0)), "ENOENT");
      await expectErrno(
        m.symlink(root, ROOT_INODE, n("l"), Buffer.alloc(4097, 0x61)),
        "ENAMETOOLONG",
      );
      const long = await m.symlink(root, ROOT_INODE, n("l"), Buffer.alloc(4096, 0x61));
      expect((await m.readlink(root, long.inode)).length).toBe(4096);
    });
  });

  describe("unlink and rmdir", () => {
    test("each call that changes a directory returns the directory as it left it", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      expect(d.parentAttr).toEqual(await m.getattr(root, ROOT_INODE));
      const steps = [
        () => m.mknod(root, d.inode, n("f"), FileType.File, 0o644, 0, 0),
        () => m.create(root, d.inode, n("c"), 0o644, 0),
        () => m.symlink(root, d.inode, n("s"), n("f")),
        () => m.mkdir(root, d.inode, n("sub"), 0o755, 0),
      ];
      for (const step of steps) {
        const before = await m.getattr(root, d.inode);
        const made = await step();
        expect(made.parentAttr).toEqual(await m.getattr(root, d.inode));
        expect(made.parentAttr.ctime * 1e9 + made.parentAttr.ctimeNsec).toBeGreaterThanOrEqual(
          before.ctime * 1e9 + before.ctimeNsec,
        );
      }
      await m.release((await m.lookup(root, d.inode, n("c"))).inode);
      const nlink = (await m.getattr(root, d.inode)).nlink;
      expect(await m.unlink(root, d.inode, n("f"))).toEqual(await m.getattr(root, d.inode));
      const afterRmdir = await m.rmdir(root, d.inode, n("sub"));
      expect(afterRmdir).toEqual(await m.getattr(root, d.inode));
      expect(afterRmdir.nlink).toBe(nlink - 1);
    });

    test("unlink removes files; EISDIR, ENOENT", async () => {
      const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      await expectErrno(m.unlink(root, ROOT_INODE, n("d")), "EISDIR");
      await m.unlink(root, ROOT_INODE, n("f"));
      await expectErrno(m.lookup(root, ROOT_INODE, n("f")), "ENOENT");
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
      await expectErrno(m.unlink(root, ROOT_INODE, n("f")), "ENOENT");
      expect((await m.getattr(root, d.inode)).type).toBe(FileType.Directory);
    });

    test("rmdir: ENOTEMPTY, ENOTDIR, '.' and '..', and the parent's link count", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      await m.mknod(root, d.inode, n("f"), FileType.File, 0o644, 0, 0);
      const nlink = (await m.getattr(root, ROOT_INODE)).nlink;
      await expectErrno(m.rmdir(root, ROOT_INODE, n("d")), "ENOTEMPTY");
      await expectErrno(m.rmdir(root, d.inode, n("f")), "ENOTDIR");
      await expectErrno(m.rmdir(root, d.inode, n(".")), "EINVAL");
      await expectErrno(m.rmdir(root, d.inode, n("..")), "ENOTEMPTY");
      await m.unlink(root, d.inode, n("f"));
      await m.rmdir(root, ROOT_INODE, n("d"));
      expect((await m.getattr(root, ROOT_INODE)).nlink).toBe(nlink - 1);
      await expectErrno(m.getattr(root, d.inode), "ENOENT");
    });

    test("a sticky directory protects other users' entries", async () => {
      const tmp = await m.mkdir(root, ROOT_INODE, n("tmp"), 0o1777, 0);
      await m.mknod(alice, tmp.inode, n("a"), FileType.File, 0o666, 0, 0);
      await expectErrno(m.unlink(bob, tmp.inode, n("a")), "EPERM");
      await expectErrno(m.rename(bob, tmp.inode, n("a"), tmp.inode, n("b"), 0), "EPERM");
      await m.unlink(alice, tmp.inode, n("a"));
      await m.mknod(bob, tmp.inode, n("b"), FileType.File, 0o666, 0, 0);
      await m.unlink(root, tmp.inode, n("b"));
    });
  });

  describe("hard links", () => {
    test("link counts, parents tracking and the last unlink", async () => {
      const d1 = await m.mkdir(root, ROOT_INODE, n("d1"), 0o755, 0);
      const d2 = await m.mkdir(root, ROOT_INODE, n("d2"), 0o755, 0);
      const f = await m.mknod(root, d1.inode, n("f"), FileType.File, 0o644, 0, 0);
      expect(await m.parents(root, f.inode)).toEqual(new Map([[d1.inode, 1]]));
      const a = await m.link(root, f.inode, d2.inode, n("g"));
      expect(a.nlink).toBe(2);
      await m.link(root, f.inode, d2.inode, n("h"));
      expect(await m.parents(root, f.inode)).toEqual(
        new Map([
          [d1.inode, 1],
          [d2.inode, 2],
        ]),
      );
      await m.rename(root, d2.inode, n("h"), d1.inode, n("h"), 0);
      expect(await m.parents(root, f.inode)).toEqual(
        new Map([
          [d1.inode, 2],
          [d2.inode, 1],
        ]),
      );
      await m.unlink(root, d1.inode, n("f"));
      await m.unlink(root, d1.inode, n("h"));
      expect((await m.getattr(root, f.inode)).nlink).toBe(1);
      expect(await m.parents(root, f.inode)).toEqual(new Map([[d2.inode, 1]]));
      await m.unlink(root, d2.inode, n("g"));
      await expectErrno(m.getattr(root, f.inode), "ENOENT");
    });

    test("no links to directories; EEXIST; ENOENT after removal", async () => {
      const d = await m.mkdir(root, ROOT_INODE, n("d"), 0o755, 0);
      const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.link(root, d.inode, ROOT_INODE, n("d2")), "EPERM");
      await expectErrno(m.link(root, f.inode, ROOT_INODE, n("d")), "EEXIST");
      await expectErrno(m.link(root, d.inode, ROOT_INODE, n("f")), "EEXIST");
      await expectErrno(m.link(root, f.inode, f.inode, n("x")), "ENOTDIR");
    });
  });

  describe("readdir", () => {
    test("lists in creation order with attributes, resumes from any cookie", async () => {
      const names = Array.from({ length: 30 }, (_, i) => `e${String(i).padStart(2, "0")}`);
      for (const name of names)
        await m.mknod(root, ROOT_INODE, n(name), FileType.File, 0o644, 0, 0);
      const all = await m.readdir(root, ROOT_INODE, 0, 1000, true);
      expect(all.map((e) => e.name.toString())).toEqual(names);
      expect(all.every((e) => e.attr?.type === FileType.File)).toBe(true);
      let cookie = 0;
      const paged: string[] = [];
      for (;;) {
        const page = await m.readdir(root, ROOT_INODE, cookie, 7, false);
        if (page.length === 0) break;
        paged.push(...page.map((e) => e.name.toString()));
        cookie = page.at(-1)!.cookie;
      }
      expect(paged).toEqual(names);
    });

    test("a listing resumed after concurrent creates and deletes skips no survivor", async () => {
      for (let i = 0; i < 40; i++)
        await m.mknod(root, ROOT_INODE, n(`f${i}`), FileType.File, 0o644, 0, 0);
      const first = await m.readdir(root, ROOT_INODE, 0, 10, false);
      // Delete some seen and unseen entries, create new ones, then continue.
      for (const i of [0, 5, 15, 25, 39]) await m.unlink(root, ROOT_INODE, n(`f${i}`));
      for (let i = 0; i < 5; i++)
        await m.mknod(root, ROOT_INODE, n(`new${i}`), FileType.File, 0o644, 0, 0);
      const seen = first.map((e) => e.name.toString());
      let cookie = first.at(-1)!.cookie;
      for (;;) {
        const page = await m.readdir(root, ROOT_INODE, cookie, 10, false);
        if (page.length === 0) break;
        seen.push(...page.map((e) => e.name.toString()));
        cookie = page.at(-1)!.cookie;
      }
      expect(new Set(seen).size).toBe(seen.length);
      for (let i = 0; i < 40; i++) {
        if (![0, 5, 15, 25, 39].includes(i)) expect(seen).toContain(`f${i}`);
      }
      for (const i of [15, 25, 39]) expect(seen).not.toContain(`f${i}`);
      for (let i = 0; i < 5; i++) expect(seen).toContain(`new${i}`);
    });

    test("needs read permission; ENOTDIR on files", async () => {
      const d = await m.mkdir(alice, ROOT_INODE, n("d"), 0o311, 0);
      await expectErrno(m.readdir(bob, d.inode, 0, 10, false), "EACCES");
      const f = await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      await expectErrno(m.readdir(root, f.inode, 0, 10, false), "ENOTDIR");
    });
  });

  describe("statfs", () => {
    test("counts inodes and honours capacity and inode quotas", async () => {
      const before = await m.statfs(root, ROOT_INODE);
      await m.mknod(root, ROOT_INODE, n("f"), FileType.File, 0o644, 0, 0);
      const after = await m.statfs(root, ROOT_INODE);
      expect(after.usedInodes).toBe(before.usedInodes + 1);
      const f = await m.load();
      const limited = await backend().open();
      await limited.format({ ...f, inodes: after.usedInodes + 1, capacityBytes: 1 << 20 }, true);
      const s = await limited.statfs(root, ROOT_INODE);
      expect(s.totalBytes).toBe(1 << 20);
      expect(s.totalInodes).toBe(after.usedInodes + 1);
      await limited.mknod(root, ROOT_INODE, n("g"), FileType.File, 0o644, 0, 0);
      await expectErrno(
        limited.mknod(root, ROOT_INODE, n("h"), FileType.File, 0o644, 0, 0),
        "ENOSPC",
      );
    });
  });
}
