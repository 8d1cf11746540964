/**
 * READ fills recycled buffers (nfs/nfs3/readbuffers.ts): the pool itself, and READ replies that
 * stay right while their buffers go round, many calls in flight on one connection and on several.
 */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { ReadBuffers } from "../../../nfs/nfs3/readbuffers.ts";
import { NFS_IO_BYTES_MAX, NFS_READ_BUFFER_BYTES_MIN } from "../../../src/limits.ts";
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
