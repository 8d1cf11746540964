/**
 * Deferred sync on every engine (Meta.create with deferSync, commitToken, syncThrough): a
 * create that may return before it is durable is still a committed create in every way that
 * can be observed, and syncThrough of any token taken after it resolves. Engines whose commits
 * are durable at once (Redis, PostgreSQL) pass by being synchronous; what SQLite syncs and
 * when is counted in test/meta/deferredsync.test.ts, and survives a power cut in
 * test/fuse/powercut.test.ts.
 */
import { beforeEach, expect, test } from "bun:test";
import { ROOT_INODE } from "../../../src/limits.ts";
import type { BaseMeta } from "../../../src/meta/base.ts";
import { FileType } from "../../../src/meta/interface.ts";
import { formatted, type MetaBackend } from "../harness.ts";
import { expectErrno, n, root } from "./util.ts";

const deferred = { deferSync: true };

export function durabilityCases(backend: () => MetaBackend): void {
  let m: BaseMeta;
  beforeEach(async () => {
    await backend().reset();
    m = await formatted(backend());
  });

  test("a deferred create is committed: seen by another session, charged, and open", async () => {
    const other = await backend().open();
    await other.load();
    const before = await m.counters();
    const { inode, attr } = await m.create(root, ROOT_INODE, n("lazy"), 0o640, 0o022, deferred);
    expect(attr.type).toBe(FileType.File);
    expect(attr.mode & 0o7777).toBe(0o640);
    expect((await other.lookup(root, ROOT_INODE, n("lazy"))).inode).toBe(inode);
    expect((await other.counters()).usedInodes).toBe(before.usedInodes + 1);
    await expectErrno(m.create(root, ROOT_INODE, n("lazy"), 0o644, 0, deferred), "EEXIST");
    await m.release(inode);
    await m.syncThrough(m.commitToken());
  });

  test("tokens never decrease, and syncThrough of any token taken resolves", async () => {
    await m.syncThrough(m.commitToken()); // nothing deferred yet
    const tokens = [m.commitToken()];
    for (let i = 0; i < 5; i++) {
      const { inode } = await m.create(root, ROOT_INODE, n(`f${i}`), 0o644, 0, deferred);
      tokens.push(m.commitToken());
      await m.release(inode);
      if (i % 2 === 0) await m.mkdir(root, ROOT_INODE, n(`d${i}`), 0o755, 0); // synchronous
      tokens.push(m.commitToken());
    }
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    // Out of order and concurrently: each resolves (an earlier one at once if covered).
    await Promise.all([...tokens].reverse().map((t) => m.syncThrough(t)));
    expect((await m.readdir(root, ROOT_INODE, 0, 100, false)).length).toBe(8);
  });

  test("a failed deferred create changes nothing", async () => {
    await m.mkdir(root, ROOT_INODE, n("dir"), 0o755, 0);
    const before = await m.counters();
    await expectErrno(m.create(root, 12345, n("x"), 0o644, 0, deferred), "ENOENT");
    await expectErrno(m.create(root, ROOT_INODE, n("dir"), 0o644, 0, deferred), "EEXIST");
    await m.syncThrough(m.commitToken());
    expect((await m.counters()).usedInodes).toBe(before.usedInodes);
  });

  test("close syncs deferred creates: a new session of the store finds them", async () => {
    for (let i = 0; i < 3; i++) {
      const { inode } = await m.create(root, ROOT_INODE, n(`c${i}`), 0o644, 0, deferred);
      await m.release(inode);
    }
    await m.close();
    const again = await backend().open();
    await again.load();
    const names = (await again.readdir(root, ROOT_INODE, 0, 100, false)).map((e) =>
      e.name.toString(),
    );
    expect(names.sort()).toEqual(["c0", "c1", "c2"]);
  });
}
