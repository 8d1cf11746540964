/**
 * `jfs config` on a volume a running `jfs serve --nfs` serves: the server re-reads the settings
 * (every heartbeat with a short --session-timeout, else FORMAT_RELOAD_MS) and applies the new
 * space and inode quotas and trash days without a restart. A real server child, the settings
 * changed by the real CLI, the calls made by the test RPC client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { CreateMode, NfsStat3, StableHow } from "../../nfs/nfs3/constants.ts";
import { TRASH_INODE } from "../../src/limits.ts";
import { openMeta } from "../../src/meta/index.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { jfs } from "../cli/harness.ts";
import { makeVolume, type ServeProcess, spawnServe, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

const GiB = 1024 ** 3;
/** Far above the 400 ms reload interval of a 2 s session timeout. */
const RELOAD_WAIT_MS = 15_000;
/** Each test waits for at most two reloads. */
const TEST_TIMEOUT_MS = 3 * RELOAD_WAIT_MS;

let volume: TestVolume;
let server: ServeProcess;
let client: NfsClient;
let root: Buffer;

beforeAll(async () => {
  volume = await makeVolume({ trashDays: 1 });
  server = await spawnServe(volume, ["--session-timeout", "2"]);
  client = await NfsClient.connect(server.port);
  root = await client.mount("/");
});

afterAll(async () => {
  await client?.close();
  await server?.stop();
  volume?.[Symbol.dispose]();
});

async function config(...flags: string[]): Promise<void> {
  const r = await jfs(["config", volume.metaUrl, ...flags], { HOME: volume.home });
  expect(`${r.code} ${r.stdout}${r.stderr}`).toContain("changed");
}

/** Polls until the running server shows the new setting in effect. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + RELOAD_WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`the server did not apply ${what}`);
    await Bun.sleep(50);
  }
}

async function create(name: string) {
  const how = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o666 } } as const;
  return client.create(root, name, how);
}

async function newFile(name: string): Promise<Buffer> {
  const fh = ok(await create(name), `CREATE ${name}`).obj;
  if (fh === undefined) throw new Error("CREATE returned no handle");
  return fh;
}

async function fsstat() {
  return ok(await client.fsstat(root), "FSSTAT");
}

/** SETATTR size: charged against the space quota like written bytes, but instant. */
function resize(fh: Buffer, bytes: number) {
  return client.setattr({ object: fh, attributes: { size: BigInt(bytes) }, guard: undefined });
}

/** NFS hides the trash (test/nfs/confine.test.ts): counted through meta, as `jfs restore` would. */
async function trashEntries(): Promise<number> {
  const meta = await openMeta(volume.metaUrl);
  try {
    await meta.load();
    let count = 0;
    for (const hour of await meta.readdir(ROOT_CREDENTIALS, TRASH_INODE, 0, 1000, false)) {
      count += (await meta.readdir(ROOT_CREDENTIALS, hour.inode, 0, 1000, false)).length;
    }
    return count;
  } finally {
    await meta.close();
  }
}

describe("jfs config on a live jfs serve --nfs", () => {
  test(
    "a lowered capacity refuses the next growth with NOSPC; 0 lifts it",
    async () => {
      const big = await newFile("big");
      ok(await resize(big, 2 * GiB), "SETATTR 2 GiB");
      await config("--capacity", "1");
      await until("the capacity", async () => (await fsstat()).tbytes === BigInt(GiB));
      expect((await resize(big, 3 * GiB)).status).toBe(NfsStat3.NOSPC);
      const more = await newFile("more");
      const w = await client.write(more, 0, Buffer.alloc(8192, 7), StableHow.FILE_SYNC);
      expect(w.status).toBe(NfsStat3.NOSPC);
      await config("--capacity", "0");
      await until("unlimited capacity", async () => (await fsstat()).tbytes > BigInt(GiB));
      ok(await resize(big, 3 * GiB), "SETATTR 3 GiB");
      ok(await client.write(more, 0, Buffer.alloc(8192, 7), StableHow.FILE_SYNC), "WRITE");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "a lowered inode quota refuses the next create with NOSPC",
    async () => {
      const stat = await fsstat();
      const used = stat.tfiles - stat.ffiles;
      await config("--inodes", String(used + 1n));
      await until("the inode quota", async () => (await fsstat()).tfiles === used + 1n);
      await newFile("last");
      expect((await create("one-too-many")).status).toBe(NfsStat3.NOSPC);
      await config("--inodes", "0");
      await until("no inode quota", async () => (await fsstat()).tfiles > used + 1n);
      await newFile("one-too-many");
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "trash days 0: the next REMOVE skips the trash",
    async () => {
      await newFile("kept");
      ok(await client.remove(root, "kept"), "REMOVE kept");
      const before = await trashEntries();
      expect(before).toBeGreaterThan(0);
      await config("--trash-days", "0");
      // Until the server applies it, each REMOVE still goes into the trash.
      let deletes = 0;
      await until("trash days 0", async () => {
        const kept = await trashEntries();
        const name = `gone-${deletes++}`;
        await newFile(name);
        ok(await client.remove(root, name), `REMOVE ${name}`);
        return (await trashEntries()) === kept;
      });
      const after = await trashEntries();
      await newFile("gone");
      ok(await client.remove(root, "gone"), "REMOVE gone");
      expect(await trashEntries()).toBe(after);
    },
    TEST_TIMEOUT_MS,
  );
});
