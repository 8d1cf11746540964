/**
 * Mount behaviour beyond the workload: close-to-open between two mounts of one volume, the
 * fusermount3 (_FUSE_COMMFD) path, -d/--background, and the one-line errors of bad mount points.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findMount } from "../../src/fuse/mountinfo.ts";
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
} from "./harness.ts";

describe.skipIf(!HAVE_FUSE)("FUSE mounts", () => {
  let volume: TestVolume;
  const mounts: Mounted[] = [];

  beforeAll(async () => {
    volume = await createVolume("fusemounts");
  });

  afterAll(async () => {
    for (const m of mounts) await forceCleanup(m);
    volume.cleanup();
  });

  test("close-to-open: a change made through one mount is read whole through another", async () => {
    const a = await startMount(volume, join(volume.root, "a"));
    mounts.push(a);
    const b = await startMount(volume, join(volume.root, "b"));
    mounts.push(b);
    writeFileSync(join(a.dir, "shared"), "x".repeat(100));
    expect(readFileSync(join(b.dir, "shared"), "utf8")).toBe("x".repeat(100));
    // Within the 1 s attribute cache: B's kernel still believes the file is 100 bytes long.
    writeFileSync(join(a.dir, "shared"), "y".repeat(5000));
    expect(readFileSync(join(b.dir, "shared"), "utf8")).toBe("y".repeat(5000));
    writeFileSync(join(a.dir, "shared"), "z".repeat(10));
    expect(readFileSync(join(b.dir, "shared"), "utf8")).toBe("z".repeat(10));
    await stopMount(a);
    await stopMount(b);
  });

  test("--writeback-cache: small writes buffered by the kernel, pages read through write-only handles", async () => {
    const dir = join(volume.root, "wb");
    const file = join(dir, "small-writes");
    const expected = Buffer.from(
      Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(4, "0")},`).join(""),
    );
    const python = async (script: string) => {
      const proc = Bun.spawn(["/usr/bin/python3", "-c", script]);
      expect(await proc.exited).toBe(0);
    };
    let m = await startMount(volume, dir, ["--writeback-cache"]);
    mounts.push(m);
    await python(`
import os
fd = os.open(${JSON.stringify(file)}, os.O_WRONLY | os.O_CREAT, 0o644)
for i in range(1000):
    os.write(fd, b"%04d," % i)
os.close(fd)
`);
    expect(readFileSync(file)).toEqual(expected);
    await stopMount(m);
    // A new mount has no cached pages: an unaligned write into the middle of a page makes the
    // kernel read that page first, through the write-only handle.
    m = await startMount(volume, dir, ["--writeback-cache"]);
    mounts.push(m);
    await python(`
import os
fd = os.open(${JSON.stringify(file)}, os.O_WRONLY)
os.pwrite(fd, b"MIDDLE", 2001)
os.close(fd)
`);
    Buffer.from("MIDDLE").copy(expected, 2001);
    expect(readFileSync(file)).toEqual(expected);
    await stopMount(m);
    m = await startMount(volume, dir);
    mounts.push(m);
    expect(readFileSync(file)).toEqual(expected);
    await stopMount(m);
  });

  test("mount through fusermount3 (_FUSE_COMMFD), then umount", async () => {
    const dir = join(volume.root, "helper");
    const m = await startMount(volume, dir, [], { JFS_FUSE_HELPER: "fusermount3" });
    mounts.push(m);
    expect(await m.log()).toContain("(fusermount3)");
    writeFileSync(join(dir, "f"), "through the helper");
    expect(readFileSync(join(dir, "f"), "utf8")).toBe("through the helper");
    await stopMount(m);
  });

  test("-d mounts in the background and returns once the mount is live", async () => {
    const dir = join(volume.root, "bg");
    const logPath = join(volume.root, "bg.log");
    const r = await jfs([
      "mount",
      "-d",
      volume.metaUrl,
      dir,
      "--cache-dir",
      volume.cacheDir,
      "--log",
      logPath,
    ]);
    expect(r.code).toBe(0);
    expect(isMounted(dir)).toBe(true);
    const pid = Number(/pid (\d+)/.exec(r.stdout + r.stderr)?.[1]);
    expect(pid).toBeGreaterThan(0);
    writeFileSync(join(dir, "bg"), "daemon");
    expect(readFileSync(join(dir, "bg"), "utf8")).toBe("daemon");
    expect((await jfs(["umount", dir])).code).toBe(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor("the background mount to exit", () => !alive());
    expect(readFileSync(logPath, "utf8")).toContain("unmounted");
  });

  test("bad mount points and umount of what is not mounted are one-line errors", async () => {
    const full = join(volume.root, "full");
    mkdirSync(full, { recursive: true });
    writeFileSync(join(full, "x"), "");
    const notEmpty = await jfs(["mount", volume.metaUrl, full]);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr.trim()).toBe(`jfs: ${full} is not empty: mount on an empty directory`);

    const file = join(full, "x");
    const notDir = await jfs(["mount", volume.metaUrl, file]);
    expect(notDir.code).toBe(1);
    expect(notDir.stderr.trim()).toBe(`jfs: ${file} is not a directory`);

    const notMounted = await jfs(["umount", full]);
    expect(notMounted.code).toBe(1);
    expect(notMounted.stderr.trim()).toBe(`jfs: ${full} is not mounted`);
    expect(findMount(full)).toBeUndefined();
  });
});
