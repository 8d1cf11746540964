/**
 * The usage tree of `jfs summary` (src/volume/info.ts) on a real SQLite volume: the biggest
 * entries of each directory are kept and the rest folded into "..." with their totals, the
 * same whether the walk folds files early (a directory much wider than --entries) or not.
 */
import { expect, test } from "bun:test";
import { ROOT_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS as ctx, FileType } from "../../src/meta/interface.ts";
import { pruneTree, type TreeNode, usageTree } from "../../src/volume/info.ts";
import { formatted, sqliteBackend } from "../meta/harness.ts";

/** name, bytes, files, dirs of each child, for comparing trees. */
const shape = (node: TreeNode): unknown[] =>
  node.children.map((c) => [c.name, c.bytes, c.files, c.dirs, shape(c)]);

test("summary keeps the biggest entries per directory and folds the rest with their totals", async () => {
  const backend = sqliteBackend();
  try {
    const m = await formatted(backend);
    const wide = await m.mkdir(ctx, ROOT_INODE, Buffer.from("wide"), 0o755, 0);
    // 200 files of 1..200 bytes (many times 2 * entries: folded during the walk), in a
    // shuffled order, and 3 subdirectories whose sizes grow after their files were seen.
    const order = Array.from({ length: 200 }, (_, i) => (i * 37) % 200);
    for (const i of order) {
      const f = await m.mknod(ctx, wide.inode, Buffer.from(`f${i}`), FileType.File, 0o644, 0, 0);
      await m.setattr(ctx, f.inode, { size: i + 1 });
    }
    for (const [d, bytes] of [
      ["small", 5],
      ["mid", 150],
      ["huge", 10_000],
    ] as const) {
      const sub = await m.mkdir(ctx, wide.inode, Buffer.from(d), 0o755, 0);
      const f = await m.mknod(ctx, sub.inode, Buffer.from("x"), FileType.File, 0o644, 0, 0);
      await m.setattr(ctx, f.inode, { size: bytes });
    }
    const total = (200 * 201) / 2 + 5 + 150 + 10_000;
    const tree = pruneTree(await usageTree(m, ROOT_INODE, "/", { depth: 2, entries: 3 }), 3);
    expect([tree.files, tree.dirs, tree.bytes]).toEqual([203, 5, total]);
    const [w] = tree.children;
    expect(w).toMatchObject({ name: "wide", files: 203, dirs: 4, bytes: total });
    // huge (10,000), f199 (200 bytes), f198 (199); mid's 150 and the rest folded. Two
    // levels: /wide, then its entries (huge/x would be a third).
    expect(shape(w!)).toEqual([
      ["huge", 10_000, 1, 1, []],
      ["f199", 200, 1, 0, []],
      ["f198", 199, 1, 0, []],
      ["...", total - 10_000 - 200 - 199, 200, 2, []],
    ]);
    // The same tree when the walk keeps every entry until the end (no early folding).
    const whole = pruneTree(await usageTree(m, ROOT_INODE, "/", { depth: 2, entries: 1000 }), 3);
    expect(shape(whole)).toEqual(shape(tree));
    // Fewer entries than --entries: all shown, still biggest first.
    const few = await m.mkdir(ctx, ROOT_INODE, Buffer.from("few"), 0o755, 0);
    for (const [name, bytes] of [
      ["one", 1],
      ["three", 3],
      ["two", 2],
    ] as const) {
      const f = await m.mknod(ctx, few.inode, Buffer.from(name), FileType.File, 0o644, 0, 0);
      await m.setattr(ctx, f.inode, { size: bytes });
    }
    const fewTree = pruneTree(await usageTree(m, few.inode, "/few", { depth: 1, entries: 10 }), 10);
    expect(fewTree.children.map((c) => c.name)).toEqual(["three", "two", "one"]);
    // --depth 0: the directory alone, with its totals.
    const flat = await usageTree(m, ROOT_INODE, "/", { depth: 0, entries: 3 });
    expect([flat.children, flat.files, flat.bytes]).toEqual([[], 206, total + 6]);
    await m.close();
  } finally {
    await backend.stop();
  }
});
