/**
 * The Redis engine as a storage adapter, against a real redis-server: every MetaTxn method
 * round-trips, optimistic transactions retry on conflict, the read-after-write guard fires, and
 * bad META-URLs fail in one line without showing the password. (POSIX behaviour over this engine
 * is the conformance suite's job.)
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Redis } from "ioredis";
import { AssertionError } from "../../src/assert.ts";
import { UserError } from "../../src/errors.ts";
import { TXN_RETRIES_MAX } from "../../src/limits.ts";
import { BaseMeta } from "../../src/meta/base.ts";
import { openEngine } from "../../src/meta/index.ts";
import {
  type Attr,
  FileType,
  ROOT_CREDENTIALS,
  type SessionInfo,
  type Slice,
} from "../../src/meta/interface.ts";
import { parseRedisUrl, RedisEngine } from "../../src/meta/redis.ts";
import { type MetaTxn, TxnConflictError } from "../../src/meta/txn.ts";
import { freePort, type RedisServer, startRedis } from "../harness/redis.ts";
import { testFormat } from "./harness.ts";

const PASSWORD = "s3cret:p@ss/word";
let server: RedisServer;
let raw: Redis;
const opened: RedisEngine[] = [];

beforeAll(async () => {
  server = await startRedis({ password: PASSWORD });
  raw = new Redis(server.port, "127.0.0.1", { password: PASSWORD, db: 1 });
});

afterEach(async () => {
  for (const e of opened.splice(0)) await e.close();
  await raw.flushall();
});

afterAll(async () => {
  raw.disconnect();
  await server.stop();
});

async function open(db = 1): Promise<RedisEngine> {
  const engine = await RedisEngine.open(server.url(db));
  opened.push(engine);
  return engine;
}

function attr(overrides: Partial<Attr> = {}): Attr {
  return {
    type: FileType.File,
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    atime: 1_700_000_000,
    atimeNsec: 1,
    mtime: 1_700_000_001,
    mtimeNsec: 999_999_999,
    ctime: 1_700_000_002,
    ctimeNsec: 0,
    nlink: 1,
    size: 2 ** 53 - 1,
    rdev: 0,
    parent: 1,
    generation: 7,
    ...overrides,
  };
}

const write = (engine: RedisEngine, fn: (tx: MetaTxn) => void) => engine.txn(async (tx) => fn(tx));
const read = <T>(engine: RedisEngine, fn: (tx: MetaTxn) => Promise<T>) =>
  engine.txn(fn, { readOnly: true });

/** Not valid UTF-8: must come back byte for byte. */
const BINARY_NAME = Buffer.from([0xff, 0xfe, 0x00, 0x2f, 0xc3, 0x28, 0x0a]);
/** Not UTF-8 either, but a valid file name (no NUL, no "/"). */
const LATIN1_NAME = Buffer.from("caf\xe9 \xff", "latin1");

describe("records round-trip", () => {
  test("attrs, symlinks", async () => {
    const e = await open();
    const a = attr();
    const target = Buffer.alloc(4096, 0xee);
    await write(e, (tx) => {
      tx.setAttr(10, a);
      tx.setSymlink(10, target);
      tx.setSymlink(11, Buffer.alloc(0));
    });
    expect(await read(e, (tx) => tx.getAttr(10))).toEqual(a);
    expect(await read(e, (tx) => tx.getAttr(99))).toBeUndefined();
    expect(await read(e, (tx) => tx.getSymlink(10))).toEqual(target);
    expect(await read(e, (tx) => tx.getSymlink(11))).toEqual(Buffer.alloc(0));
    await write(e, (tx) => {
      tx.deleteAttr(10);
      tx.deleteSymlink(10);
    });
    expect(await e.txn((tx) => tx.getAttr(10))).toBeUndefined();
    expect(await e.txn((tx) => tx.getSymlink(10))).toBeUndefined();
  });

  test("entries with binary names", async () => {
    const e = await open();
    const names = [BINARY_NAME, Buffer.from("a"), Buffer.alloc(255, 0x80)];
    await write(e, (tx) => {
      names.forEach((name, i) => {
        tx.setEntry(1, name, { inode: 100 + i, type: FileType.File, seq: 10 + i });
      });
    });
    expect(await read(e, (tx) => tx.getEntry(1, BINARY_NAME))).toEqual({
      inode: 100,
      type: FileType.File,
      seq: 10,
    });
    expect(await read(e, (tx) => tx.getEntry(1, Buffer.from([0xff])))).toBeUndefined();
    const listed = await read(e, (tx) => tx.listEntries(1, 0, 100));
    expect(listed.map((r) => r.name)).toEqual(names);
    expect(await read(e, (tx) => tx.hasEntries(1))).toBe(true);
    expect(await read(e, (tx) => tx.hasEntries(2))).toBe(false);

    // Replacing a name (rename over it) re-indexes it under its new seq.
    await write(e, (tx) =>
      tx.setEntry(1, BINARY_NAME, { inode: 7, type: FileType.Symlink, seq: 50 }),
    );
    const after = await read(e, (tx) => tx.listEntries(1, 0, 100));
    expect(after.map((r) => [r.name, r.inode, r.seq])).toEqual([
      [names[1]!, 101, 11],
      [names[2]!, 102, 12],
      [BINARY_NAME, 7, 50],
    ]);
    await write(e, (tx) => {
      for (const r of after) tx.deleteEntry(1, r.name, r);
    });
    expect(await read(e, (tx) => tx.hasEntries(1))).toBe(false);
    expect(await raw.exists("d1", "ds1")).toBe(0);
  });

  test("xattrs: sorted names, empty and 64 KiB values", async () => {
    const e = await open();
    const big = Buffer.alloc(64 * 1024, 0xab);
    await write(e, (tx) => {
      tx.setXattr(5, "user.z", Buffer.alloc(0));
      tx.setXattr(5, "user.ä", big);
      tx.setXattr(5, "user.a", Buffer.from([0]));
    });
    expect(await read(e, (tx) => tx.listXattrs(5))).toEqual(["user.a", "user.z", "user.ä"]);
    expect(await read(e, (tx) => tx.getXattr(5, "user.z"))).toEqual(Buffer.alloc(0));
    expect(await read(e, (tx) => tx.getXattr(5, "user.ä"))).toEqual(big);
    expect(await read(e, (tx) => tx.getXattr(5, "user.none"))).toBeUndefined();
    await write(e, (tx) => tx.deleteXattr(5, "user.z"));
    expect(await read(e, (tx) => tx.listXattrs(5))).toEqual(["user.a", "user.ä"]);
    await write(e, (tx) => tx.deleteXattrs(5));
    expect(await read(e, (tx) => tx.listXattrs(5))).toEqual([]);
  });

  test("parents", async () => {
    const e = await open();
    await write(e, (tx) => {
      tx.setParent(9, 1, 2);
      tx.setParent(9, 3, 1);
      tx.setParent(9, 4, 1);
      tx.setParent(9, 4, 0);
    });
    expect(await read(e, (tx) => tx.getParents(9))).toEqual(
      new Map([
        [1, 2],
        [3, 1],
      ]),
    );
    await write(e, (tx) => tx.deleteParents(9));
    expect((await read(e, (tx) => tx.getParents(9))).size).toBe(0);
  });

  test("chunks: append, replace, delete, indexes", async () => {
    const e = await open();
    const s = (id: number, pos = 0): Slice => ({ id, size: 4096, off: 0, len: 4096, pos });
    await write(e, (tx) => {
      tx.appendSlice(3, 0, s(2 ** 40));
      tx.appendSlice(3, 0, s(2, 4096));
      tx.appendSlice(3, 7, s(3));
    });
    expect(await read(e, (tx) => tx.getChunk(3, 0))).toEqual([s(2 ** 40), s(2, 4096)]);
    expect(await read(e, (tx) => tx.listChunkIndexes(3))).toEqual([0, 7]);
    await write(e, (tx) => tx.appendSlice(3, 12, s(4)));
    await write(e, (tx) => tx.setChunk(3, 0, [s(5)]));
    expect(await read(e, (tx) => tx.getChunk(3, 0))).toEqual([s(5)]);
    await write(e, (tx) => tx.setChunk(3, 7, []));
    expect(await read(e, (tx) => tx.getChunk(3, 7))).toEqual([]);
    expect(await read(e, (tx) => tx.listChunkIndexes(3))).toEqual([0, 12]);
  });

  test("slice refs, unused slices, deleted files", async () => {
    const e = await open();
    await write(e, (tx) => {
      tx.setSliceExtraRefs(42, 3);
      tx.addUnusedSlices([
        { id: 30, size: 100 },
        { id: 2, size: 5 },
        { id: 2 ** 50, size: 1 },
      ]);
      tx.addUnusedSlices([]);
      tx.addDeletedFile({ inode: 12, sizeBytes: 2 ** 52 });
      tx.addDeletedFile({ inode: 11, sizeBytes: 0 });
      tx.addDeletedFile({ inode: 12, sizeBytes: 1 });
    });
    expect(await read(e, (tx) => tx.getSliceExtraRefs(42))).toBe(3);
    expect(await read(e, (tx) => tx.getSliceExtraRefs(43))).toBe(0);
    expect(await read(e, (tx) => tx.listUnusedSlices(2))).toEqual([
      { id: 2, size: 5 },
      { id: 30, size: 100 },
    ]);
    expect(await read(e, (tx) => tx.listUnusedSlices(0))).toEqual([]);
    expect(await read(e, (tx) => tx.listDeletedFiles(10))).toEqual([
      { inode: 11, sizeBytes: 0 },
      { inode: 12, sizeBytes: 1 },
    ]);
    await write(e, (tx) => {
      tx.setSliceExtraRefs(42, 0);
      tx.deleteUnusedSlices([{ id: 2, size: 5 }]);
      tx.deleteDeletedFile(11);
    });
    expect(await raw.exists("r42")).toBe(0);
    expect(await read(e, (tx) => tx.listUnusedSlices(10))).toEqual([
      { id: 30, size: 100 },
      { id: 2 ** 50, size: 1 },
    ]);
    expect(await read(e, (tx) => tx.listDeletedFiles(10))).toEqual([{ inode: 12, sizeBytes: 1 }]);
  });

  test("opens, sessions, setting, counters", async () => {
    const e = await open();
    const session = (sid: number): SessionInfo => ({
      sid,
      hostname: "h",
      pid: 1,
      version: "v",
      mountPoint: "/mnt/ü",
      startedAt: 1,
      heartbeatAt: 2,
    });
    expect(await read(e, (tx) => tx.getSetting())).toBeUndefined();
    await write(e, (tx) => {
      tx.addOpen(1, 20);
      tx.addOpen(2, 20);
      tx.addOpen(1, 21);
      tx.setSession(session(2));
      tx.setSession(session(1));
      tx.setSetting('{"name":"ü"}');
      tx.addCounter("usedSpace", 4096);
      tx.addCounter("usedSpace", -1);
    });
    expect(await read(e, (tx) => tx.listOpenSessions(20))).toEqual([1, 2]);
    expect(await read(e, (tx) => tx.listOpenInodes(1))).toEqual([20, 21]);
    expect(await read(e, (tx) => tx.listSessions())).toEqual([session(1), session(2)]);
    expect(await read(e, (tx) => tx.getSession(2))).toEqual(session(2));
    expect(await read(e, (tx) => tx.getSetting())).toBe('{"name":"ü"}');
    expect(await read(e, (tx) => tx.getCounter("usedSpace"))).toBe(4095);
    expect(await read(e, (tx) => tx.getCounter("usedInodes"))).toBe(0);
    expect(await e.incrCounter("nextInode", 1000)).toBe(1000);
    expect(await e.incrCounter("nextInode", 1000)).toBe(2000);
    await write(e, (tx) => {
      tx.deleteOpen(1, 20);
      tx.deleteSession(1);
    });
    expect(await read(e, (tx) => tx.listOpenSessions(20))).toEqual([2]);
    expect(await read(e, (tx) => tx.getSession(1))).toBeUndefined();
  });
});

describe("readdir order", () => {
  test("listEntries pages by seq, resumes after a cookie, skips removed entries", async () => {
    const e = await open();
    const count = 2500;
    // Names sort differently from seqs, so a hash or name order would show.
    const name = (i: number) => Buffer.from(`${(count - i) % 997}-${i}`);
    for (let start = 0; start < count; start += 500) {
      await write(e, (tx) => {
        for (let i = start; i < start + 500; i++) {
          tx.setEntry(1, name(i), { inode: 1000 + i, type: FileType.File, seq: 3 * i + 1 });
        }
      });
    }
    const seen: number[] = [];
    let cookie = 0;
    for (;;) {
      const page = await read(e, (tx) => tx.listEntries(1, cookie, 1000));
      if (page.length === 0) break;
      for (const r of page) {
        expect(r.name).toEqual(name(r.inode - 1000));
        seen.push(r.seq);
      }
      cookie = page.at(-1)!.seq;
      // A removal ahead of the cursor must not disturb the walk.
      await write(e, (tx) => tx.deleteEntry(1, name(2499), { inode: 3499, type: 1, seq: 7498 }));
    }
    const expected = Array.from({ length: count - 1 }, (_, i) => 3 * i + 1);
    expect(seen).toEqual(expected);
    expect((await read(e, (tx) => tx.listEntries(1, 3 * 10 + 1, 2))).map((r) => r.seq)).toEqual([
      34, 37,
    ]);
    expect(await read(e, (tx) => tx.listEntries(1, 0, 0))).toEqual([]);
  });

  test("works after the server's script cache was flushed", async () => {
    const e = await open();
    await write(e, (tx) => tx.setEntry(1, Buffer.from("x"), { inode: 5, type: 1, seq: 1 }));
    await raw.script("FLUSH");
    expect((await read(e, (tx) => tx.listEntries(1, 0, 10))).length).toBe(1);
    expect((await e.txn((tx) => tx.listEntries(1, 0, 10))).length).toBe(1);
  });
});

describe("optimistic transactions", () => {
  test("a transaction that lost a race runs again and sees the winner's write", async () => {
    const a = await open();
    const b = await open();
    await write(a, (tx) => tx.setAttr(7, attr({ nlink: 1 })));
    const { promise: bWrote, resolve } = Promise.withResolvers<void>();
    const { promise: aRead, resolve: aHasRead } = Promise.withResolvers<void>();
    let runs = 0;
    const aDone = a.txn(async (tx) => {
      runs++;
      const cur = (await tx.getAttr(7))!;
      if (runs === 1) {
        aHasRead();
        await bWrote;
      }
      tx.setAttr(7, { ...cur, nlink: cur.nlink + 1 });
      return cur.nlink;
    });
    await aRead;
    await b.txn(async (tx) => {
      const cur = (await tx.getAttr(7))!;
      tx.setAttr(7, { ...cur, nlink: cur.nlink + 10 });
    });
    resolve();
    expect(await aDone).toBe(11);
    expect(runs).toBe(2);
    expect((await read(a, (tx) => tx.getAttr(7)))!.nlink).toBe(12);
  });

  test("an error from a read that changed underneath is retried", async () => {
    const a = await open();
    const b = await open();
    let runs = 0;
    const result = await a.txn(async (tx) => {
      runs++;
      const entry = await tx.getEntry(1, Buffer.from("f"));
      if (runs === 1) {
        await write(b, (tx2) => tx2.setEntry(1, Buffer.from("f"), { inode: 3, type: 1, seq: 1 }));
      }
      if (!entry) throw new Error("ENOENT");
      return entry.inode;
    });
    expect(result).toBe(3);
    expect(runs).toBe(2);
  });

  test("an error is reported as is when nothing read has changed", async () => {
    const a = await open();
    let runs = 0;
    const failing = a.txn(async (tx) => {
      runs++;
      await tx.getAttr(1);
      tx.setAttr(2, attr());
      throw new UserError("no");
    });
    await expect(failing).rejects.toThrow("no");
    expect(runs).toBe(1);
    expect(await raw.exists("i2")).toBe(0);
  });

  test("50 concurrent increments from two engines end with the exact total", async () => {
    const engines = [await open(), await open()];
    await write(engines[0]!, (tx) => tx.setAttr(8, attr({ size: 0 })));
    let runs = 0;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        engines[i % 2]!.txn(async (tx) => {
          runs++;
          const cur = (await tx.getAttr(8))!;
          tx.setAttr(8, { ...cur, size: cur.size + 1 });
          tx.addCounter("usedSpace", 1);
        }),
      ),
    );
    expect((await read(engines[1]!, (tx) => tx.getAttr(8)))!.size).toBe(50);
    expect(await read(engines[1]!, (tx) => tx.getCounter("usedSpace"))).toBe(50);
    expect(runs).toBeGreaterThanOrEqual(50);
  });

  test("gives up after TXN_RETRIES_MAX attempts", async () => {
    const e = await open();
    let runs = 0;
    const conflicted = e.txn(async () => {
      runs++;
      throw new TxnConflictError("lost");
    });
    await expect(conflicted).rejects.toThrow(TxnConflictError);
    expect(runs).toBe(TXN_RETRIES_MAX);
  });

  test("the read-after-write guard fires, and nothing is written", async () => {
    const e = await open();
    const bad = e.txn(async (tx) => {
      tx.setAttr(4, attr());
      return tx.getAttr(4);
    });
    await expect(bad).rejects.toThrow(AssertionError);
    await expect(bad).rejects.toThrow("reads a4 after writing it");
    const badEntry = e.txn(async (tx) => {
      tx.setEntry(1, BINARY_NAME, { inode: 4, type: 1, seq: 1 });
      return tx.listEntries(1, 0, 10);
    });
    await expect(badEntry).rejects.toThrow(AssertionError);
    expect(await raw.exists("i4", "d1", "ds1")).toBe(0);
  });

  test("a read-only transaction cannot write", async () => {
    const e = await open();
    const bad = read(e, async (tx) => tx.setAttr(4, attr()));
    await expect(bad).rejects.toThrow("write in a read-only transaction");
  });
});

describe("volume lifecycle", () => {
  test("destroy removes the schema's keys and nothing else", async () => {
    const e = await open();
    await write(e, (tx) => {
      tx.setSetting("{}");
      tx.setAttr(1, attr());
      tx.setEntry(1, BINARY_NAME, { inode: 3, type: 1, seq: 1 });
      tx.appendSlice(3, 0, { id: 1, size: 1, off: 0, len: 1, pos: 0 });
      tx.addCounter("usedInodes", 1);
    });
    await raw.set("other:app", "1");
    await raw.set("i1x", "1");
    await e.destroy();
    expect((await raw.keys("*")).sort()).toEqual(["i1x", "other:app"]);
  });

  test("BaseMeta runs over the engine (format, mkdir, create, readdir, rename, unlink)", async () => {
    const meta = new BaseMeta(await openEngine(server.url(2)));
    try {
      const c = ROOT_CREDENTIALS;
      await meta.format(testFormat(), false);
      expect((await meta.load()).name).toBe("test");
      const dir = await meta.mkdir(c, 1, Buffer.from("dir"), 0o755, 0);
      await meta.mknod(c, dir.inode, LATIN1_NAME, FileType.File, 0o644, 0o022, 0);
      const listed = await meta.readdir(c, dir.inode, 0, 100, true);
      expect(listed.map((x) => x.name)).toEqual([LATIN1_NAME]);
      expect(listed[0]!.attr!.mode).toBe(0o644);
      await meta.rename(c, dir.inode, LATIN1_NAME, 1, Buffer.from("moved"), 0);
      expect((await meta.readdir(c, 1, 0, 100, false)).map((x) => x.name.toString())).toEqual([
        "dir",
        "moved",
      ]);
      await meta.unlink(c, 1, Buffer.from("moved"));
      await meta.rmdir(c, 1, Buffer.from("dir"));
      expect(await meta.readdir(c, 1, 0, 100, false)).toEqual([]);
      expect(meta.engine).toBe("redis");
      expect(meta.displayUrl).toBe(`redis://:****@127.0.0.1:${server.port}/2`);
    } finally {
      await meta.destroy();
      await meta.close();
    }
  });

  test("a lost server fails operations instead of hanging; a restarted one is used again", async () => {
    await using other = await startRedis();
    const e = await RedisEngine.open(other.url(0));
    opened.push(e);
    await write(e, (tx) => tx.setAttr(1, attr()));
    await other.stop();
    await expect(read(e, (tx) => tx.getAttr(1))).rejects.toThrow();
    await expect(e.txn((tx) => tx.getAttr(1))).rejects.toThrow();
    await expect(e.incrCounter("nextInode", 1)).rejects.toThrow();
    await using again = await startRedis({ port: other.port });
    expect(await read(e, (tx) => tx.getAttr(1))).toBeUndefined();
    await write(e, (tx) => tx.setAttr(1, attr()));
    expect(await e.txn((tx) => tx.getAttr(1))).toEqual(attr());
    expect(again.port).toBe(other.port);
  });
});

describe("META-URL", () => {
  test("display masks the password; defaults fill port and db", () => {
    expect(parseRedisUrl("redis://:pw@host").display).toBe("redis://:****@host:6379/0");
    expect(parseRedisUrl("rediss://bob:pw@host:7000/3").display).toBe(
      "rediss://bob:****@host:7000/3",
    );
    expect(parseRedisUrl("redis://[::1]:6380/2").display).toBe("redis://[::1]:6380/2");
    const { options } = parseRedisUrl("redis://bob:p%40ss@[::1]:6380/2");
    expect(options).toMatchObject({
      host: "::1",
      port: 6380,
      db: 2,
      username: "bob",
      password: "p@ss",
    });
  });

  test.each([
    ["redis://", "no host"],
    ["redis://host/x", "the database must be a number"],
    ["redis://host/1/2", "the database must be a number"],
    ["redis://bob@host", "a user needs a password"],
    ["redis://:secret@host/1?foo=1", 'unknown option "foo"'],
    ["rediss://:secret@host/1?tls-ca-cert-file=/nonexistent", "cannot read tls-ca-cert-file"],
    ["memcached://host", "the scheme must be redis or rediss"],
    ["redis://:secret@ho st", "expected redis://"],
  ])("%s is refused: %s", (url, why) => {
    let error: unknown;
    try {
      parseRedisUrl(url);
    } catch (e: unknown) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(why);
    expect((error as Error).message).not.toContain("secret");
  });

  test("unreachable server: one line, no password", async () => {
    const port = await freePort();
    const url = `redis://:secret@127.0.0.1:${port}/1`;
    const failed = RedisEngine.open(url);
    await expect(failed).rejects.toThrow(
      new UserError(`Cannot connect to redis://:****@127.0.0.1:${port}/1: connection refused`),
    );
  });

  test("wrong or missing password", async () => {
    const wrong = RedisEngine.open(`redis://:nope@127.0.0.1:${server.port}/1`);
    await expect(wrong).rejects.toThrow(
      `Cannot connect to redis://:****@127.0.0.1:${server.port}/1: authentication failed (check the password in the META-URL)`,
    );
    const missing = RedisEngine.open(`redis://127.0.0.1:${server.port}/1`);
    await expect(missing).rejects.toThrow("authentication failed");
    const wrongUser = RedisEngine.open(
      `redis://eve:${encodeURIComponent(PASSWORD)}@127.0.0.1:${server.port}/1`,
    );
    await expect(wrongUser).rejects.toThrow("authentication failed");
  });

  test("rediss:// with the server's CA, with verification skipped, and without trust", async () => {
    await using tls = await startRedis({ tls: true });
    const base = tls.url(3);
    expect(base).toStartWith("rediss://");
    const trusted = await RedisEngine.open(`${base}?tls-ca-cert-file=${tls.caCertFile}`);
    opened.push(trusted);
    await write(trusted, (tx) => tx.setSetting("{}"));
    const skipping = await RedisEngine.open(`${base}?insecure-skip-verify=true`);
    opened.push(skipping);
    expect(await read(skipping, (tx) => tx.getSetting())).toBe("{}");
    const untrusted = RedisEngine.open(base);
    await expect(untrusted).rejects.toThrow(`Cannot connect to rediss://127.0.0.1:${tls.port}/3: `);
    await expect(untrusted).rejects.toThrow(/certificate/i);
    const plain = RedisEngine.open(base.replace("rediss:", "redis:"));
    await expect(plain).rejects.toThrow(`Cannot connect to redis://127.0.0.1:${tls.port}/3: `);
  });

  test("a database the server does not have", async () => {
    const failed = RedisEngine.open(server.url(999));
    await expect(failed).rejects.toThrow("database 999 does not exist");
  });
});
