/**
 * A real FUSE mount's /metrics and `jfs stats` on it: FUSE opcodes counted by name after real
 * file I/O through the kernel, the mount's metrics address answered as the xattr
 * user.jfs.metrics of its root (what `jfs stats DIR` reads), `jfs stats --once --json`, and the
 * live view in a real terminal: `jfs stats DIR` running in tmux, its pane captured while files
 * are written, showing rows that grow and count the writes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getXattr } from "../../src/fuse/libc.ts";
import { parseExposition, sumOf } from "../../src/metrics/parse.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  MAIN,
  type Mounted,
  REPO,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
} from "./harness.ts";

const METRICS_LINE = /metrics: serving on http:\/\/([^/\s]+)\/metrics/;
const HAVE_TMUX = Bun.which("tmux") !== null;

let volume: TestVolume;
let mounted: Mounted | undefined;
let quiet: Mounted | undefined;
let mnt: string;
let quietMnt: string;
let address: string;

async function scrape() {
  const response = await fetch(`http://${address}/metrics`);
  return parseExposition(await response.text()).samples;
}

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume("metricsfuse");
  mnt = join(volume.root, "mnt");
  quietMnt = join(volume.root, "quiet");
  mounted = await startMount(volume, mnt, ["--metrics", "127.0.0.1:0"]);
  quiet = await startMount(volume, quietMnt, ["--no-metrics", "--cache-dir", "memory"]);
  const found = METRICS_LINE.exec(await mounted.log())?.[1];
  if (found === undefined) throw new Error(`no metrics line in: ${await mounted.log()}`);
  address = found;
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  for (const m of [mounted, quiet]) {
    if (m) await stopMount(m).catch(() => forceCleanup(m));
  }
  volume?.cleanup();
});

describe.skipIf(!HAVE_FUSE)("metrics of a FUSE mount", () => {
  test("FUSE opcodes and client bytes move after real I/O through the kernel", async () => {
    const before = await scrape();
    const data = Buffer.alloc(1024 * 1024, 3);
    writeFileSync(join(mnt, "a.bin"), data);
    expect(readFileSync(join(mnt, "a.bin")).equals(data)).toBe(true);
    const after = await scrape();
    const grew = (name: string, where: Record<string, string> = {}) =>
      sumOf(after, name, where) - sumOf(before, name, where);
    const ops = "jfs_fuse_op_duration_seconds_count";
    expect(grew(ops, { op: "CREATE" })).toBe(1);
    expect(grew(ops, { op: "WRITE" })).toBeGreaterThan(0);
    expect(grew(ops, { op: "FLUSH" })).toBeGreaterThan(0);
    expect(grew("jfs_fuse_op_duration_seconds_sum", { op: "WRITE" })).toBeGreaterThan(0);
    expect(grew("jfs_written_bytes_total")).toBe(data.length);
    expect(grew("jfs_meta_txn_duration_seconds_count", { kind: "write" })).toBeGreaterThan(0);
    expect(grew("jfs_object_request_bytes_total", { op: "put" })).toBe(data.length);
    // Two mounts of the volume: two live sessions.
    expect(sumOf(after, "jfs_sessions")).toBe(2);
  });

  test("the mount answers its metrics address as the xattr user.jfs.metrics of its root", () => {
    expect(getXattr(mnt, "user.jfs.metrics", 256)?.toString()).toBe(address);
    // Not stored in the volume: the other mount of the same volume has none to answer.
    expect(getXattr(quietMnt, "user.jfs.metrics", 256)).toBeUndefined();
  });

  test("jfs stats DIR --once --json reads the mount it is given", async () => {
    const r = await jfs(["stats", join(mnt, "a.bin"), "--once", "--json", "--interval", "0.3"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const row = JSON.parse(lines[0]!);
    expect(row.address).toBe(address);
    expect(row.frontEnd).toBe("fuse");
    expect(row.sessions).toBe(2);
    expect(row.residentBytes).toBeGreaterThan(0);
  });

  test("jfs stats --once prints the header and one row", async () => {
    const r = await jfs(["stats", "--metrics", address, "--once", "--interval", "0.2"]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/-usage-.*-fuse-.*-meta-.*-cache-.*-object-/);
    expect(lines[1]).toMatch(/cpu.*ops.*lat.*read.*write.*txn.*hit%.*get.*put/);
  });

  test("jfs stats refuses a path on no jfs mount, and a mount without metrics, in one line", async () => {
    const outside = await jfs(["stats", volume.root, "--once"]);
    expect(outside.code).toBe(1);
    expect(outside.stderr.trim().split("\n")).toHaveLength(1);
    expect(outside.stderr).toContain("is not on a jfs FUSE mount");
    const none = await jfs(["stats", quietMnt, "--once"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("serves no metrics");
  });

  test("two mounts with the default address get distinct ports, each its own metrics", async () => {
    const dirs = [join(volume.root, "defaultA"), join(volume.root, "defaultB")];
    const mounts: Mounted[] = [];
    try {
      for (const dir of dirs) mounts.push(await startMount(volume, dir, ["--cache-dir", "memory"]));
      const [a, b] = dirs.map((dir) => getXattr(dir, "user.jfs.metrics", 256)?.toString());
      expect(a).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(b).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(a).not.toBe(b);
      const creates = async (at: string) =>
        sumOf(
          parseExposition(await (await fetch(`http://${at}/metrics`)).text()).samples,
          "jfs_fuse_op_duration_seconds_count",
          { op: "CREATE" },
        );
      const [a0, b0] = [await creates(a!), await creates(b!)];
      writeFileSync(join(dirs[0]!, "only-a.txt"), "a");
      expect(await creates(a!)).toBe(a0 + 1);
      expect(await creates(b!)).toBe(b0);
    } finally {
      for (const m of mounts) await stopMount(m).catch(() => forceCleanup(m));
    }
  });

  test.skipIf(!HAVE_TMUX)(
    "the live view in a terminal updates while files are written",
    async () => {
      // A tmux server of our own (its own socket), stopped by this test only.
      const socket = `jfs-stats-test-${process.pid}`;
      const tmux = (...args: string[]) =>
        Bun.spawnSync(["tmux", "-L", socket, ...args], { cwd: REPO, stderr: "pipe" });
      const command = `bun ${MAIN} stats ${mnt} --interval 0.3`;
      const started = tmux("new-session", "-d", "-x", "150", "-y", "50", command);
      expect(started.exitCode).toBe(0);
      const pane = () => tmux("capture-pane", "-p").stdout.toString();
      const rows = () =>
        pane()
          .split("\n")
          .filter((l) => /^\s*\d+%/.test(l));
      try {
        await waitFor("the first row", () => rows().length >= 1, 20_000);
        expect(pane()).toContain("-fuse-");
        const seen = rows().length;
        // Write while the view runs, until a row counts FUSE ops and client writes.
        const busyRow = (line: string) => {
          const fuse = line.split("|")[1]?.trim().split(/\s+/) ?? [];
          return fuse[0] !== "0" && fuse[3] !== "0";
        };
        let n = 0;
        await waitFor(
          "a row with FUSE writes",
          () => {
            writeFileSync(join(mnt, `live-${n++ % 8}.bin`), Buffer.alloc(256 * 1024, n));
            return rows().slice(seen).some(busyRow);
          },
          30_000,
        );
        expect(rows().length).toBeGreaterThan(seen);
      } finally {
        tmux("kill-server");
      }
    },
  );
});
