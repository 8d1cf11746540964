import { describe, expect, test } from "bun:test";
import { BufferPool } from "../../src/chunk/buffers.ts";
import { freeBuffer, isWholeBuffer } from "../../src/freebuffer.ts";

describe("buffer lifetimes", () => {
  test("freeing gives the memory back; views of it read as empty, never as reused bytes", () => {
    const buffer = Buffer.alloc(64 * 1024, 7);
    const view = buffer.subarray(10, 20);
    expect(isWholeBuffer(buffer)).toBe(true);
    expect(isWholeBuffer(view)).toBe(false);
    expect(() => freeBuffer(view)).toThrow(/view/);
    freeBuffer(buffer);
    expect(buffer.length).toBe(0);
    expect(view.length).toBe(0);
  });

  test("the last release pools a buffer while there is room, else frees it", () => {
    let room = 8192;
    const pool = new BufferPool([4096], () => room);
    const a = pool.alloc(4096);
    pool.retain(a); // a second owner
    pool.release(a);
    expect(pool.pooledBytes).toBe(0); // still owned
    pool.release(a);
    expect(pool.pooledBytes).toBe(4096);
    expect(pool.alloc(4096)).toBe(a); // reused, with one owner again
    expect(pool.pooledBytes).toBe(0);
    room = 0;
    pool.release(a);
    expect(a.length).toBe(0); // no room: freed
    const odd = pool.alloc(1000); // not a pooled size: freed on release
    pool.release(odd);
    expect(odd.length).toBe(0);
  });

  test("adopted buffers are freed, never pooled; strangers are left alone", () => {
    const pool = new BufferPool([4096], () => 1 << 20);
    const downloaded = Buffer.alloc(4096);
    pool.adopt(downloaded);
    pool.release(downloaded);
    expect(downloaded.length).toBe(0);
    expect(pool.pooledBytes).toBe(0);
    const stranger = Buffer.alloc(4096, 1);
    pool.retain(stranger);
    pool.release(stranger);
    pool.release(stranger);
    expect(stranger.length).toBe(4096);
  });

  test("a download without its checksum trailer is adopted and freed whole; other views are not", () => {
    const pool = new BufferPool([4096], () => 1 << 20);
    const stored = Buffer.alloc(4096 + 4, 3); // block + trailer, as the checksum store reads it
    const block = stored.subarray(0, 4096);
    pool.adopt(block);
    pool.release(block);
    expect(block.length).toBe(0);
    expect(stored.length).toBe(0); // the trailer's memory went with it
    const shared = Buffer.alloc(8192, 4);
    for (const view of [shared.subarray(0, 4096), shared.subarray(1, 8192)]) {
      pool.adopt(view);
      pool.release(view);
    }
    expect(shared.length).toBe(8192); // a view of half a buffer or off its start: left alone
  });

  test("pooled buffers beyond the allowance are freed when memory grows", () => {
    let room = 2 * 4096;
    const pool = new BufferPool([4096, 1024], () => room);
    const pages = [pool.alloc(4096), pool.alloc(4096)];
    for (const page of pages) pool.release(page);
    expect(pool.pooledBytes).toBe(2 * 4096);
    room = 4096;
    pool.alloc(1024); // a size with nothing free: trims first
    expect(pool.pooledBytes).toBe(4096);
    pool.clear();
    expect(pool.pooledBytes).toBe(0);
    expect(pages.every((p) => p.length === 0)).toBe(true);
  });
});
