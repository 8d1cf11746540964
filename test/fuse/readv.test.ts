/**
 * FUSE READ replies are views of cached blocks written with the reply header in one writev
 * (src/fuse/ops_file.ts, Vfs.readv): through a real mount, a sparse file whose data crosses
 * block borders and the first chunk border, with a hole and an unaligned end, reads back byte
 * for byte, from a fresh mount (empty page cache) with and without a disk cache, sequentially
 * and at scattered offsets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { CHUNK_BYTES } from "../../src/limits.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const MiB = 1024 * 1024;

// 4 MiB blocks: a 1 MiB READ is one or two views. 64 KiB blocks: it is 16 or more, beyond the
// iovecs of one reply writev, so they are joined into one copy.
for (const blockSizeKiB of [4096, 64]) {
  describe.skipIf(!HAVE_FUSE)(
    `FUSE READ as views of cached blocks (${blockSizeKiB} KiB blocks)`,
    () => {
      let volume: TestVolume;
      let current: Mounted | undefined;
      // [0, 1 MiB + 5) data, a hole, then data across the chunk border up to an unaligned end.
      const head = randomBytes(MiB + 5);
      const tailStart = CHUNK_BYTES - 3 * MiB - 777;
      const tail = randomBytes(7 * MiB + 4321);
      const size = tailStart + tail.length;
      const expected = (offset: number, len: number): Buffer => {
        const out = Buffer.alloc(Math.max(0, Math.min(len, size - offset)));
        if (offset < head.length) head.copy(out, 0, offset, Math.min(head.length, offset + len));
        if (offset + len > tailStart) {
          const from = Math.max(offset, tailStart);
          tail.copy(
            out,
            from - offset,
            from - tailStart,
            Math.min(tail.length, offset + len - tailStart),
          );
        }
        return out;
      };

      beforeAll(async () => {
        volume = await createVolume("fusereadv", { blockSizeKiB });
        const dir = join(volume.root, "mnt");
        current = await startMount(volume, dir);
        const fh = await open(join(dir, "f"), "w");
        await fh.write(head, 0, head.length, 0);
        await fh.write(tail, 0, tail.length, tailStart);
        await fh.close();
        await stopMount(current);
        current = undefined;
      });

      afterAll(async () => {
        await forceCleanup(current);
        volume?.cleanup();
      });

      for (const cache of ["disk", "memory"]) {
        test(`a fresh mount (${cache} cache) reads every byte back`, async () => {
          const dir = join(volume.root, `mnt-${cache}`);
          await forceCleanup(current); // an earlier case that failed left its mount
          current = await startMount(
            volume,
            dir,
            cache === "memory" ? ["--cache-dir", "memory"] : [],
          );
          const fh = await open(join(dir, "f"), "r");
          try {
            // Scattered first (each a READ of its own on an empty page cache), then sequential.
            for (const [offset, len] of [
              [tailStart + 4 * MiB - 3, 2 * MiB],
              [CHUNK_BYTES - 100, 300],
              [MiB - 10, 64 * 1024],
              [size - 1000, 5000],
              [tailStart - 10, 20],
            ] as const) {
              const buf = Buffer.alloc(len);
              const { bytesRead } = await fh.read(buf, 0, len, offset);
              expect(buf.subarray(0, bytesRead).equals(expected(offset, len))).toBe(true);
            }
            for (const from of [0, tailStart - MiB]) {
              const len = size - from;
              const buf = Buffer.alloc(len);
              let done = 0;
              while (done < len) {
                const { bytesRead } = await fh.read(
                  buf,
                  done,
                  Math.min(MiB, len - done),
                  from + done,
                );
                if (bytesRead === 0) break;
                done += bytesRead;
              }
              expect(done).toBe(len);
              expect(buf.equals(expected(from, len))).toBe(true);
            }
          } finally {
            await fh.close();
          }
          await stopMount(current);
          current = undefined;
        }, 60_000);
      }
    },
  );
}
