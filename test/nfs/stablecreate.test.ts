/**
 * NFS CREATE stays synchronous: RFC 1813 (section 3.3.8) makes a created file stable when the
 * reply is sent, unlike a FUSE CREATE, whose commit waits for the file's close
 * (test/fuse/deferredcreate.test.ts). A real `jfs serve --nfs` child on a SQLite volume, traced
 * with strace: between sending each CREATE and reading its reply, the server synced its WAL.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CreateMode } from "../../nfs/nfs3/constants.ts";
import { HAVE_STRACE, traceSyncs } from "../harness/strace.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

const CREATES = 10;

describe.skipIf(!HAVE_STRACE)("NFS CREATE", () => {
  let volume: TestVolume | undefined;
  let server: ServeProcess | undefined;
  afterAll(async () => {
    await server?.stop();
    volume?.[Symbol.dispose]();
  });

  test("syncs the WAL before each reply", async () => {
    volume = await makeVolume();
    server = await spawnServe(volume);
    await using client = await NfsClient.connect(server.port);
    const root = await client.mount("/");
    const trace = await traceSyncs(server.proc.pid, join(volume.dir, "strace.out"));
    const calls: Array<{ sentMs: number; repliedMs: number }> = [];
    for (let i = 0; i < CREATES; i++) {
      const how = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o644 } } as const;
      const sentMs = Date.now();
      ok(await client.create(root, `f${i}`, how), `CREATE f${i}`);
      calls.push({ sentMs, repliedMs: Date.now() });
    }
    const syncs = (await trace.stop()).filter((c) => c.path.endsWith("-wal"));
    // Date.now() has ms resolution, strace's stamps µs: widen each window by 1 ms.
    const unsynced = calls.filter(
      (c) => !syncs.some((s) => s.atMs >= c.sentMs - 1 && s.atMs <= c.repliedMs + 1),
    );
    expect({ creates: calls.length, unsynced: unsynced.length }).toEqual({
      creates: CREATES,
      unsynced: 0,
    });
  }, 60_000);
});
