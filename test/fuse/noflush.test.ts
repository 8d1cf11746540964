/**
 * FOPEN_NOFLUSH on read-only opens (ops_file.ts, OpState.openFlagsNoFlush): the kernel sends no
 * FLUSH at their close(2), counted on the mount's /metrics. What FLUSH still does must survive:
 * - opens for writing keep FLUSH (their close reports write errors: writeerrors.test.ts);
 * - close drops the process's POSIX locks, which only FLUSH tells a FUSE server. A read lock
 *   taken through a NOFLUSH handle ends with the handle (at RELEASE, while its process lives
 *   on), and later read-only opens of a file locked through this mount get FLUSH again, so
 *   their close drops the lock before it returns.
 * Needs the FUSE protocol 7.35 (Linux 5.16); older kernels do not know the flag and flush.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseExposition, sumOf } from "../../src/metrics/parse.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  REPO,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
} from "./harness.ts";

const PYTHON = "/usr/bin/python3";
const LOCKER = join(REPO, "test/fuse/locker.py");
const METRICS_LINE = /metrics: serving on http:\/\/([^/\s]+)\/metrics/;
const OPS = "jfs_fuse_op_duration_seconds_count";
/** Kernels whose FUSE knows FOPEN_NOFLUSH (5.16+). */
const [KERNEL_MAJOR = 0, KERNEL_MINOR = 0] = (
  Bun.spawnSync(["uname", "-r"])
    .stdout.toString()
    .match(/^(\d+)\.(\d+)/) ?? []
)
  .slice(1)
  .map(Number);
const HAVE_NOFLUSH = KERNEL_MAJOR > 5 || (KERNEL_MAJOR === 5 && KERNEL_MINOR >= 16);

/**
 * A process that holds a read lock through an O_RDONLY descriptor: one line on stdin closes the
 * descriptor (the process lives on, so its exit cannot drop the lock), the next one exits.
 */
const READ_LOCKER = `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 1)
fcntl.lockf(fd, fcntl.LOCK_SH)
print("held", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed", flush=True)
sys.stdin.readline()
`;

let volume: TestVolume;
let mounted: Mounted | undefined;
let mnt: string;
let address: string;

async function flushesAndOpens(): Promise<{ flush: number; open: number }> {
  const samples = parseExposition(await (await fetch(`http://${address}/metrics`)).text()).samples;
  return { flush: sumOf(samples, OPS, { op: "FLUSH" }), open: sumOf(samples, OPS, { op: "OPEN" }) };
}

/** `locker.py try`: a non-blocking exclusive fcntl lock from another process. */
function tryWriteLock(path: string): string {
  const r = Bun.spawnSync([PYTHON, LOCKER, "try", path, "fcntl"]);
  return r.stdout.toString().trim();
}

function readLocker(path: string) {
  const proc = Bun.spawn([PYTHON, "-c", READ_LOCKER, path], { stdin: "pipe", stdout: "pipe" });
  const reader = proc.stdout.getReader();
  let buffered = "";
  const line = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`read locker exited: ${buffered}`);
      buffered += new TextDecoder().decode(value);
    }
    const at = buffered.indexOf("\n");
    const first = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return first;
  };
  const next = () => {
    proc.stdin.write("\n");
    proc.stdin.flush();
  };
  return { proc, line, next };
}

beforeAll(async () => {
  if (!HAVE_FUSE || !HAVE_NOFLUSH) return;
  volume = await createVolume("noflushfuse");
  mnt = join(volume.root, "mnt");
  mounted = await startMount(volume, mnt, ["--metrics", "127.0.0.1:0"]);
  const found = METRICS_LINE.exec(await mounted.log())?.[1];
  if (found === undefined) throw new Error(`no metrics line in: ${await mounted.log()}`);
  address = found;
});

afterAll(async () => {
  if (!HAVE_FUSE || !HAVE_NOFLUSH) return;
  if (mounted) await stopMount(mounted).catch(() => forceCleanup(mounted));
  volume?.cleanup();
});

describe.skipIf(!HAVE_FUSE || !HAVE_NOFLUSH)("FOPEN_NOFLUSH on read-only opens", () => {
  test("read-only opens send no FLUSH at close; opens for writing still do", async () => {
    const path = join(mnt, "plain");
    writeFileSync(path, "some bytes");
    const before = await flushesAndOpens();
    const buf = Buffer.alloc(64);
    for (let i = 0; i < 20; i++) {
      const fd = openSync(path, "r");
      expect(readSync(fd, buf, 0, buf.length, 0)).toBe(10);
      closeSync(fd);
    }
    const afterReads = await flushesAndOpens();
    expect(afterReads.open - before.open).toBe(20);
    expect(afterReads.flush - before.flush).toBe(0);
    for (let i = 0; i < 3; i++) {
      const fd = openSync(path, "r+");
      writeSync(fd, "S", 0);
      closeSync(fd);
    }
    const afterWrites = await flushesAndOpens();
    expect(afterWrites.flush - afterReads.flush).toBe(3);
  });

  test("a read lock taken through a read-only descriptor ends with it", async () => {
    const path = join(mnt, "locked");
    writeFileSync(path, "x");
    // First read-only open of the file: a NOFLUSH handle.
    const first = readLocker(path);
    expect(await first.line()).toBe("held");
    expect(tryWriteLock(path)).toBe("EAGAIN");
    const beforeClose = await flushesAndOpens();
    first.next();
    expect(await first.line()).toBe("closed");
    expect((await flushesAndOpens()).flush).toBe(beforeClose.flush); // no FLUSH came
    // The handle's RELEASE (sent after close returns) drops the lock; its process still runs.
    await waitFor(
      "the read lock to end with its descriptor",
      () => tryWriteLock(path) === "granted",
    );
    first.next();
    expect(await first.proc.exited).toBe(0);

    // Locked through this mount once: read-only opens of it flush again, and close drops
    // the lock before it returns.
    const second = readLocker(path);
    expect(await second.line()).toBe("held");
    expect(tryWriteLock(path)).toBe("EAGAIN");
    const beforeSecondClose = await flushesAndOpens();
    second.next();
    expect(await second.line()).toBe("closed");
    expect((await flushesAndOpens()).flush).toBe(beforeSecondClose.flush + 1);
    expect(tryWriteLock(path)).toBe("granted");
    second.next();
    expect(await second.proc.exited).toBe(0);
  });
});
