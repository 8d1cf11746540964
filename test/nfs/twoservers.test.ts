/**
 * Close-to-open across processes: two `jfs serve --nfs` on one volume (Redis meta, one file
 * bucket both see). What one server COMMITs is read whole through the other; a rewrite and a
 * rename on one are seen through the other by a fresh LOOKUP/READ; libnfs tools agree.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateMode, NfsStat3 } from "../../nfs/nfs3/constants.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

let redis: RedisServer;
let volume: TestVolume;
let one: ServeProcess;
let two: ServeProcess;

beforeAll(async () => {
  redis = await startRedis();
  volume = await makeVolume({ metaUrl: redis.url(1) });
  [one, two] = await Promise.all([spawnServe(volume), spawnServe(volume)]);
});

afterAll(async () => {
  await Promise.allSettled([one?.stop(), two?.stop()]);
  volume?.[Symbol.dispose]();
  await redis?.stop();
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

test("a rewrite through one server is what the other reads next", async () => {
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
