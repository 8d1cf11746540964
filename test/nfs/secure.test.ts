/**
 * The safe defaults, as the Linux kernel server has them: calls from unreserved source ports
 * (>= 1024) are refused (NFS: AUTH_TOOWEAK, MNT: MNT3ERR_ACCES) unless --insecure, and
 * root_squash is on, so AUTH_SYS uid 0 from any local process cannot plant a setuid-root
 * program. libnfs run as root binds a reserved port and gets in; run as another user it needs
 * --insecure on the server.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { MOUNT_PROG, MOUNT_V3, MountProc, MountStat3 } from "../../nfs/mount/mount.ts";
import { CreateMode, NFS_PROG, NFS_V3, Nfs3Proc, NfsStat3 } from "../../nfs/nfs3/constants.ts";
import { PMAP_PROG, PMAP_VERS, PmapProc } from "../../nfs/portmap/portmap.ts";
import { AuthStat } from "../../nfs/rpc/constants.ts";
import { XdrWriter } from "../../nfs/xdr/writer.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { jfs } from "../cli/harness.ts";
import { makeVolume, spawnServe, startNfs, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";
import { RpcClient } from "./rpcclient.ts";

const haveLibnfs = Bun.which("nfs-ls") !== null && Bun.which("nfs-cp") !== null;
const isRoot = process.getuid?.() === 0;
const ROOT_AUTH = { stamp: 1, machineName: "attacker", uid: 0, gid: 0, groups: [0] };

let volume: TestVolume;
let rootHandle: Buffer;

beforeAll(async () => {
  volume = await makeVolume();
  await using nfs = await startNfs(volume);
  await using client = await NfsClient.connect(nfs.port);
  rootHandle = await client.mount("/");
  await client.writeFile(rootHandle, "rootfile", Buffer.from("root's"));
});

afterAll(() => volume[Symbol.dispose]());

/** GETATTR of the root and MNT "/" from this process's (unreserved) port. */
async function fromUnreservedPort(port: number) {
  await using rpc = await RpcClient.connect(port);
  const getattr = await rpc.call(
    NFS_PROG,
    NFS_V3,
    Nfs3Proc.GETATTR,
    new XdrWriter().opaqueVar(rootHandle, 64),
    { authSys: ROOT_AUTH },
  );
  const mnt = await rpc.callOk(
    MOUNT_PROG,
    MOUNT_V3,
    MountProc.MNT,
    new XdrWriter().string("/", 1024),
    {
      authSys: ROOT_AUTH,
    },
  );
  const nullCall = await rpc.call(NFS_PROG, NFS_V3, Nfs3Proc.NULL);
  const getport = await rpc.call(PMAP_PROG, PMAP_VERS, PmapProc.GETPORT, portmapArgs());
  return { getattr: getattr.reply, mntStatus: mnt.uint32(), nullCall, getport };
}

function portmapArgs(): XdrWriter {
  return new XdrWriter().uint32(NFS_PROG).uint32(NFS_V3).uint32(6).uint32(0);
}

describe("reserved source ports", () => {
  test("by default an unreserved port gets AUTH_TOOWEAK and MNT3ERR_ACCES; NULL and PORTMAP answer", async () => {
    await using nfs = await startNfs(volume, { secure: true });
    const seen = await fromUnreservedPort(nfs.port);
    expect(seen.getattr).toEqual({ kind: "authError", stat: AuthStat.AUTH_TOOWEAK });
    expect(seen.mntStatus).toBe(MountStat3.ACCES);
    expect(seen.nullCall.reply.kind).toBe("success");
    expect(seen.getport.reply.kind).toBe("success");
  });

  test("jfs serve does the same by default; --insecure lets the call in", async () => {
    await using strict = await spawnServe(volume, [], { secure: true });
    const refused = await fromUnreservedPort(strict.port);
    expect(refused.getattr).toEqual({ kind: "authError", stat: AuthStat.AUTH_TOOWEAK });
    expect(refused.mntStatus).toBe(MountStat3.ACCES);
    await using loose = await spawnServe(volume, ["--insecure"], { secure: true });
    const served = await fromUnreservedPort(loose.port);
    expect(served.getattr.kind).toBe("success");
    expect(served.mntStatus).toBe(MountStat3.OK);
  });
});

describe("root_squash", () => {
  test("on by default: uid 0 cannot make a setuid-root program or touch root's files", async () => {
    await using nfs = await startNfs(volume, { secure: true, policy: { insecure: true } });
    await using client = await NfsClient.connect(nfs.port, { uid: 0, gid: 0, groups: [0] });
    const root = await client.mount("/");
    const how = { mode: CreateMode.GUARDED, attributes: { mode: 0o4755 } } as const;
    const made = ok(await client.create(root, "evil", how));
    expect(made.objAttributes?.uid).toBe(65534);
    expect(made.objAttributes?.gid).toBe(65534);
    const evil = made.obj as Buffer;
    const chown = await client.setattr({ object: evil, attributes: { uid: 0 }, guard: undefined });
    expect(chown.status).toBe(NfsStat3.PERM);
    const rootFile = await client.walk(root, "rootfile");
    const chmod = await client.setattr({
      object: rootFile,
      attributes: { mode: 0o4777 },
      guard: undefined,
    });
    expect(chmod.status).toBe(NfsStat3.PERM);
  });

  test("jfs serve --no-root-squash (or --squash none) lets uid 0 act as root", async () => {
    await using serve = await spawnServe(volume, ["--insecure", "--no-root-squash"], {
      secure: true,
    });
    await using client = await NfsClient.connect(serve.port, { uid: 0, gid: 0 });
    const root = await client.mount("/");
    const made = ok(await client.create(root, "as-root"));
    expect(made.objAttributes?.uid).toBe(0);
  });

  test("--no-root-squash contradicts --squash root or all", async () => {
    const run = await jfs(
      ["serve", "--nfs", "--no-root-squash", "--squash", "all", volume.metaUrl],
      { HOME: volume.home },
    );
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("--no-root-squash contradicts --squash all");
  });
});

/** A libnfs tool, as root or as another user (setpriv drops to it before exec). */
async function libnfs(args: string[], asUid?: number) {
  const drop =
    asUid === undefined
      ? []
      : ["setpriv", `--reuid=${asUid}`, `--regid=${asUid}`, "--clear-groups", "--"];
  const proc = Bun.spawn([...drop, ...args], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => proc.kill(), 30_000);
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

describe.skipIf(!haveLibnfs || !isRoot)("libnfs against the defaults", () => {
  const url = (port: number, path = "") =>
    `nfs://127.0.0.1//${path}?nfsport=${port}&mountport=${port}&version=3`;

  test("as root it binds a reserved port and gets in, squashed", async () => {
    await using nfs = await startNfs(volume, { secure: true });
    const listing = await libnfs(["nfs-ls", url(nfs.port)]);
    expect(listing.stderr).toBe("");
    expect(listing.code).toBe(0);
    expect(listing.stdout).toContain("rootfile");
    // What root copies in belongs to nobody: squashed, though it came from a reserved port.
    const source = join(volume.dir, "from-root");
    writeFileSync(source, "copied by root");
    const copy = await libnfs(["nfs-cp", source, url(nfs.port, "from-root")]);
    expect(copy.code).toBe(0);
    const { inode } = await nfs.runtime.vfs.lookup(ROOT_CREDENTIALS, 1, Buffer.from("from-root"));
    expect((await nfs.runtime.vfs.getattr(ROOT_CREDENTIALS, inode)).uid).toBe(65534);
  });

  test("as another user it is refused, and gets in with --insecure", async () => {
    await using strict = await startNfs(volume, { secure: true });
    const refused = await libnfs(["nfs-ls", url(strict.port)], 65534);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("MNT3ERR_ACCES");
    await using loose = await startNfs(volume, { secure: true, policy: { insecure: true } });
    const served = await libnfs(["nfs-ls", url(loose.port)], 65534);
    expect(served.code).toBe(0);
    expect(served.stdout).toContain("rootfile");
  });
});
