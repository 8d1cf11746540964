/**
 * `jfs rmr` given a path on a live FUSE mount: the tree goes (into the trash, the volume
 * keeps one) without the kernel walking it, the mount sees it gone, and the mount's own root
 * is refused. Real mount, real CLI.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
} from "./harness.ts";

let volume: TestVolume;
let mounted: Mounted | undefined;
let mnt: string;

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume("rmrmount", { trashDays: 1 });
  mnt = join(volume.root, "mnt");
  mounted = await startMount(volume, mnt, ["--cache-dir", "memory"]);
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  if (mounted) await stopMount(mounted).catch(() => forceCleanup(mounted));
  volume?.cleanup();
});

test.skipIf(!HAVE_FUSE)("rmr of a mount path removes the tree into the trash", async () => {
  const tree = join(mnt, "tree");
  for (const d of ["a", "a/b", "c"]) mkdirSync(join(tree, d), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(tree, i % 2 ? "a/b" : "c", `f${i}`), `${i}`);
  writeFileSync(join(mnt, "keep"), "kept");
  const r = await jfs(["rmr", volume.metaUrl, tree]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("removed 20 files and 4 directories into the trash");
  // The kernel may keep the name for its entry timeout; the listing is fresh.
  expect(readdirSync(mnt).sort()).toEqual(["keep"]);
  await waitFor("the removed tree to vanish from the mount", () => !existsSync(tree), 10_000);
  const hours = readdirSync(join(mnt, ".trash"));
  expect(hours).toHaveLength(1);
  expect(readdirSync(join(mnt, ".trash", hours[0]!))).toHaveLength(20);

  const root = await jfs(["rmr", volume.metaUrl, mnt]);
  expect(root.code).toBe(1);
  expect(root.stderr).toContain("is the root of a mount");
  expect(existsSync(join(mnt, "keep"))).toBe(true);
});
