/**
 * Directory quotas through a real FUSE mount: `jfs quota set` (the real CLI) on a volume that is
 * mounted limits the next write and create below the directory at once (the quota is read in
 * the meta transaction of every write and create, no reload to wait for): a write past the
 * space quota fails with EDQUOT at fsync, a create past the inode quota with EDQUOT, while the
 * rest of the volume stays unlimited. Writes come from python3, as any program's would.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
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

const MiB = 1024 * 1024;
/** Each test runs the CLI a few times (about a second each on a loaded machine). */
const TEST_TIMEOUT_MS = 60_000;

let volume: TestVolume;
let mounted: Mounted | undefined;
let mnt: string;

beforeAll(async () => {
  if (!HAVE_FUSE) return;
  volume = await createVolume("fusequota");
  mnt = join(volume.root, "mnt");
  mounted = await startMount(volume, mnt);
});

afterAll(async () => {
  if (!HAVE_FUSE) return;
  if (mounted) await stopMount(mounted).catch(() => forceCleanup(mounted));
  volume?.cleanup();
});

/** Runs a python3 snippet; prints "ok" or the errno name of the OSError it raised. */
async function py(code: string, ...args: string[]): Promise<string> {
  const script = `import errno, os, sys\ntry:\n${code
    .split("\n")
    .map((l) => `    ${l}`)
    .join(
      "\n",
    )}\n    print("ok")\nexcept OSError as e:\n    print(errno.errorcode.get(e.errno, e.errno))\n`;
  const proc = Bun.spawn(["python3", "-c", script, ...args], { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  await proc.exited;
  expect(err).toBe("");
  return out.trim();
}

/** Writes `mib` MiB to a new file and fsyncs: the data path commits (and is refused) there. */
const WRITE = `fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
try:
    for _ in range(int(sys.argv[2])):
        os.write(fd, b"q" * ${MiB})
    os.fsync(fd)
finally:
    os.close(fd)`;
const CREATE = `os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))`;

/** The size `df` shows for a path (statvfs f_blocks x f_frsize). */
async function dfBytes(path: string): Promise<number> {
  const code = "import os, sys\ns = os.statvfs(sys.argv[1])\nprint(s.f_blocks * s.f_frsize)";
  const proc = Bun.spawn(["python3", "-c", code, path], { stdout: "pipe" });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  return Number(out.trim());
}

async function quota(...args: string[]): Promise<string> {
  const r = await jfs(["quota", ...args.slice(0, 1), volume.metaUrl, ...args.slice(1)]);
  expect(r.stderr.replace(/.*ℹ.*\n/g, "")).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

describe.skipIf(!HAVE_FUSE)("directory quotas on a live FUSE mount", () => {
  test(
    "a write past the space quota gets EDQUOT; outside the directory it goes through",
    async () => {
      mkdirSync(join(mnt, "space"));
      // 0.002 GiB: 2 MiB and a little.
      await quota("set", "--path", "/space", "--capacity", "0.002");
      expect(await py(WRITE, join(mnt, "space", "small"), "1")).toBe("ok");
      expect(await py(WRITE, join(mnt, "space", "big"), "3")).toBe("EDQUOT");
      expect(await py(WRITE, join(mnt, "outside"), "3")).toBe("ok");
      // df in the directory shows the quota; at the root, the (unlimited) volume.
      expect(Math.abs((await dfBytes(join(mnt, "space"))) - 0.002 * 1024 ** 3)).toBeLessThan(4096);
      expect(await dfBytes(mnt)).toBeGreaterThan(1024 ** 4);
      const got = JSON.parse(await quota("get", "--path", "/space", "--json"));
      expect(got.path).toBe("/space");
      expect(got.usedBytes).toBeLessThanOrEqual(got.capacityBytes);
      expect(got.usedBytes).toBeGreaterThanOrEqual(MiB);
      // Deleting the quota lifts it for the running mount at once.
      await quota("delete", "--path", "/space");
      expect(await py(WRITE, join(mnt, "space", "big"), "3")).toBe("ok");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a create past the inode quota gets EDQUOT, and room comes back on unlink",
    async () => {
      mkdirSync(join(mnt, "few"));
      await quota("set", "--path", "/few", "--inodes", "2");
      expect(await py(CREATE, join(mnt, "few", "a"))).toBe("ok");
      expect(await py("os.mkdir(sys.argv[1])", join(mnt, "few", "sub"))).toBe("ok");
      expect(await py(CREATE, join(mnt, "few", "sub", "b"))).toBe("EDQUOT");
      expect(await py("os.symlink('a', sys.argv[1])", join(mnt, "few", "l"))).toBe("EDQUOT");
      expect(await py(CREATE, join(mnt, "c"))).toBe("ok");
      expect(await py("os.unlink(sys.argv[1])", join(mnt, "few", "a"))).toBe("ok");
      expect(await py(CREATE, join(mnt, "few", "sub", "b"))).toBe("ok");
      expect(JSON.parse(await quota("get", "--path", "/few", "--json")).usedInodes).toBe(2);
    },
    TEST_TIMEOUT_MS,
  );
});
