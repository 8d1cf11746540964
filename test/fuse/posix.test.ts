/**
 * The POSIX workload (test/posix/workload.sh) through a real FUSE mount of a real volume:
 * write and verify, unmount, mount again, verify again. Then crash recovery: kill -9 of the
 * mount process leaves an ENOTCONN mount point that `jfs umount` (or the next mount) cleans
 * up, and data that was fsync'ed before the kill is there after a new mount.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isStaleMount } from "../../src/fuse/mount.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  isMounted,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
  workload,
} from "./harness.ts";

const BIG_MIB = Number(process.env.WORKLOAD_BIG_MIB ?? 256);

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

if (!HAVE_FUSE) console.warn("test/fuse: skipped, /dev/fuse is absent on this machine");

describe.skipIf(!HAVE_FUSE)("FUSE mount", () => {
  let volume: TestVolume;
  let current: Mounted | undefined;
  let dir: string;

  beforeAll(async () => {
    volume = await createVolume();
    dir = join(volume.root, "mnt");
  });

  afterAll(async () => {
    await forceCleanup(current);
    volume.cleanup();
  });

  test("POSIX workload: write, verify, remount, verify", async () => {
    current = await startMount(volume, dir);
    const written = await workload(dir, "write", BIG_MIB);
    if (written.code !== 0) console.error(written.output, await current.log());
    expect(written.code).toBe(0);
    await stopMount(current);
    expect(isMounted(dir)).toBe(false);

    current = await startMount(volume, dir);
    const verified = await workload(dir, "verify", BIG_MIB);
    if (verified.code !== 0) console.error(verified.output, await current.log());
    expect(verified.code).toBe(0);
    await stopMount(current);
    current = undefined;
  }, 240_000);

  test("kill -9 leaves a stale mount that jfs umount recovers; fsync'ed data survives", async () => {
    current = await startMount(volume, dir);
    const file = join(dir, "durable.bin");
    // The writer keeps its descriptor open while jfs dies: only the fsync made the data durable.
    const writer = Bun.spawn(
      [
        "/usr/bin/python3",
        "-c",
        `
import hashlib, os, random, sys
data = random.Random(99).randbytes(3 * 1024 * 1024 + 17)
fd = os.open(${JSON.stringify(file)}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
os.fsync(fd)
print(hashlib.sha256(data).hexdigest(), flush=True)
sys.stdin.read()
`,
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
    );
    const reader = writer.stdout.getReader();
    const first = await reader.read();
    const digest = new TextDecoder().decode(first.value).trim();
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    current.proc.kill(9);
    await current.proc.exited;
    writer.kill(9);
    await writer.exited;
    expect(isStaleMount(dir)).toBe(true);
    expect(() => readdirSync(dir)).toThrow(/ENOTCONN|not connected/);

    const r = await jfs(["umount", dir]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    await waitFor("the stale mount to go", () => !isMounted(dir) && !isStaleMount(dir));

    current = await startMount(volume, dir);
    expect(sha256(readFileSync(file))).toBe(digest);

    // A second crash; this time the next mount cleans up after it by itself.
    current.proc.kill(9);
    await current.proc.exited;
    expect(isStaleMount(dir)).toBe(true);
    current = await startMount(volume, dir);
    expect(sha256(readFileSync(file))).toBe(digest);
    await stopMount(current);
    current = undefined;
  }, 60_000);
});
