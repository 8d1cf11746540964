/**
 * One volume, two front ends, as on two machines: Redis meta and one file bucket shared, each
 * jfs process with its own block cache. Two `jfs mount`s: a file written and closed on one is
 * read whole on the other after open; a rename and a delete on one are seen by lookups on the
 * other. Then a mount and a `jfs serve --nfs`: FUSE → nfs-cat and nfs-cp → FUSE, whole.
 *
 * The kernel keeps names for the entry cache timeout (1 s by default): a name already looked up
 * on B may outlive its rename or delete on A by that long, so those checks wait for it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type RedisServer, startRedis } from "../harness/redis.ts";
import { spawnServe } from "../nfs/harness.ts";
import {
  forceCleanup,
  HAVE_FUSE,
  jfs,
  type Mounted,
  startMount,
  stopMount,
  type TestVolume,
  waitFor,
} from "./harness.ts";

const HAVE_LIBNFS = Bun.which("nfs-cat") !== null && Bun.which("nfs-cp") !== null;
/** Longer than the 1 s entry and attribute caches; the waits end as soon as the change shows. */
const CACHE_EXPIRY_WAIT_MS = 5_000;

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
/** Random bytes over more than one 4 MiB block, not a multiple of a page. */
const randomBytes = (size: number) => {
  const data = Buffer.alloc(size);
  for (let at = 0; at < size; at += 65_536) crypto.getRandomValues(data.subarray(at, at + 65_536));
  return data;
};

async function run(args: string[]) {
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout: Buffer.from(stdout), stderr };
}

describe.skipIf(!HAVE_FUSE)("one volume on Redis meta and a shared bucket", () => {
  let redis: RedisServer;
  let root: string;
  let metaUrl: string;
  const mounts: Mounted[] = [];
  /** The volume as front end `name` sees it: same meta URL, its own cache directory. */
  const frontEnd = (name: string): TestVolume => ({
    root,
    metaUrl,
    cacheDir: join(root, `cache-${name}`),
    cleanup: () => undefined,
  });

  beforeAll(async () => {
    redis = await startRedis();
    root = mkdtempSync(join(tmpdir(), "jfs-shared-"));
    metaUrl = redis.url(1);
    const r = await jfs(["format", metaUrl, "shared", "--bucket", join(root, "bucket")]);
    if (r.code !== 0) throw new Error(`jfs format failed: ${r.stderr}`);
  });

  afterAll(async () => {
    for (const m of mounts) await forceCleanup(m);
    await redis?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("two mounts: write+close → open+read whole; rename and delete seen on the other", async () => {
    const a = await startMount(frontEnd("a"), join(root, "a"));
    mounts.push(a);
    const b = await startMount(frontEnd("b"), join(root, "b"));
    mounts.push(b);

    const data = randomBytes(9 * 1024 * 1024 + 123);
    mkdirSync(join(a.dir, "dir"));
    writeFileSync(join(a.dir, "dir/model.bin"), data);
    expect(sha256(readFileSync(join(b.dir, "dir/model.bin")))).toBe(sha256(data));

    // Rewritten shorter on A: B's next open sees the new size and bytes, not its cached pages.
    const small = randomBytes(1000);
    writeFileSync(join(a.dir, "dir/model.bin"), small);
    expect(readFileSync(join(b.dir, "dir/model.bin"))).toEqual(small);

    // Rename on A: a name B never looked up is found at once; the old name goes.
    renameSync(join(a.dir, "dir/model.bin"), join(a.dir, "renamed.bin"));
    expect(statSync(join(b.dir, "renamed.bin")).size).toBe(small.length);
    expect(readFileSync(join(b.dir, "renamed.bin"))).toEqual(small);
    expect(readdirSync(join(b.dir, "dir"))).toEqual([]);
    expect(readdirSync(b.dir).sort()).toEqual(["dir", "renamed.bin"]);
    await waitFor(
      "the old name to go on B",
      () => !existsSync(join(b.dir, "dir/model.bin")),
      CACHE_EXPIRY_WAIT_MS,
    );

    // Delete on A: gone from B's listing at once, and from its lookups within the entry cache.
    unlinkSync(join(a.dir, "renamed.bin"));
    expect(readdirSync(b.dir)).toEqual(["dir"]);
    await waitFor(
      "the deleted file to go on B",
      () => !existsSync(join(b.dir, "renamed.bin")),
      CACHE_EXPIRY_WAIT_MS,
    );
    // And a file written on B is read whole on A (the other direction).
    writeFileSync(join(b.dir, "from-b"), data);
    expect(sha256(readFileSync(join(a.dir, "from-b")))).toBe(sha256(data));
    unlinkSync(join(b.dir, "from-b"));

    await stopMount(a);
    await stopMount(b);
  }, 60_000);

  test.skipIf(!HAVE_LIBNFS)(
    "a mount and jfs serve --nfs: FUSE → nfs-cat, nfs-cp → FUSE",
    async () => {
      const m = await startMount(frontEnd("fuse"), join(root, "fuse"));
      mounts.push(m);
      const home = join(root, "home");
      await using serve = await spawnServe({ metaUrl, home });
      const url = (path: string) =>
        `nfs://127.0.0.1/${path}?nfsport=${serve.port}&mountport=${serve.port}&version=3`;

      const viaFuse = randomBytes(5 * 1024 * 1024 + 7);
      writeFileSync(join(m.dir, "via-fuse.bin"), viaFuse);
      const cat = await run(["nfs-cat", url("/via-fuse.bin")]);
      expect(cat.stderr).toBe("");
      expect(cat.code).toBe(0);
      expect(cat.stdout.length).toBe(viaFuse.length);
      expect(sha256(cat.stdout)).toBe(sha256(viaFuse));

      const viaNfs = randomBytes(6 * 1024 * 1024 + 11);
      const local = join(root, "local.bin");
      writeFileSync(local, viaNfs);
      const cp = await run(["nfs-cp", local, url("/via-nfs.bin")]);
      expect(cp.stderr).toBe("");
      expect(cp.code).toBe(0);
      expect(sha256(readFileSync(join(m.dir, "via-nfs.bin")))).toBe(sha256(viaNfs));

      expect(await serve.stop("SIGTERM")).toBe(0);
      await stopMount(m);
    },
    60_000,
  );
});
