/**
 * The tools take the user's paths: `jfs warmup` given a path on a live FUSE mount warms that
 * file (it used to look the whole path up inside the volume and answer ENOENT), and refuses a
 * path on a mount of another volume. Real mounts, the real CLI.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
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
} from "./harness.ts";

const BLOCK_BYTES = 4 * 1024 * 1024;

let volume: TestVolume;
let other: TestVolume;
let mounted: Mounted | undefined;
let otherMounted: Mounted | undefined;
let mnt: string;

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume("userpaths");
  other = await createVolume("otherpaths");
  mnt = join(volume.root, "mnt");
  mounted = await startMount(volume, mnt, ["--cache-dir", "memory"]);
  otherMounted = await startMount(other, join(other.root, "mnt"));
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  for (const m of [mounted, otherMounted]) {
    if (m) await stopMount(m).catch(() => forceCleanup(m));
  }
  volume?.cleanup();
  other?.cleanup();
});

/** Block files in a cache directory (named SLICE_INDEX_SIZE, see src/chunk). */
function cachedBlocks(dir: string): number {
  let count = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) stack.push(join(d, e.name));
      else if (/_\d+_\d+$/.test(e.name)) count++;
    }
  }
  return count;
}

describe.skipIf(!HAVE_FUSE)("tools take paths on a mount", () => {
  test("jfs warmup /MOUNT/dir/big.bin warms that file", async () => {
    mkdirSync(join(mnt, "dir"));
    writeFileSync(join(mnt, "dir", "big.bin"), Buffer.alloc(BLOCK_BYTES + 1000, 5));
    const cache = join(volume.root, "warm-cache");
    const r = await jfs([
      "warmup",
      volume.metaUrl,
      join(mnt, "dir", "big.bin"),
      "--cache-dir",
      cache,
    ]);
    expect(`${r.code} ${r.stdout}${r.stderr}`).toContain("warmed up 1 files");
    expect(r.code).toBe(0);
    expect(cachedBlocks(cache)).toBe(2);
    // A directory on the mount is walked as the volume path is.
    const d = await jfs(["warmup", volume.metaUrl, join(mnt, "dir"), "--cache-dir", cache]);
    expect(d.stdout).toContain("warmed up 1 files");
    // The volume path still works.
    const v = await jfs(["warmup", volume.metaUrl, "/dir/big.bin", "--cache-dir", cache]);
    expect(v.stdout).toContain("warmed up 1 files");
  });

  test("a path on a mount of another volume is refused, naming it", async () => {
    writeFileSync(join(other.root, "mnt", "x"), "x");
    const r = await jfs([
      "warmup",
      volume.metaUrl,
      join(other.root, "mnt", "x"),
      "--cache-dir",
      "memory",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not of volume "userpaths"');
  });

  test("a path on a mount of another volume of the same name is refused too", async () => {
    const twin = await createVolume("userpaths");
    const twinDir = join(twin.root, "mnt");
    const m = await startMount(twin, twinDir, ["--cache-dir", "memory"]);
    try {
      writeFileSync(join(twinDir, "x"), "x");
      const r = await jfs(["warmup", volume.metaUrl, join(twinDir, "x"), "--cache-dir", "memory"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('not of volume "userpaths"');
    } finally {
      await stopMount(m).catch(() => forceCleanup(m));
      twin.cleanup();
    }
  });

  for (const via of ["mount(2)", "fusermount3"] as const) {
    test(`jfs mount --read-only (${via}): reads work, every change answers EROFS`, async () => {
      writeFileSync(join(mnt, "ro.txt"), "hello");
      const roDir = join(volume.root, `ro-${via}`);
      const env: Record<string, string> = via === "fusermount3" ? { JFS_FUSE_HELPER: via } : {};
      const ro = await startMount(volume, roDir, ["--read-only", "--cache-dir", "memory"], env);
      try {
        expect(readFileSync(join(roDir, "ro.txt"), "utf8")).toBe("hello");
        expect(() => writeFileSync(join(roDir, "ro.txt"), "changed")).toThrow(/EROFS/);
        expect(() => writeFileSync(join(roDir, "new.txt"), "x")).toThrow(/EROFS/);
        expect(() => unlinkSync(join(roDir, "ro.txt"))).toThrow(/EROFS/);
        expect(() => mkdirSync(join(roDir, "sub"))).toThrow(/EROFS/);
        expect(readFileSync(join(mnt, "ro.txt"), "utf8")).toBe("hello");
      } finally {
        await stopMount(ro).catch(() => forceCleanup(ro));
      }
    });
  }

  test("jfs mount --subdir shows that directory as the root", async () => {
    mkdirSync(join(mnt, "proj", "deep"), { recursive: true });
    writeFileSync(join(mnt, "proj", "a.txt"), "in proj");
    writeFileSync(join(mnt, "outside.txt"), "not in proj");
    const subDir = join(volume.root, "sub");
    const sub = await startMount(volume, subDir, ["--subdir", "/proj", "--cache-dir", "memory"]);
    try {
      expect(readdirSync(subDir).sort()).toEqual(["a.txt", "deep"]);
      expect(readFileSync(join(subDir, "a.txt"), "utf8")).toBe("in proj");
      expect(statSync(subDir).ino).toBe(statSync(join(mnt, "proj")).ino);
      // Creates, renames into the root and hard links in the root land in /proj.
      writeFileSync(join(subDir, "deep", "b.txt"), "made in sub");
      renameSync(join(subDir, "deep", "b.txt"), join(subDir, "b.txt"));
      linkSync(join(subDir, "b.txt"), join(subDir, "c.txt"));
      expect(readFileSync(join(mnt, "proj", "b.txt"), "utf8")).toBe("made in sub");
      expect(readFileSync(join(mnt, "proj", "c.txt"), "utf8")).toBe("made in sub");
      expect(readdirSync(join(mnt, "proj", "deep"))).toEqual([]);
      // warmup maps a path on the subdir mount to its file.
      const r = await jfs([
        "warmup",
        volume.metaUrl,
        join(subDir, "a.txt"),
        "--cache-dir",
        "memory",
      ]);
      expect(r.stdout).toContain("warmed up 1 files");
    } finally {
      await stopMount(sub).catch(() => forceCleanup(sub));
    }
  });

  test("jfs mount --subdir of a missing directory fails, naming it", async () => {
    const dir = join(volume.root, "nosub");
    const r = await jfs([
      "mount",
      volume.metaUrl,
      dir,
      "--subdir",
      "/nope",
      "--cache-dir",
      "memory",
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--subdir /nope: no such directory in volume "userpaths"');
  });
});
