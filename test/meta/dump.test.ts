/**
 * dump and load between every pair of engines (SQLite, Redis, PostgreSQL, each a real one): the
 * loaded volume passes `jfs fsck` (the command: namespace, and every block in the shared bucket),
 * a full tree walk (names, inodes, types, modes, owners, times, link counts, sizes, xattrs,
 * symlink targets, slices and content hashes read through the data path) equals the source's,
 * and so does its own dump. Then the CLI: `jfs dump URL - | jfs load URL -`, a non-empty target
 * refused unless --force, a truncated dump refused; and garbage (unused slices, deleted files)
 * of more than one dump page.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHUNK_BYTES, ROOT_INODE, TRASH_INODE } from "../../src/limits.ts";
import type { BaseMeta } from "../../src/meta/base.ts";
import { checkNamespace } from "../../src/meta/check.ts";
import { dumpVolume, loadVolume, streamLines } from "../../src/meta/dump.ts";
import { openEngine } from "../../src/meta/index.ts";
import {
  ROOT_CREDENTIALS as ctx,
  FileType,
  type Ino,
  type Slice,
} from "../../src/meta/interface.ts";
import { ChunkFileData } from "../../src/volume/filedata.ts";
import { type DataFixture, dataFixture, rng } from "../chunk/harness.ts";
import {
  formatted,
  type MetaBackend,
  postgresBackend,
  redisBackend,
  sqliteBackend,
} from "./harness.ts";

const sha256 = (bytes: Uint8Array) => new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
const MAIN = join(import.meta.dir, "../../src/main.ts");
const b = (s: string) => Buffer.from(s);
let tmp: string;
const backends: MetaBackend[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "jfs-dump-"));
  backends.push(sqliteBackend(), await redisBackend(), await postgresBackend());
});

afterAll(async () => {
  for (const backend of backends) await backend.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function jfs(
  args: string[],
  stdin?: string,
): Promise<{ code: number; out: string; err: string }> {
  const child = Bun.spawn(["bun", MAIN, ...args], {
    stdin: stdin === undefined ? "ignore" : new Blob([stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, out, err };
}

/** A volume on `backend` with a real bucket (a temp dir), populated as below. */
async function populatedVolume(backend: MetaBackend): Promise<DataFixture> {
  const fx = await dataFixture({ metaUrl: backend.url(), format: { trashDays: 1 } });
  await populate(fx.meta, fx);
  return fx;
}

/**
 * A volume with one of everything: nested dirs, data, holes, hard links, symlinks, xattrs, trash.
 * With a fixture, the data goes through the data path into its bucket (fsck finds every block);
 * without one, slices are written to the metadata only.
 */
async function populate(meta: BaseMeta, fx?: DataFixture): Promise<void> {
  const random = rng(11);
  const write = async (f: Ino, chunkIndex: number, slice: Slice): Promise<void> => {
    if (!fx) {
      await meta.write(f, chunkIndex, slice);
      return;
    }
    await fx.data.write(f, chunkIndex * CHUNK_BYTES + slice.pos, random.bytes(slice.len));
    await fx.data.flush(f);
  };
  const dir = (await meta.mkdir(ctx, ROOT_INODE, b("dir"), 0o750, 0)).inode;
  // A directory quota, charged by everything below from here on.
  await meta.setQuota(dir, { capacityBytes: 1 << 30, inodes: 1000 });
  const deep = (await meta.mkdir(ctx, dir, b("deep"), 0o700, 0)).inode;
  await meta.setattr(ctx, deep, {
    uid: 1000,
    gid: 100,
    atime: { sec: 1_600_000_000, nsec: 5 },
    mtime: { sec: 1_600_000_001, nsec: 999_999_999 },
  });
  for (let i = 0; i < 30; i++) {
    const f = (await meta.mknod(ctx, i % 2 ? dir : deep, b(`f${i}`), FileType.File, 0o640, 0, 0))
      .inode;
    const id = await meta.newSliceId();
    await write(f, 0, { id, size: 4096 + i, off: 0, len: 4096 + i, pos: 0 });
    if (i % 5 === 0) {
      const next = await meta.newSliceId();
      await write(f, 2, { id: next, size: 100, off: 10, len: 50, pos: 7 });
      await write(f, 0, { id: await meta.newSliceId(), size: 30, off: 0, len: 30, pos: 100 });
    }
  }
  const named = (
    await meta.mknod(ctx, dir, Buffer.from([0xff, 0xfe, 0x41]), FileType.File, 0o600, 0, 0)
  ).inode;
  await meta.setxattr(ctx, named, "user.bin", Buffer.from([0, 1, 2, 255]), 0);
  await meta.setxattr(ctx, named, "user.empty", Buffer.alloc(0), 0);
  await meta.link(ctx, named, deep, b("hardlink"));
  await meta.link(ctx, named, ROOT_INODE, b("hardlink2"));
  await meta.symlink(ctx, dir, b("link"), b("../some/where"));
  await meta.mknod(ctx, ROOT_INODE, b("fifo"), FileType.Fifo, 0o644, 0, 0);
  await meta.rename(ctx, dir, b("f1"), ROOT_INODE, b("moved"), 0);
  // Into the trash (trashDays 1), and gone for good (its slices become unused).
  await meta.unlink(ctx, dir, b("f3"));
  await meta.setattr(ctx, ROOT_INODE, { mode: 0o755 });
}

interface WalkEntry {
  path: string;
  inode: Ino;
  attr: unknown;
  symlink?: string;
  xattrs?: Record<string, string>;
  chunks?: Record<number, unknown>;
  /** Of the bytes read through the data path (each chunk's first 64 KiB: all the data written). */
  content?: string;
}

const HASHED_BYTES_PER_CHUNK = 64 * 1024;

/**
 * Every inode reachable from the root and the trash, in a stable order; with `data` (over the
 * volume's bucket), each file's content hash too.
 */
async function walk(meta: BaseMeta, data?: ChunkFileData): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  const queue: Array<[Ino, string]> = [
    [ROOT_INODE, ""],
    [TRASH_INODE, "<trash>"],
  ];
  for (const [ino, path] of queue) out.push(await describe_(meta, ino, path, data));
  for (let i = 0; i < queue.length; i++) {
    const [dir, path] = queue[i]!;
    for (const e of await meta.readdir(ctx, dir, 0, 10_000, true)) {
      const child = `${path}/${e.name.toString("hex")}`;
      out.push(await describe_(meta, e.inode, child, data));
      if (e.type === FileType.Directory) queue.push([e.inode, child]);
    }
  }
  return out.sort((x, y) => (x.path < y.path ? -1 : 1));
}

async function describe_(
  meta: BaseMeta,
  ino: Ino,
  path: string,
  data: ChunkFileData | undefined,
): Promise<WalkEntry> {
  const attr = await meta.getattr(ctx, ino);
  const entry: WalkEntry = { path, inode: ino, attr };
  if (attr.type === FileType.Symlink) entry.symlink = (await meta.readlink(ctx, ino)).toString();
  const names = await meta.listxattr(ctx, ino);
  if (names.length > 0) {
    entry.xattrs = {};
    for (const n of names) entry.xattrs[n] = (await meta.getxattr(ctx, ino, n)).toString("hex");
  }
  if (attr.type === FileType.File) {
    entry.chunks = {};
    for (const index of await meta.chunkIndexes(ino)) {
      entry.chunks[index] = await meta.readChunk(ino, index);
    }
    if (data) {
      const hasher = new Bun.CryptoHasher("sha256");
      for (const index of await meta.chunkIndexes(ino)) {
        const start = index * CHUNK_BYTES;
        const size = attr.size;
        const end = Math.min(size, start + HASHED_BYTES_PER_CHUNK);
        if (end > start) hasher.update(await data.read(ino, start, end - start, size));
      }
      entry.content = hasher.digest("hex");
    }
  }
  return entry;
}

async function dumpLines(meta: BaseMeta): Promise<string[]> {
  const lines: string[] = [];
  await dumpVolume(meta.core.engine, (line) => {
    lines.push(line);
  });
  return lines;
}

/** A dump without its header (which names the engine it came from). */
const body = (lines: string[]) => lines.slice(1);

describe("dump from each engine, load into each other one", () => {
  test("every pair: jfs fsck clean, the same tree walk and content, the same dump", async () => {
    const sources: Array<{ name: string; fx: DataFixture; lines: string[]; tree: WalkEntry[] }> =
      [];
    try {
      for (const backend of backends) {
        const fx = await populatedVolume(backend);
        const lines = await dumpLines(fx.meta);
        expect(JSON.parse(lines[0]!)).toMatchObject({
          jfs: "dump",
          engine: fx.meta.core.engine.engine,
        });
        sources.push({ name: backend.name, fx, lines, tree: await walk(fx.meta, fx.data) });
        expect(sources.at(-1)!.tree.length).toBeGreaterThan(35);
        await fx.data.close();
        await fx.meta.close();
      }
      // The same operations make a tree of the same shape on every engine.
      for (const s of sources.slice(1)) expect(s.tree.length).toBe(sources[0]!.tree.length);
      for (const target of backends) {
        for (const source of sources) {
          if (source.name !== target.name) await moveAndCompare(source, target);
        }
      }
    } finally {
      for (const s of sources) await s.fx[Symbol.asyncDispose]();
    }
  }, 240_000);
});

/** Loads `source`'s dump into `target` and checks the result as the test above says. */
async function moveAndCompare(
  source: { name: string; fx: DataFixture; lines: string[]; tree: WalkEntry[] },
  target: MetaBackend,
): Promise<void> {
  const pair = `${source.name} -> ${target.name}`;
  await target.reset();
  const engine = await openEngine(target.url());
  async function* lines() {
    yield* source.lines;
  }
  await loadVolume(engine, lines());
  await engine.close();
  // The command a user runs after a move: exit status 0, every inode and block found.
  const fsck = await jfs(["fsck", target.url()]);
  expect(fsck.err, pair).toBe("");
  expect(fsck.code, `${pair}: ${fsck.out}`).toBe(0);
  const inodes = new Set(source.tree.map((e) => e.inode)).size;
  expect(fsck.out, pair).toMatch(
    new RegExp(
      `^.*fsck: ${inodes} inodes, \\d+ slices, [1-9]\\d* blocks checked; 0 problem\\(s\\)\\n$`,
    ),
  );
  const loaded = await target.open();
  const format = await loaded.load();
  const data = new ChunkFileData({
    meta: loaded,
    store: source.fx.objects,
    format,
    options: source.fx.options,
  });
  try {
    const report = await checkNamespace(loaded);
    expect(report.problems, pair).toEqual([]);
    expect(report.usedInodesCounter).toBe(report.inodes);
    expect(await walk(loaded, data), pair).toEqual(source.tree);
    expect(body(await dumpLines(loaded))).toEqual(body(source.lines));
    // The quota comes along with its usage, which a recount confirms.
    const [quota, ...others] = await loaded.listQuotas();
    expect(others).toEqual([]);
    expect(quota).toMatchObject({ capacityBytes: 1 << 30, inodes: 1000 });
    expect(quota!.usedInodes).toBeGreaterThan(10);
    expect(await loaded.repairQuotas()).toEqual([]);
    // The loaded volume is a working one: new inodes do not collide with loaded ones.
    const fresh = await loaded.mknod(ctx, ROOT_INODE, b("after-load"), FileType.File, 0o644, 0, 0);
    expect(source.tree.some((e) => e.inode === fresh.inode)).toBe(false);
  } finally {
    await data.close();
  }
}

describe("jfs dump / jfs load", () => {
  const [sqlite, , postgres] = [0, 1, 2];

  test("dump to stdout, load from stdin; a non-empty target needs --force; a truncated dump is refused", async () => {
    const from = backends[sqlite]!;
    const to = backends[postgres]!;
    await from.reset();
    await populate(await formatted(from, { trashDays: 1 }));
    const dumped = await jfs(["dump", from.url(), "-"]);
    expect(dumped.code).toBe(0);
    expect(dumped.err).toContain("dumped");
    const lines = dumped.out.trimEnd().split("\n");
    expect(JSON.parse(lines.at(-1)!)).toHaveProperty("end");

    await to.reset();
    const loaded = await jfs(["load", to.url(), "-"], dumped.out);
    expect(loaded.err).toContain("loaded");
    expect(loaded.code).toBe(0);
    const again = await jfs(["load", to.url(), "-"], dumped.out);
    expect(again.code).toBe(1);
    expect(again.err).toBe(
      `jfs: ${to.url().replace(/:[^:@/]+@/, ":****@")} is not empty; load refuses to mix volumes (use --force to replace what it holds)\n`,
    );
    const file = join(tmp, "dump.jsonl");
    writeFileSync(file, dumped.out);
    const forced = await jfs(["load", "--force", to.url(), file]);
    expect(forced.code).toBe(0);
    const meta = await to.open();
    await meta.load();
    expect((await checkNamespace(meta)).problems).toEqual([]);
    const source = await from.open();
    await source.load();
    expect(await walk(meta)).toEqual(await walk(source));

    await to.reset();
    const truncated = readFileSync(file, "utf8").split("\n").slice(0, 20).join("\n");
    const cut = await jfs(["load", to.url(), "-"], truncated);
    expect(cut.code).toBe(1);
    expect(cut.err).toContain("the dump is truncated");
    // Nothing that mounts was left behind.
    const status = await openEngine(to.url(), { create: false }).catch(() => undefined);
    if (status) {
      expect(await status.txn(async (tx) => tx.getSetting(), { readOnly: true })).toBeUndefined();
      await status.close();
    }
  }, 120_000);
});

describe("progress", () => {
  /** Runs the CLI on a terminal (script(1) gives it a pty): what the terminal shows, and the exit status. */
  async function onTerminal(args: string[]): Promise<{ code: number; screen: string }> {
    const command = ["bun", MAIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
    const child = Bun.spawn(["script", "-qec", command, "/dev/null"], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [screen, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    return { code, screen };
  }

  test("dump and load draw a progress bar on a terminal, to the last inode", async () => {
    const from = backends[0]!;
    const to = backends[2]!;
    await from.reset();
    await populate(await formatted(from, { trashDays: 1 }));
    const file = join(tmp, "progress.jsonl");
    const dumped = await onTerminal(["dump", from.url(), file]);
    expect(dumped.code).toBe(0);
    const nodes = (
      JSON.parse(readFileSync(file, "utf8").trimEnd().split("\n").at(-1)!) as {
        end: { nodes: number };
      }
    ).end.nodes;
    expect(dumped.screen).toMatch(new RegExp(`dump +\\[#+\\] 100% ${nodes}/${nodes}`));
    await to.reset();
    const loaded = await onTerminal(["load", to.url(), file]);
    expect(loaded.code).toBe(0);
    expect(loaded.screen).toMatch(new RegExp(`load +\\[#+\\] 100% ${nodes}/${nodes}`));
  }, 60_000);
});

describe("a wide tree", () => {
  test("1200 directories (more than the walk keeps queued) move whole", async () => {
    const source = backends[0]!;
    const target = backends[2]!;
    await source.reset();
    const meta = await formatted(source);
    const top = (await meta.mkdir(ctx, ROOT_INODE, b("top"), 0o755, 0)).inode;
    for (let i = 0; i < 1200; i++) {
      const d = (await meta.mkdir(ctx, i % 2 ? top : ROOT_INODE, b(`d${i}`), 0o755, 0)).inode;
      await meta.mknod(ctx, d, b("f"), FileType.File, 0o644, 0, 0);
    }
    const lines = await dumpLines(meta);
    await target.reset();
    const engine = await openEngine(target.url());
    async function* replay() {
      yield* lines;
    }
    const totals = await loadVolume(engine, replay());
    await engine.close();
    expect(totals.nodes).toBe(2 + 1 + 2400);
    const loaded = await target.open();
    await loaded.load();
    expect((await checkNamespace(loaded)).problems).toEqual([]);
    expect(await walk(loaded)).toEqual(await walk(meta));
  }, 120_000);
});

describe("a dump of a live volume", () => {
  test("PostgreSQL: dumped while another client creates and renames, it loads fsck-clean", async () => {
    const source = backends[2]!;
    const target = backends[0]!;
    await source.reset();
    const meta = await formatted(source);
    const writer = await source.open();
    await writer.load();
    const dir = (await meta.mkdir(ctx, ROOT_INODE, b("busy"), 0o755, 0)).inode;
    let stop = false;
    let done = 0;
    const busy = (async () => {
      for (let i = 0; !stop; i++) {
        const f = await writer.mknod(ctx, dir, b(`n${i}`), FileType.File, 0o644, 0, 0);
        await writer.setxattr(ctx, f.inode, "user.i", b(String(i)), 0);
        if (i % 3 === 0) await writer.rename(ctx, dir, b(`n${i}`), ROOT_INODE, b(`r${i}`), 0);
        if (i % 7 === 0) await writer.mkdir(ctx, dir, b(`d${i}`), 0o755, 0);
        done++;
      }
    })();
    while (done < 20) await Bun.sleep(5);
    const lines = await dumpLines(meta);
    stop = true;
    await busy;
    expect(JSON.parse(lines[0]!).snapshot).toBe(true);
    await target.reset();
    const engine = await openEngine(target.url());
    async function* replay() {
      yield* lines;
    }
    await loadVolume(engine, replay());
    await engine.close();
    const loaded = await target.open();
    await loaded.load();
    const report = await checkNamespace(loaded);
    expect(report.problems).toEqual([]);
    expect(report.usedInodesCounter).toBe(report.inodes);
    expect(report.inodes).toBeGreaterThan(20);
  }, 120_000);
});

describe("content survives a move", () => {
  test("files written through the data path on PostgreSQL read back byte for byte from SQLite and Redis", async () => {
    const source = backends[2]!;
    await source.reset();
    await using fx = await dataFixture({ metaUrl: source.url() });
    const hashes = new Map<string, string>();
    const random = rng(7);
    for (let i = 0; i < 6; i++) {
      const ino = await fx.newFile(`file${i}`);
      const bytes = random.bytes(1 + random.int(300_000));
      await fx.data.write(ino, 0, bytes);
      await fx.data.write(ino, 70_000, bytes.subarray(0, 1000)); // an overwrite: two slices
      await fx.data.flush(ino);
      const size = await fx.sizeOf(ino);
      hashes.set(`file${i}`, sha256(await fx.data.read(ino, 0, size, size)));
    }
    const lines = await dumpLines(fx.meta);
    for (const target of [backends[0]!, backends[1]!]) {
      await target.reset();
      const engine = await openEngine(target.url());
      async function* replay() {
        yield* lines;
      }
      await loadVolume(engine, replay());
      await engine.close();
      const meta = await target.open();
      const format = await meta.load();
      const data = new ChunkFileData({ meta, store: fx.objects, format, options: fx.options });
      try {
        for (const [name, hash] of hashes) {
          const { inode, attr } = await meta.lookup(ctx, ROOT_INODE, b(name));
          expect(
            sha256(await data.read(inode, 0, attr.size, attr.size)),
            `${target.name} ${name}`,
          ).toBe(hash);
        }
      } finally {
        await data.close();
      }
    }
  }, 120_000);
});

// streamLines is what load reads files and stdin with.
test("streamLines splits across chunk borders and keeps a last line without newline", async () => {
  const parts = ["ab", "c\nde", "f\n\ng", "h"];
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const p of parts) controller.enqueue(new TextEncoder().encode(p));
      controller.close();
    },
  });
  const got: string[] = [];
  for await (const line of streamLines(stream)) got.push(line);
  expect(got).toEqual(["abc", "def", "", "gh"]);
});

describe("garbage of more than one page", () => {
  test("unused slices and deleted files are dumped page by page on every engine and load back", async () => {
    const UNUSED = 2500;
    const DELETED = 1100;
    const dumps: string[][] = [];
    for (const backend of backends) {
      await backend.reset();
      const meta = await formatted(backend);
      const engine = meta.core.engine;
      for (let from = 1; from <= UNUSED; from += 500) {
        const slices = Array.from({ length: 500 }, (_, i) => ({ id: from + i, size: 4096 }));
        await engine.txn(async (tx) => tx.addUnusedSlices(slices));
      }
      // One slice id with two sizes: the page order is (id, size).
      await engine.txn(async (tx) => tx.addUnusedSlices([{ id: 7, size: 5000 }]));
      await engine.txn(async (tx) => {
        for (let i = 0; i < DELETED; i++) {
          tx.addDeletedFile({ inode: 1_000_000 + i, sizeBytes: i });
        }
      });
      const lines = await dumpLines(meta);
      const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      // Streamed a page at a time: no line holds more than a page (load reads a line whole).
      const pages = records
        .filter((r) => Array.isArray(r.unused))
        .map((r) => r.unused as unknown[]);
      expect(pages.map((p) => p.length)).toEqual([1000, 1000, UNUSED + 1 - 2000]);
      const unused = records.flatMap((r) => (r.unused as Array<[number, number]>) ?? []);
      expect(unused.length).toBe(UNUSED + 1);
      expect(new Set(unused.map(([id, size]) => `${id}:${size}`)).size).toBe(UNUSED + 1);
      expect(unused.slice(6, 9)).toEqual([
        [7, 4096],
        [7, 5000],
        [8, 4096],
      ]);
      const deleted = records.filter((r) => typeof r.deleted === "number").map((r) => r.deleted);
      expect(deleted).toEqual(Array.from({ length: DELETED }, (_, i) => 1_000_000 + i));
      dumps.push(lines);
    }
    // Every engine pages its garbage in the same order.
    for (const d of dumps.slice(1)) expect(garbage(d)).toEqual(garbage(dumps[0]!));
    // Loaded into another engine, the garbage is all there: its dump holds the same.
    const target = backends[1]!;
    await target.reset();
    const engine = await openEngine(target.url());
    async function* replay() {
      yield* dumps[0]!;
    }
    await loadVolume(engine, replay());
    await engine.close();
    const loaded = await target.open();
    await loaded.load();
    expect(garbage(await dumpLines(loaded))).toEqual(garbage(dumps[0]!));
  }, 120_000);
});

/** The unused-slice and deleted-file records of a dump. */
function garbage(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith('{"unused"') || l.startsWith('{"deleted"'));
}
