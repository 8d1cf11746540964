/**
 * UNSTABLE WRITEs that meta later refuses (ENOSPC on a 100 KiB volume) must not be lost in
 * silence: the next COMMIT of the file fails with NOSPC, and every later COMMIT answers another
 * verifier than the WRITEs got, so each client sends its writes again (RFC 1813 section 3.3.7).
 * A real in-process server on a SQLite volume, through the test RPC client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateMode, NfsStat3 } from "../../nfs/nfs3/constants.ts";
import { startRedis } from "../harness/redis.ts";
import { startRedisFaultProxy } from "../harness/redisfault.ts";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

const KiB = 1024;

let volume: TestVolume;
let nfs: InProcessNfs;
let first: NfsClient;
let second: NfsClient;
let root: Buffer;

beforeAll(async () => {
  volume = await makeVolume({ capacityBytes: 100 * KiB });
  nfs = await startNfs(volume);
  first = await NfsClient.connect(nfs.port);
  second = await NfsClient.connect(nfs.port);
  root = await first.mount("/");
});

afterAll(async () => {
  await first?.close();
  await second?.close();
  await nfs?.stop();
  volume?.[Symbol.dispose]();
});

async function newFile(name: string, client = first, dir = root): Promise<Buffer> {
  const how = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o666 } } as const;
  const fh = ok(await client.create(dir, name, how), `CREATE ${name}`).obj;
  if (fh === undefined) throw new Error("CREATE returned no handle");
  return fh;
}

describe("UNSTABLE writes that meta refuses", () => {
  test("the next COMMIT fails with NOSPC, later ones answer another verifier", async () => {
    const fh = await newFile("one");
    const w1 = ok(await first.write(fh, 0, Buffer.alloc(60 * KiB, 1)), "WRITE 1");
    const w2 = ok(await first.write(fh, 60 * KiB, Buffer.alloc(60 * KiB, 2)), "WRITE 2");
    expect(w2.verf.equals(w1.verf)).toBe(true);
    // The server's data path commits on its own (idle timer, buffer pressure): meta refuses.
    await nfs.runtime.vfs.flushAll();
    const c1 = await first.commit(fh);
    expect(c1.status).toBe(NfsStat3.NOSPC);
    const c2 = ok(await first.commit(fh), "COMMIT 2");
    expect(c2.verf.equals(w1.verf)).toBe(false);
  });

  test("two clients of one file: the one that COMMITs second resends too", async () => {
    const fh = await newFile("two");
    const a = ok(await first.write(fh, 0, Buffer.alloc(80 * KiB, 3)), "WRITE a");
    const b = ok(await second.write(fh, 80 * KiB, Buffer.alloc(40 * KiB, 4)), "WRITE b");
    await nfs.runtime.vfs.flushAll();
    expect((await first.commit(fh)).status).toBe(NfsStat3.NOSPC);
    // The second client's COMMIT succeeds, but not with the verifier its WRITE got.
    const cb = ok(await second.commit(fh), "COMMIT b");
    expect(cb.verf.equals(b.verf)).toBe(false);
    expect(cb.verf.equals(a.verf)).toBe(false);
  });

  test("a refusal found by COMMIT itself fails that COMMIT", async () => {
    const fh = await newFile("three");
    const w = ok(await first.write(fh, 0, Buffer.alloc(200 * KiB, 5)), "WRITE");
    expect((await first.commit(fh)).status).toBe(NfsStat3.NOSPC);
    expect(ok(await first.commit(fh), "COMMIT again").verf.equals(w.verf)).toBe(false);
  });

  test("without refusals the verifier stays the same", async () => {
    const fh = await newFile("small");
    const w = ok(await first.write(fh, 0, Buffer.alloc(4 * KiB, 6)), "WRITE");
    expect(ok(await first.commit(fh), "COMMIT").verf.equals(w.verf)).toBe(true);
  });
});

describe("the meta engine down (Redis, behind a proxy that drops every connection)", () => {
  test("COMMIT fails with IO and the data stays; once Redis is back it commits", async () => {
    await using redis = await startRedis();
    await using proxy = await startRedisFaultProxy(redis.port);
    using vol = await makeVolume({ metaUrl: proxy.url(8) });
    await using server = await startNfs(vol);
    const client = await NfsClient.connect(server.port);
    try {
      const top = await client.mount("/");
      const fh = await newFile("down", client, top);
      const data = Buffer.alloc(64 * KiB, 7);
      const w = ok(await client.write(fh, 0, data), "WRITE");
      proxy.down();
      expect((await client.commit(fh)).status).toBe(NfsStat3.IO);
      proxy.up();
      // Nothing was dropped: the verifier is still the WRITE's, nothing needs resending.
      expect(ok(await client.commit(fh), "COMMIT after").verf.equals(w.verf)).toBe(true);
      expect((await client.readFile(fh)).equals(data)).toBe(true);
    } finally {
      await client.close();
    }
  });
});
