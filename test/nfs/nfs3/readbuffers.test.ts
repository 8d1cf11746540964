/**
 * READ fills recycled buffers (nfs/nfs3/readbuffers.ts): the pool itself, and READ replies that
 * stay right while their buffers go round, many calls in flight on one connection and on several;
 * and READ replies made of views of cached blocks (Vfs.readv), which stay right while they wait
 * to be sent, whatever the cache does meanwhile.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ReadBuffers } from "../../../nfs/nfs3/readbuffers.ts";
import { NFS_IO_BYTES_MAX, NFS_READ_BUFFER_BYTES_MIN } from "../../../src/limits.ts";
import { waitFor } from "../../chunk/harness.ts";
import { makeVolume, startNfs } from "../harness.ts";
import { NfsClient, ok } from "../nfsclient.ts";

describe("ReadBuffers", () => {
  test("small reads get none; big ones reuse what was given back, up to the pooled bound", () => {
    const pool = new ReadBuffers(2);
    expect(pool.take(NFS_READ_BUFFER_BYTES_MIN - 1)).toBeUndefined();
    const a = pool.take(NFS_READ_BUFFER_BYTES_MIN)!;
    const b = pool.take(NFS_IO_BYTES_MAX)!;
    const c = pool.take(NFS_IO_BYTES_MAX)!;
    expect(a.length).toBe(NFS_IO_BYTES_MAX);
    expect(new Set([a, b, c]).size).toBe(3);
    pool.give(a);
    pool.give(b);
    pool.give(c); // beyond the bound: left to the collector
    expect(pool.idleCount).toBe(2);
    const again = [pool.take(NFS_IO_BYTES_MAX), pool.take(NFS_IO_BYTES_MAX)];
    expect(new Set(again)).toEqual(new Set([a, b]));
    expect(pool.idleCount).toBe(0);
    expect(() => pool.give(Buffer.alloc(10))).toThrow();
  });
});

describe("NFS READ with recycled buffers", () => {
  test("replies of many overlapping READs in flight each carry their own range", async () => {
    using volume = await makeVolume();
    await using nfs = await startNfs(volume);
    const content = randomBytes(6 * NFS_IO_BYTES_MAX + 12345);
    const clients = await Promise.all([0, 1, 2].map(() => NfsClient.connect(nfs.port)));
    try {
      const root = await clients[0]!.mount("/");
      const fh = await clients[0]!.writeFile(root, "f", content);
      for (const client of clients) await client.mount("/");
      const ranges: [number, number][] = [];
      for (let i = 0; i < 60; i++) {
        // Aligned and not, whole rtmax and shorter, and past the end (a short last reply).
        const offset = (i * 777_777) % content.length;
        const count = i % 3 === 0 ? NFS_IO_BYTES_MAX : NFS_READ_BUFFER_BYTES_MIN + i * 4099;
        ranges.push([offset, count]);
      }
      for (let round = 0; round < 2; round++) {
        const replies = await Promise.all(
          ranges.map(([offset, count], i) =>
            clients[i % clients.length]!.read(fh, offset, count).then((r) => ok(r, "READ")),
          ),
        );
        replies.forEach((reply, i) => {
          const [offset, count] = ranges[i]!;
          const expected = content.subarray(offset, offset + count);
          expect(reply.count).toBe(expected.length);
          expect(Buffer.compare(reply.data, expected)).toBe(0);
          expect(reply.eof).toBe(offset + count >= content.length);
        });
      }
    } finally {
      for (const client of clients) await client.close();
    }
  });
});

describe("NFS READ zero-copy", () => {
  test("replies queued behind a paused reader keep their block views through eviction and overwrite", async () => {
    // Without checksum trailers a cached block is a whole buffer the pool frees on eviction
    // (with them it is a view the collector frees): the case where a view needs its pin.
    using volume = await makeVolume({ checksum: "none" });
    await using nfs = await startNfs(volume);
    const writer = await NfsClient.connect(nfs.port);
    const reader = await NfsClient.connect(nfs.port);
    try {
      const root = await writer.mount("/");
      const before = randomBytes(6 * NFS_IO_BYTES_MAX + 4321);
      const after = randomBytes(before.length);
      const fh = await writer.writeFile(root, "f", before);
      await reader.mount("/");
      // One full read loads every block into the memory cache: READs below are views of them.
      expect(Buffer.compare(await reader.readFile(fh), before)).toBe(0);
      const pins = nfs.runtime.data.chunks.pins;
      expect(pins.pinnedBytes).toBe(0);
      reader.rpc.pauseReading();
      const ranges: [number, number][] = [];
      for (let i = 0; i < 40; i++) ranges.push([(i * 999_983) % before.length, NFS_IO_BYTES_MAX]);
      const replies = ranges.map(([offset, count]) =>
        reader.read(fh, offset, count).then((r) => ok(r, "READ")),
      );
      // Replies wait behind the paused socket, holding views: now the cache lets go of every
      // block (their memory would be freed, and views of it read as empty) and the file
      // is overwritten.
      await waitFor(() => pins.pinnedBytes > 0);
      nfs.runtime.data.chunks.memCache.clear();
      await writer.writeFile(root, "f", after);
      reader.rpc.resumeReading();
      let old = 0;
      for (const [i, reply] of (await Promise.all(replies)).entries()) {
        const [offset, count] = ranges[i]!;
        const was = before.subarray(offset, offset + count);
        const now = after.subarray(offset, offset + count);
        expect(reply.count).toBe(was.length);
        const isOld = Buffer.compare(reply.data, was) === 0;
        expect(isOld || Buffer.compare(reply.data, now) === 0).toBe(true);
        if (isOld) old++;
      }
      expect(old).toBeGreaterThan(0); // some were in flight across the eviction
      await waitFor(() => pins.pinnedBytes === 0);
    } finally {
      await writer.close();
      await reader.close();
    }
  });
});
