/**
 * Power loss, not only kill -9: what fsync acknowledged through a FUSE mount survives a real
 * power cut, for the embedded default volume and for --writeback.
 *
 * jfs runs inside a VM (shared/tools/nfs-vm) with its whole volume (SQLite meta, file bucket,
 * cache dir) on a virtual ext4 disk. Two embedded default volumes (HOME=a, HOME=b), formatted on
 * the host and copied into the disk image with mkfs.ext4 -d:
 *
 *   boot 1: mount a, and b with --writeback; sync (the volumes exist); then powercut.py writes
 *           and fsyncs files through both mounts, logging each acknowledged state to a host
 *           directory; then $NFS_VM_POWER_CUT pulls the plug. The ext4 journal commit interval
 *           and the page cache's background writeback are stretched past the run, so only what
 *           jfs fsynced itself is on the disk.
 *   boot 2: mount a and b, both WITHOUT --writeback; every acknowledged byte reads back
 *           (sha256); unmount (which waits for the uploads of b's staged blocks); jfs fsck is
 *           clean on both (so b's blocks are in its bucket now) and b's staging directory empty.
 *
 * Skipped on a developer machine without nfs-vm or qemu; in CI (CI=true; test/run.sh installs
 * qemu) their absence is a failure.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./harness.ts";

const NFS_VM =
  [
    process.env.NFS_VM,
    join(REPO, "../shared/tools/nfs-vm/nfs-vm"),
    "/work/shared/tools/nfs-vm/nfs-vm",
  ].find((p): p is string => p !== undefined && existsSync(p)) ?? "nfs-vm (not found)";
const PYTHON = "/usr/bin/python3";
const WORKLOAD = join(import.meta.dir, "powercut.py");
const available =
  existsSync(NFS_VM) && existsSync(PYTHON) && Bun.which("qemu-system-x86_64") !== null;
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

/** Guest shell: start `jfs mount` in the background (log in the share) and wait for it. */
function mountLines(jfs: string, home: string, dir: string, log: string, flags = ""): string[] {
  const pid = `PID_${dir.replace(/\W/g, "_")}`;
  return [
    `mkdir -p ${dir}`,
    `HOME=${home} ${jfs} mount ${dir} ${flags} >${log} 2>&1 & ${pid}=$!`,
    `for i in $(seq 1200); do mountpoint -q ${dir} && break; kill -0 $${pid} 2>/dev/null || break; sleep 0.1; done`,
    `mountpoint -q ${dir} || { echo "jfs mount ${dir} failed:"; cat ${log}; exit 1; }`,
  ];
}

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
      await mustRun(["mkfs.ext4", "-q", "-F", "-d", disk, image]);

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
      const manifests = `/mnt/a ${share}/a.acked /mnt/b ${share}/b.acked`;

      const boot1 = [
        "set -e",
        // Nothing reaches the disk unless someone asks: no journal commit every 5 s, no
        // background writeback of dirty pages within the run.
        `mount -o commit=600 /dev/vda ${disk}`,
        "echo 0 > /proc/sys/vm/dirty_writeback_centisecs",
        "echo 360000 > /proc/sys/vm/dirty_expire_centisecs",
        ...mountLines(jfs, a, "/mnt/a", `${share}/a1.log`),
        ...mountLines(jfs, b, "/mnt/b", `${share}/b1.log`, "--writeback"),
        "sync", // the volumes and their sessions are on the disk; from here only fsync counts
        `${PYTHON} ${WORKLOAD} write ${manifests}`,
        "$NFS_VM_POWER_CUT",
      ].join("\n");
      const first = await vm(boot1);
      expect(existsSync(join(share, "a.acked")) && existsSync(join(share, "b.acked"))).toBe(true);
      if (first.code !== 0) console.error(first.output);
      expect(first.code).toBe(0);
      expect(first.output).toContain("write /mnt/a: OK");
      expect(first.output).toContain("write /mnt/b: OK");
      expect(first.output).not.toContain("verify"); // boot 1 ended at the power cut

      const boot2 = [
        "rc=0",
        `mount /dev/vda ${disk}`,
        ...mountLines(jfs, a, "/mnt/a", `${share}/a2.log`),
        ...mountLines(jfs, b, "/mnt/b", `${share}/b2.log`), // no --writeback now
        `${PYTHON} ${WORKLOAD} verify ${manifests} || rc=1`,
        "umount /mnt/a /mnt/b",
        "wait $PID__mnt_a $PID__mnt_b", // b's close waits for its staged uploads
        `HOME=${a} ${jfs} fsck || rc=1`,
        `HOME=${b} ${jfs} fsck || rc=1`,
        `left=$(ls ${b}/.jfs/cache/*/staging | wc -l)`,
        `echo "staged blocks left: $left"`,
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
      expect(second.output).toContain("staged blocks left: 0");
      expect(second.code).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
  3 * VM_TIMEOUT_SEC * 1000,
);
