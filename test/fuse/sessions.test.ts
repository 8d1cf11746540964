/**
 * A node that stalls past its session timeout, on two real mounts of one Redis volume: mount A
 * (--session-timeout 1) has two files open, one of them unlinked through mount B. A is stopped
 * with SIGSTOP until B expires its session (deleting the unlinked file, which nothing else
 * holds), then continued. A must notice at its next heartbeat and register a new session; the
 * file still linked reads whole, the deleted one fails with ESTALE instead of zeros or stale
 * bytes. (Trash is off, so the unlink really is the last link.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaseMeta } from "../../src/meta/base.ts";
import { openMeta } from "../../src/meta/index.ts";
import type { SessionInfo } from "../../src/meta/interface.ts";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import {
  forceCleanup,
  HAVE_FUSE,
  IS_ROOT,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
} from "./harness.ts";

const WAIT_MS_MAX = 30_000;

/** Polls an async condition (no fixed sleeps); throws after WAIT_MS_MAX. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

function readAll(fd: number, size: number): Buffer {
  const out = Buffer.alloc(size);
  let at = 0;
  while (at < size) {
    const n = readSync(fd, out, at, size - at, at);
    if (n === 0) break;
    at += n;
  }
  return out.subarray(0, at);
}

describe.skipIf(!HAVE_FUSE || !IS_ROOT)("a mount expired while stopped (SIGSTOP)", () => {
  let redis: RedisServer;
  let root: string;
  let metaUrl: string;
  let observer: BaseMeta;
  const mounts: Mounted[] = [];
  const frontEnd = (name: string): TestVolume => ({
    root,
    metaUrl,
    cacheDir: join(root, `cache-${name}`),
    cleanup: () => undefined,
  });
  /** Sessions as stored, read without a session of our own (this never expires anyone). */
  const sessionsOf = async (pid: number): Promise<SessionInfo[]> =>
    (await observer.listSessions()).filter((s) => s.pid === pid);

  beforeAll(async () => {
    redis = await startRedis();
    root = mkdtempSync(join(tmpdir(), "jfs-sessions-"));
    metaUrl = redis.url(1);
    const bucket = join(root, "bucket");
    const r = await jfs(["format", metaUrl, "stall", "--bucket", bucket, "--trash-days", "0"]);
    if (r.code !== 0) throw new Error(`jfs format failed: ${r.stderr}`);
    observer = await openMeta(metaUrl, { create: false });
  });

  afterAll(async () => {
    for (const m of mounts) {
      m.proc.kill("SIGCONT");
      await forceCleanup(m);
    }
    await observer?.close();
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("registers again on SIGCONT; the kept file reads whole, the deleted one is ESTALE", async () => {
    const a = await startMount(frontEnd("a"), join(root, "a"), ["--session-timeout", "1"]);
    mounts.push(a);
    const b = await startMount(frontEnd("b"), join(root, "b"), ["--session-timeout", "2"]);
    mounts.push(b);
    const kept = Buffer.from("still linked, still here\n".repeat(1000));
    const lost = Buffer.from("deleted while A slept\n".repeat(1000));
    // Written through B, so A has no page cache of them: A's reads go to jfs.
    writeFileSync(join(b.dir, "kept"), kept);
    writeFileSync(join(b.dir, "lost"), lost);
    const keptFd = openSync(join(a.dir, "kept"), "r");
    const lostFd = openSync(join(a.dir, "lost"), "r");
    try {
      unlinkSync(join(b.dir, "lost")); // A holds it open: its data stays
      const [before] = await sessionsOf(a.proc.pid);
      expect(before?.timeoutMs).toBe(1000);

      a.proc.kill("SIGSTOP");
      // B's heartbeats (every 400 ms) expire A once A has been silent for over 1 s.
      await until(
        "B to expire A's session",
        async () => (await sessionsOf(a.proc.pid)).length === 0,
      );
      a.proc.kill("SIGCONT");
      await until("A to register again", async () => (await sessionsOf(a.proc.pid)).length === 1);
      const [after] = await sessionsOf(a.proc.pid);
      expect(after!.sid).not.toBe(before!.sid);
      expect(after!.expiredAt).toBeUndefined();

      expect(readAll(keptFd, kept.length + 10)).toEqual(kept);
      let error: unknown;
      try {
        readAll(lostFd, lost.length);
      } catch (e) {
        error = e;
      }
      expect((error as NodeJS.ErrnoException | undefined)?.code).toBe("ESTALE");
      expect(await a.log()).toContain("was expired by another node");
      // A is alive again: it keeps beating, and B leaves the new session alone.
      await until("A's next heartbeats", async () => {
        const [now] = await sessionsOf(a.proc.pid);
        return now !== undefined && now.heartbeatAt > after!.heartbeatAt + 1500;
      });
      expect((await sessionsOf(a.proc.pid)).map((s) => s.sid)).toEqual([after!.sid]);
    } finally {
      closeSync(keptFd);
      closeSync(lostFd);
    }
    await stopMount(a);
    await stopMount(b);
    mounts.length = 0;
  });
});
