/**
 * Close-to-open across processes on PostgreSQL meta: two `jfs serve --nfs` on one volume (one
 * PostgreSQL database, one file bucket both see), as twoservers.test.ts does on Redis. What one
 * server COMMITs is read whole through the other; a rewrite and a rename are seen through the
 * other by a fresh LOOKUP/READ. A restart of the PostgreSQL server under both loses nothing:
 * what was committed before is there after, and writing goes on without restarting jfs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CreateMode, NfsStat3 } from "../../nfs/nfs3/constants.ts";
import { type PostgresServer, startPostgres } from "../harness/postgres.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

let pg: PostgresServer;
let volume: TestVolume;
let one: ServeProcess;
let two: ServeProcess;

beforeAll(async () => {
  pg = await startPostgres();
  volume = await makeVolume({ metaUrl: await pg.createDatabase("twoservers") });
  [one, two] = await Promise.all([spawnServe(volume), spawnServe(volume)]);
});

afterAll(async () => {
  await Promise.allSettled([one?.stop(), two?.stop()]);
  volume?.[Symbol.dispose]();
  await pg?.stop();
});

test("a file committed through one server is read whole through the other", async () => {
  await using writer = await NfsClient.connect(one.port);
  await using reader = await NfsClient.connect(two.port);
  const rootW = await writer.mount("/");
  const rootR = await reader.mount("/");
  expect(rootR.equals(rootW)).toBe(true);
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
  const how = { mode: CreateMode.UNCHECKED, attributes: { size: 0n } } as const;
  ok(await b.create(root, "rewritten", how));
  ok(await b.write(fh, 0, Buffer.from("version two")));
  ok(await b.commit(fh));
  expect(ok(await a.getattr(fh)).size).toBe(11n);
  expect((await a.readFile(fh)).toString()).toBe("version two");
  ok(await a.rename(root, "rewritten", root, "renamed"));
  expect((await b.lookup(root, "rewritten")).status).toBe(NfsStat3.NOENT);
  expect(ok(await b.lookup(root, "renamed")).object.equals(fh)).toBe(true);
});

test("a PostgreSQL restart under both servers loses nothing, and they go on serving", async () => {
  await using a = await NfsClient.connect(one.port);
  await using b = await NfsClient.connect(two.port);
  const root = await a.mount("/");
  const dir = ok(await a.mkdir(root, "restart")).obj as Buffer;
  const before: Buffer[] = [];
  for (let i = 0; i < 20; i++) {
    before.push(await a.writeFile(dir, `before${i}`, Buffer.from(`content ${i}`)));
  }
  await pg.restart("SIGQUIT", 200); // immediate shutdown: crash recovery at start
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
