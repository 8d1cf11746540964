/**
 * Set-id bits and ownership over NFS, with AUTH_SYS clients of two ordinary users, as knfsd
 * behaves: a WRITE by anyone but root drops S_ISUID and S_ISGID, a chown by the owner drops
 * them, and a SETATTR of uid/gid from a non-owner is EPERM even when it names the current ids
 * (what the Linux client sends for `chown 1000:1000 f` run by another user).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { NfsStat3, StableHow } from "../../nfs/nfs3/constants.ts";
import { ROOT_CREDENTIALS } from "../../src/meta/interface.ts";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "./harness.ts";
import { NfsClient, ok } from "./nfsclient.ts";

const OWNER = 1000;
const OTHER = 1001;

let volume: TestVolume;
let nfs: InProcessNfs;
let owner: NfsClient;
let other: NfsClient;
let shared: Buffer;

beforeAll(async () => {
  volume = await makeVolume();
  nfs = await startNfs(volume);
  const name = Buffer.from("shared");
  await nfs.runtime.vfs.mkdir(ROOT_CREDENTIALS, 1, name, 0o777, 0);
  owner = await NfsClient.connect(nfs.port, { uid: OWNER, gid: OWNER });
  other = await NfsClient.connect(nfs.port, { uid: OTHER, gid: OTHER });
  shared = await owner.walk(await owner.mount("/"), "shared");
});

afterAll(async () => {
  await owner?.close();
  await other?.close();
  await nfs?.stop();
  volume?.[Symbol.dispose]();
});

/** A file of OWNER's with mode 6777, and its handle for both clients. */
async function setidFile(entry: string): Promise<Buffer> {
  const fh = await owner.writeFile(shared, entry, Buffer.from("data\n"));
  ok(await owner.setattr({ object: fh, attributes: { mode: 0o6777 }, guard: undefined }));
  expect(await modeOf(fh)).toBe(0o6777);
  return fh;
}

async function modeOf(fh: Buffer): Promise<number> {
  return ok(await owner.getattr(fh)).mode & 0o7777;
}

describe("NFS set-id bits", () => {
  test("another user's WRITE succeeds and drops both bits", async () => {
    const fh = await setidFile("write");
    ok(await other.write(fh, 5, Buffer.from("more\n"), StableHow.FILE_SYNC));
    expect(await modeOf(fh)).toBe(0o777);
  });

  test("another user's truncate drops them; root's WRITE keeps them", async () => {
    const fh = await setidFile("truncate");
    const size = { size: 1n };
    ok(await other.setattr({ object: fh, attributes: size, guard: undefined }));
    expect(await modeOf(fh)).toBe(0o777);
    const kept = await setidFile("root-write");
    // As root (through the VFS: the server may squash an AUTH_SYS root).
    const inode = Number(ok(await owner.getattr(kept)).fileid);
    await nfs.runtime.vfs.write(ROOT_CREDENTIALS, inode, undefined, 0, Buffer.from("x"));
    expect(await modeOf(kept)).toBe(0o6777);
  });

  test("a SETATTR of the current uid and gid from a non-owner is EPERM and changes nothing", async () => {
    const fh = await setidFile("chown-other");
    const ids = { uid: OWNER, gid: OWNER };
    const res = await other.setattr({ object: fh, attributes: ids, guard: undefined });
    expect(res.status).toBe(NfsStat3.PERM);
    const gidOnly = await other.setattr({
      object: fh,
      attributes: { gid: OWNER },
      guard: undefined,
    });
    expect(gidOnly.status).toBe(NfsStat3.PERM);
    expect(await modeOf(fh)).toBe(0o6777);
  });

  test("the owner's chown to its own ids succeeds and drops both bits", async () => {
    const fh = await setidFile("chown-owner");
    const ids = { uid: OWNER, gid: OWNER };
    ok(await owner.setattr({ object: fh, attributes: ids, guard: undefined }));
    expect(await modeOf(fh)).toBe(0o777);
  });

  test("the owner may not give the file away", async () => {
    const fh = await setidFile("give-away");
    const res = await owner.setattr({ object: fh, attributes: { uid: OTHER }, guard: undefined });
    expect(res.status).toBe(NfsStat3.PERM);
  });
});
