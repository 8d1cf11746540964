/**
 * A FUSE CREATE commits without its own WAL sync (src/fuse/ops_file.ts): the close, fsync or
 * FSYNCDIR that follows makes the new file durable. Counted with strace on a default mount
 * (SQLite, synchronous=FULL): a file created, written and closed costs one WAL sync, the slice
 * commit's, where it cost two; a file only created and closed (touch) still syncs at its close;
 * files created and left open are synced by an fsync of their directory, not before. Every
 * file whose close returned reads back after kill -9 of the mount (the power cut is
 * test/fuse/powercut.test.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { HAVE_STRACE, type SyncCall, traceSyncs } from "../harness/strace.ts";
import {
  createVolume,
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const WRITTEN = 20;
const TOUCHED = 10;
const KEPT_OPEN = 5;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const payload = (i: number) => Buffer.alloc(16 * 1024, `file ${i} `);

/** Runs a python3 workload in `dir`; it prints phase stamps (ms since the epoch) as JSON. */
async function python(dir: string, script: string): Promise<number[]> {
  const proc = Bun.spawn(["python3", "-c", script, dir], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`workload exited ${code}: ${err}`);
  return JSON.parse(out) as number[];
}

const walSyncsBetween = (calls: SyncCall[], fromMs: number, toMs: number) =>
  calls.filter((c) => c.path.endsWith("-wal") && c.atMs >= fromMs && c.atMs <= toMs).length;

describe.skipIf(!HAVE_FUSE || !HAVE_STRACE)("creates made durable by their close", () => {
  const volumes: TestVolume[] = [];
  const mounts: Mounted[] = [];
  afterAll(async () => {
    for (const m of mounts) await forceCleanup(m);
    for (const v of volumes) v.cleanup();
  });

  /** A fresh mount with its inode and entry-sequence batches reserved (durable commits). */
  const mountWarm = async (v: TestVolume, dir: string): Promise<Mounted> => {
    const m = await startMount(v, dir);
    mounts.push(m);
    await writeFile(join(dir, `warm-${Date.now()}`), "");
    return m;
  };

  test("one WAL sync per created file, touched files sync at close, all survive kill -9", async () => {
    const volume = await createVolume();
    volumes.push(volume);
    const dir = join(volume.root, "mnt");
    let current = await mountWarm(volume, dir);
    const trace = await traceSyncs(current.proc.pid, join(volume.root, "strace.out"));
    const [t0, t1, t2] = await python(
      dir,
      `
import json, os, sys, time
d = sys.argv[1]
stamps = [time.time() * 1000]
for i in range(${WRITTEN}):
    fd = os.open(f"{d}/w{i}", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, (f"file {i} " * 3000).encode()[:16384])
    os.close(fd)
stamps.append(time.time() * 1000)
for i in range(${TOUCHED}):
    os.close(os.open(f"{d}/t{i}", os.O_WRONLY | os.O_CREAT, 0o644))
stamps.append(time.time() * 1000)
print(json.dumps(stamps))
`,
    );
    const calls = await trace.stop();
    const written = walSyncsBetween(calls, t0!, t1!);
    const touched = walSyncsBetween(calls, t1!, t2!);
    // Before: the CREATE's commit synced, then the slice commit at close (2 per file). A
    // background sync (DEFERRED_SYNC_DELAY_MS) may add one.
    expect(written).toBeGreaterThanOrEqual(WRITTEN);
    expect(written).toBeLessThanOrEqual(WRITTEN + 1);
    // Nothing to write: the close syncs the create itself (one sync each, but a background
    // sync may have covered one).
    expect(touched).toBeGreaterThanOrEqual(TOUCHED - 1);

    current.proc.kill(9);
    await current.proc.exited;
    expect((await jfs(["umount", dir])).code).toBe(0);
    current = await startMount(volume, dir);
    mounts.push(current);
    for (let i = 0; i < WRITTEN; i++) {
      expect(sha256(await readFile(join(dir, `w${i}`)))).toBe(sha256(payload(i)));
    }
    for (let i = 0; i < TOUCHED; i++) expect((await readFile(join(dir, `t${i}`))).length).toBe(0);
    await stopMount(current);
  }, 120_000);

  test("an fsync of the directory syncs creates no close has synced yet", async () => {
    const volume = await createVolume();
    volumes.push(volume);
    const dir = join(volume.root, "mnt");
    const current = await mountWarm(volume, dir);
    const trace = await traceSyncs(current.proc.pid, join(volume.root, "strace2.out"));
    const [t0, t1, t2] = await python(
      dir,
      `
import json, os, sys, time
d = sys.argv[1]
stamps = [time.time() * 1000]
fds = [os.open(f"{d}/open{i}", os.O_WRONLY | os.O_CREAT, 0o644) for i in range(${KEPT_OPEN})]
stamps.append(time.time() * 1000)
dir_fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
os.fsync(dir_fd)
stamps.append(time.time() * 1000)
print(json.dumps(stamps))
`,
    );
    const calls = await trace.stop();
    // Before, each CREATE synced (5), and FSYNCDIR did nothing. At most one background sync
    // (DEFERRED_SYNC_DELAY_MS) may fall among the creates.
    expect(walSyncsBetween(calls, t0!, t1!)).toBeLessThanOrEqual(1);
    expect(walSyncsBetween(calls, t1!, t2!)).toBeGreaterThanOrEqual(1);
    await stopMount(current);
  }, 120_000);
});
