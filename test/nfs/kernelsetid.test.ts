/**
 * Set-id bits and chown through the Linux kernel's NFSv3 client (a VM, via shared/tools/nfs-vm),
 * with two ordinary users in the guest (setpriv): another user's append drops S_ISUID and
 * S_ISGID; `chown 1000:1000 f` run by another user, which the client sends as a SETATTR of
 * the file's current ids, is refused (EPERM) and leaves the bits; the owner's succeeds and
 * drops them. One boot. Skipped outside CI without nfs-vm or qemu, as test/nfs/kernel.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { NFS_VM, NFS_VM_RUNNABLE } from "../harness/nfsvm.ts";
import { makeVolume, spawnServe, type TestVolume } from "./harness.ts";

const available = NFS_VM_RUNNABLE;
const required = process.env.CI === "true";
const VM_TIMEOUT_SEC = 300;

/** In the guest; each line prints what the test checks. `as UID CMD` runs CMD as that user. */
const GUEST = `
as() { u=$1; shift; setpriv --reuid=$u --regid=$u --clear-groups sh -c "$*"; }
cd "$NFS_MNT/shared"
as 1000 'echo data > f && chmod 6777 f'
echo "created $(stat -c %a f)"
as 1001 'echo more >> f' && echo "append ok" || echo "append failed"
echo "after append $(stat -c %a f) $(stat -c %s f)"
as 1000 'chmod 6777 f'
as 1001 'chown 1000:1000 f' 2>&1 | grep -q 'not permitted' && echo "other chown refused"
echo "after other chown $(stat -c %a f)"
as 1000 'chown 1000:1000 f' && echo "owner chown ok"
echo "after owner chown $(stat -c %a f)"
`;

let volume: TestVolume;

beforeAll(async () => {
  if (!available && !required) return;
  volume = await makeVolume();
  // A directory both users may create in (made as root here: the server may squash root).
  const runtime = await openRuntime(volume.metaUrl, { cacheDir: "memory" }, "setup");
  try {
    await runtime.vfs.mkdir(ROOT_CREDENTIALS, 1, Buffer.from("shared"), 0o777, 0);
  } finally {
    await runtime.close();
  }
});

afterAll(() => {
  (volume as TestVolume | undefined)?.[Symbol.dispose]();
});

test.skipIf(!available && !required)(
  "the kernel client: another user's append drops set-id bits; its chown of the same ids is EPERM",
  async () => {
    await using server = await spawnServe(volume);
    const proc = Bun.spawn(
      [NFS_VM, "-p", String(server.port), "-t", String(VM_TIMEOUT_SEC), "-o", "actimeo=0", GUEST],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (code !== 0) console.error(stdout, stderr);
    const lines = stdout.split("\n").filter((l) => /^(created|append|after|other|owner)/.test(l));
    expect(lines).toEqual([
      "created 6777",
      "append ok",
      "after append 777 10",
      "other chown refused",
      "after other chown 6777",
      "owner chown ok",
      "after owner chown 777",
    ]);
    expect(code).toBe(0);
  },
  2 * VM_TIMEOUT_SEC * 1000,
);
