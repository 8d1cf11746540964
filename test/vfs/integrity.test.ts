/**
 * Integrity end to end (issue 18 item 6): a volume formatted today checksums every object; a
 * flipped byte in a block object in the bucket (a directory, or s3rver) gives EIO to the reader
 * (VFS, and NFS through libnfs) with one log line naming the object, and the block is never
 * served nor copied into the disk cache. Volumes formatted before checksums existed (their
 * format record has no `checksum`) keep reading and writing plain objects.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ConsolaReporter } from "consola";
import { blockKey } from "../../src/chunk/keys.ts";
import { FsError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { log } from "../../src/log.ts";
import { openMeta } from "../../src/meta/index.ts";
import { type Format, ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { CHECKSUM_TRAILER_BYTES } from "../../src/object/checksum.ts";
import { S3ObjectStore } from "../../src/object/s3.ts";
import { Errno } from "../../src/posix.ts";
import { formatVolume, newFormat } from "../../src/volume/open.ts";
import { openRuntime, type Runtime } from "../../src/volume/runtime.ts";
import { jfs } from "../cli/harness.ts";
import { type S3Server, startS3Server } from "../harness/s3server.ts";
import { startNfs } from "../nfs/harness.ts";

const ctx = ROOT_CREDENTIALS;
const O_RDWR = 2;
const NAME = "intvol";
const haveLibnfs = Bun.which("nfs-cat") !== null;

interface Volume {
  dir: string;
  metaUrl: string;
  format: Format;
}

async function makeVolume(fields: Partial<Format>, legacy = false): Promise<Volume> {
  const dir = mkdtempSync(join(tmpdir(), "jfs-integrity-"));
  const metaUrl = `sqlite3://${join(dir, "meta.db")}`;
  const format = newFormat({ name: NAME, bucket: join(dir, "bucket"), trashDays: 0, ...fields });
  // A format record written before checksums existed has no such field at all.
  if (legacy) delete format.checksum;
  const meta = await openMeta(metaUrl);
  try {
    await formatVolume(meta, format, false);
  } finally {
    await meta.close();
  }
  return { dir, metaUrl, format };
}

async function open(volume: Volume, cacheDir: string): Promise<Runtime> {
  return openRuntime(volume.metaUrl, { cacheDir }, "integrity-test");
}

async function writeFile(rt: Runtime, name: string, data: Buffer): Promise<number> {
  const f = await rt.vfs.create(ctx, ROOT_INODE, Buffer.from(name), 0o644, 0, O_RDWR);
  await rt.vfs.write(ctx, f.inode, f.fh, 0, data);
  await rt.vfs.flush(ctx, f.inode, f.fh);
  await rt.vfs.release(ctx, f.inode, f.fh);
  return f.inode;
}

async function readFile(rt: Runtime, name: string, size: number): Promise<Buffer> {
  const { inode } = await rt.vfs.lookup(ctx, ROOT_INODE, Buffer.from(name));
  const { fh } = await rt.vfs.open(ctx, inode, 0);
  try {
    return await rt.vfs.read(ctx, inode, fh, 0, size);
  } finally {
    await rt.vfs.release(ctx, inode, fh);
  }
}

/** The object key (without the volume prefix) of the one block of `inode`'s first chunk. */
async function keyOfFile(rt: Runtime, inode: number): Promise<string> {
  const slices = await rt.meta.readChunk(inode, 0);
  expect(slices).toHaveLength(1);
  const { id, size } = slices[0]!;
  return blockKey(id, 0, size);
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/** Collects log lines (consola reporter) while `run` runs. */
async function logged<T>(run: () => Promise<T>): Promise<{ result: T | Error; lines: string[] }> {
  const lines: string[] = [];
  const reporter: ConsolaReporter = {
    log: (entry) => lines.push(entry.args.map((a) => String(a)).join(" ")),
  };
  log.addReporter(reporter);
  try {
    const result = await run().catch((error: unknown) => error as Error);
    return { result, lines };
  } finally {
    log.removeReporter(reporter);
  }
}

function expectEio(result: unknown): void {
  expect(result).toBeInstanceOf(FsError);
  expect((result as FsError).errno).toBe(Errno.EIO);
}

/**
 * Writes a good and a bad file, flips one byte of the bad one's block through `corrupt`, then
 * reads both through a fresh runtime with an empty disk cache.
 */
async function flipAndRead(volume: Volume, corrupt: (key: string) => Promise<void>) {
  const good = randomBytes(100_000);
  const bad = randomBytes(150_000);
  const writer = await open(volume, join(volume.dir, "cache-writer"));
  let badKey: string;
  let goodKey: string;
  try {
    goodKey = await keyOfFile(writer, await writeFile(writer, "good", good));
    badKey = await keyOfFile(writer, await writeFile(writer, "bad", bad));
  } finally {
    await writer.close();
  }
  await corrupt(badKey);
  const cacheDir = join(volume.dir, "cache-reader");
  const reader = await open(volume, cacheDir);
  try {
    expect((await readFile(reader, "good", good.length)).equals(good)).toBe(true);
    // A file bucket's block enters the disk cache when it is loaded a second time.
    reader.data.chunks.memCache.clear();
    expect((await readFile(reader, "good", good.length)).equals(good)).toBe(true);
    const first = await logged(() => readFile(reader, "bad", bad.length));
    expectEio(first.result);
    // Once more: still EIO (nothing was cached), and not logged again.
    const again = await logged(() => readFile(reader, "bad", 4096));
    expectEio(again.result);
    await reader.data.chunks.settle();
    const failures = first.lines.filter((l) => l.includes("cannot read object"));
    expect(failures).toHaveLength(1);
    expect(failures[0]).toContain(`${NAME}/${badKey}`);
    expect(failures[0]).toContain("checksum mismatch");
    expect(again.lines.filter((l) => l.includes("cannot read object"))).toEqual([]);
    const cached = filesUnder(cacheDir).map((p) => p.slice(cacheDir.length));
    expect(cached.some((p) => p.endsWith(goodKey))).toBe(true); // the cache works...
    expect(cached.some((p) => p.endsWith(badKey))).toBe(false); // ...and holds no bad block
  } finally {
    await reader.close();
  }
  return badKey;
}

describe("checksums on by default", () => {
  test("a new volume stores a CRC-32 trailer on every block", async () => {
    const volume = await makeVolume({});
    try {
      expect(volume.format.checksum).toBe("crc32");
      const rt = await open(volume, "memory");
      try {
        const data = randomBytes(5000);
        const key = await keyOfFile(rt, await writeFile(rt, "f", data));
        const stored = readFileSync(join(volume.format.bucket, NAME, key));
        expect(stored.length).toBe(data.length + CHECKSUM_TRAILER_BYTES);
        expect(stored.readUInt32BE(data.length)).toBe(Bun.hash.crc32(data));
      } finally {
        await rt.close();
      }
    } finally {
      rmSync(volume.dir, { recursive: true, force: true });
    }
  });

  test("a flipped byte in a block file gives EIO, one log line, no cache copy", async () => {
    const volume = await makeVolume({});
    try {
      await flipAndRead(volume, async (key) => {
        const path = join(volume.format.bucket, NAME, key);
        const stored = readFileSync(path);
        stored[77_777]! ^= 0x10;
        writeFileSync(path, stored);
      });
    } finally {
      rmSync(volume.dir, { recursive: true, force: true });
    }
  });

  test.skipIf(!haveLibnfs)(
    "over NFS the corrupt file reads as an I/O error",
    async () => {
      const volume = await makeVolume({});
      try {
        const rt = await open(volume, "memory");
        let key: string;
        try {
          key = await keyOfFile(rt, await writeFile(rt, "bad", randomBytes(70_000)));
        } finally {
          await rt.close();
        }
        const path = join(volume.format.bucket, NAME, key);
        const stored = readFileSync(path);
        stored[5]! ^= 0x01;
        writeFileSync(path, stored);
        await using nfs = await startNfs({
          ...volume,
          bucket: volume.format.bucket,
          name: NAME,
          home: volume.dir,
          [Symbol.dispose]: () => undefined,
        });
        const url = `nfs://127.0.0.1//bad?nfsport=${nfs.port}&mountport=${nfs.port}&version=3`;
        const { result, lines } = await logged(async () => {
          const proc = Bun.spawn(["nfs-cat", url], { stdout: "pipe", stderr: "pipe" });
          const [out, code] = await Promise.all([
            new Response(proc.stdout).arrayBuffer(),
            proc.exited,
          ]);
          return { out: Buffer.from(out), code };
        });
        expect(result).not.toBeInstanceOf(Error);
        const { out, code } = result as { out: Buffer; code: number };
        expect(code).not.toBe(0);
        expect(out.length).toBe(0); // not one byte of the corrupt block is served
        expect(lines.filter((l) => l.includes(`${NAME}/${key}`))).toHaveLength(1);
      } finally {
        rmSync(volume.dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});

describe("checksums on S3 (s3rver)", () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  test("a flipped byte in a block object gives EIO, one log line, no cache copy", async () => {
    const bucket = s3.bucketUrl("integrity");
    const keys = { accessKey: s3.accessKey, secretKey: s3.secretKey };
    const volume = await makeVolume({ storage: "s3", bucket, ...keys });
    const raw = new S3ObjectStore({ bucketUrl: bucket, ...keys });
    try {
      await flipAndRead(volume, async (key) => {
        const stored = Buffer.from(await raw.get(`${NAME}/${key}`));
        stored[1234]! ^= 0x80;
        await raw.put(`${NAME}/${key}`, stored);
      });
    } finally {
      await raw.close();
      rmSync(volume.dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("volumes formatted without checksums", () => {
  test("keep plain objects, read and write as before; the setting cannot change", async () => {
    const volume = await makeVolume({}, true);
    try {
      const rt = await open(volume, "memory");
      try {
        expect(rt.format.checksum).toBeUndefined();
        const data = randomBytes(3000);
        const key = await keyOfFile(rt, await writeFile(rt, "old", data));
        expect(readFileSync(join(volume.format.bucket, NAME, key)).equals(data)).toBe(true);
        expect((await readFile(rt, "old", data.length)).equals(data)).toBe(true);
      } finally {
        await rt.close();
      }
      const home = join(volume.dir, "home");
      const status = await jfs(["status", volume.metaUrl], { HOME: home });
      expect(status.stdout).toContain("checksum none");
      const change = await jfs(["format", "--force", "--checksum", "crc32", volume.metaUrl, NAME], {
        HOME: home,
      });
      expect(change.code).toBe(1);
      expect(change.stderr).toContain("cannot change checksum");
    } finally {
      rmSync(volume.dir, { recursive: true, force: true });
    }
  }, 30_000);

  test("jfs config --checksum crc32 turns checksums on for data written from then on", async () => {
    const volume = await makeVolume({}, true);
    const home = join(volume.dir, "home");
    const blockPath = (key: string) => join(volume.format.bucket, NAME, key);
    try {
      const old = randomBytes(3000);
      let rt = await open(volume, "memory");
      let oldKey: string;
      try {
        oldKey = await keyOfFile(rt, await writeFile(rt, "old", old));
        // A running node would go on writing plain objects: refused while it runs.
        const busy = await jfs(["config", "--checksum", "crc32", volume.metaUrl], { HOME: home });
        expect(busy.code).toBe(1);
        expect(busy.stderr).toContain("1 live session(s)");
      } finally {
        await rt.close();
      }
      const on = await jfs(["config", "--checksum", "crc32", volume.metaUrl], { HOME: home });
      expect(on.stderr).toBe("");
      expect(on.code).toBe(0);
      const status = await jfs(["status", volume.metaUrl], { HOME: home });
      expect(status.stdout).toMatch(/checksum crc32 \(data written since slice \d+\)/);

      rt = await open(volume, "memory");
      const fresh = randomBytes(4000);
      let freshKey: string;
      try {
        // Old data stays plain and reads as before; new data carries a trailer.
        expect((await readFile(rt, "old", old.length)).equals(old)).toBe(true);
        expect(readFileSync(blockPath(oldKey)).equals(old)).toBe(true);
        freshKey = await keyOfFile(rt, await writeFile(rt, "fresh", fresh));
        const stored = readFileSync(blockPath(freshKey));
        expect(stored.length).toBe(fresh.length + CHECKSUM_TRAILER_BYTES);
        expect(stored.readUInt32BE(fresh.length)).toBe(Bun.hash.crc32(fresh));
      } finally {
        await rt.close();
      }
      const stored = readFileSync(blockPath(freshKey));
      stored[10]! ^= 0x01;
      writeFileSync(blockPath(freshKey), stored);
      rt = await open(volume, "memory");
      try {
        const { result } = await logged(() => readFile(rt, "fresh", fresh.length));
        expectEio(result);
        expect((await readFile(rt, "old", old.length)).equals(old)).toBe(true);
      } finally {
        await rt.close();
      }
      const again = await jfs(["config", "--checksum", "crc32", volume.metaUrl], { HOME: home });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("already checksums");
      const off = await jfs(["format", "--force", "--checksum", "none", volume.metaUrl, NAME], {
        HOME: home,
      });
      expect(off.code).toBe(1);
      expect(off.stderr).toContain("cannot change checksum");
      // Maintenance sees both kinds of objects with their data sizes.
      const fsck = await jfs(["fsck", volume.metaUrl], { HOME: home });
      expect(fsck.code).toBe(0);
      const gc = await jfs(["gc", volume.metaUrl], { HOME: home });
      expect(gc.code).toBe(0);
    } finally {
      rmSync(volume.dir, { recursive: true, force: true });
    }
  }, 60_000);
});
