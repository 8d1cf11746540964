/**
 * Set-id bits through a real FUSE mount, with a real unprivileged process (setpriv) as the
 * writer: a write, a truncate, a fallocate or a chown by anyone but root drops S_ISUID, and
 * S_ISGID where Linux does (group-exec set, or the writer outside the file's group). The
 * expected modes are what the local kernel does on tmpfs, checked by hand: 6777 → 777 after
 * any of them. With and without the kernel's writeback cache (which sends its own times).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  IS_ROOT,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const USER = 1000;
const GROUP = 1000;
const OTHER_GROUP = 1001;

/** Runs `sh -c SCRIPT` as uid USER with gid `gid` and no supplementary groups. */
async function asUser(script: string, gid = GROUP) {
  const proc = Bun.spawn(
    ["setpriv", `--reuid=${USER}`, `--regid=${gid}`, "--clear-groups", "sh", "-c", script],
    { stdout: "pipe", stderr: "pipe" },
  );
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  return { code, stderr };
}

const modeOf = (path: string) => (statSync(path).mode & 0o7777).toString(8);

for (const extra of [[], ["--writeback-cache"]]) {
  describe.skipIf(!HAVE_FUSE || !IS_ROOT)(`FUSE set-id bits ${extra.join(" ")}`, () => {
    let volume: TestVolume;
    let m: Mounted | undefined;
    let dir: string;

    beforeAll(async () => {
      volume = await createVolume("fusesetid");
      chmodSync(volume.root, 0o755); // the unprivileged writer must reach the mount point
      m = await startMount(volume, join(volume.root, "mnt"), ["--allow-other", ...extra]);
      dir = m.dir;
      chmodSync(dir, 0o777);
    });

    afterAll(async () => {
      if (m) await stopMount(m).catch(() => forceCleanup(m));
      volume.cleanup();
    }, 60_000);

    function file(name: string, mode: number, uid = 0, gid = 0): string {
      const path = join(dir, name);
      writeFileSync(path, "data\n");
      chownSync(path, uid, gid);
      chmodSync(path, mode);
      expect(modeOf(path)).toBe(mode.toString(8));
      return path;
    }

    test("a non-owner's append succeeds and drops both bits", async () => {
      const path = file("append", 0o6777);
      const r = await asUser(`echo more >> ${path}`);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
      expect(statSync(path).size).toBe(10);
    });

    test("the owner's own write drops them too (it lacks CAP_FSETID)", async () => {
      const path = file("owner-write", 0o6777, USER, GROUP);
      const r = await asUser(`printf x >> ${path}`);
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
    });

    test("setgid without group-exec stays for a writer in the group, goes for one outside", async () => {
      const inGroup = file("sgid-in", 0o2767, USER, GROUP);
      expect((await asUser(`printf x >> ${inGroup}`)).code).toBe(0);
      expect(modeOf(inGroup)).toBe("2767");
      const outside = file("sgid-out", 0o2767, USER, GROUP);
      expect((await asUser(`printf x >> ${outside}`, OTHER_GROUP)).code).toBe(0);
      expect(modeOf(outside)).toBe("767");
    });

    test("a non-owner's truncate drops both bits", async () => {
      const path = file("truncate", 0o6777);
      const r = await asUser(`truncate -s 2 ${path}`);
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
      expect(statSync(path).size).toBe(2);
    });

    test("a non-owner's fallocate drops both bits", async () => {
      const path = file("fallocate", 0o6777);
      const r = await asUser(`fallocate -l 8192 ${path}`);
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
    });

    test("a non-owner's open with O_TRUNC drops both bits", async () => {
      const path = file("otrunc", 0o6777);
      const r = await asUser(`: > ${path}`);
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
      expect(statSync(path).size).toBe(0);
    });

    test("chown by the non-root owner, even to the same ids, drops both bits", async () => {
      const path = file("chown", 0o6777, USER, GROUP);
      const r = await asUser(`chown ${USER}:${GROUP} ${path}`);
      expect(r.code).toBe(0);
      expect(modeOf(path)).toBe("777");
    });

    test("a non-owner with write permission may truncate and touch (the kernel's own times)", async () => {
      const path = file("plain", 0o666);
      expect((await asUser(`truncate -s 1 ${path} && touch ${path}`)).code).toBe(0);
      expect(statSync(path).size).toBe(1);
      expect((await asUser(`touch -d @5 ${path}`)).code).not.toBe(0);
    });

    test("root's write keeps them; root's chown drops setuid and group-exec setgid", async () => {
      const path = file("root", 0o6777, USER, GROUP);
      writeFileSync(path, "by root\n", { flag: "a" });
      expect(modeOf(path)).toBe("6777");
      chownSync(path, 0, 0);
      expect(modeOf(path)).toBe("777");
      const noGroupExec = file("root-sgid", 0o6767, USER, GROUP);
      chownSync(noGroupExec, 0, 0);
      expect(modeOf(noGroupExec)).toBe("2767");
    });
  });
}
