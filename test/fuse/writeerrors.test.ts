/**
 * Through a real FUSE mount of a 100 KiB volume: data meta refuses (ENOSPC) is reported to
 * every descriptor that wrote, at its fsync and at its close, once each. close(2) is called
 * through libc (bun:ffi): fs.closeSync does not report close's errors.
 */

import { dlopen, FFIType, read } from "bun:ffi";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { constants, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const KiB = 1024;
const ENOSPC = 28;

const libc = dlopen("libc.so.6", {
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  __errno_location: { args: [], returns: FFIType.ptr },
}).symbols;

/** close(2): 0, or the errno it failed with. */
function closeErrno(fd: number): number {
  if (libc.close(fd) === 0) return 0;
  const p = libc.__errno_location();
  if (p === null) throw new Error("no errno");
  return read.i32(p, 0);
}

/** fsync(2): 0, or the errno it failed with. */
function fsyncErrno(fd: number): number {
  try {
    fsyncSync(fd);
    return 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOSPC") return ENOSPC;
    throw error;
  }
}

describe.skipIf(!HAVE_FUSE)("FUSE: data meta refuses reaches every descriptor", () => {
  let volume: TestVolume;
  let mount: Mounted | undefined;

  beforeAll(async () => {
    volume = await createVolume("writeerrors", { capacityBytes: 100 * KiB });
    mount = await startMount(volume, join(volume.root, "mnt"));
  });

  afterAll(async () => {
    if (mount !== undefined) await stopMount(mount).catch(() => forceCleanup(mount));
    volume?.cleanup();
  });

  test("fsync and close of each writer fail with ENOSPC, once", () => {
    const path = join(volume.root, "mnt", "big");
    const flags = constants.O_RDWR | constants.O_CREAT;
    const fds = [openSync(path, flags, 0o644), openSync(path, flags), openSync(path, flags)];
    const [a, b, c] = fds as [number, number, number];
    writeSync(a, Buffer.alloc(200 * KiB, 1), 0, 200 * KiB, 0);
    writeSync(b, Buffer.alloc(10, 2), 0, 10, 300 * KiB);
    writeSync(c, Buffer.alloc(10, 3), 0, 10, 400 * KiB);
    expect(fsyncErrno(a)).toBe(ENOSPC);
    expect(fsyncErrno(a)).toBe(0); // heard once
    expect(fsyncErrno(b)).toBe(ENOSPC);
    expect(closeErrno(c)).toBe(ENOSPC); // never fsynced: its close says it
    expect(closeErrno(b)).toBe(0);
    expect(closeErrno(a)).toBe(0);
  });

  test("a writer that only closes hears it at close", () => {
    const path = join(volume.root, "mnt", "closed");
    const flags = constants.O_RDWR | constants.O_CREAT;
    const a = openSync(path, flags, 0o644);
    const b = openSync(path, flags);
    writeSync(a, Buffer.alloc(200 * KiB, 4), 0, 200 * KiB, 0);
    writeSync(b, Buffer.alloc(10, 5), 0, 10, 200 * KiB);
    expect(closeErrno(a)).toBe(ENOSPC);
    expect(closeErrno(b)).toBe(ENOSPC);
  });
});
