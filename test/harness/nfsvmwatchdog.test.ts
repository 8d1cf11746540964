/**
 * test/harness/nfs-vm-watchdog against a stand-in for nfs-vm that stalls where a guest kernel
 * would (its run directory made, the guest's timings never written): the watchdog stops it and
 * boots again; a boot that gets going is left alone and its status passed through.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const WATCHDOG = join(import.meta.dir, "nfs-vm-watchdog");
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "jfs-watchdog-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A fake nfs-vm whose boots listed in STALLS (1-based) stall; it logs each boot and its end. */
function fakeNfsVm(stalls: number[]): string {
  const path = join(dir, "fake-nfs-vm");
  writeFileSync(
    path,
    `#!/usr/bin/env bash
boot=$(( $(cat ${dir}/boots 2>/dev/null || echo 0) + 1 )); echo $boot > ${dir}/boots
run=$(mktemp -d "$TMPDIR/nfs-vm.XXXXXX")
case " ${stalls.join(" ")} " in
  *" $boot "*)
    sleep 60 &
    trap 'kill $!; echo "boot $boot stopped" >> ${dir}/log; exit 143' TERM
    wait
    exit 1 ;;
esac
echo "init 1.8" > "$run/timings"
echo "ran $* on boot $boot"
exit 7
`,
  );
  chmodSync(path, 0o755);
  return path;
}

function runWatchdog(fake: string, stallSec: number) {
  const done = Bun.spawnSync([WATCHDOG, "-p", "2049", "echo hi"], {
    env: { ...process.env, NFS_VM: fake, JFS_NFS_VM_BOOT_STALL_SEC: String(stallSec) },
    stdin: "ignore",
  });
  const [stdout, stderr, code] = [done.stdout.toString(), done.stderr.toString(), done.exitCode];
  const log = (() => {
    try {
      return readFileSync(join(dir, "log"), "utf8");
    } catch {
      return "";
    }
  })();
  return { stdout, stderr, code, log };
}

test("a boot that stalls is stopped and booted again; the second one's status comes through", () => {
  const { stdout, stderr, code, log } = runWatchdog(fakeNfsVm([1]), 1);
  expect(code).toBe(7);
  expect(stdout).toBe("ran -p 2049 echo hi on boot 2\n");
  expect(stderr).toContain("did not reach its init within 1 s of booting (boot 1 of 2)");
  expect(log).toBe("boot 1 stopped\n");
}, 20_000);

test("a boot that gets going is never stopped, however long it then runs", () => {
  const { stdout, code, log } = runWatchdog(fakeNfsVm([]), 1);
  expect(code).toBe(7);
  expect(stdout).toBe("ran -p 2049 echo hi on boot 1\n");
  expect(log).toBe("");
}, 20_000);

test("when every boot stalls it gives up with nfs-vm's own failure status (125)", () => {
  const { stderr, code, log } = runWatchdog(fakeNfsVm([1, 2]), 1);
  expect(code).toBe(125);
  expect(stderr).toContain("no boot reached the guest's init");
  expect(log).toBe("boot 1 stopped\nboot 2 stopped\n");
}, 20_000);
