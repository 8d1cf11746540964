/**
 * The kernel page cache across opens (FOPEN_KEEP_CACHE, decided per open from the size, mtime
 * and ctime read from meta). Two mounts of one SQLite volume, each with its own block cache,
 * stand for two nodes. Residency is observed with util-linux's fincore (mmap + mincore), whose
 * own open(2) is the reopen under test: a dropped cache shows 0 resident bytes.
 *
 * A is mounted with default flags, then with --writeback-cache; B always with default flags.
 * - A reopen of an unchanged file keeps its pages.
 * - A file changed through the other mount is read again after a reopen, whatever the change:
 *   same-size rewrite, same-size rewrite with mtime put back (only ctime tells), O_TRUNC
 *   rewrite, append (not under --writeback-cache, see there). Each case first proves the old
 *   pages were resident on A, so the check cannot pass because nothing was cached.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  openSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const HAVE_FINCORE = Bun.which("fincore") !== null;
const PAGE_BYTES = 4096;
/** Several pages, not a multiple of one, within one block. */
const FILE_BYTES = 300 * 1024 + 123;
/** A fixed mtime, so that a rewrite can put exactly the same one back (to the nanosecond). */
const FIXED_MTIME_SEC = 1_600_000_000;

const randomBytes = (size: number) => {
  const data = Buffer.alloc(size);
  for (let at = 0; at < size; at += 65_536) crypto.getRandomValues(data.subarray(at, at + 65_536));
  return data;
};

/** Bytes of `path` in the page cache, as fincore reports them (it opens the file itself). */
function residentBytes(path: string): number {
  const r = Bun.spawnSync(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES", path]);
  if (r.exitCode !== 0) throw new Error(`fincore ${path}: ${r.stderr.toString()}`);
  return Number(r.stdout.toString().trim());
}

const pagesOf = (bytes: number) => Math.ceil(bytes / PAGE_BYTES) * PAGE_BYTES;

/** A mounted with default flags, then with the kernel's writeback cache (B default both times). */
const A_MOUNTS = [
  { kind: "default", flags: [] as string[] },
  { kind: "--writeback-cache", flags: ["--writeback-cache"] },
];

describe.skipIf(!HAVE_FUSE || !HAVE_FINCORE).each(A_MOUNTS)(
  "page cache across opens, two mounts, A $kind",
  ({ flags }) => {
    const writeback = flags.includes("--writeback-cache");
    let volume: TestVolume;
    let a: Mounted | undefined;
    let b: Mounted | undefined;

    beforeAll(async () => {
      volume = await createVolume("keepcache");
      a = await startMount(
        { ...volume, cacheDir: join(volume.root, "cache-a") },
        join(volume.root, "a"),
        flags,
      );
      b = await startMount(
        { ...volume, cacheDir: join(volume.root, "cache-b") },
        join(volume.root, "b"),
      );
    }, 60_000);

    afterAll(async () => {
      await forceCleanup(a);
      await forceCleanup(b);
      volume?.cleanup();
    });

    /** Reads `name` on A until its pages are cached there and kept by a reopen. */
    function cacheOnA(name: string, expected: Buffer): void {
      const path = join(a!.dir, name);
      expect(readFileSync(path).equals(expected)).toBe(true);
      expect(residentBytes(path)).toBe(pagesOf(expected.length));
    }

    test("a reopen of an unchanged file keeps its pages", () => {
      const data = randomBytes(FILE_BYTES);
      writeFileSync(join(b!.dir, "kept.bin"), data);
      const path = join(a!.dir, "kept.bin");
      // First open on A: nothing recorded, so nothing kept; the reads fill the cache.
      expect(readFileSync(path).equals(data)).toBe(true);
      // Second and third opens (fincore's): unchanged, the pages stay.
      expect(residentBytes(path)).toBe(pagesOf(FILE_BYTES));
      expect(readFileSync(path).equals(data)).toBe(true);
      expect(residentBytes(path)).toBe(pagesOf(FILE_BYTES));
    });

    test("a same-size rewrite on B is read again on A after a reopen", () => {
      const old = randomBytes(FILE_BYTES);
      writeFileSync(join(b!.dir, "rewrite.bin"), old);
      cacheOnA("rewrite.bin", old);
      const fresh = randomBytes(FILE_BYTES);
      const fd = openSync(join(b!.dir, "rewrite.bin"), "r+");
      writeSync(fd, fresh, 0, fresh.length, 0);
      closeSync(fd);
      expect(readFileSync(join(a!.dir, "rewrite.bin")).equals(fresh)).toBe(true);
    });

    test("a same-size rewrite on B that puts mtime back is read again on A (ctime tells)", () => {
      const pathB = join(b!.dir, "mtime.bin");
      const old = randomBytes(FILE_BYTES);
      writeFileSync(pathB, old);
      utimesSync(pathB, FIXED_MTIME_SEC, FIXED_MTIME_SEC);
      cacheOnA("mtime.bin", old);
      const before = statSync(join(a!.dir, "mtime.bin"), { bigint: true });
      const fresh = randomBytes(FILE_BYTES);
      const fd = openSync(pathB, "r+");
      writeSync(fd, fresh, 0, fresh.length, 0);
      closeSync(fd);
      utimesSync(pathB, FIXED_MTIME_SEC, FIXED_MTIME_SEC);
      const after = statSync(pathB, { bigint: true });
      // The premise: only ctime differs.
      expect(after.size).toBe(before.size);
      expect(after.mtimeNs).toBe(before.mtimeNs);
      expect(after.ctimeNs).not.toBe(before.ctimeNs);
      expect(readFileSync(join(a!.dir, "mtime.bin")).equals(fresh)).toBe(true);
    });

    test("an O_TRUNC rewrite to the same size on B is read again on A", () => {
      const old = randomBytes(FILE_BYTES);
      writeFileSync(join(b!.dir, "trunc.bin"), old);
      cacheOnA("trunc.bin", old);
      const fresh = randomBytes(FILE_BYTES);
      writeFileSync(join(b!.dir, "trunc.bin"), fresh); // O_TRUNC, then the same size again
      expect(readFileSync(join(a!.dir, "trunc.bin")).equals(fresh)).toBe(true);
    });

    // With the writeback cache the kernel trusts its own i_size over ours (fuse_get_cache_mask),
    // so a size changed by another node is not seen there, on main as well: not this test's.
    test.skipIf(writeback)("an append on B is read again on A", () => {
      const old = randomBytes(FILE_BYTES);
      writeFileSync(join(b!.dir, "grow.bin"), old);
      cacheOnA("grow.bin", old);
      const tail = randomBytes(5000);
      writeFileSync(join(b!.dir, "grow.bin"), tail, { flag: "a" });
      expect(readFileSync(join(a!.dir, "grow.bin")).equals(Buffer.concat([old, tail]))).toBe(true);
    });

    test("writes through A itself are read back after a reopen", () => {
      const path = join(a!.dir, "local.bin");
      const old = randomBytes(FILE_BYTES);
      writeFileSync(path, old);
      cacheOnA("local.bin", old);
      const patch = randomBytes(10_000);
      const fd = openSync(path, "r+");
      writeSync(fd, patch, 0, patch.length, 4096 * 3 + 7);
      closeSync(fd);
      const expected = Buffer.from(old);
      patch.copy(expected, 4096 * 3 + 7);
      expect(readFileSync(path).equals(expected)).toBe(true);
      expect(readFileSync(join(b!.dir, "local.bin")).equals(expected)).toBe(true);
    });

    test("unmounts cleanly", async () => {
      await stopMount(a!);
      await stopMount(b!);
    }, 30_000);
  },
);

describe.skipIf(!HAVE_FUSE || !HAVE_FINCORE)("--open-cache 0", () => {
  let volume: TestVolume | undefined;
  let m: Mounted | undefined;

  afterAll(async () => {
    await forceCleanup(m);
    volume?.cleanup();
  });

  test("drops the page cache at every open, as before", async () => {
    volume = await createVolume("nokeep");
    m = await startMount(volume, join(volume.root, "m"), ["--open-cache", "0"]);
    const path = join(m.dir, "f.bin");
    const data = randomBytes(FILE_BYTES);
    writeFileSync(path, data);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(readFileSync(path).equals(data)).toBe(true);
    expect(residentBytes(path)).toBe(0);
    await stopMount(m);
  }, 30_000);
});
