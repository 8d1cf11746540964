/**
 * `jfs config` on a volume that is mounted: the running mount re-reads the settings (every
 * heartbeat with a short --session-timeout, else FORMAT_RELOAD_MS) and applies the new space
 * and inode quotas and trash days without a restart. Through a real FUSE mount, the settings
 * changed by the real CLI.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  statfsSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
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

const GiB = 1024 ** 3;
/** Far above the 400 ms reload interval of a 2 s session timeout. */
const RELOAD_WAIT_MS = 15_000;
/** Each test waits for at most two reloads. */
const TEST_TIMEOUT_MS = 3 * RELOAD_WAIT_MS;

let volume: TestVolume;
let mounted: Mounted | undefined;
let mnt: string;

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume("liveconfig", { trashDays: 1 });
  mnt = join(volume.root, "mnt");
  // A 2 s session timeout beats (and re-reads the settings) every 400 ms.
  mounted = await startMount(volume, mnt, ["--session-timeout", "2"]);
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  if (mounted) await stopMount(mounted).catch(() => forceCleanup(mounted));
  volume?.cleanup();
});

async function config(...flags: string[]): Promise<void> {
  const r = await jfs(["config", volume.metaUrl, ...flags]);
  expect(`${r.code} ${r.stdout}${r.stderr}`).toContain("changed");
}

/** Polls until the running mount shows the new setting in effect. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + RELOAD_WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the mount did not apply ${what}`);
    await Bun.sleep(50);
  }
}

/** Sets a file's length: charged against the space quota like written bytes, but instant. */
function sized(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  try {
    ftruncateSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}

/** Writes and fsyncs: the data path commits at fsync, where meta's refusal is reported. */
function writeSynced(path: string, bytes: number): void {
  const fd = openSync(path, "w");
  try {
    writeSync(fd, Buffer.alloc(bytes, 7));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function totalBytes(): number {
  const stat = statfsSync(mnt);
  return stat.blocks * stat.bsize;
}

function trashEntries(): number {
  const trash = join(mnt, ".trash");
  return readdirSync(trash).reduce((n, hour) => n + readdirSync(join(trash, hour)).length, 0);
}

describe.skipIf(!HAVE_FUSE)("jfs config on a live FUSE mount", () => {
  test(
    "a lowered capacity refuses the next growth with ENOSPC; 0 lifts it",
    async () => {
      sized(join(mnt, "big"), 2 * GiB);
      await config("--capacity", "1");
      await until("the capacity", () => totalBytes() === GiB);
      expect(() => writeSynced(join(mnt, "more"), 8192)).toThrow(/ENOSPC/);
      expect(() => sized(join(mnt, "big"), 3 * GiB)).toThrow(/ENOSPC/);
      await config("--capacity", "0");
      await until("unlimited capacity", () => totalBytes() > GiB);
      sized(join(mnt, "big"), 3 * GiB);
      writeSynced(join(mnt, "more"), 8192);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a lowered inode quota refuses the next create with ENOSPC",
    async () => {
      const used = statfsSync(mnt).files - statfsSync(mnt).ffree;
      await config("--inodes", String(used + 1));
      await until("the inode quota", () => statfsSync(mnt).files === used + 1);
      writeFileSync(join(mnt, "last"), "");
      expect(() => writeFileSync(join(mnt, "one-too-many"), "")).toThrow(/ENOSPC/);
      await config("--inodes", "0");
      await until("no inode quota", () => statfsSync(mnt).files > used + 1);
      writeFileSync(join(mnt, "one-too-many"), "");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "trash days 0: the next delete skips the trash",
    async () => {
      writeFileSync(join(mnt, "kept"), "a");
      unlinkSync(join(mnt, "kept"));
      const before = trashEntries();
      expect(before).toBeGreaterThan(0);
      await config("--trash-days", "0");
      // Until the mount applies it, each delete still goes into the trash.
      let deletes = 0;
      await until("trash days 0", () => {
        const kept = trashEntries();
        const name = join(mnt, `gone-${deletes++}`);
        writeFileSync(name, "b");
        unlinkSync(name);
        return trashEntries() === kept;
      });
      const after = trashEntries();
      writeFileSync(join(mnt, "gone"), "b");
      unlinkSync(join(mnt, "gone"));
      expect(trashEntries()).toBe(after);
    },
    TEST_TIMEOUT_MS,
  );
});
