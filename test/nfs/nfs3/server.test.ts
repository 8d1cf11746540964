/**
 * The NFSv3 + MOUNT server against a real volume (SQLite in a temp dir, trash off), through the
 * test client: every procedure, wcc_data and post_op_attr on failures, stale and bad handles,
 * EXCLUSIVE create, the SETATTR guard, WRITE stability, and cookies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MountStat3 } from "../../../nfs/mount/mount.ts";
import { Access3, CreateMode, Ftype3, NfsStat3, StableHow } from "../../../nfs/nfs3/constants.ts";
import { encodeHandle } from "../../../nfs/nfs3/handle.ts";
import { type InProcessNfs, makeVolume, startNfs, type TestVolume } from "../harness.ts";
import { NfsClient, ok } from "../nfsclient.ts";

let volume: TestVolume;
let nfs: InProcessNfs;
let client: NfsClient;
let root: Buffer;

beforeAll(async () => {
  volume = await makeVolume();
  nfs = await startNfs(volume);
  client = await NfsClient.connect(nfs.port);
  root = await client.mount("/");
});

afterAll(async () => {
  await client.close();
  await nfs.stop();
  volume[Symbol.dispose]();
});

let counter = 0;
/** A fresh directory for one test. */
async function freshDir(): Promise<Buffer> {
  const res = ok(await client.mkdir(root, `t${++counter}`), "MKDIR");
  if (res.obj === undefined) throw new Error("no handle");
  return res.obj;
}

async function newFile(dir: Buffer, name: string, content = "hello"): Promise<Buffer> {
  return client.writeFile(dir, name, Buffer.from(content));
}

describe("MOUNT v3", () => {
  test("MNT of the export, a subdirectory below it, and refusals", async () => {
    const dir = await freshDir();
    ok(await client.mkdir(dir, "sub"));
    const viaMount = await client.mount(`/t${counter}/sub`);
    const viaLookup = await client.walk(root, `t${counter}/sub`);
    expect(viaMount.equals(viaLookup)).toBe(true);
    expect((await client.mount("//")).equals(root)).toBe(true);
    expect((await client.mnt("/no/such")).status).toBe(MountStat3.NOENT);
    expect((await client.mnt("relative")).status).toBe(MountStat3.INVAL);
    expect((await client.mnt("/a/../b")).status).toBe(MountStat3.INVAL);
    await newFile(dir, "plain");
    expect((await client.mnt(`/t${counter}/plain`)).status).toBe(MountStat3.NOTDIR);
  });

  test("DUMP lists mounts until UMNT / UMNTALL; EXPORT lists the export", async () => {
    const { MOUNT_PROG, MOUNT_V3, MountProc } = await import("../../../nfs/mount/mount.ts");
    const { XdrWriter } = await import("../../../nfs/xdr/writer.ts");
    const dump = async () => {
      const body = await client.rpc.callOk(MOUNT_PROG, MOUNT_V3, MountProc.DUMP);
      const list = body.list(100, (r) => [r.string(255), r.string(1024)]);
      body.assertConsumed();
      return list;
    };
    await client.mount("/");
    expect(await dump()).toContainEqual(["127.0.0.1", "/"]);
    await client.rpc.callOk(
      MOUNT_PROG,
      MOUNT_V3,
      MountProc.UMNT,
      new XdrWriter().string("/", 1024),
    );
    expect(await dump()).not.toContainEqual(["127.0.0.1", "/"]);
    await client.mount("/");
    await client.rpc.callOk(MOUNT_PROG, MOUNT_V3, MountProc.UMNTALL);
    expect(await dump()).toEqual([]);
    const body = await client.rpc.callOk(MOUNT_PROG, MOUNT_V3, MountProc.EXPORT);
    const exports = body.list(10, (r) => ({
      dir: r.string(1024),
      groups: r.list(10, (g) => g.string(255)),
    }));
    body.assertConsumed();
    expect(exports).toEqual([{ dir: "/", groups: [] }]);
  });
});

describe("procedures", () => {
  test("GETATTR, FSINFO, FSSTAT, PATHCONF on the root", async () => {
    const attr = ok(await client.getattr(root));
    expect(attr.type).toBe(Ftype3.DIR);
    expect(attr.fileid).toBe(1n);
    const info = ok(await client.fsinfo(root));
    expect(info.rtmax).toBe(1 << 20);
    expect(info.wtmax).toBe(1 << 20);
    expect(info.timeDelta).toEqual({ seconds: 0, nseconds: 1 });
    expect(info.attributes?.fileid).toBe(1n);
    const stat = ok(await client.fsstat(root));
    expect(stat.tbytes).toBeGreaterThan(0n);
    expect(stat.afiles).toBeGreaterThan(0n);
    const conf = ok(await client.pathconf(root));
    expect(conf.nameMax).toBe(255);
    expect(conf.noTrunc).toBe(true);
    expect(conf.casePreserving).toBe(true);
  });

  test("the directory's post-op attributes are its state right after each change", async () => {
    const dir = await freshDir();
    const now = async () => ok(await client.getattr(dir));
    const made = ok(await client.create(dir, "f"));
    expect(made.dirWcc.after).toEqual(await now());
    const sub = ok(await client.mkdir(dir, "sub"));
    expect(sub.dirWcc.after).toEqual(await now());
    expect(sub.dirWcc.after?.nlink).toBe(3);
    const link = ok(await client.symlink(dir, "s", "f"));
    expect(link.dirWcc.after).toEqual(await now());
    const other = await freshDir();
    const moved = ok(await client.rename(dir, "s", other, "t"));
    expect(moved.fromDirWcc.after).toEqual(await now());
    expect(moved.toDirWcc.after).toEqual(ok(await client.getattr(other)));
    const removed = ok(await client.remove(dir, "f"));
    expect(removed.after).toEqual(await now());
    expect(removed.after?.mtime).not.toEqual(removed.before?.mtime);
    const gone = ok(await client.rmdir(dir, "sub"));
    expect(gone.after).toEqual(await now());
    expect(gone.after?.nlink).toBe(2);
  });

  test("CREATE, WRITE, READ, LOOKUP, SETATTR, REMOVE", async () => {
    const dir = await freshDir();
    const created = ok(
      await client.create(dir, "f", { mode: CreateMode.GUARDED, attributes: { mode: 0o640 } }),
    );
    expect(created.objAttributes?.mode).toBe(0o640);
    expect(created.dirWcc.before).toBeDefined();
    expect(created.dirWcc.after?.mtime).not.toEqual(created.dirWcc.before?.mtime);
    const fh = created.obj as Buffer;
    const w = ok(await client.write(fh, 0, Buffer.from("0123456789")));
    expect(w.count).toBe(10);
    expect(w.committed).toBe(StableHow.UNSTABLE);
    expect(w.wcc.before?.size).toBe(0n);
    expect(w.wcc.after?.size).toBe(10n);
    const r = ok(await client.read(fh, 2, 5));
    expect(r.data.toString()).toBe("23456");
    expect(r.eof).toBe(false);
    const tail = ok(await client.read(fh, 8, 100));
    expect(tail.data.toString()).toBe("89");
    expect(tail.eof).toBe(true);
    const past = ok(await client.read(fh, 1000, 10));
    expect(past.count).toBe(0);
    expect(past.eof).toBe(true);
    expect((await client.lookup(dir, "f")).ok?.object.equals(fh)).toBe(true);
    const truncated = ok(
      await client.setattr({ object: fh, attributes: { size: 4n, mode: 0o600 }, guard: undefined }),
    );
    expect(truncated.after?.size).toBe(4n);
    expect(truncated.after?.mode).toBe(0o600);
    expect(truncated.before?.size).toBe(10n);
    expect((await client.readFile(fh)).toString()).toBe("0123");
    const times = ok(
      await client.setattr({
        object: fh,
        attributes: { atime: { sec: 1000, nsec: 5 }, mtime: "now" },
        guard: undefined,
      }),
    );
    expect(times.after?.atime).toEqual({ seconds: 1000, nseconds: 5 });
    expect(times.after?.mtime.seconds).toBeGreaterThan(1_600_000_000);
    ok(await client.remove(dir, "f"));
    expect((await client.lookup(dir, "f")).status).toBe(NfsStat3.NOENT);
  });

  test("odd-sized READ and WRITE payloads of every size up to 1 MiB", async () => {
    const dir = await freshDir();
    const sizes = [1, 3, 4095, 4097, 5001, 65_537, (1 << 20) - 1, 1 << 20];
    for (const size of sizes) {
      const data = crypto.getRandomValues(new Uint8Array(size));
      const fh = await client.writeFile(dir, `odd-${size}`, data);
      const back = ok(await client.read(fh, 0, 1 << 20));
      expect(back.count).toBe(size);
      expect(Buffer.from(back.data).equals(Buffer.from(data))).toBe(true);
      const middle = ok(await client.read(fh, 1, size));
      expect(middle.count).toBe(size - 1);
      expect(middle.eof).toBe(true);
    }
  });

  test("CREATE UNCHECKED on an existing file truncates it; GUARDED fails with EXIST", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f", "some content");
    const again = ok(
      await client.create(dir, "f", { mode: CreateMode.UNCHECKED, attributes: { size: 0n } }),
    );
    expect(again.obj?.equals(fh)).toBe(true);
    expect(again.objAttributes?.size).toBe(0n);
    const keep = await newFile(dir, "g", "kept");
    ok(await client.create(dir, "g", { mode: CreateMode.UNCHECKED, attributes: {} }));
    expect((await client.readFile(keep)).toString()).toBe("kept");
    const guarded = await client.create(dir, "g");
    expect(guarded.status).toBe(NfsStat3.EXIST);
    expect(guarded.fail?.before).toBeDefined();
    expect(guarded.fail?.after).toBeDefined();
  });

  test("MKDIR, SYMLINK, READLINK, MKNOD, LINK, RENAME, RMDIR", async () => {
    const dir = await freshDir();
    const sub = ok(await client.mkdir(dir, "sub", { mode: 0o750 }));
    expect(sub.objAttributes?.type).toBe(Ftype3.DIR);
    expect(sub.objAttributes?.mode).toBe(0o750);
    const link = ok(await client.symlink(dir, "ln", "target/path"));
    expect(link.objAttributes?.type).toBe(Ftype3.LNK);
    expect(ok(await client.readlink(link.obj as Buffer)).data.toString()).toBe("target/path");
    const where = (name: string) => ({ dir, name: Buffer.from(name) });
    const fifo = ok(
      await client.mknod({
        where: where("fifo"),
        type: Ftype3.FIFO,
        attributes: { mode: 0o600 },
        spec: { major: 0, minor: 0 },
      }),
    );
    expect(fifo.objAttributes?.type).toBe(Ftype3.FIFO);
    const chr = ok(
      await client.mknod({
        where: where("chr"),
        type: Ftype3.CHR,
        attributes: {},
        spec: { major: 1, minor: 3 },
      }),
    );
    expect(chr.objAttributes?.rdev).toEqual({ major: 1, minor: 3 });
    const reg = await client.mknod({
      where: where("reg"),
      type: Ftype3.REG,
      attributes: {},
      spec: { major: 0, minor: 0 },
    });
    expect(reg.status).toBe(NfsStat3.BADTYPE);
    const file = await newFile(dir, "f");
    const linked = ok(await client.link(file, sub.obj as Buffer, "hard"));
    expect(linked.fileAttributes?.nlink).toBe(2);
    expect(linked.linkDirWcc.after).toBeDefined();
    const renamed = ok(await client.rename(dir, "f", sub.obj as Buffer, "moved"));
    expect(renamed.fromDirWcc.after).toBeDefined();
    expect(renamed.toDirWcc.after).toBeDefined();
    expect((await client.lookup(sub.obj as Buffer, "moved")).ok?.object.equals(file)).toBe(true);
    const notEmpty = await client.rmdir(dir, "sub");
    expect(notEmpty.status).toBe(NfsStat3.NOTEMPTY);
    ok(await client.remove(sub.obj as Buffer, "moved"));
    ok(await client.remove(sub.obj as Buffer, "hard"));
    ok(await client.rmdir(dir, "sub"));
    expect((await client.readlink(file)).status).toBe(NfsStat3.STALE);
  });

  test("ACCESS grants what the caller's credentials allow", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f");
    ok(
      await client.setattr({
        object: fh,
        attributes: { mode: 0o640, uid: 1000, gid: 100 },
        guard: undefined,
      }),
    );
    const all =
      Access3.READ |
      Access3.MODIFY |
      Access3.EXTEND |
      Access3.EXECUTE |
      Access3.LOOKUP |
      Access3.DELETE;
    await using owner = await NfsClient.connect(nfs.port, { uid: 1000, gid: 100 });
    expect(ok(await owner.access(fh, all)).access).toBe(
      Access3.READ | Access3.MODIFY | Access3.EXTEND,
    );
    await using group = await NfsClient.connect(nfs.port, { uid: 2000, gid: 100 });
    expect(ok(await group.access(fh, all)).access).toBe(Access3.READ);
    await using other = await NfsClient.connect(nfs.port, { uid: 3000, gid: 300 });
    expect(ok(await other.access(fh, all)).access).toBe(0);
    const onDir = ok(await other.access(dir, all));
    expect(onDir.access).toBe(Access3.READ | Access3.LOOKUP);
    expect(onDir.objAttributes?.type).toBe(Ftype3.DIR);
    // The permission checks behind it: the other user cannot read, nor write.
    expect((await other.read(fh, 0, 10)).status).toBe(NfsStat3.ACCES);
    expect((await other.write(fh, 0, Buffer.from("x"))).status).toBe(NfsStat3.ACCES);
    expect((await group.read(fh, 0, 10)).ok?.data.toString()).toBe("hello");
  });

  test("SETATTR guard: the right ctime applies, another is NOT_SYNC and changes nothing", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f");
    const before = ok(await client.getattr(fh));
    const wrong = { seconds: before.ctime.seconds - 1, nseconds: before.ctime.nseconds };
    const refused = await client.setattr({ object: fh, attributes: { mode: 0o600 }, guard: wrong });
    expect(refused.status).toBe(NfsStat3.NOT_SYNC);
    expect(refused.fail?.before?.ctime).toEqual(before.ctime);
    expect(refused.fail?.after?.mode).toBe(before.mode);
    const applied = ok(
      await client.setattr({ object: fh, attributes: { mode: 0o600 }, guard: before.ctime }),
    );
    expect(applied.after?.mode).toBe(0o600);
  });

  test("WRITE FILE_SYNC and DATA_SYNC answer FILE_SYNC; COMMIT returns the same verifier", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f", "");
    const a = ok(await client.write(fh, 0, Buffer.from("abc"), StableHow.FILE_SYNC));
    expect(a.committed).toBe(StableHow.FILE_SYNC);
    const b = ok(await client.write(fh, 3, Buffer.from("def"), StableHow.DATA_SYNC));
    expect(b.committed).toBe(StableHow.FILE_SYNC);
    const c = ok(await client.write(fh, 6, Buffer.from("ghi"), StableHow.UNSTABLE));
    expect(c.committed).toBe(StableHow.UNSTABLE);
    const commit = ok(await client.commit(fh));
    expect(commit.verf.equals(a.verf) && commit.verf.equals(c.verf)).toBe(true);
    expect(commit.wcc.after?.size).toBe(9n);
    expect((await client.readFile(fh)).toString()).toBe("abcdefghi");
  });
});

describe("failures carry their failure bodies", () => {
  test("wcc_data with before and after attributes on failed directory operations", async () => {
    const dir = await freshDir();
    await newFile(dir, "f");
    const missing = await client.remove(dir, "nope");
    expect(missing.status).toBe(NfsStat3.NOENT);
    expect(missing.fail?.before).toBeDefined();
    expect(missing.fail?.after?.type).toBe(Ftype3.DIR);
    const rmFile = await client.rmdir(dir, "f");
    expect(rmFile.status).toBe(NfsStat3.NOTDIR);
    expect(rmFile.fail?.after).toBeDefined();
    const rename = await client.rename(dir, "nope", root, "x");
    expect(rename.status).toBe(NfsStat3.NOENT);
    expect(rename.fail?.fromDirWcc.after?.type).toBe(Ftype3.DIR);
    expect(rename.fail?.toDirWcc.after?.fileid).toBe(1n);
    const link = await client.link(dir, dir, "dirlink");
    expect(link.status).toBe(NfsStat3.PERM);
    expect(link.fail?.fileAttributes?.type).toBe(Ftype3.DIR);
    expect(link.fail?.linkDirWcc.before).toBeDefined();
    const lookup = await client.lookup(dir, "nope");
    expect(lookup.fail?.type).toBe(Ftype3.DIR);
    const readDir = await client.read(dir, 0, 10);
    expect(readDir.status).toBe(NfsStat3.ISDIR);
    expect(readDir.fail?.type).toBe(Ftype3.DIR);
    const writeDir = await client.write(dir, 0, Buffer.from("x"));
    expect(writeDir.status).toBe(NfsStat3.ISDIR);
    expect(writeDir.fail?.after?.type).toBe(Ftype3.DIR);
    const notDir = await client.lookup(await client.walk(dir, "f"), "x");
    expect(notDir.status).toBe(NfsStat3.NOTDIR);
    const readlink = await client.readlink(dir);
    expect(readlink.status).toBe(NfsStat3.INVAL);
    expect(readlink.fail).toBeDefined();
    const long = await client.lookup(dir, "x".repeat(256));
    expect(long.status).toBe(NfsStat3.NAMETOOLONG);
  });

  test("a removed file's handle is STALE everywhere, without attributes", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f");
    ok(await client.remove(dir, "f"));
    expect((await client.getattr(fh)).status).toBe(NfsStat3.STALE);
    const read = await client.read(fh, 0, 10);
    expect(read.status).toBe(NfsStat3.STALE);
    expect(read.fail).toBeUndefined();
    const write = await client.write(fh, 0, Buffer.from("x"));
    expect(write.status).toBe(NfsStat3.STALE);
    expect(write.fail).toEqual({ before: undefined, after: undefined });
    expect((await client.commit(fh)).status).toBe(NfsStat3.STALE);
    expect(
      (await client.setattr({ object: fh, attributes: { mode: 0o600 }, guard: undefined })).status,
    ).toBe(NfsStat3.STALE);
    const sub = ok(await client.mkdir(dir, "d")).obj as Buffer;
    ok(await client.rmdir(dir, "d"));
    expect((await client.readdirplus(sub, 0n, 4096)).status).toBe(NfsStat3.STALE);
    expect((await client.create(sub, "x")).status).toBe(NfsStat3.STALE);
    // LOOKUP reads the directory with the entry: a gone directory is still STALE first.
    expect((await client.lookup(sub, "x")).status).toBe(NfsStat3.STALE);
    expect((await client.lookup(sub, "..")).status).toBe(NfsStat3.STALE);
  });

  test("another generation of an inode is STALE; forged and foreign handles are BADHANDLE", async () => {
    const dir = await freshDir();
    const fh = await newFile(dir, "f");
    const otherGeneration = Buffer.from(fh);
    otherGeneration.writeUInt32BE((otherGeneration.readUInt32BE(28) + 1) >>> 0, 28);
    expect((await client.getattr(otherGeneration)).status).toBe(NfsStat3.STALE);
    const foreign = encodeHandle(Buffer.alloc(16, 7), { inode: 1, generation: 1 });
    expect((await client.getattr(foreign)).status).toBe(NfsStat3.BADHANDLE);
    expect((await client.getattr(Buffer.from("not a handle"))).status).toBe(NfsStat3.BADHANDLE);
    expect((await client.getattr(Buffer.alloc(0))).status).toBe(NfsStat3.BADHANDLE);
    const unknownInode = Buffer.from(fh);
    unknownInode.writeBigUInt64BE(2n ** 52n, 20);
    expect((await client.getattr(unknownInode)).status).toBe(NfsStat3.STALE);
    const lookup = await client.lookup(foreign, "x");
    expect(lookup.status).toBe(NfsStat3.BADHANDLE);
    expect(lookup.fail).toBeUndefined();
    // The name exists, but in the directory's current generation, not the handle's.
    const staleDir = Buffer.from(dir);
    staleDir.writeUInt32BE((staleDir.readUInt32BE(28) + 1) >>> 0, 28);
    expect((await client.lookup(staleDir, "f")).status).toBe(NfsStat3.STALE);
    expect((await client.lookup(staleDir, "missing")).status).toBe(NfsStat3.STALE);
  });
});

describe("CREATE EXCLUSIVE", () => {
  test("a retransmission with the same verifier succeeds, another verifier gets EXIST", async () => {
    const dir = await freshDir();
    const verf = Buffer.from("0123abcd");
    const first = ok(await client.create(dir, "x", { mode: CreateMode.EXCLUSIVE, verf }));
    const again = ok(await client.create(dir, "x", { mode: CreateMode.EXCLUSIVE, verf }));
    expect(again.obj?.equals(first.obj as Buffer)).toBe(true);
    const other = await client.create(dir, "x", {
      mode: CreateMode.EXCLUSIVE,
      verf: Buffer.from("zzzzzzzz"),
    });
    expect(other.status).toBe(NfsStat3.EXIST);
    expect(other.fail?.after?.type).toBe(Ftype3.DIR);
    // The client then sets the real attributes; the verifier is gone with the times.
    ok(
      await client.setattr({
        object: first.obj as Buffer,
        attributes: { mode: 0o644, atime: "now", mtime: "now" },
        guard: undefined,
      }),
    );
    expect((await client.create(dir, "x", { mode: CreateMode.EXCLUSIVE, verf })).status).toBe(
      NfsStat3.EXIST,
    );
    await newFile(dir, "plain");
    const onPlain = await client.create(dir, "plain", { mode: CreateMode.EXCLUSIVE, verf });
    expect(onPlain.status).toBe(NfsStat3.EXIST);
  });
});

describe("READDIR and READDIRPLUS", () => {
  test("'.', '..' and entries with stable cookies; '..' of the root is the root", async () => {
    const top = ok(await client.readdirplus(root, 0n, 65536));
    const dots = top.page.entries.slice(0, 2);
    expect(dots.map((e) => e.name.toString())).toEqual([".", ".."]);
    expect(dots.map((e) => e.fileid)).toEqual([1n, 1n]);
    expect(dots[1]?.handle?.equals(root)).toBe(true);
    expect(top.page.entries.some((e) => e.name.toString() === ".trash")).toBe(false);
    const dir = await freshDir();
    for (const name of ["a", "b", "c", "d"]) await newFile(dir, name);
    const plain = await client.listAll(dir, { plus: false });
    const plus = await client.listAll(dir, { plus: true });
    expect(plain).toEqual(plus);
    expect(plain.map((e) => e.name)).toEqual([".", "..", "a", "b", "c", "d"]);
    // Resume after "b", from any earlier page size: the same rest.
    const afterB = plain[3]?.cookie as bigint;
    const rest = ok(await client.readdir(dir, afterB, 4096));
    expect(rest.page.entries.map((e) => e.name.toString())).toEqual(["c", "d"]);
    expect(rest.page.eof).toBe(true);
    // A changed cookie verifier still continues from the cookie.
    const otherVerf = ok(await client.readdirplus(dir, afterB, 4096, 4096, Buffer.alloc(8, 9)));
    expect(otherVerf.page.entries.map((e) => e.name.toString())).toEqual(["c", "d"]);
    // A removed entry's cookie still resumes after it.
    ok(await client.remove(dir, "b"));
    const afterRemoved = ok(await client.readdir(dir, afterB, 4096));
    expect(afterRemoved.page.entries.map((e) => e.name.toString())).toEqual(["c", "d"]);
    const plusEntry = ok(await client.readdirplus(dir, afterB, 4096)).page.entries[0];
    expect(plusEntry?.attributes?.type).toBe(Ftype3.REG);
    expect(plusEntry?.handle?.equals(await client.walk(dir, "c"))).toBe(true);
  });

  test("a cookie no entry can have is BAD_COOKIE; a count that fits nothing is TOOSMALL", async () => {
    const dir = await freshDir();
    const bad = await client.readdir(dir, 2n ** 60n, 4096);
    expect(bad.status).toBe(NfsStat3.BAD_COOKIE);
    expect(bad.fail?.type).toBe(Ftype3.DIR);
    expect((await client.readdir(dir, 0n, 100)).status).toBe(NfsStat3.TOOSMALL);
    expect((await client.readdirplus(dir, 0n, 200)).status).toBe(NfsStat3.TOOSMALL);
    // Just enough for one entry: pages of one.
    const one = ok(await client.readdir(dir, 0n, 104 + 28));
    expect(one.page.entries.length).toBe(1);
    expect(one.page.eof).toBe(false);
    const file = await newFile(dir, "f");
    expect((await client.readdir(file, 0n, 4096)).status).toBe(NfsStat3.NOTDIR);
  });

  test("replies fill up to count / maxcount, never beyond", async () => {
    const dir = await freshDir();
    await Promise.all(
      Array.from({ length: 300 }, (_, i) => newFile(dir, `entry-${String(i).padStart(4, "0")}`)),
    );
    for (const count of [1024, 4096, 32768]) {
      const res = await client.readdir(dir, 0n, count);
      const page = ok(res).page;
      // READDIR3resok: dir_attributes, cookieverf, entries, end of list, eof (no status).
      const size =
        88 + 8 + 8 + page.entries.reduce((n, e) => n + 24 + Math.ceil(e.name.length / 4) * 4, 0);
      expect(size).toBeLessThanOrEqual(count);
      // The next entry (28 + 12 bytes) would not have fitted: the reply is full.
      if (!page.eof) expect(size + 24 + 12).toBeGreaterThan(count);
    }
    const plus = ok(await client.readdirplus(dir, 0n, 8192)).page;
    expect(plus.entries.length).toBeGreaterThan(20);
    expect(plus.entries.length).toBeLessThan(60);
    const listed = await client.listAll(dir, { countBytes: 2048 });
    expect(listed.length).toBe(302);
  });
});
