/**
 * A file unlinked while open stays readable through its descriptors until the last close, as
 * POSIX requires, whether the volume keeps a trash (the file moves there, which holds its one
 * link) or not (the inode lives on, with no link, while a session has it open). Through real
 * FUSE mounts with no kernel attribute cache, so every fstat is a GETATTR; the page cache is
 * dropped before reading, so every read reaches jfs. After the last close the file is in the
 * trash, or gone. The opener is a python process: every call is the kernel's, not Bun's.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { isFsError } from "../../src/errors.ts";
import { ROOT_INODE } from "../../src/limits.ts";
import { openMeta } from "../../src/meta/index.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

/**
 * argv: the file, the path to unlink it by (the same file, or through another mount), the
 * nlink fstat must show afterwards. Opens it twice, unlinks, then fstat and read through both
 * descriptors, closes one, writes more through the other, and reads that back.
 */
const SCRIPT = `
import os, sys
path, unlink_path, nlink = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = bytes(range(256)) * 4096 * 5 + b"tail"
w = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
ino = os.fstat(w).st_ino
os.write(w, data)
os.fsync(w)
r = os.open(path, os.O_RDONLY)
os.unlink(unlink_path)
assert not os.path.exists(path), "still listed after unlink"
for fd in (w, r):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    st = os.fstat(fd)
    assert st.st_size == len(data), f"fstat size {st.st_size}"
    assert st.st_nlink == nlink, f"fstat nlink {st.st_nlink}"
    assert os.pread(fd, len(data) + 10, 0) == data, "read after unlink"
os.close(r)
os.pwrite(w, b"more", len(data))
os.fsync(w)
os.posix_fadvise(w, 0, 0, os.POSIX_FADV_DONTNEED)
assert os.fstat(w).st_size == len(data) + 4, "fstat after a late write"
assert os.pread(w, len(data) + 4, 0) == data + b"more", "read of the late write"
os.close(w)
print(ino)
`;

async function runScript(path: string, unlinkPath: string, nlink: number) {
  const args = [path, unlinkPath, String(nlink)];
  const proc = Bun.spawn(["/usr/bin/python3", "-c", SCRIPT, ...args], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: stdout + stderr, inode: Number(stdout.trim()) };
}

/** The script's data (256 × 4096 × 5 + "tail") and its late "more". */
const FINAL_SIZE_BYTES = 256 * 4096 * 5 + 4 + 4;
const NO_ATTR_CACHE = ["--attr-cache", "0", "--entry-cache", "0"];

for (const trashDays of [1, 0]) {
  describe.skipIf(!HAVE_FUSE)(`FUSE open-but-unlinked files, --trash-days ${trashDays}`, () => {
    let volume: TestVolume;
    const mounts: Mounted[] = [];
    const nlink = trashDays > 0 ? 1 : 0;

    beforeAll(async () => {
      volume = await createVolume("fuseunlinked", { trashDays });
      mounts.push(await startMount(volume, join(volume.root, "a"), NO_ATTR_CACHE));
      mounts.push(await startMount(volume, join(volume.root, "b"), NO_ATTR_CACHE));
    });

    afterAll(async () => {
      for (const m of mounts) await stopMount(m).catch(() => forceCleanup(m));
      volume.cleanup();
    }, 60_000);

    async function expectOk(path: string, unlinkPath: string) {
      const r = await runScript(path, unlinkPath, nlink);
      if (r.code !== 0) {
        for (const m of mounts) console.error(await m.log());
      }
      expect(r.output.trim()).toMatch(/^\d+$/);
      expect(r.code).toBe(0);
      expect(existsSync(path)).toBe(false);
      await expectAfterLastClose(r.inode);
    }

    /** After the last close the file is in the trash, or gone for good (its data queued). */
    async function expectAfterLastClose(inode: number) {
      const meta = await openMeta(volume.metaUrl);
      try {
        const exists = async () =>
          meta.getattr(ROOT_CREDENTIALS, inode).then(
            () => true,
            (error: unknown) => {
              if (isFsError(error, "ENOENT")) return false;
              throw error;
            },
          );
        if (trashDays > 0) {
          // With the write made after the unlink.
          const attr = await meta.getattr(ROOT_CREDENTIALS, inode);
          expect([attr.parent === ROOT_INODE, attr.size]).toEqual([false, FINAL_SIZE_BYTES]);
          return;
        }
        // The mount drops its open registration a moment after the close (OPEN_LINGER_MS).
        for (let tries = 0; (await exists()) && tries < 500; tries++) await Bun.sleep(20);
        expect(await exists()).toBe(false);
      } finally {
        await meta.close();
      }
    }

    test("unlinked through the same mount: fstat and read work until the last close", async () => {
      const [a] = mounts as [Mounted];
      await expectOk(join(a.dir, "same"), join(a.dir, "same"));
    });

    test("unlinked through another mount (session): the same", async () => {
      const [a, b] = mounts as [Mounted, Mounted];
      await expectOk(join(a.dir, "other"), join(b.dir, "other"));
    });
  });
}
