/**
 * An NFSv3 + MOUNT v3 test client over RpcClient: one method per procedure, returning the
 * decoded XXX3res (status, ok, fail), plus a few helpers (write a whole file, list a whole
 * directory). The codecs are the ones in nfs/nfs3/proc/*.ts, so a test speaks the same wire
 * format the server does; golden-byte tests pin that format to RFC 1813 independently.
 */
import { FHSIZE3, MOUNT_PROG, MOUNT_V3, MountProc, readMntRes } from "../../nfs/mount/mount.ts";
import {
  CreateMode,
  NFS_PROG,
  NFS_V3,
  Nfs3Proc,
  NfsStat3,
  StableHow,
} from "../../nfs/nfs3/constants.ts";
import { readAccessRes, writeAccessArgs } from "../../nfs/nfs3/proc/access.ts";
import { readCommitRes, writeCommitArgs } from "../../nfs/nfs3/proc/commit.ts";
import { type CreateHow, writeCreateArgs } from "../../nfs/nfs3/proc/create.ts";
import { readCreatedRes } from "../../nfs/nfs3/proc/created.ts";
import { readFsinfoRes, writeFsinfoArgs } from "../../nfs/nfs3/proc/fsinfo.ts";
import { readFsstatRes, writeFsstatArgs } from "../../nfs/nfs3/proc/fsstat.ts";
import { readGetattrRes, writeGetattrArgs } from "../../nfs/nfs3/proc/getattr.ts";
import { readLinkRes, writeLinkArgs } from "../../nfs/nfs3/proc/link.ts";
import { readLookupRes, writeLookupArgs } from "../../nfs/nfs3/proc/lookup.ts";
import { writeMkdirArgs } from "../../nfs/nfs3/proc/mkdir.ts";
import { type MknodArgs, writeMknodArgs } from "../../nfs/nfs3/proc/mknod.ts";
import { readPathconfRes, writePathconfArgs } from "../../nfs/nfs3/proc/pathconf.ts";
import { readReadRes, writeReadArgs } from "../../nfs/nfs3/proc/read.ts";
import { COOKIE_VERIFIER, readReaddirRes, writeReaddirArgs } from "../../nfs/nfs3/proc/readdir.ts";
import { readReaddirplusRes, writeReaddirplusArgs } from "../../nfs/nfs3/proc/readdirplus.ts";
import { readReadlinkRes, writeReadlinkArgs } from "../../nfs/nfs3/proc/readlink.ts";
import { readRemoveRes, writeRemoveArgs } from "../../nfs/nfs3/proc/remove.ts";
import { readRenameRes, writeRenameArgs } from "../../nfs/nfs3/proc/rename.ts";
import { readSetattrRes, type SetattrArgs, writeSetattrArgs } from "../../nfs/nfs3/proc/setattr.ts";
import { writeSymlinkArgs } from "../../nfs/nfs3/proc/symlink.ts";
import { readWriteRes, writeWriteArgs } from "../../nfs/nfs3/proc/write.ts";
import type { Res3 } from "../../nfs/nfs3/procedure.ts";
import { nfsStatName } from "../../nfs/nfs3/status.ts";
import type { Sattr3 } from "../../nfs/nfs3/types.ts";
import type { XdrReader } from "../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../nfs/xdr/writer.ts";
import { MOUNT_PATH_BYTES_MAX } from "../../src/limits.ts";
import { type CallOptions, RpcClient } from "./rpcclient.ts";

export interface NfsClientOptions {
  /** AUTH_SYS identity; AUTH_NONE when absent. */
  uid?: number;
  gid?: number;
  groups?: number[];
}

const name = (text: string | Buffer) => (typeof text === "string" ? Buffer.from(text) : text);

export class NfsClient {
  readonly rpc: RpcClient;
  private readonly callOptions: CallOptions;

  private constructor(rpc: RpcClient, options: NfsClientOptions) {
    this.rpc = rpc;
    this.callOptions =
      options.uid === undefined
        ? {}
        : {
            authSys: {
              stamp: 1,
              machineName: "test",
              uid: options.uid,
              gid: options.gid ?? options.uid,
              groups: options.groups ?? [],
            },
          };
  }

  static async connect(port: number, options: NfsClientOptions = { uid: 0, gid: 0 }) {
    return new NfsClient(await RpcClient.connect(port), options);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.rpc[Symbol.asyncDispose]();
  }

  async close(): Promise<void> {
    await this.rpc.close();
  }

  /** One NFSv3 call; the reply must be an RPC SUCCESS and decode exactly. */
  async call<T>(proc: number, args: XdrWriter, read: (r: XdrReader) => T): Promise<T> {
    const body = await this.rpc.callOk(NFS_PROG, NFS_V3, proc, args, this.callOptions);
    const result = read(body);
    body.assertConsumed(`NFS proc ${proc} result`);
    return result;
  }

  // ---- MOUNT ----

  async mnt(path: string) {
    const args = new XdrWriter().string(path, MOUNT_PATH_BYTES_MAX);
    const body = await this.rpc.callOk(MOUNT_PROG, MOUNT_V3, MountProc.MNT, args, this.callOptions);
    const res = readMntRes(body);
    body.assertConsumed("mountres3");
    return res;
  }

  /** The root handle of `path`, or throws with the mount status. */
  async mount(path = "/"): Promise<Buffer> {
    const res = await this.mnt(path);
    if (res.fhandle === undefined) throw new Error(`MNT ${path}: mountstat3 ${res.status}`);
    if (res.fhandle.byteLength > FHSIZE3) throw new Error("handle too long");
    return res.fhandle;
  }

  // ---- NFS procedures ----

  getattr(object: Buffer) {
    const w = new XdrWriter();
    writeGetattrArgs(w, { object });
    return this.call(Nfs3Proc.GETATTR, w, readGetattrRes);
  }

  setattr(args: SetattrArgs) {
    const w = new XdrWriter();
    writeSetattrArgs(w, args);
    return this.call(Nfs3Proc.SETATTR, w, readSetattrRes);
  }

  lookup(dir: Buffer, entry: string | Buffer) {
    const w = new XdrWriter();
    writeLookupArgs(w, { dir, name: name(entry) });
    return this.call(Nfs3Proc.LOOKUP, w, readLookupRes);
  }

  access(object: Buffer, access: number) {
    const w = new XdrWriter();
    writeAccessArgs(w, { object, access });
    return this.call(Nfs3Proc.ACCESS, w, readAccessRes);
  }

  readlink(symlink: Buffer) {
    const w = new XdrWriter();
    writeReadlinkArgs(w, symlink);
    return this.call(Nfs3Proc.READLINK, w, readReadlinkRes);
  }

  read(file: Buffer, offset: number | bigint, count: number) {
    const w = new XdrWriter();
    writeReadArgs(w, { file, offset: BigInt(offset), count });
    return this.call(Nfs3Proc.READ, w, readReadRes);
  }

  write(
    file: Buffer,
    offset: number | bigint,
    data: Uint8Array,
    stable: number = StableHow.UNSTABLE,
  ) {
    const w = new XdrWriter();
    const args = { file, offset: BigInt(offset), count: data.byteLength, data: Buffer.from(data) };
    writeWriteArgs(w, { ...args, stable: stable as 0 });
    return this.call(Nfs3Proc.WRITE, w, readWriteRes);
  }

  create(
    dir: Buffer,
    entry: string | Buffer,
    how: CreateHow = { mode: CreateMode.GUARDED, attributes: { mode: 0o644 } },
  ) {
    const w = new XdrWriter();
    writeCreateArgs(w, { where: { dir, name: name(entry) }, how });
    return this.call(Nfs3Proc.CREATE, w, readCreatedRes);
  }

  mkdir(dir: Buffer, entry: string | Buffer, attributes: Sattr3 = { mode: 0o755 }) {
    const w = new XdrWriter();
    writeMkdirArgs(w, { where: { dir, name: name(entry) }, attributes });
    return this.call(Nfs3Proc.MKDIR, w, readCreatedRes);
  }

  symlink(dir: Buffer, entry: string | Buffer, target: string, attributes: Sattr3 = {}) {
    const w = new XdrWriter();
    writeSymlinkArgs(w, {
      where: { dir, name: name(entry) },
      attributes,
      target: Buffer.from(target),
    });
    return this.call(Nfs3Proc.SYMLINK, w, readCreatedRes);
  }

  mknod(args: MknodArgs) {
    const w = new XdrWriter();
    writeMknodArgs(w, args);
    return this.call(Nfs3Proc.MKNOD, w, readCreatedRes);
  }

  remove(dir: Buffer, entry: string | Buffer) {
    const w = new XdrWriter();
    writeRemoveArgs(w, { dir, name: name(entry) });
    return this.call(Nfs3Proc.REMOVE, w, readRemoveRes);
  }

  rmdir(dir: Buffer, entry: string | Buffer) {
    const w = new XdrWriter();
    writeRemoveArgs(w, { dir, name: name(entry) });
    return this.call(Nfs3Proc.RMDIR, w, readRemoveRes);
  }

  rename(fromDir: Buffer, fromName: string, toDir: Buffer, toName: string) {
    const w = new XdrWriter();
    writeRenameArgs(w, {
      from: { dir: fromDir, name: name(fromName) },
      to: { dir: toDir, name: name(toName) },
    });
    return this.call(Nfs3Proc.RENAME, w, readRenameRes);
  }

  link(file: Buffer, dir: Buffer, entry: string) {
    const w = new XdrWriter();
    writeLinkArgs(w, { file, link: { dir, name: name(entry) } });
    return this.call(Nfs3Proc.LINK, w, readLinkRes);
  }

  readdir(dir: Buffer, cookie: bigint, count: number, cookieverf = COOKIE_VERIFIER) {
    const w = new XdrWriter();
    writeReaddirArgs(w, { dir, cookie, cookieverf, count });
    return this.call(Nfs3Proc.READDIR, w, readReaddirRes);
  }

  readdirplus(
    dir: Buffer,
    cookie: bigint,
    maxcount: number,
    dircount = maxcount,
    cookieverf = COOKIE_VERIFIER,
  ) {
    const w = new XdrWriter();
    writeReaddirplusArgs(w, { dir, cookie, cookieverf, dircount, maxcount });
    return this.call(Nfs3Proc.READDIRPLUS, w, readReaddirplusRes);
  }

  fsstat(fsroot: Buffer) {
    const w = new XdrWriter();
    writeFsstatArgs(w, fsroot);
    return this.call(Nfs3Proc.FSSTAT, w, readFsstatRes);
  }

  fsinfo(fsroot: Buffer) {
    const w = new XdrWriter();
    writeFsinfoArgs(w, fsroot);
    return this.call(Nfs3Proc.FSINFO, w, readFsinfoRes);
  }

  pathconf(object: Buffer) {
    const w = new XdrWriter();
    writePathconfArgs(w, object);
    return this.call(Nfs3Proc.PATHCONF, w, readPathconfRes);
  }

  commit(file: Buffer, offset = 0n, count = 0) {
    const w = new XdrWriter();
    writeCommitArgs(w, { file, offset, count });
    return this.call(Nfs3Proc.COMMIT, w, readCommitRes);
  }

  // ---- helpers ----

  /** Creates `entry` (UNCHECKED), writes `data` UNSTABLE in pieces, COMMITs; the new handle. */
  async writeFile(
    dir: Buffer,
    entry: string,
    data: Uint8Array,
    pieceBytes = 1 << 20,
  ): Promise<Buffer> {
    const how: CreateHow = { mode: CreateMode.UNCHECKED, attributes: { mode: 0o644, size: 0n } };
    const fh = ok(await this.create(dir, entry, how), `CREATE ${entry}`).obj;
    if (fh === undefined) throw new Error("CREATE returned no handle");
    const writes: Promise<unknown>[] = [];
    for (let offset = 0; offset < data.byteLength; offset += pieceBytes) {
      const piece = data.subarray(offset, offset + pieceBytes);
      writes.push(this.write(fh, offset, piece).then((res) => ok(res, `WRITE ${entry}@${offset}`)));
    }
    await Promise.all(writes);
    ok(await this.commit(fh), `COMMIT ${entry}`);
    return fh;
  }

  /** The whole content of a file, read in pieces until eof. */
  async readFile(fh: Buffer, pieceBytes = 1 << 20): Promise<Buffer> {
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const res = ok(await this.read(fh, offset, pieceBytes), "READ");
      parts.push(Buffer.from(res.data));
      offset += res.count;
      if (res.eof) return Buffer.concat(parts);
      if (res.count === 0) throw new Error("READ returned nothing before eof");
    }
  }

  /** Every entry of a directory, page by page with READDIRPLUS (or READDIR). */
  async listAll(dir: Buffer, options: { plus?: boolean; countBytes?: number } = {}) {
    const count = options.countBytes ?? 8192;
    const names: { name: string; cookie: bigint; fileid: bigint }[] = [];
    let cookie = 0n;
    for (let pages = 0; pages < 100_000; pages++) {
      const res =
        options.plus === false
          ? await this.readdir(dir, cookie, count)
          : await this.readdirplus(dir, cookie, count);
      const page = ok(res, "READDIR").page;
      for (const e of page.entries)
        names.push({ name: e.name.toString(), cookie: e.cookie, fileid: e.fileid });
      if (page.eof) return names;
      const last = page.entries.at(-1);
      if (last === undefined) throw new Error("READDIR page without entries and without eof");
      cookie = last.cookie;
    }
    throw new Error("READDIR never reached eof");
  }

  /** Handle of a path below `root` ("a/b/c"), by LOOKUPs. */
  async walk(root: Buffer, path: string): Promise<Buffer> {
    let fh = root;
    for (const part of path.split("/").filter((p) => p !== "")) {
      fh = ok(await this.lookup(fh, part), `LOOKUP ${part}`).object;
    }
    return fh;
  }
}

/** The resok of a result, or an error naming the status. */
export function ok<Ok, Fail>(res: Res3<Ok, Fail>, what = "NFS call"): Ok {
  if (res.status !== NfsStat3.OK || res.ok === undefined) {
    throw new Error(`${what}: ${nfsStatName(res.status)}`);
  }
  return res.ok;
}
