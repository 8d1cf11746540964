/**
 * A Redis EXEC that ran but whose reply was lost: the client cannot tell it from one that never
 * ran, so it commits the slice again. The slice must be in the chunk once, charged once.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openMeta } from "../../src/meta/index.ts";
import { FileType, ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { dataFixture } from "../chunk/harness.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { type RedisFaultProxy, startRedisFaultProxy } from "../harness/redisfault.ts";
import { testFormat } from "./harness.ts";

let redis: RedisServer;
let proxy: RedisFaultProxy;
beforeAll(async () => {
  redis = await startRedis();
  proxy = await startRedisFaultProxy(redis.port);
});
afterAll(async () => {
  await proxy?.stop();
  await redis?.stop();
});

describe("a slice commit whose EXEC reply is lost", () => {
  test("meta.write retried after the lost reply leaves one slice", async () => {
    const meta = await openMeta(proxy.url(4));
    try {
      await meta.destroy();
      await meta.format(testFormat(), false);
      const f = await meta.mknod(ROOT_CREDENTIALS, 1, Buffer.from("f"), FileType.File, 0o644, 0, 0);
      const used = (await meta.counters()).usedSpaceBytes;
      const slice = { id: await meta.newSliceId(), size: 5000, off: 0, len: 5000, pos: 0 };
      proxy.dropNextExecReply();
      await expect(meta.write(f.inode, 0, slice)).rejects.toThrow();
      await proxy.execReplyDropped; // it did run on the server
      const attr = await meta.write(f.inode, 0, slice);
      expect(attr.size).toBe(5000);
      expect(await meta.readChunk(f.inode, 0)).toEqual([slice]);
      expect((await meta.counters()).usedSpaceBytes).toBe(used + 8192);
    } finally {
      await meta.close();
    }
  });

  test("a flush through the writer retries and the data is there once", async () => {
    await using fx = await dataFixture({ metaUrl: proxy.url(5) });
    const ino = await fx.newFile("g");
    const bytes = Buffer.alloc(3000, 7);
    await fx.data.write(ino, 0, bytes);
    proxy.dropNextExecReply();
    await fx.data.flush(ino); // the writer's own retry commits again
    await proxy.execReplyDropped;
    const slices = await fx.meta.readChunk(ino, 0);
    expect(slices.length).toBe(1);
    expect(await fx.data.read(ino, 0, 3000, 3000)).toEqual(bytes);
  });
});
