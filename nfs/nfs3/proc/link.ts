/**
 * Procedure 15: LINK (RFC 1813 section 3.3.15).
 *
 *   struct LINK3args { nfs_fh3 file; diropargs3 link; };
 *   struct LINK3resok { post_op_attr file_attributes; wcc_data linkdir_wcc; };
 *   struct LINK3resfail { post_op_attr file_attributes; wcc_data linkdir_wcc; };
 */
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import {
  type DirOpArgs3,
  type Fattr3,
  readDirOpArgs3,
  readFh3,
  readPostOpAttr,
  readWccData,
  type WccData,
  writeDirOpArgs3,
  writeFh3,
  writePostOpAttr,
  writeWccData,
} from "../types.ts";

export interface LinkArgs {
  file: Buffer;
  link: DirOpArgs3;
}

export interface LinkRes {
  fileAttributes: Fattr3 | undefined;
  linkDirWcc: WccData;
}

export function writeLinkArgs(w: XdrWriter, a: LinkArgs): void {
  writeFh3(w, a.file);
  writeDirOpArgs3(w, a.link);
}

export function readLinkRes(r: XdrReader): Res3<LinkRes, LinkRes> {
  const read = (x: XdrReader) => {
    const fileAttributes = readPostOpAttr(x);
    const linkDirWcc = readWccData(x);
    return { fileAttributes, linkDirWcc };
  };
  return readRes3(r, read, read);
}

export const LINK: Nfs3Procedure<LinkArgs> = {
  name: "LINK",
  mutates: true,
  decode: (r) => {
    const file = readFh3(r);
    const link = readDirOpArgs3(r);
    return { file, link };
  },
  failure: (a) => [{ post: a.file }, { wcc: a.link.dir }],
  async run(op, a, w) {
    const file = await op.resolve(a.file);
    const dir = await op.resolve(a.link.dir);
    const linked = await op.vfs.link(op.cred, file.inode, dir.inode, a.link.name);
    writePostOpAttr(w, op.fattr(file.inode, linked.attr));
    writeWccData(w, op.pre(dir.inode), await op.post(dir.inode));
  },
};
