/**
 * Data meta refuses (here ENOSPC: a volume of 100 KiB on real SQLite and a file store) is
 * dropped; every writer of the file must hear it once, not only whoever flushes first.
 */
import { describe, expect, test } from "bun:test";
import { fsError, isFsError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import type { ErrnoName } from "../../src/posix.ts";
import { JfsVfs } from "../../src/vfs/vfs.ts";
import { WriteErrors } from "../../src/vfs/writeerrors.ts";
import { dataFixture } from "../chunk/harness.ts";

const KiB = 1024;
const O_RDONLY = 0;
const O_RDWR = 2;

async function volume() {
  const fx = await dataFixture({ format: { capacityBytes: 100 * KiB } });
  const vfs = new JfsVfs(fx.meta, fx.data, fx.format);
  return {
    fx,
    vfs,
    async [Symbol.asyncDispose]() {
      await vfs.close().catch(() => undefined);
      await fx[Symbol.asyncDispose]();
    },
  };
}

async function errnoOf(p: Promise<unknown>): Promise<ErrnoName | "ok"> {
  try {
    await p;
    return "ok";
  } catch (error) {
    for (const name of ["ENOSPC", "EIO", "ENOENT", "EBADF"] as const) {
      if (isFsError(error, name)) return name;
    }
    throw error;
  }
}

describe("write errors reach every writer", () => {
  test("two handles: both hear ENOSPC once, at flush, fsync or close", async () => {
    await using v = await volume();
    const { vfs } = v;
    const a = await vfs.create(ctx, ROOT_INODE, Buffer.from("f"), 0o644, 0, O_RDWR);
    const b = await vfs.open(ctx, a.inode, O_RDWR);
    const c = await vfs.open(ctx, a.inode, O_RDWR);
    const reader = await vfs.open(ctx, a.inode, O_RDONLY);
    await vfs.write(ctx, a.inode, a.fh, 0, Buffer.alloc(200 * KiB, 1));
    await vfs.write(ctx, a.inode, b.fh, 300 * KiB, Buffer.alloc(10, 2));
    expect(await errnoOf(vfs.flush(ctx, a.inode, a.fh))).toBe("ENOSPC");
    expect(await errnoOf(vfs.flush(ctx, a.inode, a.fh))).toBe("ok"); // heard once
    expect(await errnoOf(vfs.fsync(ctx, a.inode, b.fh, false))).toBe("ENOSPC");
    expect(await errnoOf(vfs.fsync(ctx, a.inode, b.fh, false))).toBe("ok");
    // A handle that only reads has no data to lose.
    expect(await errnoOf(vfs.flush(ctx, a.inode, reader.fh))).toBe("ok");
    // Opened after the refusal: nothing of its own was refused.
    const late = await vfs.open(ctx, a.inode, O_RDWR);
    expect(await errnoOf(vfs.flush(ctx, a.inode, late.fh))).toBe("ok");
    // c never flushed: its close says it.
    expect(await errnoOf(vfs.release(ctx, a.inode, c.fh))).toBe("ENOSPC");
    for (const h of [a, b, reader, late]) await vfs.release(ctx, a.inode, h.fh);
  });

  test("stateless writers (NFS) hear it at the next fsync without a handle, once", async () => {
    await using v = await volume();
    const { vfs } = v;
    const f = await vfs.create(ctx, ROOT_INODE, Buffer.from("g"), 0o644, 0, O_RDWR);
    await vfs.release(ctx, f.inode, f.fh);
    const before = vfs.writeErrorEpoch(f.inode);
    await vfs.write(ctx, f.inode, undefined, 0, Buffer.alloc(200 * KiB, 3));
    await vfs.write(ctx, f.inode, undefined, 200 * KiB, Buffer.alloc(10, 3));
    expect(await errnoOf(vfs.fsync(ctx, f.inode, undefined, false))).toBe("ENOSPC");
    expect(vfs.writeErrorEpoch(f.inode)).not.toBe(before);
    expect(await errnoOf(vfs.fsync(ctx, f.inode, undefined, false))).toBe("ok");
  });

  test("a refusal found by the background flush is heard by each handle", async () => {
    await using v = await volume();
    const { vfs, fx } = v;
    const a = await vfs.create(ctx, ROOT_INODE, Buffer.from("h"), 0o644, 0, O_RDWR);
    const b = await vfs.open(ctx, a.inode, O_RDWR);
    await vfs.write(ctx, a.inode, a.fh, 0, Buffer.alloc(200 * KiB, 4));
    // Nobody flushes: the data path commits on its own (flushAll as at unmount or idle).
    await fx.data.flushAll();
    expect(await errnoOf(vfs.flush(ctx, a.inode, b.fh))).toBe("ENOSPC");
    expect(await errnoOf(vfs.flush(ctx, a.inode, a.fh))).toBe("ENOSPC");
    await vfs.release(ctx, a.inode, a.fh);
    await vfs.release(ctx, a.inode, b.fh);
  });
});

describe("WriteErrors bounds", () => {
  test("forgetting old inodes never brings an epoch back to a value seen before", () => {
    const errors = new WriteErrors(2);
    const seen = new Map<number, Set<number>>();
    for (let round = 0; round < 20; round++) {
      const ino = 1 + (round % 5);
      const before = errors.epoch(ino);
      const earlier = seen.get(ino) ?? new Set<number>();
      earlier.add(before);
      seen.set(ino, earlier);
      errors.refused(ino, fsError("ENOSPC"));
      const after = errors.epoch(ino);
      expect(earlier.has(after)).toBe(false);
      earlier.add(after);
    }
    // Stateless errors are bounded too: the oldest are forgotten.
    expect(errors.takeStateless(1)).toBeUndefined();
    expect(isFsError(errors.takeStateless(5), "ENOSPC")).toBe(true);
  });
});
