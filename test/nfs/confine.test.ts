/**
 * Export confinement (nfs/nfs3/scope.ts): handles built by hand for inodes outside the export
 * (the volume root, /.trash, a file elsewhere) are STALE for every procedure; a hard link
 * inside makes a file reachable; the trash is never reachable without --expose-trash, and a
 * file deleted through one server is STALE through another, its content unreadable.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NfsStat3, StableHow } from "../../nfs/nfs3/constants.ts";
import { encodeHandle } from "../../nfs/nfs3/handle.ts";
import { ExportScope } from "../../nfs/nfs3/scope.ts";
import { NFS_SCOPE_CACHE_TTL_MS, ROOT_INODE, TRASH_INODE } from "../../src/limits.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { makeVolume, spawnServe, startNfs, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

let volume: TestVolume;
/** Handles given out by a server of "/" (the same bytes on every server of the volume). */
let secretFile: Buffer;
let linkedFile: Buffer;
let subFile: Buffer;

/** A handle of this volume for any inode, as an attacker builds it (the layout is public). */
function craft(sample: Buffer, inode: number, generation = 1): Buffer {
  return encodeHandle(sample.subarray(4, 20), { inode, generation });
}

beforeAll(async () => {
  volume = await makeVolume({ trashDays: 1 });
  await using nfs = await startNfs(volume);
  await using client = await NfsClient.connect(nfs.port);
  const root = await client.mount("/");
  const sub = ok(await client.mkdir(root, "sub", { mode: 0o777 })).obj as Buffer;
  subFile = await client.writeFile(sub, "inside", Buffer.from("inside content"));
  secretFile = await client.writeFile(root, "secret", Buffer.from("secret content"));
  linkedFile = await client.writeFile(root, "linked", Buffer.from("linked content"));
  ok(await client.link(linkedFile, sub, "link-in-sub"));
  // Something in the trash: deleted files of everyone.
  await client.writeFile(root, "deleted", Buffer.from("deleted content"));
  ok(await client.remove(root, "deleted"));
});

afterAll(() => volume[Symbol.dispose]());

/** GETATTR, READDIRPLUS, READ, WRITE and ACCESS-free LOOKUP of a handle: their statuses. */
async function statusesOf(client: NfsClient, fh: Buffer): Promise<number[]> {
  return [
    (await client.getattr(fh)).status,
    (await client.readdirplus(fh, 0n, 4096)).status,
    (await client.read(fh, 0, 100)).status,
    (await client.write(fh, 0, Buffer.from("x"), StableHow.FILE_SYNC)).status,
    (await client.lookup(fh, "sub")).status,
  ];
}

describe("--export /sub", () => {
  test("handles of the volume root, the trash and a file outside, built by hand, are STALE", async () => {
    await using nfs = await startNfs(volume, { exportPath: "/sub" });
    await using client = await NfsClient.connect(nfs.port);
    const exportRoot = await client.mount("/sub");
    const root = craft(exportRoot, ROOT_INODE);
    const trash = craft(exportRoot, TRASH_INODE);
    const stale = Array(5).fill(NfsStat3.STALE);
    expect(await statusesOf(client, root)).toEqual(stale);
    expect(await statusesOf(client, trash)).toEqual(stale);
    expect(await statusesOf(client, secretFile)).toEqual(stale);
    // Failure bodies carry no attributes of what lies outside.
    expect((await client.getattr(root)).fail).toBeUndefined();
    expect((await client.write(secretFile, 0, Buffer.from("x"))).fail).toEqual({
      before: undefined,
      after: undefined,
    });
    // Nothing was written through those handles.
    await using whole = await startNfs(volume);
    await using check = await NfsClient.connect(whole.port);
    expect((await check.readFile(secretFile)).toString()).toBe("secret content");
    // What lies inside is served.
    expect((await client.readFile(subFile)).toString()).toBe("inside content");
    expect(ok(await client.getattr(exportRoot)).type).toBe(2);
  });

  test("a file with a hard link inside the export is reachable by its handle", async () => {
    await using nfs = await startNfs(volume, { exportPath: "/sub" });
    await using client = await NfsClient.connect(nfs.port);
    await client.mount("/sub");
    expect((await client.readFile(linkedFile)).toString()).toBe("linked content");
  });

  test("a directory moved out of the export takes its handles with it", async () => {
    await using whole = await startNfs(volume);
    await using admin = await NfsClient.connect(whole.port);
    const root = await admin.mount("/");
    const sub = await admin.walk(root, "sub");
    const dir = ok(await admin.mkdir(sub, "leaving")).obj as Buffer;
    const file = await admin.writeFile(dir, "f", Buffer.from("leaving content"));
    await using nfs = await startNfs(volume, { exportPath: "/sub" });
    await using client = await NfsClient.connect(nfs.port);
    await client.mount("/sub");
    expect((await client.readFile(file)).toString()).toBe("leaving content");
    ok(await admin.rename(sub, "leaving", root, "left"));
    // Moved by another server: this one's cache of directories inside lets go within its TTL.
    const deadline = performance.now() + NFS_SCOPE_CACHE_TTL_MS + 5000;
    while ((await client.getattr(file)).status === NfsStat3.OK && performance.now() < deadline) {
      await Bun.sleep(50);
    }
    expect((await client.getattr(file)).status).toBe(NfsStat3.STALE);
    expect((await client.getattr(dir)).status).toBe(NfsStat3.STALE);
  });
});

describe("the cache of directories inside", () => {
  test("stays within its bound; the trash is never in it", async () => {
    await using nfs = await startNfs(volume);
    await using client = await NfsClient.connect(nfs.port);
    const root = await client.mount("/");
    const sub = await client.walk(root, "sub");
    const dirs: Buffer[] = [];
    for (const name of ["c1", "c2", "c3", "c4"]) {
      dirs.push(ok(await client.mkdir(sub, name)).obj as Buffer);
    }
    const { vfs } = nfs.runtime;
    const scope = new ExportScope({
      vfs,
      exportRoot: ROOT_INODE,
      exposeTrash: false,
      cacheEntriesMax: 2,
    });
    for (const fh of dirs) {
      const inode = Number(fh.readBigUInt64BE(20));
      expect(await scope.contains(inode, await vfs.getattr(ROOT_CREDENTIALS, inode))).toBe(true);
      expect(scope.knownDirectories).toBeLessThanOrEqual(2);
    }
    const trashAttr = await vfs.getattr(ROOT_CREDENTIALS, TRASH_INODE);
    expect(await scope.contains(TRASH_INODE, trashAttr)).toBe(false);
  });
});

describe("the trash", () => {
  test("an export of / never reaches it: LOOKUP and MNT are NOENT, its handle STALE", async () => {
    await using nfs = await startNfs(volume);
    await using client = await NfsClient.connect(nfs.port);
    const root = await client.mount("/");
    expect((await client.lookup(root, ".trash")).status).toBe(NfsStat3.NOENT);
    expect((await client.mnt("/.trash")).status).not.toBe(0);
    expect(await statusesOf(client, craft(root, TRASH_INODE))).toEqual(
      Array(5).fill(NfsStat3.STALE),
    );
    const names = (await client.listAll(root)).map((e) => e.name);
    expect(names).not.toContain(".trash");
  });

  test("--expose-trash opens it on an export of /, with the deleted file in it", async () => {
    await using nfs = await startNfs(volume, { policy: { exposeTrash: true } });
    await using client = await NfsClient.connect(nfs.port);
    const root = await client.mount("/");
    const trash = ok(await client.lookup(root, ".trash")).object;
    expect(trash.equals(craft(root, TRASH_INODE))).toBe(true);
    const [hour] = (await client.listAll(trash)).filter((e) => !e.name.startsWith("."));
    expect(hour).toBeDefined();
    const hourDir = await client.walk(trash, hour?.name ?? "");
    const [deleted] = (await client.listAll(hourDir)).filter((e) => e.name.endsWith("deleted"));
    const fh = await client.walk(hourDir, deleted?.name ?? "");
    expect((await client.readFile(fh)).toString()).toBe("deleted content");
  });

  test("--export /.trash needs --expose-trash", async () => {
    await expect(startNfs(volume, { exportPath: "/.trash" })).rejects.toThrow(/--expose-trash/);
  });

  test("a file deleted through one server is STALE through another; its content unreadable", async () => {
    await using one = await spawnServe(volume);
    await using two = await spawnServe(volume);
    await using a = await NfsClient.connect(one.port);
    await using b = await NfsClient.connect(two.port);
    const rootA = await a.mount("/");
    const rootB = await b.mount("/");
    const fh = await a.writeFile(rootA, "doomed", Buffer.from("doomed content"));
    // The second server's client has the handle and has used it (its caches are warm).
    expect((await b.readFile(fh)).toString()).toBe("doomed content");
    expect(ok(await b.lookup(rootB, "doomed")).object.equals(fh)).toBe(true);
    ok(await a.remove(rootA, "doomed"));
    const read = await b.read(fh, 0, 100);
    expect(read.status).toBe(NfsStat3.STALE);
    expect(read.ok).toBeUndefined();
    expect((await b.getattr(fh)).status).toBe(NfsStat3.STALE);
    expect((await b.write(fh, 0, Buffer.from("x"))).status).toBe(NfsStat3.STALE);
  });
});
