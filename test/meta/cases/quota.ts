/**
 * Directory quotas (src/meta/quota.ts): usage kept by every operation inside its transaction,
 * EDQUOT past a limit, and a recount (fsck --repair-quota) that agrees with the kept usage.
 */
import { beforeEach, describe, expect, test } from "bun:test";
import { FsError } from "../../../src/errors.ts";
import { CHUNK_BYTES, ROOT_INODE, TRASH_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType, type Ino, RenameFlags } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { rng } from "../model.ts";
import { expectErrno, n, root } from "./util.ts";

const KiB4 = 4096;

export function quotaCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });
  const mkdir = async (parent: Ino, name: string) =>
    (await m.mkdir(root, parent, n(name), 0o755, 0)).inode;
  const mkfile = async (parent: Ino, name: string) =>
    (await m.mknod(root, parent, n(name), FileType.File, 0o644, 0, 0)).inode;
  /** Writes `len` bytes at `pos` of chunk 0. */
  const write = async (ino: Ino, pos: number, len: number) =>
    m.write(ino, 0, { id: await m.newSliceId(), size: len, off: 0, len, pos });
  const usage = async (dir: Ino) => {
    const q = (await m.listQuotas()).find((r) => r.inode === dir);
    return q === undefined ? undefined : { bytes: q.usedBytes, inodes: q.usedInodes };
  };
  /** The kept usage must always be what a recount finds. */
  const expectConsistent = async () => expect(await m.repairQuotas()).toEqual([]);

  describe("directory quotas", () => {
    test("set counts the tree below the directory, not the directory itself", async () => {
      const d = await mkdir(ROOT_INODE, "d");
      const sub = await mkdir(d, "sub");
      await write(await mkfile(sub, "f"), 0, 5000);
      await m.symlink(root, d, n("l"), n("target"));
      const set = await m.setQuota(d, { capacityBytes: 1 << 20, inodes: 10 });
      expect(set).toMatchObject({ inode: d, usedBytes: KiB4 + 2 * KiB4, usedInodes: 3 });
      expect(await usage(d)).toEqual({ bytes: 3 * KiB4, inodes: 3 });
      // Setting again changes the limits and keeps the usage.
      await m.setQuota(d, { capacityBytes: 2 << 20, inodes: 0 });
      expect((await m.listQuotas())[0]).toMatchObject({ capacityBytes: 2 << 20, inodes: 0 });
      expect(await usage(d)).toEqual({ bytes: 3 * KiB4, inodes: 3 });
      const f = await mkfile(d, "plain");
      await expectErrno(m.setQuota(f, { capacityBytes: 1, inodes: 0 }), "ENOTDIR");
      await expectErrno(m.setQuota(TRASH_INODE, { capacityBytes: 1, inodes: 0 }), "EPERM");
      expect(await m.deleteQuota(d)).toBe(true);
      expect(await m.deleteQuota(d)).toBe(false);
      expect(await m.listQuotas()).toEqual([]);
    });

    test("an inode quota refuses creates and links past it with EDQUOT", async () => {
      const d = await mkdir(ROOT_INODE, "d");
      await m.setQuota(d, { capacityBytes: 0, inodes: 3 });
      const f = await mkfile(d, "a");
      await mkdir(d, "sub");
      await m.symlink(root, d, n("s"), n("x"));
      await expectErrno(m.mknod(root, d, n("b"), FileType.File, 0o644, 0, 0), "EDQUOT");
      await expectErrno(m.mkdir(root, d, n("c"), 0o755, 0), "EDQUOT");
      await expectErrno(m.link(root, f, d, n("a2")), "EDQUOT");
      expect(await usage(d)).toMatchObject({ inodes: 3 });
      // Outside the quota nothing is limited; removing frees room inside.
      await mkfile(ROOT_INODE, "free");
      await m.unlink(root, d, n("s"));
      await mkfile(d, "b");
      await m.rmdir(root, d, n("sub"));
      await m.mkdir(root, d, n("c"), 0o755, 0);
      await expectConsistent();
    });

    test("a space quota refuses writes, truncates and fallocates that grow past it", async () => {
      const d = await mkdir(ROOT_INODE, "d");
      // The directory's own subdirectory costs 4 KiB of the 40.
      await m.setQuota(d, { capacityBytes: 10 * KiB4, inodes: 0 });
      const sub = await mkdir(d, "sub");
      const f = await mkfile(sub, "f");
      await write(f, 0, 8 * KiB4);
      expect(await usage(d)).toEqual({ bytes: 9 * KiB4, inodes: 2 });
      await expectErrno(write(f, 8 * KiB4, 2 * KiB4), "EDQUOT");
      await expectErrno(m.setattr(root, f, { size: 10 * KiB4 }), "EDQUOT");
      await expectErrno(m.fallocate(root, f, 0, 0, 10 * KiB4), "EDQUOT");
      expect((await m.getattr(root, f)).size).toBe(8 * KiB4);
      // What fits still goes in; an overwrite costs nothing; shrinking always works.
      await write(f, 8 * KiB4, KiB4);
      await write(f, 0, KiB4);
      await m.setattr(root, f, { size: KiB4 });
      expect(await usage(d)).toEqual({ bytes: 2 * KiB4, inodes: 2 });
      await write(f, 0, 9 * KiB4);
      await expectConsistent();
    });

    test("nested quotas are each charged and each enforced", async () => {
      const outer = await mkdir(ROOT_INODE, "outer");
      const inner = await mkdir(outer, "inner");
      await m.setQuota(outer, { capacityBytes: 6 * KiB4, inodes: 0 });
      await m.setQuota(inner, { capacityBytes: 0, inodes: 2 });
      const f = await mkfile(inner, "f");
      await write(f, 0, 3 * KiB4);
      expect(await usage(outer)).toEqual({ bytes: 4 * KiB4, inodes: 2 });
      expect(await usage(inner)).toEqual({ bytes: 3 * KiB4, inodes: 1 });
      await expectErrno(write(f, 3 * KiB4, 3 * KiB4), "EDQUOT"); // outer's space
      await mkfile(inner, "g");
      await expectErrno(mkfile(inner, "h"), "EDQUOT"); // inner's inodes
      // Removing a directory removes its quota.
      await m.unlink(root, inner, n("f"));
      await m.unlink(root, inner, n("g"));
      await m.rmdir(root, outer, n("inner"));
      expect((await m.listQuotas()).map((q) => q.inode)).toEqual([outer]);
      expect(await usage(outer)).toEqual({ bytes: 0, inodes: 0 });
    });

    test("renames across a quota boundary move the usage, a directory with its tree", async () => {
      const a = await mkdir(ROOT_INODE, "a");
      const b = await mkdir(ROOT_INODE, "b");
      const tree = await mkdir(ROOT_INODE, "tree");
      await write(await mkfile(tree, "f"), 0, 2 * KiB4);
      await mkdir(tree, "sub");
      const f = await mkfile(ROOT_INODE, "f");
      await write(f, 0, KiB4);
      await m.setQuota(a, { capacityBytes: 4 * KiB4, inodes: 0 });
      await m.setQuota(b, { capacityBytes: 0, inodes: 0 });
      await m.rename(root, ROOT_INODE, n("f"), a, n("f"), 0);
      expect(await usage(a)).toEqual({ bytes: KiB4, inodes: 1 });
      await m.rename(root, ROOT_INODE, n("tree"), b, n("tree"), 0);
      expect(await usage(b)).toEqual({ bytes: 4 * KiB4, inodes: 3 });
      // Into a, which holds f: 4 KiB more than its quota.
      await expectErrno(m.rename(root, b, n("tree"), a, n("tree"), 0), "EDQUOT");
      await m.rename(root, a, n("f"), b, n("f"), 0);
      await m.rename(root, b, n("tree"), a, n("tree"), 0);
      expect(await usage(a)).toEqual({ bytes: 4 * KiB4, inodes: 3 });
      expect(await usage(b)).toEqual({ bytes: KiB4, inodes: 1 });
      // Within one quota nothing changes; exchanging swaps what each side holds.
      await m.rename(root, a, n("tree"), a, n("t2"), 0);
      await m.rename(root, a, n("t2"), b, n("f"), RenameFlags.EXCHANGE);
      expect(await usage(a)).toEqual({ bytes: KiB4, inodes: 1 });
      expect(await usage(b)).toEqual({ bytes: 4 * KiB4, inodes: 3 });
      // Replacing a file gives back what the victim charged.
      await mkfile(b, "g");
      await m.rename(root, a, n("t2"), b, n("g"), 0);
      expect(await usage(b)).toEqual({ bytes: 5 * KiB4, inodes: 4 });
      await expectConsistent();
    });

    test("every link charges its own directory, and writes charge them all", async () => {
      const a = await mkdir(ROOT_INODE, "a");
      const b = await mkdir(ROOT_INODE, "b");
      await m.setQuota(a, { capacityBytes: 0, inodes: 0 });
      await m.setQuota(b, { capacityBytes: 3 * KiB4, inodes: 0 });
      const f = await mkfile(a, "f");
      await write(f, 0, KiB4);
      await m.link(root, f, b, n("f"));
      await m.link(root, f, a, n("f2"));
      expect(await usage(a)).toEqual({ bytes: 2 * KiB4, inodes: 2 });
      expect(await usage(b)).toEqual({ bytes: KiB4, inodes: 1 });
      await write(f, KiB4, KiB4);
      expect(await usage(a)).toEqual({ bytes: 4 * KiB4, inodes: 2 });
      expect(await usage(b)).toEqual({ bytes: 2 * KiB4, inodes: 1 });
      await expectErrno(write(f, 2 * KiB4, 2 * KiB4), "EDQUOT"); // b would hold 4 of 3
      await m.unlink(root, b, n("f"));
      await write(f, 2 * KiB4, 2 * KiB4);
      expect(await usage(b)).toEqual({ bytes: 0, inodes: 0 });
      await expectConsistent();
    });

    test("a file moved to the trash leaves its quota, and comes back into it", async () => {
      await backend().reset();
      m = await formatted(backend(), { trashDays: 1 });
      const d = await mkdir(ROOT_INODE, "d");
      await m.setQuota(d, { capacityBytes: 2 * KiB4, inodes: 1 });
      const f = await mkfile(d, "f");
      await write(f, 0, 2 * KiB4);
      await m.unlink(root, d, n("f"));
      expect(await usage(d)).toEqual({ bytes: 0, inodes: 0 });
      const trashed = await m.parents(root, f);
      const [hour] = [...trashed.keys()];
      expect((await m.getattr(root, hour!)).parent).toBe(TRASH_INODE);
      // Writes to a file in the trash (still open somewhere) charge no quota.
      await write(f, 0, 3 * KiB4);
      await m.setattr(root, f, { size: 2 * KiB4 });
      const [entry] = await m.readdir(root, hour!, 0, 10, false);
      await mkfile(d, "g");
      await expectErrno(m.rename(root, hour!, entry!.name, d, n("f"), 0), "EDQUOT");
      await m.unlink(root, d, n("g"));
      await m.rename(root, hour!, entry!.name, d, n("f"), 0);
      expect(await usage(d)).toEqual({ bytes: 2 * KiB4, inodes: 1 });
      await expectConsistent();
    });

    test("a batch removal (jfs rmr) gives back what its files and directories charged", async () => {
      const q = await mkdir(ROOT_INODE, "q");
      const d = await mkdir(q, "d");
      await m.setQuota(q, { capacityBytes: 0, inodes: 0 });
      await m.setQuota(d, { capacityBytes: 0, inodes: 0 });
      for (let i = 0; i < 5; i++) await write(await mkfile(d, `f${i}`), 0, 5000);
      const sub = await mkdir(d, "sub");
      await m.setQuota(sub, { capacityBytes: 0, inodes: 0 });
      await expectConsistent();
      const r = await m.removeBatch(root, d, [n("f0"), n("f1"), n("f2"), n("sub")]);
      expect(r).toMatchObject({ files: 3, dirs: 1 });
      expect((await m.listQuotas()).map((x) => x.inode).sort()).toEqual([q, d].sort());
      expect(await usage(d)).toEqual({ bytes: 2 * 2 * KiB4, inodes: 2 });
      await expectConsistent();
    });

    test("a recount repairs usage that went wrong", async () => {
      const d = await mkdir(ROOT_INODE, "d");
      const big = CHUNK_BYTES / 4;
      await write(await mkfile(d, "f"), 0, big);
      await m.setQuota(d, { capacityBytes: 0, inodes: 0 });
      await m.core.txn(async (tx) => tx.addQuotaUsage(d, 12345, -7));
      const [repair, ...more] = await m.repairQuotas();
      expect(more).toEqual([]);
      expect(repair!.before).toMatchObject({ usedBytes: big + 12345, usedInodes: -6 });
      expect(repair!.after).toMatchObject({ usedBytes: big, usedInodes: 1 });
      expect(await usage(d)).toEqual({ bytes: big, inodes: 1 });
      await expectConsistent();
    });

    test("random operations keep every quota equal to a recount of its tree", async () => {
      await backend().reset();
      m = await formatted(backend(), { trashDays: 1 });
      const rand = rng(7);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
      const q1 = await mkdir(ROOT_INODE, "q1");
      const q2 = await mkdir(q1, "q2");
      await mkdir(ROOT_INODE, "x");
      for (const d of [ROOT_INODE, q1, q2]) await m.setQuota(d, { capacityBytes: 0, inodes: 0 });
      /** Every directory and non-directory entry of the tree, by a walk. */
      const tree = async () => {
        const dirs: Ino[] = [ROOT_INODE];
        const entries: Array<{ parent: Ino; name: Buffer; inode: Ino; type: FileType }> = [];
        for (let i = 0; i < dirs.length; i++) {
          for (const e of await m.readdir(root, dirs[i]!, 0, 1000, false)) {
            entries.push({ parent: dirs[i]!, name: e.name, inode: e.inode, type: e.type });
            if (e.type === FileType.Directory) dirs.push(e.inode);
          }
        }
        return { dirs, entries };
      };
      const names = ["a", "b", "c", "d"].map(n);
      for (let step = 0; step < 300; step++) {
        const { dirs, entries } = await tree();
        const dir = pick(dirs);
        const e = entries.length > 0 ? pick(entries) : undefined;
        const files = entries.filter((x) => x.type === FileType.File);
        const f = files.length > 0 ? pick(files) : undefined;
        const op = pick([
          "create",
          "mkdir",
          "write",
          "truncate",
          "link",
          "unlink",
          "rename",
          "swap",
        ]);
        const attempt = async (): Promise<unknown> => {
          if (op === "create") return mkfile(dir, pick(names).toString());
          if (op === "mkdir") return mkdir(dir, pick(names).toString());
          if (op === "write" && f) return write(f.inode, Math.floor(rand() * 9) * KiB4, 5000);
          if (op === "truncate" && f) {
            return m.setattr(root, f.inode, { size: Math.floor(rand() * 12) * 3000 });
          }
          if (op === "link" && f) return m.link(root, f.inode, dir, pick(names));
          if (op === "unlink" && e) {
            return e.type === FileType.Directory
              ? m.rmdir(root, e.parent, e.name)
              : m.unlink(root, e.parent, e.name);
          }
          const flags = op === "swap" ? RenameFlags.EXCHANGE : 0;
          if (e) return m.rename(root, e.parent, e.name, dir, pick(names), flags);
        };
        await attempt().catch((error: unknown) => {
          if (!(error instanceof FsError)) throw error;
        });
        if (step % 50 === 49) await expectConsistent();
      }
      await expectConsistent();
      expect((await m.listQuotas()).length).toBeGreaterThanOrEqual(1);
    }, 60_000);

    test("statfs inside a quota directory shows the quota, elsewhere the volume", async () => {
      const d = await mkdir(ROOT_INODE, "d");
      const sub = await mkdir(d, "sub");
      const f = await mkfile(sub, "f");
      await write(f, 0, 3 * KiB4);
      const volume = await m.statfs(root, ROOT_INODE);
      await m.setQuota(d, { capacityBytes: 10 * KiB4, inodes: 0 });
      for (const ino of [d, sub, f]) {
        expect(await m.statfs(root, ino)).toEqual({
          totalBytes: 10 * KiB4,
          usedBytes: 4 * KiB4,
          availBytes: 6 * KiB4,
          totalInodes: volume.totalInodes,
          usedInodes: volume.usedInodes,
          availInodes: volume.availInodes,
        });
      }
      expect(await m.statfs(root, ROOT_INODE)).toEqual(volume);
      await m.setQuota(d, { capacityBytes: 0, inodes: 5 });
      expect(await m.statfs(root, sub)).toMatchObject({
        totalInodes: 5,
        usedInodes: 2,
        availInodes: 3,
        totalBytes: volume.totalBytes,
      });
    });

    test("the path of a quota directory is found from its inode", async () => {
      const a = await mkdir(ROOT_INODE, "a");
      const b = await mkdir(a, "b c");
      expect(await m.directoryPath(b)).toBe("/a/b c");
      expect(await m.directoryPath(ROOT_INODE)).toBe("/");
    });
  });
}
