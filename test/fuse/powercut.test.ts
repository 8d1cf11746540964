/**
 * Power loss, not only kill -9: what fsync acknowledged through a FUSE mount survives a real
 * power cut, for the embedded default volume and for --writeback.
 *
 * jfs runs inside a VM (shared/tools/nfs-vm) with its whole volume (SQLite meta, file bucket,
 * cache dir) on a virtual ext4 disk. Two embedded default volumes (HOME=a, HOME=b), formatted on
 * the host and copied into the disk image with mkfs.ext4 -d:
 *
 *   boot 1: mount a, and b with --writeback; sync (the volumes exist); b's bucket becomes
 *           read-only (a bind mount), as if its store were down, so b's blocks stay staged in its
 *           cache dir instead of being uploaded within a few ms; then powercut.py writes and
 *           fsyncs files through both mounts, creates files and fsyncs their directory (kept
 *           open through the cut), and creates small files and touch-only files closed without
 *           fsync (a FUSE CREATE's commit is made durable by the close: src/fuse/ops_file.ts),
 *           logging each acknowledged state to a host directory; then $NFS_VM_POWER_CUT pulls
 *           the plug. With the close's sync of the create removed, the touched files of the
 *           volume written last were lost (the other one's were synced by the 1 s background
 *           sync before the cut). The ext4 journal commit interval
 *           and the page cache's background writeback are stretched past the run, so only what
 *           jfs fsynced itself is on the disk.
 *   boot 2: mount a and b, both WITHOUT --writeback; every acknowledged byte reads back
 *           (sha256); unmount (which waits for the uploads of b's staged blocks); jfs fsck is
 *           clean on both (so b's blocks are in its bucket now) and b's staging directory empty.
 *
 * Skipped on a developer machine without nfs-vm, qemu or mkfs.ext4; in CI (CI=true; test/run.sh
 * installs qemu and e2fsprogs) their absence is a failure.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NFS_VM, NFS_VM_RUNNABLE } from "../harness/nfsvm.ts";
import { REPO } from "./harness.ts";

const PYTHON = "/usr/bin/python3";
const WORKLOAD = join(import.meta.dir, "powercut.py");
/** mkfs.ext4 lives in /usr/sbin, often not on a user's PATH. */
const MKFS =
  [Bun.which("mkfs.ext4"), "/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"].find(
    (p): p is string => typeof p === "string" && existsSync(p),
  ) ?? "mkfs.ext4";
const available = NFS_VM_RUNNABLE && existsSync(PYTHON) && existsSync(MKFS);
const required = process.env.CI === "true";
const VM_TIMEOUT_SEC = 240;
const DISK_BYTES = 256 * 1024 * 1024;

async function run(argv: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn(argv, {
    env: { ...process.env, ...env },
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, output: `${stdout}\n${stderr}`.trim() };
}

async function mustRun(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await run(argv, env);
  if (result.code !== 0) {
    throw new Error(`${argv.join(" ")} exited ${result.code}:\n${result.output}`);
  }
  return result.output;
}

/** Guest shell: `jfs mount` of the embedded default volume of HOME in the background. */
function startMount(jfs: string, home: string, dir: string, log: string, flags = ""): string[] {
  return [
    `mkdir -p ${dir}`,
    `HOME=${home} ${jfs} mount ${dir} --fuse-threads 1 ${flags} >${log} 2>&1 & ${pidOf(dir)}=$!`,
  ];
}

/** Guest shell: wait until the mount started by startMount is live. */
function awaitMount(dir: string, log: string): string[] {
  return [
    `for i in $(seq 1200); do mountpoint -q ${dir} && break; kill -0 $${pidOf(dir)} 2>/dev/null || break; sleep 0.1; done`,
    `mountpoint -q ${dir} || { echo "jfs mount ${dir} failed:"; cat ${log}; exit 1; }`,
    `echo "t=$SECONDS s: mounted ${dir}"`,
  ];
}

const pidOf = (dir: string) => `PID${dir.replace(/\W/g, "_")}`;

test.skipIf(!available && !required)(
  "fsynced writes survive a power cut: embedded default and --writeback (then resumed without it)",
  async () => {
    const work = mkdtempSync(join(tmpdir(), "jfs-powercut-"));
    try {
      const jfs = join(work, "jfs");
      const disk = join(work, "disk"); // the ext4 disk's mount point in the guest, same path
      const share = join(work, "share");
      const image = join(work, "disk.img");
      mkdirSync(share);
      // A compiled binary starts faster in the emulated guest than bun on the sources.
      await mustRun([
        process.execPath,
        "build",
        "--compile",
        "--outfile",
        jfs,
        join(REPO, "src/main.ts"),
        join(REPO, "src/fuse/worker.ts"),
      ]);
      for (const v of ["a", "b"]) {
        mkdirSync(join(disk, v), { recursive: true });
        await mustRun([jfs, "status"], { HOME: join(disk, v) }); // formats the embedded default
      }
      await mustRun(["truncate", "-s", String(DISK_BYTES), image]);
      await mustRun([MKFS, "-q", "-F", "-d", disk, image]);

      const vm = (script: string) =>
        run([
          NFS_VM,
          "--no-mount",
          "--disk",
          image,
          "--share",
          share,
          "-t",
          String(VM_TIMEOUT_SEC),
          "--",
          script,
        ]);
      const [a, b] = [join(disk, "a"), join(disk, "b")];
      const [ackedA, ackedB] = [`/mnt/a ${share}/a.acked`, `/mnt/b ${share}/b.acked`];

      const boot1 = [
        "set -e",
        // Nothing reaches the disk unless someone asks: no journal commit every 5 s, no
        // background writeback of dirty pages within the run.
        `mkdir -p ${disk} && mount -o commit=600 /dev/vda ${disk}`,
        "echo 0 > /proc/sys/vm/dirty_writeback_centisecs",
        "echo 360000 > /proc/sys/vm/dirty_expire_centisecs",
        ...startMount(jfs, a, "/mnt/a", `${share}/a1.log`),
        ...startMount(jfs, b, "/mnt/b", `${share}/b1.log`, "--writeback"),
        ...awaitMount("/mnt/a", `${share}/a1.log`),
        ...awaitMount("/mnt/b", `${share}/b1.log`),
        "sync", // the volumes and their sessions are on the disk; from here only fsync counts
        `mount --bind ${b}/.jfs/data ${b}/.jfs/data`,
        `mount -o remount,bind,ro ${b}/.jfs/data`,
        // One writer per volume, side by side (a process start costs seconds in the guest).
        `${PYTHON} ${WORKLOAD} write ${ackedA} & WA=$!`,
        `${PYTHON} ${WORKLOAD} write ${ackedB} & WB=$!`,
        "wait $WA && wait $WB",
        'echo "t=$SECONDS s: written"',
        "$NFS_VM_POWER_CUT",
      ].join("\n");
      const first = await vm(boot1);
      if (first.code !== 0) console.error(first.output);
      expect(first.code).toBe(0);
      expect(first.output).toContain("write /mnt/a: OK");
      expect(first.output).toContain("write /mnt/b: OK");
      expect(first.output).not.toContain("verify"); // boot 1 ended at the power cut
      // b's uploads failed: at the cut its blocks were only staged.
      expect(readFileSync(join(share, "b1.log"), "utf8")).toContain("upload of staged block");

      const boot2 = [
        "rc=0",
        `mkdir -p ${disk} && mount /dev/vda ${disk}`,
        ...startMount(jfs, a, "/mnt/a", `${share}/a2.log`),
        ...startMount(jfs, b, "/mnt/b", `${share}/b2.log`), // no --writeback now
        ...awaitMount("/mnt/a", `${share}/a2.log`),
        ...awaitMount("/mnt/b", `${share}/b2.log`),
        `${PYTHON} ${WORKLOAD} verify ${ackedA} & VA=$!`,
        `${PYTHON} ${WORKLOAD} verify ${ackedB} & VB=$!`,
        "wait $VA || rc=1",
        "wait $VB || rc=1",
        "umount /mnt/a /mnt/b",
        `wait $${pidOf("/mnt/a")} $${pidOf("/mnt/b")}`, // b's close waits for its staged uploads
        'echo "t=$SECONDS s: unmounted"',
        `HOME=${a} ${jfs} fsck & FA=$!`,
        `HOME=${b} ${jfs} fsck & FB=$!`,
        "wait $FA || rc=1",
        "wait $FB || rc=1",
        `left=$(ls ${b}/.jfs/cache/*/staging | wc -l)`,
        `echo "t=$SECONDS s: staged blocks left: $left"`,
        '[ "$left" = 0 ] || rc=1',
        "exit $rc",
      ].join("\n");
      const second = await vm(boot2);
      const logs = ["a1", "b1", "a2", "b2"]
        .map((n) => join(share, `${n}.log`))
        .filter(existsSync)
        .map((p) => `--- ${p}\n${readFileSync(p, "utf8")}`);
      if (second.code !== 0) console.error(`${second.output}\n${logs.join("\n")}`);
      expect(second.output).toContain("verify /mnt/a: OK");
      expect(second.output).toContain("verify /mnt/b: OK");
      expect(second.output).toContain(": staged blocks left: 0");
      // Uploaded by the second boot (run without --writeback), not before the cut.
      expect(readFileSync(join(share, "b2.log"), "utf8")).toContain("staged by an earlier run");
      expect(second.code).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
  3 * VM_TIMEOUT_SEC * 1000,
);
