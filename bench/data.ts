/**
 * Data path throughput: a sequential write then read of one file through ChunkFileData (SQLite
 * meta, FileObjectStore, all in a temp dir), compared with what is underneath it:
 *   - the raw object store: PUT / GET of block-sized objects at the same concurrency,
 *   - plain local file write / read of the same bytes,
 * plus a memory-hot re-read and the peak RSS of the process.
 *
 *   bun bench/data.ts [SIZE_MIB=1024] [BLOCK_KIB=4096]
 */
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DOWNLOADS_MAX, MAX_UPLOADS_DEFAULT } from "../src/limits.ts";
import { openMeta } from "../src/meta/index.ts";
import { FileType, ROOT_CREDENTIALS } from "../src/meta/interface.ts";
import { FileObjectStore } from "../src/object/file.ts";
import type { ObjectStore } from "../src/object/interface.ts";
import { PrefixedObjectStore } from "../src/object/prefix.ts";
import {
  ChunkFileData,
  defaultFileDataOptions,
  type FileDataOptions,
} from "../src/vfs/filedata.ts";

const MiB = 1024 * 1024;
const IO_BYTES = MiB; // one NFS WRITE / READ at most

const sizeBytes = Number(process.argv[2] ?? 1024) * MiB;
const blockSizeKiB = Number(process.argv[3] ?? 4096);

let peakRssBytes = 0;
let overallPeakRssBytes = 0;
const rssTimer = setInterval(() => {
  peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
}, 20);

/** The payload of MiB number `i`: shared random bytes stamped with `i` so no two MiB are equal. */
const pattern = Buffer.from(crypto.getRandomValues(new Uint8Array(IO_BYTES)));
function payload(i: number): Buffer {
  pattern.writeUInt32LE(i, 0);
  return pattern;
}

async function timed(what: string, bytes: number, run: () => Promise<void>): Promise<number> {
  Bun.gc(true);
  peakRssBytes = process.memoryUsage.rss();
  const start = performance.now();
  await run();
  const seconds = (performance.now() - start) / 1000;
  const mibPerS = bytes / MiB / seconds;
  const rssMiB = (peakRssBytes / MiB).toFixed(0);
  overallPeakRssBytes = Math.max(overallPeakRssBytes, peakRssBytes);
  console.log(
    `${what.padEnd(40)} ${mibPerS.toFixed(0).padStart(6)} MiB/s  (${seconds.toFixed(2)} s, peak RSS ${rssMiB} MiB)`,
  );
  return mibPerS;
}

async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>) {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function benchJfs(dir: string, objects: ObjectStore) {
  const meta = await openMeta(`sqlite3://${dir}/meta.db`);
  const format = {
    name: "bench",
    uuid: crypto.randomUUID(),
    storage: "file" as const,
    bucket: `${dir}/data`,
    blockSizeKiB,
    compression: "none" as const,
    capacityBytes: 0,
    inodes: 0,
    trashDays: 0,
    metaVersion: 1,
    createdAt: new Date().toISOString(),
  };
  await meta.format(format, false);
  const { inode } = await meta.mknod(
    ROOT_CREDENTIALS,
    1,
    Buffer.from("f"),
    FileType.File,
    0o644,
    0,
    0,
  );
  const base: FileDataOptions = { ...defaultFileDataOptions(), cacheDir: `${dir}/cache` };
  const open = (o: Partial<FileDataOptions>) =>
    new ChunkFileData({ meta, store: objects, format, options: { ...base, ...o } });
  const mibs = sizeBytes / MiB;

  let data = open({});
  const write = await timed("jfs write (buffer + upload + commit)", sizeBytes, async () => {
    for (let i = 0; i < mibs; i++) await data.write(inode, i * IO_BYTES, payload(i));
    await data.flush(inode);
  });
  await data.close();
  // The write-through copies into the disk cache share the disk with the object store here.
  const { inode: inode2 } = await meta.mknod(
    ROOT_CREDENTIALS,
    1,
    Buffer.from("g"),
    FileType.File,
    0o644,
    0,
    0,
  );
  data = open({ cacheDir: "memory" });
  const writeNoCache = await timed("jfs write, no disk cache", sizeBytes, async () => {
    for (let i = 0; i < mibs; i++) await data.write(inode2, i * IO_BYTES, payload(i));
    await data.flush(inode2);
  });
  await data.close();

  const readAll = async (fd: ChunkFileData, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const got = await fd.read(inode, i * IO_BYTES, IO_BYTES, sizeBytes);
      if (got.length !== IO_BYTES || got.readUInt32LE(0) !== i)
        throw new Error(`bad data at MiB ${i}`);
    }
  };
  data = open({ cacheDir: "memory" });
  const readCold = await timed("jfs read, cold (object store)", sizeBytes, () =>
    readAll(data, mibs),
  );
  await data.close();
  data = open({});
  const readDisk = await timed("jfs read, disk cache (write-through)", sizeBytes, () =>
    readAll(data, mibs),
  );
  const disk = data.stats().disk;
  console.log(`  disk cache: ${disk?.blocks} blocks, ${disk?.hits} hits, ${disk?.misses} misses`);
  await data.close();

  const hotMibs = Math.min(mibs, 128);
  data = open({ cacheDir: "memory" });
  await readAll(data, hotMibs);
  await data.chunks.settle(); // readahead beyond the range is done
  const readHot = await timed("jfs read, memory-hot", hotMibs * MiB, () => readAll(data, hotMibs));
  await data.close();
  await meta.close();
  return { write, writeNoCache, readCold, readDisk, readHot };
}

async function benchRaw(objects: ObjectStore) {
  const blockBytes = blockSizeKiB * 1024;
  const count = Math.ceil(sizeBytes / blockBytes);
  const block = Buffer.alloc(blockBytes);
  for (let i = 0; i < blockBytes; i += IO_BYTES) pattern.copy(block, i);
  const put = await timed(`raw PUT x${MAX_UPLOADS_DEFAULT}`, sizeBytes, () =>
    pool(count, MAX_UPLOADS_DEFAULT, (i) => objects.put(`raw/${i}`, block)),
  );
  const get = await timed(`raw GET x${DOWNLOADS_MAX}`, sizeBytes, () =>
    pool(count, DOWNLOADS_MAX, async (i) => {
      await objects.get(`raw/${i}`);
    }),
  );
  return { put, get };
}

async function benchLocal(dir: string) {
  const path = join(dir, "local.bin");
  const mibs = sizeBytes / MiB;
  const write = await timed("local file write", sizeBytes, async () => {
    const fh = await open(path, "w");
    for (let i = 0; i < mibs; i++) await fh.write(payload(i), 0, IO_BYTES, i * IO_BYTES);
    await fh.close();
  });
  const read = await timed("local file read", sizeBytes, async () => {
    const fh = await open(path, "r");
    const buf = Buffer.allocUnsafe(IO_BYTES);
    for (let i = 0; i < mibs; i++) await fh.read(buf, 0, IO_BYTES, i * IO_BYTES);
    await fh.close();
  });
  await rm(path);
  return { write, read };
}

const dir = await mkdtemp(join(tmpdir(), "jfs-bench-"));
try {
  console.log(
    `file of ${sizeBytes / MiB} MiB, ${blockSizeKiB} KiB blocks, I/O of 1 MiB, in ${dir}`,
  );
  const objects = new PrefixedObjectStore(new FileObjectStore(`${dir}/data`), "bench/");
  await objects.create();
  const jfs = await benchJfs(dir, objects);
  const raw = await benchRaw(objects);
  const local = await benchLocal(dir);
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
  console.log("");
  console.log(`jfs write / raw PUT        ${ratio(jfs.write, raw.put)}`);
  console.log(`jfs write (no disk cache) / raw PUT ${ratio(jfs.writeNoCache, raw.put)}`);
  console.log(`jfs write / local write    ${ratio(jfs.write, local.write)}`);
  console.log(`jfs cold read / raw GET    ${ratio(jfs.readCold, raw.get)}`);
  console.log(`jfs cold read / local read ${ratio(jfs.readCold, local.read)}`);
  console.log(`jfs disk-cache read / local read ${ratio(jfs.readDisk, local.read)}`);
  console.log(`jfs hot read / local read  ${ratio(jfs.readHot, local.read)}`);
  console.log(`peak RSS                   ${(overallPeakRssBytes / MiB).toFixed(0)} MiB`);
} finally {
  clearInterval(rssTimer);
  await rm(dir, { recursive: true, force: true });
}
