/**
 * A flipped byte in a block file of the bucket, read through a real FUSE mount: the read fails
 * with EIO (the kernel passes it to read(2)), the mount logs one line naming the object, and
 * the block is neither served nor copied into the mount's disk cache.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
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

const NAME = "fuseint";

function blockFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /^\d+_\d+_\d+$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

describe.skipIf(!HAVE_FUSE)("FUSE read of a corrupt block", () => {
  let volume: TestVolume;
  let current: Mounted | undefined;

  beforeAll(async () => {
    volume = await createVolume(NAME);
  });

  afterAll(async () => {
    await forceCleanup(current);
    volume?.cleanup();
  });

  test("EIO, one log line naming the object, no cache copy", async () => {
    const dir = join(volume.root, "mnt");
    const data = randomBytes(200_000);
    // A file bucket's written blocks reach the disk cache only with --cache-large-write.
    current = await startMount(volume, dir, ["--cache-large-write"]);
    await writeFile(join(dir, "f"), data);
    await stopMount(current);
    current = undefined;

    const [block, ...others] = blockFiles(join(volume.root, "data", NAME, "chunks"));
    expect(block).toBeDefined();
    expect(others).toEqual([]);
    const stored = readFileSync(block!);
    stored[123_456]! ^= 0x04;
    writeFileSync(block!, stored);
    const key = block!.slice(join(volume.root, "data", NAME).length + 1);

    const cold: TestVolume = { ...volume, cacheDir: join(volume.root, "cold-cache") };
    current = await startMount(cold, dir);
    const first = await readFile(join(dir, "f")).catch((e: unknown) => e);
    expect((first as NodeJS.ErrnoException).code).toBe("EIO");
    const again = await readFile(join(dir, "f")).catch((e: unknown) => e);
    expect((again as NodeJS.ErrnoException).code).toBe("EIO");
    await stopMount(current);
    current = undefined;

    const log = await Bun.file(`${dir}.log`).text();
    const lines = log.split("\n").filter((l) => l.includes("cannot read object"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${NAME}/${key}`);
    expect(lines[0]).toContain("checksum mismatch");
    // The first mount's write-through copy is there (so the pattern finds cached blocks)...
    expect(blockFiles(volume.cacheDir)).toHaveLength(1);
    // ...and the corrupt block never reached the second mount's cache, though a second load
    // of a good one would have (a file bucket's admission, src/chunk/admission.ts).
    expect(blockFiles(cold.cacheDir)).toEqual([]);
  }, 60_000);
});
