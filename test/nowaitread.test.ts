import { describe, expect, test } from "bun:test";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { preadCached } from "../src/nowaitread.ts";

const MiB = 1024 * 1024;

describe.if(process.platform === "linux")("preadCached (preadv2 RWF_NOWAIT)", () => {
  test("copies what the page cache holds of a file just written, at any offset, up to its end", () => {
    const dir = mkdtempSync(join(tmpdir(), "jfs-nowait-"));
    try {
      const path = join(dir, "f");
      const bytes = Buffer.from(crypto.getRandomValues(new Uint8Array(MiB + 1000)));
      writeFileSync(path, bytes);
      const fd = openSync(path, "r");
      try {
        fsyncSync(fd);
        const whole = Buffer.alloc(MiB);
        expect(preadCached(fd, whole, 0)).toBe(MiB);
        expect(whole.equals(bytes.subarray(0, MiB))).toBe(true);
        // Into a view at an offset of its buffer: the bytes land in the view, not before it.
        const outer = Buffer.alloc(8192, 0xee);
        const view = outer.subarray(4096, 8192);
        expect(preadCached(fd, view, 12345)).toBe(4096);
        expect(view.equals(bytes.subarray(12345, 12345 + 4096))).toBe(true);
        expect(outer.subarray(0, 4096).every((b) => b === 0xee)).toBe(true);
        const tail = Buffer.alloc(4096);
        expect(preadCached(fd, tail, MiB)).toBe(1000); // short: the end of the file
        expect(tail.subarray(0, 1000).equals(bytes.subarray(MiB))).toBe(true);
        expect(preadCached(fd, tail, MiB + 1000)).toBe(0);
        expect(preadCached(fd, Buffer.alloc(0), 0)).toBe(0);
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bad descriptor reads nothing and throws nothing, and later reads still work", () => {
    expect(preadCached(1 << 20, Buffer.alloc(4096), 0)).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "jfs-nowait-"));
    try {
      writeFileSync(join(dir, "f"), "cached");
      const fd = openSync(join(dir, "f"), "r");
      try {
        expect(preadCached(fd, Buffer.alloc(16), 0)).toBe(6);
      } finally {
        closeSync(fd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
