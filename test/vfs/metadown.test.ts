/**
 * The meta engine goes down in the middle of a write: a real redis-server (append-only file,
 * synced at every write) stops right after running the EXEC that commits a slice, before its
 * reply reaches us. Every writer must hear the outage (EIO, not success), the data must stay
 * buffered, and once Redis is back the retried commit lands exactly once.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFsError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS as ctx } from "../../src/meta/interface.ts";
import { JfsVfs } from "../../src/vfs/vfs.ts";
import { dataFixture } from "../chunk/harness.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { startRedisFaultProxy } from "../harness/redisfault.ts";

const KiB = 1024;
const O_RDWR = 2;

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

describe("meta engine down mid-write", () => {
  test("each writer hears EIO; after recovery the data is there, once", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "jfs-redis-aof-"));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let redis: RedisServer = await startRedis({ dataDir });
    cleanups.push(() => redis.stop());
    const proxy = await startRedisFaultProxy(redis.port);
    cleanups.push(() => proxy.stop());
    await using fx = await dataFixture({ metaUrl: proxy.url(7) });
    const vfs = new JfsVfs(fx.meta, fx.data, fx.format);
    cleanups.push(() => vfs.close());

    const a = await vfs.create(ctx, ROOT_INODE, Buffer.from("f"), 0o644, 0, O_RDWR);
    const b = await vfs.open(ctx, a.inode, O_RDWR);
    const bytes = Buffer.alloc(100 * KiB, 9);
    await vfs.write(ctx, a.inode, a.fh, 0, bytes);

    // The commit runs on the server, then the server is gone before it answers.
    proxy.dropNextExecReply({ thenDown: true });
    const first = await vfs.flush(ctx, a.inode, a.fh).catch((e: unknown) => e);
    await proxy.execReplyDropped;
    expect(isFsError(first, "EIO")).toBe(true);
    await redis.stop();
    const second = await vfs.fsync(ctx, a.inode, b.fh, false).catch((e: unknown) => e);
    expect(isFsError(second, "EIO")).toBe(true);
    // Not dropped: still buffered (reads need meta for the slice list, so they fail too).
    expect(fx.data.bufferedEnd(a.inode)).toBe(bytes.length);

    redis = await startRedis({ dataDir, port: redis.port });
    proxy.up();
    await vfs.flush(ctx, a.inode, a.fh);
    await vfs.release(ctx, a.inode, a.fh);
    await vfs.release(ctx, a.inode, b.fh);
    expect((await fx.meta.readChunk(a.inode, 0)).length).toBe(1);
    expect((await fx.meta.getattr(ctx, a.inode)).size).toBe(bytes.length);
    await fx.reopen({ memCacheBytes: 0, cacheDir: "memory" });
    expect(await fx.data.read(a.inode, 0, bytes.length, bytes.length)).toEqual(bytes);
  });
});
