/**
 * Close-to-open across processes: two `jfs serve --nfs` on one volume (one file bucket both
 * see), on Redis meta and on PostgreSQL meta. What one server COMMITs is read whole through the
 * other; a rewrite and a rename on one are seen through the other by a fresh LOOKUP/READ. On
 * PostgreSQL, a restart of the database server under both loses nothing: what was committed
 * before is there after, and writing goes on without restarting jfs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateMode, NfsStat3 } from "../../nfs/nfs3/constants.ts";
import { type PostgresServer, startPostgres } from "../harness/postgres.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

/** The cases every engine that several nodes share must pass. */
function closeToOpen(startEngine: () => Promise<{ metaUrl: string; stop(): Promise<void> }>) {
  let stopEngine: (() => Promise<void>) | undefined;
  let volume: TestVolume;
  let one: ServeProcess;
  let two: ServeProcess;

  beforeAll(async () => {
    const engine = await startEngine();
    stopEngine = () => engine.stop();
    volume = await makeVolume({ metaUrl: engine.metaUrl });
    [one, two] = await Promise.all([spawnServe(volume), spawnServe(volume)]);
  });

  afterAll(async () => {
    await Promise.allSettled([one?.stop(), two?.stop()]);
    volume?.[Symbol.dispose]();
    await stopEngine?.();
  });

  test("a file committed through one server is read whole through the other", async () => {
    await using writer = await NfsClient.connect(one.port);
    await using reader = await NfsClient.connect(two.port);
    const rootW = await writer.mount("/");
    const rootR = await reader.mount("/");
    expect(rootR.equals(rootW)).toBe(true); // the same handles on every server of a volume
    const data = crypto.getRandomValues(new Uint8Array((5 << 20) + 77));
    const written = await writer.writeFile(rootW, "shared", data);
    const found = ok(await reader.lookup(rootR, "shared"));
    expect(found.object.equals(written)).toBe(true);
    expect(found.objAttributes?.size).toBe(BigInt(data.byteLength));
    expect((await reader.readFile(found.object)).equals(Buffer.from(data))).toBe(true);
  });

  test("a rewrite and a rename through one server are what the other sees next", async () => {
    await using a = await NfsClient.connect(one.port);
    await using b = await NfsClient.connect(two.port);
    const root = await a.mount("/");
    const fh = await a.writeFile(root, "rewritten", Buffer.from("version one, long enough"));
    expect((await b.readFile(fh)).toString()).toBe("version one, long enough");
    // Rewrite through the other server: truncate, write, commit (what close() does).
    const how = { mode: CreateMode.UNCHECKED, attributes: { size: 0n } } as const;
    ok(await b.create(root, "rewritten", how));
    ok(await b.write(fh, 0, Buffer.from("version two")));
    ok(await b.commit(fh));
    const attr = ok(await a.getattr(fh));
    expect(attr.size).toBe(11n);
    expect((await a.readFile(fh)).toString()).toBe("version two");
    ok(await a.rename(root, "rewritten", root, "renamed"));
    expect((await b.lookup(root, "rewritten")).status).toBe(NfsStat3.NOENT);
    expect(ok(await b.lookup(root, "renamed")).object.equals(fh)).toBe(true);
  });

  test("a rename on one server is seen by a fresh LOOKUP on the other", async () => {
    await using a = await NfsClient.connect(one.port);
    await using b = await NfsClient.connect(two.port);
    const root = await a.mount("/");
    const dir = ok(await a.mkdir(root, "moves")).obj as Buffer;
    const fh = await a.writeFile(dir, "before", Buffer.from("moving content"));
    expect(ok(await b.lookup(dir, "before")).object.equals(fh)).toBe(true);
    ok(await a.rename(dir, "before", root, "after"));
    expect((await b.lookup(dir, "before")).status).toBe(NfsStat3.NOENT);
    const moved = ok(await b.lookup(root, "after"));
    expect(moved.object.equals(fh)).toBe(true);
    expect((await b.readFile(moved.object)).toString()).toBe("moving content");
    const names = (await b.listAll(dir)).map((e) => e.name);
    expect(names).toEqual([".", ".."]);
  });

  test("an overwrite in place (same size) through one server is what the other reads next", async () => {
    await using a = await NfsClient.connect(one.port);
    await using b = await NfsClient.connect(two.port);
    const root = await a.mount("/");
    const fh = await a.writeFile(root, "inplace", Buffer.alloc(100_000, 0x41));
    // Both servers have read the file (their data paths may cache its slices) ...
    expect((await a.readFile(fh)).equals(Buffer.alloc(100_000, 0x41))).toBe(true);
    expect((await b.readFile(fh)).equals(Buffer.alloc(100_000, 0x41))).toBe(true);
    // ... then one overwrites it in place and commits: the other reads the new bytes at once.
    ok(await b.write(fh, 0, Buffer.alloc(100_000, 0x42)));
    ok(await b.commit(fh));
    expect((await a.readFile(fh)).equals(Buffer.alloc(100_000, 0x42))).toBe(true);
    ok(await a.write(fh, 50_000, Buffer.alloc(10, 0x43)));
    ok(await a.commit(fh));
    const back = await b.readFile(fh);
    expect(back.subarray(49_999, 50_011)).toEqual(Buffer.from("BCCCCCCCCCCB"));
  });

  // Read once the servers are up (in a test, after beforeAll).
  return {
    get one() {
      return one;
    },
    get two() {
      return two;
    },
  };
}

describe("on Redis", () => {
  closeToOpen(async () => {
    const redis: RedisServer = await startRedis();
    return { metaUrl: redis.url(1), stop: () => redis.stop() };
  });
});

describe("on PostgreSQL", () => {
  let engine: PostgresServer;
  const servers = closeToOpen(async () => {
    engine = await startPostgres();
    return { metaUrl: await engine.createDatabase("twoservers"), stop: () => engine.stop() };
  });
  test("a PostgreSQL restart under both servers loses nothing, and they go on serving", async () => {
    await using a = await NfsClient.connect(servers.one.port);
    await using b = await NfsClient.connect(servers.two.port);
    const root = await a.mount("/");
    const dir = ok(await a.mkdir(root, "restart")).obj as Buffer;
    const before: Buffer[] = [];
    for (let i = 0; i < 20; i++) {
      before.push(await a.writeFile(dir, `before${i}`, Buffer.from(`content ${i}`)));
    }
    await engine.restart("SIGQUIT", 200); // immediate shutdown: crash recovery at start
    for (let i = 0; i < 20; i++) {
      await b.writeFile(dir, `after${i}`, Buffer.from(`later ${i}`));
    }
    const names = (await a.listAll(dir)).map((e) => e.name).sort();
    const expected = [
      ".",
      "..",
      ...Array.from({ length: 20 }, (_, i) => [`after${i}`, `before${i}`]).flat(),
    ];
    expect(names).toEqual(expected.sort());
    for (const [i, fh] of before.entries()) {
      expect((await b.readFile(fh)).toString()).toBe(`content ${i}`);
    }
  });
});
