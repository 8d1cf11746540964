/**
 * The Linux kernel's NFSv3 client (in a VM, via shared/tools/nfs-vm) against `jfs serve --nfs`,
 * running the project's POSIX workload (test/posix/workload.sh):
 *
 *   boot 1: mount, write phase; then the host restarts the server on the same port while the
 *           guest keeps its mount, and the guest runs the verify phase through the handles it
 *           already holds (they must survive the restart: no ESTALE, no lost data);
 *   boot 2: a fresh mount of a freshly restarted server, verify phase again.
 *
 * NFSv3 has no extended attributes, so the workload runs with WORKLOAD_XATTRS=0.
 * Skipped on a developer machine without nfs-vm or qemu; in CI (CI=true, which installs qemu
 * in test/run.sh) their absence is a failure, so the kernel client is never silently untested.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NFS_VM, NFS_VM_RUNNABLE } from "../harness/nfsvm.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";

/**
 * The nfs-vm tool lives next to the project (../shared/tools/nfs-vm), or where NFS_VM says;
 * /work/shared is where this workplace keeps it when the checkout is elsewhere (a CI clone).
 */
const WORKLOAD = join(import.meta.dir, "../posix/workload.sh");
const available = NFS_VM_RUNNABLE && existsSync(WORKLOAD);
const required = process.env.CI === "true";
/** The workload's one big file; the fixed files add about 90 MiB. */
const BIG_MIB = 16;
const VM_TIMEOUT_SEC = 900;

let volume: TestVolume;
let share: string;

beforeAll(async () => {
  if (!available && !required) return;
  volume = await makeVolume();
  share = mkdtempSync(join(tmpdir(), "jfs-nfs-vm-"));
});

afterAll(() => {
  // beforeAll may have failed (CI without qemu): clean up what exists.
  (volume as TestVolume | undefined)?.[Symbol.dispose]();
  if ((share as string | undefined) !== undefined) rmSync(share, { recursive: true, force: true });
});

/** Runs one VM against the server on `port`; resolves with its exit code and output. */
async function vm(port: number, command: string) {
  const proc = Bun.spawn(
    [
      NFS_VM,
      "-p",
      String(port),
      "-t",
      String(VM_TIMEOUT_SEC),
      "--share",
      share,
      "--env",
      `WORKLOAD_BIG_MIB=${BIG_MIB}`,
      "--env",
      "WORKLOAD_XATTRS=0",
      command,
    ],
    { stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: `${stdout}\n${stderr}` };
}

async function waitForFile(path: string, alive: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!existsSync(path)) {
    if (!alive()) throw new Error(`the VM ended before ${path} appeared`);
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${path}`);
    await Bun.sleep(100);
  }
}

// Skipped only outside CI on a machine without qemu or nfs-vm; in CI it always runs (and fails
// loudly if they are missing).
test.skipIf(!available && !required)(
  "the kernel client: write, server restart under a live mount, verify; fresh mount, verify",
  async () => {
    let server: ServeProcess = await spawnServe(volume);
    const port = server.port;
    const script = WORKLOAD;
    const guest = [
      "set -e",
      `bash ${script} "$NFS_MNT" write`,
      `touch ${share}/written`,
      `while [ ! -e ${share}/restarted ]; do sleep 0.2; done`,
      `bash ${script} "$NFS_MNT" verify`,
    ].join("\n");
    let vmDone = false;
    const first = vm(port, guest).finally(() => {
      vmDone = true;
    });
    try {
      await waitForFile(join(share, "written"), () => !vmDone, VM_TIMEOUT_SEC * 1000);
      expect(await server.stop("SIGTERM")).toBe(0);
      server = await spawnServe(volume, [], { port });
      writeFileSync(join(share, "restarted"), "");
      const result = await first;
      if (result.code !== 0) console.error(result.output);
      expect(result.code).toBe(0);
      expect(result.output).toContain("workload write: OK");
      expect(result.output).toContain("workload verify: OK");

      expect(await server.stop("SIGTERM")).toBe(0);
      server = await spawnServe(volume);
      const second = await vm(server.port, `bash ${script} "$NFS_MNT" verify`);
      if (second.code !== 0) console.error(second.output);
      expect(second.code).toBe(0);
      expect(second.output).toContain("workload verify: OK");
    } finally {
      await server.stop();
      await first.catch(() => undefined);
    }
  },
  2 * VM_TIMEOUT_SEC * 1000,
);
