/**
 * Recycled-buffer pools free their idle buffers once they went a period without handing one
 * out (src/idletrim.ts), and keep them while they are in use: the data path's pool
 * (src/chunk/buffers.ts), the NFS server's record pool (src/recycled.ts) and the read
 * spares / READ buffers (src/vfs/spares.ts, nfs/nfs3/readbuffers.ts).
 */
import { describe, expect, test } from "bun:test";
import { ReadBuffers } from "../nfs/nfs3/readbuffers.ts";
import { BufferPool } from "../src/chunk/buffers.ts";
import { IdleTrim } from "../src/idletrim.ts";
import { NFS_IO_BYTES_MAX } from "../src/limits.ts";
import { RecycledBuffers } from "../src/recycled.ts";

/** Long next to the 20 ms between takes, so a loaded machine's timer slack cannot trim early. */
const PERIOD_MS = 300;
const TAKE_EVERY_MS = 20;

describe("IdleTrim", () => {
  test("frees the least a period held; all of it after a period without takes", async () => {
    let held = 0;
    const trims: number[] = [];
    const idle = new IdleTrim(
      () => held,
      (keep) => {
        trims.push(held - keep);
        held = keep;
      },
      PERIOD_MS,
    );
    held = 4;
    idle.holding();
    // One buffer out and back again and again: three of the four were never needed.
    for (let elapsedMs = 0; elapsedMs < PERIOD_MS * 1.5; elapsedMs += TAKE_EVERY_MS) {
      await Bun.sleep(TAKE_EVERY_MS);
      held -= 1;
      idle.taken();
      held += 1;
      idle.holding();
    }
    expect(trims).toEqual([3]);
    expect(held).toBe(1);
    // No takes at all: the last one goes, then no further checks.
    await Bun.sleep(PERIOD_MS * 2.5);
    expect(trims).toEqual([3, 1]);
    expect(held).toBe(0);
    held = 2;
    idle.holding();
    idle.stop();
    await Bun.sleep(PERIOD_MS * 2);
    expect(trims).toEqual([3, 1]);
  });
});

describe("pools free what sat idle", () => {
  test("the data path's pool frees its free buffers, views of them read as empty", async () => {
    const pool = new BufferPool([4096], () => 1 << 20, PERIOD_MS);
    const a = pool.alloc(4096);
    const view = a.subarray(0, 16);
    pool.release(a);
    expect(pool.pooledBytes).toBe(4096);
    await Bun.sleep(PERIOD_MS * 3);
    expect(pool.pooledBytes).toBe(0);
    expect(view.length).toBe(0);
    // Reuse goes on after a trim, and a pool in use keeps its buffer.
    const b = pool.alloc(4096);
    pool.release(b);
    for (let elapsedMs = 0; elapsedMs < PERIOD_MS * 1.5; elapsedMs += TAKE_EVERY_MS) {
      await Bun.sleep(TAKE_EVERY_MS);
      pool.release(pool.alloc(4096));
    }
    expect(pool.pooledBytes).toBe(4096);
    pool.clear();
  });

  test("the NFS record pool and READ buffers free idle ones, and refill after", async () => {
    const records = new RecycledBuffers(64 * 1024, 4, PERIOD_MS);
    const reads = new ReadBuffers(4, PERIOD_MS);
    const record = records.take();
    const reply = reads.take(NFS_IO_BYTES_MAX)!;
    records.give(record);
    reads.give(reply);
    expect([records.idleCount, reads.idleCount]).toEqual([1, 1]);
    await Bun.sleep(PERIOD_MS * 3);
    expect([records.idleCount, reads.idleCount]).toEqual([0, 0]);
    expect([record.length, reply.length]).toEqual([0, 0]); // freed, not left to the collector
    records.give(records.take());
    reads.give(reads.take(NFS_IO_BYTES_MAX)!);
    expect([records.idleCount, reads.idleCount]).toEqual([1, 1]);
    records.clear();
    reads.clear();
  });
});
