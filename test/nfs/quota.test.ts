/**
 * Directory quotas through a running `jfs serve --nfs` on Redis meta: a quota set by the real
 * CLI while the server runs refuses, from the next call on, every WRITE, SETATTR size, CREATE,
 * MKDIR and RENAME that would take the directory past it, with NFS3ERR_DQUOT (69); the rest of
 * the volume stays unlimited. The calls are made by the test RPC client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateMode, NfsStat3, StableHow } from "../../nfs/nfs3/constants.ts";
import { jfs } from "../cli/harness.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

const KiB = 1024;

let redis: RedisServer;
let volume: TestVolume;
let server: ServeProcess;
let client: NfsClient;
let root: Buffer;

beforeAll(async () => {
  redis = await startRedis();
  volume = await makeVolume({ metaUrl: redis.url(1) });
  server = await spawnServe(volume);
  client = await NfsClient.connect(server.port);
  root = await client.mount("/");
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  volume?.[Symbol.dispose]();
  await redis?.stop();
});

async function quota(...args: string[]) {
  const r = await jfs(["quota", args[0]!, volume.metaUrl, ...args.slice(1)], { HOME: volume.home });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function newFile(dir: Buffer, name: string): Promise<Buffer> {
  const how = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o644 } } as const;
  const fh = ok(await client.create(dir, name, how), `CREATE ${name}`).obj;
  if (fh === undefined) throw new Error("CREATE returned no handle");
  return fh;
}

describe("directory quotas on a live jfs serve --nfs (Redis meta)", () => {
  test("WRITE, SETATTR, CREATE, MKDIR and RENAME past a quota get NFS3ERR_DQUOT", async () => {
    const dir = ok(await client.mkdir(root, "q"), "MKDIR q").obj!;
    const inside = await newFile(dir, "f");
    const outside = await newFile(root, "outside");
    ok(await client.write(outside, 0, Buffer.alloc(256 * KiB, 1), StableHow.FILE_SYNC), "WRITE");
    // 0.0001 GiB is 104 KiB (rounded down to whole bytes); 3 inodes.
    await quota("set", "--path", "/q", "--capacity", "0.0001", "--inodes", "3");

    const piece = Buffer.alloc(64 * KiB, 2);
    ok(await client.write(inside, 0, piece, StableHow.FILE_SYNC), "WRITE within the quota");
    const over = await client.write(inside, 64 * KiB, piece, StableHow.FILE_SYNC);
    expect(over.status).toBe(NfsStat3.DQUOT);
    expect(over.status).toBe(69);
    const grow = await client.setattr({
      object: inside,
      attributes: { size: BigInt(1024 * KiB) },
      guard: undefined,
    });
    expect(grow.status).toBe(NfsStat3.DQUOT);
    // The 256 KiB file from outside does not fit either.
    expect((await client.rename(root, "outside", dir, "moved")).status).toBe(NfsStat3.DQUOT);

    ok(await client.mkdir(dir, "sub"), "MKDIR sub");
    await newFile(dir, "third");
    const how = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o644 } } as const;
    expect((await client.create(dir, "fourth", how)).status).toBe(NfsStat3.DQUOT);
    expect((await client.mkdir(dir, "sub2")).status).toBe(NfsStat3.DQUOT);
    // Outside the directory nothing is limited.
    ok(await client.write(outside, 256 * KiB, piece, StableHow.FILE_SYNC), "WRITE outside");
    await newFile(root, "fourth");

    const used = JSON.parse(await quota("get", "--path", "/q", "--json"));
    expect(used).toMatchObject({ path: "/q", usedInodes: 3, usedBytes: 4 * KiB + 64 * KiB });
  }, 60_000);

  // nfs-cp writes UNSTABLE and closes without COMMIT, so it never hears the refusal (jfs
  // refuses buffered data when it commits it, as with ENOSPC): what it copied past the quota
  // must not land, and the usage must stay within the limit.
  test.skipIf(Bun.which("nfs-cp") === null)(
    "libnfs's nfs-cp past a quota: what fits lands, nothing lands past the limit",
    async () => {
      const dir = ok(await client.mkdir(root, "cp"), "MKDIR cp").obj!;
      await quota("set", "--path", "/cp", "--capacity", "0.0005"); // 512 KiB and a little
      const local = mkdtempSync(join(tmpdir(), "jfs-quota-libnfs-"));
      try {
        const url = (path: string) =>
          `nfs://127.0.0.1/${path}?nfsport=${server.port}&mountport=${server.port}&version=3`;
        const copy = async (bytes: number, name: string) => {
          writeFileSync(join(local, name), Buffer.alloc(bytes, 9));
          const proc = Bun.spawn(["nfs-cp", join(local, name), url(`/cp/${name}`)], {
            stdout: "ignore",
            stderr: "pipe",
          });
          const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
          expect(code, err).toBe(0);
          const fh = ok(await client.lookup(dir, name), `LOOKUP ${name}`).object;
          return Number(ok(await client.getattr(fh), "GETATTR").size);
        };
        expect(await copy(256 * KiB, "fits")).toBe(256 * KiB);
        await copy(1024 * KiB, "big");
        // The server commits (and is refused) in the background: wait for that outcome.
        const deadline = Date.now() + 20_000;
        for (;;) {
          const fh = ok(await client.lookup(dir, "big"), "LOOKUP big").object;
          const size = Number(ok(await client.getattr(fh), "GETATTR").size);
          const used = JSON.parse(await quota("get", "--path", "/cp", "--json"));
          expect(used.usedBytes).toBeLessThanOrEqual(used.capacityBytes);
          if (size === 0 && used.usedBytes === 256 * KiB) break;
          if (Date.now() > deadline)
            throw new Error(`big holds ${size} bytes, /cp uses ${used.usedBytes}`);
          await Bun.sleep(100);
        }
      } finally {
        rmSync(local, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
