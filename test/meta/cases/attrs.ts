import { beforeEach, describe, expect, test } from "bun:test";
import { ROOT_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { AccessMask, FileType, Mode, XattrFlags } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { alice, bob, carol, expectErrno, n, root } from "./util.ts";

export function attrCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });
  const aliceFile = (mode = 0o644) => m.mknod(alice, ROOT_INODE, n("f"), FileType.File, mode, 0, 0);

  describe("setattr", () => {
    test("mknod with times: atime and mtime as given (stored, not only returned), ctime now", async () => {
      const before = Math.floor(Date.now() / 1000);
      const times = { atime: { sec: 0x30313233, nsec: 0 }, mtime: { sec: 0x61626364, nsec: 7 } };
      const f = await m.mknod(alice, ROOT_INODE, n("v"), FileType.File, 0o600, 0, 0, { times });
      for (const a of [f.attr, await m.getattr(alice, f.inode)]) {
        expect([a.atime, a.atimeNsec, a.mtime, a.mtimeNsec]).toEqual([
          0x30313233, 0, 0x61626364, 7,
        ]);
        expect(a.ctime).toBeGreaterThanOrEqual(before);
      }
    });

    test("chmod by the owner or root only; ctime moves, mtime does not", async () => {
      const f = await aliceFile();
      const a = await m.setattr(alice, f.inode, { mode: 0o600 });
      expect(a.mode).toBe(0o600);
      expect(a.mtime * 1e9 + a.mtimeNsec).toBe(f.attr.mtime * 1e9 + f.attr.mtimeNsec);
      expect(a.ctime * 1e9 + a.ctimeNsec).toBeGreaterThanOrEqual(
        f.attr.ctime * 1e9 + f.attr.ctimeNsec,
      );
      await expectErrno(m.setattr(bob, f.inode, { mode: 0o777 }), "EPERM");
      expect((await m.setattr(root, f.inode, { mode: 0o4755 })).mode).toBe(0o4755);
    });

    test("chmod drops setgid when the owner is not in the file's group", async () => {
      const f = await aliceFile();
      await m.setattr(root, f.inode, { gid: 5000 });
      expect((await m.setattr(alice, f.inode, { mode: 0o2755 })).mode).toBe(0o755);
    });

    test("chown: root only; chgrp by the owner into its own groups; set-id bits drop", async () => {
      const f = await aliceFile(0o6755);
      await expectErrno(m.setattr(alice, f.inode, { uid: bob.uid }), "EPERM");
      await expectErrno(m.setattr(alice, f.inode, { gid: 4242 }), "EPERM");
      await expectErrno(m.setattr(bob, f.inode, { gid: bob.gid }), "EPERM");
      const a = await m.setattr(root, f.inode, { uid: bob.uid, gid: bob.gid });
      expect([a.uid, a.gid]).toEqual([bob.uid, bob.gid]);
      expect(a.mode & (Mode.SUID | Mode.SGID)).toBe(0);
      const d = await m.mkdir(bob, ROOT_INODE, n("d"), 0o755, 0);
      expect((await m.setattr(bob, d.inode, { gid: 1000 })).gid).toBe(1000);
    });

    test("chown: a non-owner is refused even for the current ids; the owner's drops set-id bits", async () => {
      const f = await aliceFile(0o6777);
      const same = { uid: alice.uid, gid: alice.gid };
      await expectErrno(m.setattr(bob, f.inode, same), "EPERM");
      await expectErrno(m.setattr(bob, f.inode, { uid: alice.uid }), "EPERM");
      await expectErrno(m.setattr(bob, f.inode, { gid: alice.gid }), "EPERM");
      expect((await m.getattr(root, f.inode)).mode).toBe(0o6777);
      expect((await m.setattr(alice, f.inode, same)).mode).toBe(0o777);
      // Without group-exec, setgid stays for root's chown and goes for a caller outside the group.
      await m.setattr(alice, f.inode, { mode: 0o6767 });
      expect((await m.setattr(root, f.inode, { uid: alice.uid })).mode).toBe(0o2767);
      await m.setattr(root, f.inode, { gid: 5000 });
      await m.setattr(root, f.inode, { mode: 0o2767 });
      expect((await m.setattr(alice, f.inode, { gid: alice.gid })).mode).toBe(0o767);
      // A mode set along with a chown loses the bits too (knfsd).
      expect((await m.setattr(root, f.inode, { uid: bob.uid, mode: 0o6777 })).mode).toBe(0o777);
    });

    test("killSuidgid: a writer's kill-priv drops set-id bits as Linux does on write", async () => {
      const f = await aliceFile(0o6777);
      await expectErrno(m.setattr(carol, f.inode, { mode: 0o777 }), "EPERM");
      await m.setattr(alice, f.inode, { mode: 0o6775 });
      await expectErrno(m.setattr(carol, f.inode, { killSuidgid: true }), "EACCES");
      expect((await m.setattr(bob, f.inode, { killSuidgid: true })).mode).toBe(0o775);
      // Without group-exec, setgid is a locking mark for group members and goes for others.
      await m.setattr(alice, f.inode, { mode: 0o2767 });
      expect((await m.setattr(bob, f.inode, { killSuidgid: true })).mode).toBe(0o2767);
      expect((await m.setattr(carol, f.inode, { killSuidgid: true })).mode).toBe(0o767);
      // The kernel's own SETATTR of the mode, as a non-owning writer: only clearing is allowed.
      await m.setattr(alice, f.inode, { mode: 0o6777 });
      await expectErrno(m.setattr(carol, f.inode, { mode: 0o6777, killSuidgid: true }), "EPERM");
      await expectErrno(m.setattr(carol, f.inode, { mode: 0o4666, killSuidgid: true }), "EPERM");
      const k = { mode: 0o777, killSuidgid: true };
      expect((await m.setattr(carol, f.inode, k)).mode).toBe(0o777);
      // A truncate by a non-root writer drops them too; root's keeps them.
      await m.setattr(alice, f.inode, { mode: 0o6777 });
      expect((await m.setattr(root, f.inode, { size: 1 })).mode).toBe(0o6777);
      expect((await m.setattr(carol, f.inode, { size: 0 })).mode).toBe(0o777);
      await m.setattr(alice, f.inode, { mode: 0o6777 });
      expect((await m.fallocate(root, f.inode, 0, 0, 4096)).mode).toBe(0o6777);
      expect((await m.fallocate(carol, f.inode, 0, 0, 8192)).mode).toBe(0o777);
    });

    test("truncate: grows and shrinks files, refuses directories, needs write access", async () => {
      const f = await aliceFile();
      expect((await m.setattr(alice, f.inode, { size: 1 << 20 })).size).toBe(1 << 20);
      expect((await m.setattr(alice, f.inode, { size: 10 })).size).toBe(10);
      await expectErrno(m.setattr(carol, f.inode, { size: 0 }), "EACCES");
      await expectErrno(m.setattr(root, ROOT_INODE, { size: 0 }), "EISDIR");
      const fifo = await m.mknod(root, ROOT_INODE, n("p"), FileType.Fifo, 0o644, 0, 0);
      await expectErrno(m.setattr(root, fifo.inode, { size: 0 }), "EINVAL");
      // The owner may truncate even without write permission (open-then-chmod over NFS).
      await m.setattr(alice, f.inode, { mode: 0o444 });
      expect((await m.setattr(alice, f.inode, { size: 0 })).size).toBe(0);
    });

    test("times: explicit values need ownership, 'now' needs write access", async () => {
      const f = await aliceFile(0o666);
      const a = await m.setattr(alice, f.inode, {
        atime: { sec: 1000, nsec: 5 },
        mtime: { sec: 2000, nsec: 7 },
      });
      expect([a.atime, a.atimeNsec, a.mtime, a.mtimeNsec]).toEqual([1000, 5, 2000, 7]);
      await expectErrno(m.setattr(bob, f.inode, { mtime: { sec: 1, nsec: 0 } }), "EPERM");
      const b = await m.setattr(bob, f.inode, { mtime: "now", atime: "now" });
      expect(b.mtime).toBeGreaterThan(2000);
      await m.setattr(alice, f.inode, { mode: 0o644 });
      await expectErrno(m.setattr(bob, f.inode, { mtime: "now" }), "EACCES");
    });

    test("the NFS ctime guard applies only to an unchanged inode", async () => {
      const f = await aliceFile();
      const guard = { sec: f.attr.ctime, nsec: f.attr.ctimeNsec };
      await m.setattr(alice, f.inode, { mode: 0o600, ctimeGuard: guard });
      await expectErrno(m.setattr(alice, f.inode, { mode: 0o640, ctimeGuard: guard }), "ENOTSYNC");
      expect((await m.getattr(alice, f.inode)).mode).toBe(0o600);
    });
  });

  describe("access", () => {
    test("owner, group, other and root", async () => {
      const f = await aliceFile(0o640);
      await m.access(alice, f.inode, AccessMask.R | AccessMask.W);
      await m.access(bob, f.inode, AccessMask.R); // bob is in group 1000
      await expectErrno(m.access(bob, f.inode, AccessMask.W), "EACCES");
      await expectErrno(m.access(carol, f.inode, AccessMask.R), "EACCES");
      await m.access(root, f.inode, AccessMask.R | AccessMask.W);
      await expectErrno(m.access(root, f.inode, AccessMask.X), "EACCES");
      await m.access(root, ROOT_INODE, AccessMask.X);
    });

    test("open checks the access mode and refuses writing directories", async () => {
      const f = await aliceFile(0o640);
      await m.open(alice, f.inode, 2);
      await m.release(f.inode);
      await expectErrno(m.open(carol, f.inode, 0), "EACCES");
      await expectErrno(m.open(bob, f.inode, 1), "EACCES");
      await expectErrno(m.open(root, ROOT_INODE, 1), "EISDIR");
    });
  });

  describe("xattrs", () => {
    test("set, get, list, remove, with CREATE and REPLACE", async () => {
      const f = await aliceFile();
      await m.setxattr(alice, f.inode, "user.a", n("1"), 0);
      await m.setxattr(alice, f.inode, "user.b", Buffer.alloc(0), XattrFlags.CREATE);
      expect((await m.getxattr(alice, f.inode, "user.a")).toString()).toBe("1");
      expect((await m.getxattr(alice, f.inode, "user.b")).length).toBe(0);
      expect((await m.listxattr(alice, f.inode)).sort()).toEqual(["user.a", "user.b"]);
      await expectErrno(m.setxattr(alice, f.inode, "user.a", n("2"), XattrFlags.CREATE), "EEXIST");
      await expectErrno(
        m.setxattr(alice, f.inode, "user.c", n("2"), XattrFlags.REPLACE),
        "ENODATA",
      );
      await m.setxattr(alice, f.inode, "user.a", n("2"), XattrFlags.REPLACE);
      expect((await m.getxattr(alice, f.inode, "user.a")).toString()).toBe("2");
      await m.removexattr(alice, f.inode, "user.a");
      await expectErrno(m.getxattr(alice, f.inode, "user.a"), "ENODATA");
      await expectErrno(m.removexattr(alice, f.inode, "user.a"), "ENODATA");
    });

    test("limits, namespaces and permissions", async () => {
      const f = await aliceFile(0o644);
      await expectErrno(m.setxattr(alice, f.inode, "user.big", Buffer.alloc(65537), 0), "E2BIG");
      await m.setxattr(alice, f.inode, "user.max", Buffer.alloc(65536, 1), 0);
      expect((await m.getxattr(alice, f.inode, "user.max")).length).toBe(65536);
      await expectErrno(m.setxattr(alice, f.inode, `user.${"x".repeat(260)}`, n("v"), 0), "ERANGE");
      await expectErrno(
        m.setxattr(alice, f.inode, "system.posix_acl_access", n("v"), 0),
        "EOPNOTSUPP",
      );
      await expectErrno(m.setxattr(alice, f.inode, "trusted.t", n("v"), 0), "EPERM");
      await m.setxattr(root, f.inode, "trusted.t", n("v"), 0);
      expect(await m.listxattr(alice, f.inode)).toEqual(["user.max"]);
      expect((await m.listxattr(root, f.inode)).sort()).toEqual(["trusted.t", "user.max"]);
      await expectErrno(m.setxattr(carol, f.inode, "user.x", n("v"), 0), "EACCES");
      await m.getxattr(carol, f.inode, "user.max");
      const s = await m.symlink(alice, ROOT_INODE, n("s"), n("f"));
      await expectErrno(m.setxattr(alice, s.inode, "user.x", n("v"), 0), "EPERM");
    });

    test("xattrs leave with their inode", async () => {
      const f = await aliceFile();
      await m.setxattr(alice, f.inode, "user.a", n("1"), 0);
      await m.unlink(alice, ROOT_INODE, n("f"));
      await expectErrno(m.getxattr(alice, f.inode, "user.a"), "ENOENT");
      const g = await m.mknod(alice, ROOT_INODE, n("g"), FileType.File, 0o644, 0, 0);
      expect(await m.listxattr(alice, g.inode)).toEqual([]);
    });
  });
}
