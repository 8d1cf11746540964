/**
 * Procedure 16: READDIR (RFC 1813 section 3.3.16).
 *
 *   struct READDIR3args { nfs_fh3 dir; cookie3 cookie; cookieverf3 cookieverf; count3 count; };
 *   struct entry3 { fileid3 fileid; filename3 name; cookie3 cookie; entry3 *nextentry; };
 *   struct dirlist3 { entry3 *entries; bool eof; };
 *   struct READDIR3resok { post_op_attr dir_attributes; cookieverf3 cookieverf; dirlist3 reply; };
 *   struct READDIR3resfail { post_op_attr dir_attributes; };
 *
 * Cookies and size accounting: see dirlist.ts.
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
import { type Fattr3, readFh3, readPostOpAttr, writeFh3, writePostOpAttr } from "../types.ts";

export interface ReaddirArgs {
  dir: Buffer;
  cookie: bigint;
  cookieverf: Buffer;
  count: number;
}

export interface ReaddirOk {
  dirAttributes: Fattr3 | undefined;
  cookieverf: Buffer;
  page: DirPage;
}

/** Our cookieverf3: always zero, since our cookies never need one (see dirlist.ts). */
export const COOKIE_VERIFIER = Buffer.alloc(NFS3_VERIFIER_BYTES);
/** Bound for reading a client's list: more entries than the largest reply can hold. */
export const DIR_ENTRIES_DECODE_MAX = Math.ceil(NFS_DIR_REPLY_BYTES_MAX / 28);

export function decodeReaddirArgs(r: XdrReader): ReaddirArgs {
  const dir = readFh3(r);
  const cookie = r.uhyper();
  const cookieverf = Buffer.from(r.opaqueFixed(NFS3_VERIFIER_BYTES));
  const count = r.uint32();
  return { dir, cookie, cookieverf, count };
}

export function writeReaddirArgs(w: XdrWriter, a: ReaddirArgs): void {
  writeFh3(w, a.dir);
  w.uhyper(a.cookie).opaqueFixed(a.cookieverf, NFS3_VERIFIER_BYTES).uint32(a.count);
}

export function writeReaddirOk(w: XdrWriter, ok: ReaddirOk): void {
  writePostOpAttr(w, ok.dirAttributes);
  w.opaqueFixed(ok.cookieverf, NFS3_VERIFIER_BYTES);
  w.list(ok.page.entries, (x, e) => {
    x.uhyper(e.fileid).string(e.name, NAME_BYTES_MAX).uhyper(e.cookie);
  });
  w.bool(ok.page.eof);
}

export function readReaddirRes(r: XdrReader): Res3<ReaddirOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const dirAttributes = readPostOpAttr(x);
      const cookieverf = Buffer.from(x.opaqueFixed(NFS3_VERIFIER_BYTES));
      const entries = x.list(DIR_ENTRIES_DECODE_MAX, (y) => {
        const fileid = y.uhyper();
        const name = Buffer.from(y.stringBytes(NAME_BYTES_MAX));
        const cookie = y.uhyper();
        return { fileid, name, cookie };
      });
      const eof = x.bool();
      return { dirAttributes, cookieverf, page: { entries, eof } };
    },
    readPostOpAttr,
  );
}

export const READDIR: Nfs3Procedure<ReaddirArgs> = {
  name: "READDIR",
  mutates: false,
  decode: decodeReaddirArgs,
  failure: (a) => [{ post: a.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const replyBytesMax = Math.min(a.count, NFS_DIR_REPLY_BYTES_MAX);
    const limits = { plus: false, replyBytesMax, dirBytesMax: replyBytesMax };
    const page = await listDirectory(op, dir, a.cookie, limits);
    writeReaddirOk(w, {
      dirAttributes: op.fattr(dir.inode, dir.attr),
      cookieverf: COOKIE_VERIFIER,
      page,
    });
  },
};
