/**
 * Policy against real servers: --read-only, --allow refusal (MNT3ERR_ACCES, NFS3ERR_ACCES with
 * failure bodies and no attributes), --squash and AUTH_NONE identities, and --export of a
 * subdirectory (which clients cannot climb out of).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MountStat3, mountProgram } from "../../../nfs/mount/mount.ts";
import { resolveExport } from "../../../nfs/mount/path.ts";
import { Access3, CreateMode, NfsStat3, StableHow } from "../../../nfs/nfs3/constants.ts";
import { NfsExport } from "../../../nfs/nfs3/context.ts";
import { nfs3Program } from "../../../nfs/nfs3/program.ts";
import { NfsPolicy, type NfsPolicyOptions } from "../../../nfs/policy.ts";
import { Dispatcher } from "../../../nfs/rpc/dispatcher.ts";
import { RpcServer } from "../../../nfs/rpc/server.ts";
import { ROOT_CREDENTIALS } from "../../../src/meta/interface.ts";
import { openRuntime } from "../../../src/volume/runtime.ts";
import { makeVolume, quietLog, startNfs, TEST_LOOSE_POLICY, type TestVolume } from "../harness.ts";
import { NfsClient, ok } from "../nfsclient.ts";
import { closedAtConnect } from "../rpcclient.ts";

let volume: TestVolume;
let rootFile: Buffer;

beforeAll(async () => {
  volume = await makeVolume();
  // Some content, written through an unrestricted server.
  await using nfs = await startNfs(volume);
  await using client = await NfsClient.connect(nfs.port);
  const root = await client.mount("/");
  rootFile = await client.writeFile(root, "file", Buffer.from("content"));
  const data = ok(await client.mkdir(root, "data", { mode: 0o777 })).obj as Buffer;
  await client.writeFile(data, "inner", Buffer.from("inner content"));
  ok(await client.mkdir(data, "deeper"));
});

afterAll(() => volume[Symbol.dispose]());

describe("--read-only", () => {
  test("every mutation is ROFS with its failure body; reads work; ACCESS grants no writes", async () => {
    await using nfs = await startNfs(volume, { policy: { readOnly: true } });
    await using client = await NfsClient.connect(nfs.port);
    const root = await client.mount("/");
    const file = await client.walk(root, "file");
    expect((await client.readFile(file)).toString()).toBe("content");
    const write = await client.write(file, 0, Buffer.from("x"), StableHow.FILE_SYNC);
    expect(write.status).toBe(NfsStat3.ROFS);
    expect(write.fail).toEqual({ before: undefined, after: undefined });
    const statuses = await Promise.all([
      client.create(root, "new"),
      client.mkdir(root, "newdir"),
      client.symlink(root, "ln", "x"),
      client.remove(root, "file"),
      client.rmdir(root, "data"),
      client.rename(root, "file", root, "renamed"),
      client.link(file, root, "hard"),
      client.setattr({ object: file, attributes: { mode: 0o600 }, guard: undefined }),
      client.mknod({
        where: { dir: root, name: Buffer.from("p") },
        type: 7,
        attributes: {},
        spec: { major: 0, minor: 0 },
      }),
    ]);
    expect(statuses.map((res) => res.status)).toEqual(Array(9).fill(NfsStat3.ROFS));
    const access = ok(await client.access(file, Access3.READ | Access3.MODIFY | Access3.EXTEND));
    expect(access.access).toBe(Access3.READ);
    expect(ok(await client.commit(file)).verf.byteLength).toBe(8);
    expect((await client.lookup(root, "file")).ok?.object.equals(file)).toBe(true);
  });
});

/**
 * The NFS programs behind an RPC server without the accept-time check, to reach the per-call
 * one (which stays: a policy is checked at accept and again at every call).
 */
async function perCallOnlyServer(policyOptions: NfsPolicyOptions) {
  const runtime = await openRuntime(volume.metaUrl, { cacheDir: "memory" }, "nfs-test");
  const root = await resolveExport(runtime.vfs, ROOT_CREDENTIALS, "/");
  const exp = new NfsExport({
    vfs: runtime.vfs,
    policy: new NfsPolicy({ ...TEST_LOOSE_POLICY, ...policyOptions }),
    exportPath: root.path,
    exportRoot: root.inode,
  });
  const dispatcher = new Dispatcher({ log: quietLog });
  dispatcher.register(mountProgram(exp));
  dispatcher.register(nfs3Program(exp, quietLog));
  const rpc = RpcServer.listen({ dispatcher, log: quietLog });
  return {
    port: rpc.port,
    [Symbol.asyncDispose]: async () => {
      await rpc.stop();
      await runtime.close();
    },
  };
}

describe("--allow", () => {
  test("a client outside the list is closed when it connects", async () => {
    await using nfs = await startNfs(volume, { policy: { allow: ["10.0.0.0/8", "::1"] } });
    expect(await closedAtConnect(nfs.port, 10_000)).toBe(true);
  });

  test("per call too: MNT3ERR_ACCES, NFS3ERR_ACCES everywhere, NULL still answers", async () => {
    await using nfs = await perCallOnlyServer({ allow: ["10.0.0.0/8", "::1"] });
    await using client = await NfsClient.connect(nfs.port);
    expect((await client.mnt("/")).status).toBe(MountStat3.ACCES);
    // A handle learned elsewhere does not help.
    const getattr = await client.getattr(rootFile);
    expect(getattr.status).toBe(NfsStat3.ACCES);
    const read = await client.read(rootFile, 0, 100);
    expect(read.status).toBe(NfsStat3.ACCES);
    expect(read.fail).toBeUndefined(); // post_op_attr FALSE: nothing leaks
    const write = await client.write(rootFile, 0, Buffer.from("x"));
    expect(write.status).toBe(NfsStat3.ACCES);
    expect(write.fail).toEqual({ before: undefined, after: undefined });
    const list = await client.readdirplus(rootFile, 0n, 4096);
    expect(list.status).toBe(NfsStat3.ACCES);
    const { NFS_PROG, NFS_V3 } = await import("../../../nfs/nfs3/constants.ts");
    (await client.rpc.callOk(NFS_PROG, NFS_V3, 0)).assertConsumed();
  });

  test("a client inside the list is served", async () => {
    await using nfs = await startNfs(volume, { policy: { allow: ["10.0.0.0/8", "127.0.0.0/8"] } });
    await using client = await NfsClient.connect(nfs.port);
    const root = await client.mount("/");
    expect((await client.readFile(await client.walk(root, "file"))).toString()).toBe("content");
  });
});

describe("identities", () => {
  test("--squash root: root's new files belong to anonuid/anongid, root loses its powers", async () => {
    await using nfs = await startNfs(volume, {
      policy: { squash: "root", anonUid: 4242, anonGid: 4343 },
    });
    await using client = await NfsClient.connect(nfs.port, { uid: 0, gid: 0 });
    const root = await client.mount("/");
    const data = await client.walk(root, "data");
    const made = ok(
      await client.create(data, "by-root", {
        mode: CreateMode.GUARDED,
        attributes: { mode: 0o644 },
      }),
    );
    expect(made.objAttributes?.uid).toBe(4242);
    expect(made.objAttributes?.gid).toBe(4343);
    // The root directory is 0777 but "file" is 0644 root-owned: squashed root cannot write it.
    const file = await client.walk(root, "file");
    expect((await client.write(file, 0, Buffer.from("x"))).status).toBe(NfsStat3.ACCES);
    await using user = await NfsClient.connect(nfs.port, { uid: 1000, gid: 1000 });
    const mine = ok(await user.create(data, "by-user"));
    expect(mine.objAttributes?.uid).toBe(1000);
  });

  test("--squash all maps everyone; AUTH_NONE is anonymous by default", async () => {
    await using nfs = await startNfs(volume, { policy: { squash: "all" } });
    await using user = await NfsClient.connect(nfs.port, { uid: 1000, gid: 1000 });
    const data = await user.walk(await user.mount("/"), "data");
    const made = ok(await user.create(data, "squashed"));
    expect(made.objAttributes?.uid).toBe(65534);
    await using anon = await NfsClient.connect(nfs.port, {});
    const byAnon = ok(await anon.mkdir(await anon.walk(await anon.mount("/"), "data"), "anon-dir"));
    expect(byAnon.objAttributes?.uid).toBe(65534);
    expect(byAnon.objAttributes?.gid).toBe(65534);
  });

  test("without squash, AUTH_SYS root is root", async () => {
    await using nfs = await startNfs(volume);
    await using client = await NfsClient.connect(nfs.port, { uid: 0, gid: 0 });
    const data = await client.walk(await client.mount("/"), "data");
    expect(ok(await client.create(data, "rooted")).objAttributes?.uid).toBe(0);
  });
});

describe("--export of a subdirectory", () => {
  test("MNT of the export path and below; '..' of its root stays there", async () => {
    await using nfs = await startNfs(volume, { exportPath: "/data/" });
    await using client = await NfsClient.connect(nfs.port);
    expect((await client.mnt("/")).status).toBe(MountStat3.NOENT);
    const top = await client.mount("/data");
    const inner = await client.walk(top, "inner");
    expect((await client.readFile(inner)).toString()).toBe("inner content");
    const up = ok(await client.lookup(top, ".."));
    expect(up.object.equals(top)).toBe(true);
    const dots = ok(await client.readdirplus(top, 0n, 8192)).page.entries.slice(0, 2);
    expect(dots[1]?.fileid).toBe(dots[0]?.fileid);
    expect(dots[1]?.handle?.equals(top)).toBe(true);
    const deeper = await client.mount("/data/deeper");
    expect(deeper.equals(await client.walk(top, "deeper"))).toBe(true);
  });

  test("an export that does not exist is a clear startup error", async () => {
    await expect(startNfs(volume, { exportPath: "/nope" })).rejects.toThrow(/--export \/nope/);
    await expect(startNfs(volume, { exportPath: "/file" })).rejects.toThrow(/ENOTDIR/);
  });
});
