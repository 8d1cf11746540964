/**
 * `jfs info` and `jfs summary` on a live FUSE mount, and on the same volume by its volume
 * path and inode: a file's inode is the mount's, its slices and object keys are the blocks
 * really in the bucket; a directory's usage and the summary tree add up to what was written;
 * a path on no jfs mount is refused in one line. Real mount, real CLI.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
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

const NAME = "infomount";
/** createVolume formats with the default block size. */
const BLOCK_BYTES = 4 * 1024 * 1024;

let volume: TestVolume;
let mounted: Mounted | undefined;
let mnt: string;

interface SliceJson {
  id: number;
  len: number;
  objects: Array<{ key: string; bytes: number }>;
}

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume(NAME);
  mnt = join(volume.root, "mnt");
  mounted = await startMount(volume, mnt, ["--cache-dir", "memory"]);
  // /data: big.bin (a block and a bit, then a second write over part of it), a/ with 3 small
  // files, a/deep/ with 2, and an empty dir.
  mkdirSync(join(mnt, "data", "a", "deep"), { recursive: true });
  mkdirSync(join(mnt, "data", "empty"));
  writeFileSync(join(mnt, "data", "big.bin"), Buffer.alloc(BLOCK_BYTES + 1000, 7));
  const fd = openSync(join(mnt, "data", "big.bin"), "r+");
  writeSync(fd, Buffer.alloc(500, 8), 0, 500, 100);
  closeSync(fd);
  for (let i = 0; i < 3; i++) writeFileSync(join(mnt, "data", "a", `s${i}`), "x".repeat(100 + i));
  for (let i = 0; i < 2; i++)
    writeFileSync(join(mnt, "data", "a", "deep", `t${i}`), "y".repeat(10));
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  if (mounted) await stopMount(mounted).catch(() => forceCleanup(mounted));
  volume?.cleanup();
});

describe.skipIf(!HAVE_FUSE)("jfs info and summary", () => {
  test("info on a file: the mount's inode, its slices, and keys of blocks in the bucket", async () => {
    const path = join(mnt, "data", "big.bin");
    const r = await jfs(["info", volume.metaUrl, path, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as {
      inode: number;
      type: string;
      size: number;
      chunks: Array<{ index: number; slices: SliceJson[] }>;
    };
    expect(d.inode).toBe(statSync(path).ino);
    expect(d).toMatchObject({ type: "file", size: BLOCK_BYTES + 1000 });
    expect(d.chunks.map((c) => c.index)).toEqual([0]);
    // The first write's slice, then the overwrite's, each with its own blocks.
    const slices = d.chunks[0]!.slices;
    expect(slices.map((s) => s.len)).toEqual([BLOCK_BYTES + 1000, 500]);
    expect(slices[1]!.objects.map((o) => o.bytes)).toEqual([500]);
    const objects = slices.flatMap((s) => s.objects);
    expect(objects.map((o) => o.bytes).reduce((a, b) => a + b, 0)).toBe(BLOCK_BYTES + 1500);
    for (const o of objects) {
      expect(o.key.startsWith(`${NAME}/chunks/`)).toBe(true);
      // The file store keeps each object as a file under the bucket directory (with the
      // checksum trailer, when the store adds one).
      expect(statSync(join(volume.root, "data", o.key)).size).toBeGreaterThanOrEqual(o.bytes);
    }
    const text = await jfs(["info", volume.metaUrl, path]);
    expect(text.stdout).toContain(`inode: ${d.inode}`);
    expect(text.stdout).toContain(`slices: ${d.chunks[0]!.slices.length}`);
    expect(text.stdout).toContain(objects[0]!.key);
  });

  test("info on a directory counts files, dirs and bytes; the volume path and inode agree", async () => {
    const dir = join(mnt, "data");
    const want = { type: "directory", files: 6, dirs: 4, bytes: BLOCK_BYTES + 1000 + 303 + 20 };
    const byMount = await jfs(["info", volume.metaUrl, dir, "--json"]);
    expect(byMount.code).toBe(0);
    const d = JSON.parse(byMount.stdout) as { inode: number };
    expect(d).toMatchObject({ ...want, inode: statSync(dir).ino });
    const byPath = await jfs(["info", volume.metaUrl, "--path", "/data", "--json"]);
    expect(JSON.parse(byPath.stdout)).toMatchObject({ ...want, inode: d.inode });
    const byInode = await jfs(["info", volume.metaUrl, "--inode", String(d.inode), "--json"]);
    expect(JSON.parse(byInode.stdout)).toMatchObject({ ...want, inode: d.inode });
    const text = await jfs(["info", volume.metaUrl, dir]);
    expect(text.stdout).toContain(`files: 6  dirs: 4  bytes: ${want.bytes}`);
  });

  test("info on a path outside any jfs mount: one clear line, exit 1", async () => {
    const r = await jfs(["info", volume.metaUrl, tmpdir()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      `jfs: info: ${tmpdir()} is not on a jfs mount (for a path inside a volume: jfs info META-URL --path /DIR)\n`,
    );
    const missing = await jfs(["info", volume.metaUrl, join(mnt, "nope")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("nope");
    // A mount of another volume than the META-URL's is refused, not read as this one's.
    const other = await createVolume("infoother");
    try {
      const wrong = await jfs(["info", other.metaUrl, join(mnt, "data")]);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain(
        `info: ${join(mnt, "data")} is on ${mnt}, a mount of jfs:${NAME}`,
      );
    } finally {
      other.cleanup();
    }
    const gone = await jfs(["info", volume.metaUrl, "--path", "/no/such"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("/no/such");
  });

  test("summary draws the tree biggest first, cut by --depth and --entries", async () => {
    const r = await jfs(["summary", volume.metaUrl, join(mnt, "data"), "--depth", "1", "--json"]);
    expect(r.stderr).toBe("");
    const tree = JSON.parse(r.stdout) as {
      files: number;
      dirs: number;
      bytes: number;
      children: Array<{ name: string; files: number; dirs: number; bytes: number; children: [] }>;
    };
    expect(tree).toMatchObject({ files: 6, dirs: 4, bytes: BLOCK_BYTES + 1323 });
    expect(tree.children.map((c) => c.name)).toEqual(["big.bin", "a", "empty"]);
    expect(tree.children[1]).toMatchObject({ files: 5, dirs: 2, bytes: 323, children: [] });

    const cut = await jfs(["summary", volume.metaUrl, "--path", "/data", "--entries", "1"]);
    expect(cut.code).toBe(0);
    const lines = cut.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^PATH\s+SIZE\s+DIRS\s+FILES$/);
    expect(lines[2]).toMatch(/^\/data\s+4\.0 MiB\s+4\s+6$/);
    expect(lines[3]).toMatch(/^├── big\.bin\s+4\.0 MiB$/);
    // The other two entries of /data folded into one line: a/ (2 dirs, 5 files) and empty/.
    expect(lines[4]).toMatch(/^└── \.\.\.\s+323 B\s+3\s+5$/);
    expect(lines).toHaveLength(5);

    const deep = await jfs(["summary", volume.metaUrl, join(mnt, "data"), "--depth", "3"]);
    expect(deep.stdout).toMatch(/│ {3}└── deep\/\s+20 B\s+1\s+2/);
    expect(deep.stdout).toMatch(/│ {7}├── t0\s+10 B/);

    const bad = await jfs(["summary", volume.metaUrl, join(mnt, "data"), "--depth", "x"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--depth must be an integer");
    expect(existsSync(join(mnt, "data", "big.bin"))).toBe(true);
  });
});
