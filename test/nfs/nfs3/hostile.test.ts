/**
 * Hostile NFS-level input: forged handles, huge counts and offsets, names beyond every limit,
 * garbled and mutated arguments for every procedure. Each call gets a well-formed answer (an
 * nfsstat3, or GARBAGE_ARGS for undecodable arguments), never SERVERFAULT or SYSTEM_ERR, and
 * the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NFS_PROG, NFS_V3, Nfs3Proc, NfsStat3 } from "../../../nfs/nfs3/constants.ts";
import { writeGetattrArgs } from "../../../nfs/nfs3/proc/getattr.ts";
import { writeReadArgs } from "../../../nfs/nfs3/proc/read.ts";
import { writeReaddirplusArgs } from "../../../nfs/nfs3/proc/readdirplus.ts";
import { writeSetattrArgs } from "../../../nfs/nfs3/proc/setattr.ts";
import { AcceptStat } from "../../../nfs/rpc/constants.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "../harness.ts";
import { NfsClient, ok } from "../nfsclient.ts";

let volume: TestVolume;
let nfs: InProcessNfs;
let client: NfsClient;
let root: Buffer;
let file: Buffer;

beforeAll(async () => {
  volume = await makeVolume();
  nfs = await startNfs(volume);
  client = await NfsClient.connect(nfs.port);
  root = await client.mount("/");
  file = await client.writeFile(root, "f", Buffer.alloc(3 << 20, 7));
});

afterAll(async () => {
  await client.close();
  await nfs.stop();
  volume[Symbol.dispose]();
});

/** Sends raw argument bytes; returns "garbage", "proc_unavail" or the nfsstat3. */
async function raw(proc: number, args: Uint8Array): Promise<number | string> {
  const padded = Buffer.concat([args, Buffer.alloc((4 - (args.byteLength % 4)) % 4)]);
  const { reply } = await client.rpc.call(NFS_PROG, NFS_V3, proc, padded, {
    authSys: { stamp: 0, machineName: "fuzz", uid: 0, gid: 0, groups: [] },
  });
  if (reply.kind === "acceptError" && reply.stat === AcceptStat.GARBAGE_ARGS) return "garbage";
  if (reply.kind === "acceptError" && reply.stat === AcceptStat.PROC_UNAVAIL) return "proc_unavail";
  if (reply.kind !== "success") throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  if (proc === Nfs3Proc.NULL) return NfsStat3.OK;
  return reply.body.uint32();
}

const bytesOf = (fill: (w: XdrWriter) => void) => {
  const w = new XdrWriter();
  fill(w);
  return w.toBuffer();
};

describe("limits", () => {
  test("a READ count of 4 GiB is served as at most 1 MiB", async () => {
    const res = ok(await client.read(file, 0, 0xffff_ffff));
    expect(res.count).toBe(1 << 20);
    expect(res.eof).toBe(false);
    const end = ok(await client.read(file, 2n ** 64n - 1n, 0xffff_ffff));
    expect(end.count).toBe(0);
    expect(end.eof).toBe(true);
  });

  test("READDIR(PLUS) counts of 4 GiB are capped; a reply stays bounded", async () => {
    const res = ok(await client.readdirplus(root, 0n, 0xffff_ffff, 0xffff_ffff));
    expect(res.page.eof).toBe(true);
    expect(ok(await client.readdir(root, 0n, 0xffff_ffff)).page.eof).toBe(true);
  });

  test("offsets and sizes beyond what a file can hold are FBIG", async () => {
    expect((await client.write(file, 2n ** 63n, Buffer.from("x"))).status).toBe(NfsStat3.FBIG);
    const huge = await client.setattr({
      object: file,
      attributes: { size: 2n ** 62n },
      guard: undefined,
    });
    expect(huge.status).toBe(NfsStat3.FBIG);
  });

  test("WRITE whose count exceeds its data is INVAL; extra data beyond count is ignored", async () => {
    const args = (count: number, data: Buffer) =>
      bytesOf((w) => {
        w.opaqueVar(file, 64)
          .uhyper(0n)
          .uint32(count)
          .enumValue(0)
          .opaqueVar(data, 1 << 20);
      });
    expect(await raw(Nfs3Proc.WRITE, args(10, Buffer.from("abc")))).toBe(NfsStat3.INVAL);
    expect(await raw(Nfs3Proc.WRITE, args(2, Buffer.from("XYZ")))).toBe(NfsStat3.OK);
    expect(ok(await client.read(file, 0, 3)).data).toEqual(Buffer.from([0x58, 0x59, 7]));
  });

  test("names: too long, with '/', empty, '.' and '..' get NFS errors", async () => {
    expect((await client.lookup(root, "n".repeat(256))).status).toBe(NfsStat3.NAMETOOLONG);
    expect((await client.create(root, "n".repeat(4000))).status).toBe(NfsStat3.NAMETOOLONG);
    expect((await client.create(root, "a/b")).status).toBe(NfsStat3.INVAL);
    expect((await client.create(root, "")).status).toBe(NfsStat3.NOENT);
    expect((await client.create(root, ".")).status).toBe(NfsStat3.EXIST);
    expect((await client.mkdir(root, "..")).status).toBe(NfsStat3.EXIST);
    expect((await client.remove(root, "..")).status).not.toBe(NfsStat3.OK);
    expect((await client.rmdir(root, ".")).status).toBe(NfsStat3.INVAL);
    const beyondPath = bytesOf((w) =>
      w.opaqueVar(root, 64).opaqueVar(Buffer.alloc(5000, 0x61), 8192),
    );
    expect(await raw(Nfs3Proc.LOOKUP, beyondPath)).toBe("garbage");
  });
});

describe("garbled arguments", () => {
  test("truncated, oversized and trailing bytes are GARBAGE_ARGS", async () => {
    const getattr = bytesOf((w) => writeGetattrArgs(w, { object: root }));
    expect(await raw(Nfs3Proc.GETATTR, getattr)).toBe(NfsStat3.OK);
    expect(await raw(Nfs3Proc.GETATTR, getattr.subarray(0, 20))).toBe("garbage");
    expect(await raw(Nfs3Proc.GETATTR, Buffer.concat([getattr, Buffer.alloc(4)]))).toBe("garbage");
    const longHandle = bytesOf((w) => w.opaqueVar(Buffer.alloc(65), 100));
    expect(await raw(Nfs3Proc.GETATTR, longHandle)).toBe("garbage");
    const badStable = bytesOf((w) => w.opaqueVar(file, 64).uhyper(0n).uint32(0).int32(9).uint32(0));
    expect(await raw(Nfs3Proc.WRITE, badStable)).toBe("garbage");
    expect(await raw(22, Buffer.alloc(0))).toBe("proc_unavail");
    const { reply } = await client.rpc.call(NFS_PROG, 2, 0);
    expect(reply).toEqual({ kind: "progMismatch", low: 3, high: 3 });
  });

  test("forged handles of every length are BADHANDLE or STALE, never more", async () => {
    const statuses = new Set<number | string>();
    for (let i = 0; i < 300; i++) {
      const length = i % 65;
      const fh = crypto.getRandomValues(new Uint8Array(length));
      if (i % 3 === 0 && length >= 32) fh.set(root.subarray(0, 20)); // right magic and volume
      statuses.add(
        await raw(
          Nfs3Proc.GETATTR,
          bytesOf((w) => w.opaqueVar(fh, 64)),
        ),
      );
    }
    for (const status of statuses) {
      expect(status === NfsStat3.BADHANDLE || status === NfsStat3.STALE).toBe(true);
    }
  });

  test("mutated arguments of every procedure never make the server fail", async () => {
    const dir = ok(await client.mkdir(root, "fuzz")).obj as Buffer;
    const seeds: [number, Buffer][] = [
      [Nfs3Proc.GETATTR, bytesOf((w) => writeGetattrArgs(w, { object: dir }))],
      [Nfs3Proc.READ, bytesOf((w) => writeReadArgs(w, { file, offset: 0n, count: 4096 }))],
      [
        Nfs3Proc.READDIRPLUS,
        bytesOf((w) =>
          writeReaddirplusArgs(w, {
            dir,
            cookie: 0n,
            cookieverf: Buffer.alloc(8),
            dircount: 512,
            maxcount: 4096,
          }),
        ),
      ],
      [
        Nfs3Proc.SETATTR,
        bytesOf((w) =>
          writeSetattrArgs(w, { object: dir, attributes: { mode: 0o755 }, guard: undefined }),
        ),
      ],
    ];
    // Every other procedure gets a directory handle and a name, then random bytes.
    for (let proc = 1; proc <= 21; proc++) {
      const tail = crypto.getRandomValues(new Uint8Array(64));
      seeds.push([proc, bytesOf((w) => w.opaqueVar(dir, 64).string("fz", 255).raw(tail))]);
    }
    let answered = 0;
    for (let round = 0; round < 40; round++) {
      for (const [proc, seed] of seeds) {
        const mutated = Buffer.from(seed);
        for (let flips = 0; flips < 1 + (round % 4); flips++) {
          const at = Math.floor(Math.random() * mutated.byteLength);
          mutated[at] = Math.floor(Math.random() * 256);
        }
        const cut =
          round % 5 === 0
            ? mutated.subarray(0, Math.floor(Math.random() * mutated.byteLength))
            : mutated;
        const status = await raw(proc, cut);
        expect(status).not.toBe(NfsStat3.SERVERFAULT);
        answered++;
      }
    }
    expect(answered).toBe(40 * seeds.length);
    // Still serving, and the volume is intact.
    expect(ok(await client.getattr(root)).fileid).toBe(1n);
    expect(ok(await client.read(file, 3, 4)).data).toEqual(Buffer.alloc(4, 7));
  });
});
