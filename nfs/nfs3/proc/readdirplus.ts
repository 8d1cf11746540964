/**
 * Procedure 17: READDIRPLUS (RFC 1813 section 3.3.17).
 *
 *   struct READDIRPLUS3args { nfs_fh3 dir; cookie3 cookie; cookieverf3 cookieverf;
 *                             count3 dircount; count3 maxcount; };
 *   struct entryplus3 { fileid3 fileid; filename3 name; cookie3 cookie;
 *                       post_op_attr name_attributes; post_op_fh3 name_handle;
 *                       entryplus3 *nextentry; };
 *   struct dirlistplus3 { entryplus3 *entries; bool eof; };
 *   struct READDIRPLUS3resok { post_op_attr dir_attributes; cookieverf3 cookieverf;
 *                              dirlistplus3 reply; };
 *   struct READDIRPLUS3resfail { post_op_attr dir_attributes; };
 *
 * The attributes come from the VFS listing itself (one batched meta read per round), not
 * from a GETATTR per entry. maxcount bounds the reply; dircount is read but, as in knfsd, does
 * not cut it shorter (Linux sends dircount = maxcount / 8, which would cost it extra round
 * trips for nothing: it sized its buffers by maxcount). Cookies: see dirlist.ts.
 */
import { NAME_BYTES_MAX, NFS_DIR_REPLY_BYTES_MAX } from "../../../src/limits.ts";
import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NFS3_VERIFIER_BYTES, NfsStat3 } from "../constants.ts";
import { type DirPage, listDirectory } from "../dirlist.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type Fattr3,
  readFh3,
  readPostOpAttr,
  readPostOpFh3,
  writeFh3,
  writePostOpAttr,
  writePostOpFh3,
} from "../types.ts";
import { COOKIE_VERIFIER, DIR_ENTRIES_DECODE_MAX, type ReaddirOk } from "./readdir.ts";

export interface ReaddirplusArgs {
  dir: Buffer;
  cookie: bigint;
  cookieverf: Buffer;
  dircount: number;
  maxcount: number;
}

export function decodeReaddirplusArgs(r: XdrReader): ReaddirplusArgs {
  const dir = readFh3(r);
  const cookie = r.uhyper();
  const cookieverf = Buffer.from(r.opaqueFixed(NFS3_VERIFIER_BYTES));
  const dircount = r.uint32();
  const maxcount = r.uint32();
  return { dir, cookie, cookieverf, dircount, maxcount };
}

export function writeReaddirplusArgs(w: XdrWriter, a: ReaddirplusArgs): void {
  writeFh3(w, a.dir);
  w.uhyper(a.cookie).opaqueFixed(a.cookieverf, NFS3_VERIFIER_BYTES);
  w.uint32(a.dircount).uint32(a.maxcount);
}

export function writeReaddirplusOk(w: XdrWriter, ok: ReaddirOk): void {
  writePostOpAttr(w, ok.dirAttributes);
  w.opaqueFixed(ok.cookieverf, NFS3_VERIFIER_BYTES);
  w.list(ok.page.entries, (x, e) => {
    x.uhyper(e.fileid).string(e.name, NAME_BYTES_MAX).uhyper(e.cookie);
    writePostOpAttr(x, e.attributes);
    writePostOpFh3(x, e.handle);
  });
  w.bool(ok.page.eof);
}

export function readReaddirplusRes(r: XdrReader): Res3<ReaddirOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const dirAttributes = readPostOpAttr(x);
      const cookieverf = Buffer.from(x.opaqueFixed(NFS3_VERIFIER_BYTES));
      const entries = x.list(DIR_ENTRIES_DECODE_MAX, (y) => {
        const fileid = y.uhyper();
        const name = Buffer.from(y.stringBytes(NAME_BYTES_MAX));
        const cookie = y.uhyper();
        const attributes = readPostOpAttr(y);
        const handle = readPostOpFh3(y);
        return {
          fileid,
          name,
          cookie,
          ...(attributes !== undefined && { attributes }),
          ...(handle !== undefined && { handle: Buffer.from(handle) }),
        };
      });
      const eof = x.bool();
      const page: DirPage = { entries, eof };
      return { dirAttributes, cookieverf, page };
    },
    readPostOpAttr,
  );
}

export const READDIRPLUS: Nfs3Procedure<ReaddirplusArgs> = {
  name: "READDIRPLUS",
  mutates: false,
  decode: decodeReaddirplusArgs,
  failure: (a) => [{ post: a.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const replyBytesMax = Math.min(a.maxcount, NFS_DIR_REPLY_BYTES_MAX);
    const limits = { plus: true, replyBytesMax, dirBytesMax: replyBytesMax };
    const page = await listDirectory(op, dir, a.cookie, limits);
    writeReaddirplusOk(w, {
      dirAttributes: op.fattr(dir.inode, dir.attr),
      cookieverf: COOKIE_VERIFIER,
      page,
    });
  },
};
