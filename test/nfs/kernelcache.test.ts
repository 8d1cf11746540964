/**
 * The Linux kernel's NFSv3 client (a VM, via shared/tools/nfs-vm) keeps a file's page cache
 * across opens on the attributes `jfs serve --nfs` returns, as a FUSE mount does with
 * FOPEN_KEEP_CACHE (issue 12 item 1): close-to-open revalidates at each open with a GETATTR,
 * and the client drops its pages only when mtime, ctime (NFSv3's change attribute) or size
 * differ. Counted in the guest's /proc/self/mountstats (READ operations):
 * - a reopen of an unchanged file sends no READ;
 * - after another node (a second session on the volume, in this process) rewrites it with the
 *   same size and puts its mtime back, so that only ctime tells, the next open reads it
 *   again and gets the new bytes.
 * One boot. Skipped outside CI without nfs-vm or qemu, as test/nfs/kernel.test.ts.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { OpenFlags } from "../../src/posix.ts";
import { openRuntime } from "../../src/volume/runtime.ts";
import { NFS_VM, NFS_VM_RUNNABLE } from "../harness/nfsvm.ts";
import { makeVolume, spawnServe, type TestVolume } from "./harness.ts";

const available = NFS_VM_RUNNABLE;
const required = process.env.CI === "true";
const VM_TIMEOUT_SEC = 300;
/** Several READs' worth (the client reads at most rsize, 1 MiB by default, per READ). */
const FILE_BYTES = 3 * 1024 * 1024 + 321;
/** A fixed mtime, put back after the rewrite (to the nanosecond). */
const FIXED_MTIME = { sec: 1_600_000_000, nsec: 123_456_789 };

/** In the guest: the READ count of the (only) NFS mount, around reads of data.bin. */
const guest = (share: string) => `
set -e
reads() { awk '$1 == "READ:" { print $2; exit }' /proc/self/mountstats; }
f="$NFS_MNT/data.bin"
r0=$(reads)
echo "first $(sha256sum < "$f" | cut -d' ' -f1) $(( $(reads) - r0 ))"
r1=$(reads)
echo "reopen $(sha256sum < "$f" | cut -d' ' -f1) $(( $(reads) - r1 ))"
touch ${share}/read
while [ ! -e ${share}/changed ]; do sleep 0.1; done
r2=$(reads)
echo "changed $(sha256sum < "$f" | cut -d' ' -f1) $(( $(reads) - r2 ))"
`;

let volume: TestVolume;
let share: string;

const bytesOf = (seed: number) => {
  const data = Buffer.alloc(FILE_BYTES);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed * 7 + (i >> 12)) & 0xff;
  return data;
};
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Writes data.bin whole through a session of its own (another node) and sets FIXED_MTIME. */
async function writeAsAnotherNode(data: Buffer, create: boolean): Promise<void> {
  const runtime = await openRuntime(volume.metaUrl, { cacheDir: "memory" }, "other-node");
  const { vfs } = runtime;
  const name = Buffer.from("data.bin");
  try {
    let ino: number;
    let fh: number;
    if (create) {
      const e = await vfs.create(ROOT_CREDENTIALS, 1, name, 0o644, 0, OpenFlags.RDWR);
      ino = e.inode;
      fh = e.fh;
    } else {
      ino = (await vfs.lookup(ROOT_CREDENTIALS, 1, name)).inode;
      fh = (await vfs.open(ROOT_CREDENTIALS, ino, OpenFlags.RDWR)).fh;
    }
    await vfs.write(ROOT_CREDENTIALS, ino, fh, 0, data);
    await vfs.flush(ROOT_CREDENTIALS, ino, fh);
    await vfs.release(ROOT_CREDENTIALS, ino, fh);
    await vfs.setattr(ROOT_CREDENTIALS, ino, { mtime: FIXED_MTIME });
  } finally {
    await runtime.close();
  }
}

beforeAll(async () => {
  if (!available && !required) return;
  volume = await makeVolume();
  share = mkdtempSync(join(tmpdir(), "jfs-nfs-cache-"));
  await writeAsAnotherNode(bytesOf(1), true);
});

afterAll(() => {
  (volume as TestVolume | undefined)?.[Symbol.dispose]();
  if ((share as string | undefined) !== undefined) rmSync(share, { recursive: true, force: true });
});

async function waitForFile(path: string, alive: () => boolean): Promise<void> {
  const deadline = performance.now() + VM_TIMEOUT_SEC * 1000;
  while (!existsSync(path)) {
    if (!alive()) throw new Error(`the VM ended before ${path} appeared`);
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await Bun.sleep(100);
  }
}

test.skipIf(!available && !required)(
  "the kernel client keeps an unchanged file's pages across opens and rereads a changed one",
  async () => {
    await using server = await spawnServe(volume);
    const proc = Bun.spawn(
      [
        NFS_VM,
        "-p",
        String(server.port),
        "-t",
        String(VM_TIMEOUT_SEC),
        "--share",
        share,
        guest(share),
      ],
      { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
    );
    const output = Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    let vmDone = false;
    void proc.exited.then(() => {
      vmDone = true;
    });
    await waitForFile(join(share, "read"), () => !vmDone).catch(async (error) => {
      console.error(await output);
      throw error;
    });
    const changed = bytesOf(2);
    await writeAsAnotherNode(changed, false);
    writeFileSync(join(share, "changed"), "");
    const [stdout, stderr, code] = await output;
    if (code !== 0) console.error(stdout, stderr);
    const lines = stdout.split("\n").filter((l) => /^(first|reopen|changed) /.test(l));
    const [first, reopen, afterChange] = lines.map((l) => l.split(" "));
    expect(first?.[1]).toBe(sha256(bytesOf(1)));
    expect(Number(first?.[2])).toBeGreaterThan(0); // read from the server
    expect(reopen).toEqual(["reopen", sha256(bytesOf(1)), "0"]); // from the page cache
    expect(afterChange?.[1]).toBe(sha256(changed));
    expect(Number(afterChange?.[2])).toBeGreaterThan(0);
    expect(code).toBe(0);
  },
  2 * VM_TIMEOUT_SEC * 1000,
);
