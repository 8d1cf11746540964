/**
 * Procedure 14: RENAME (RFC 1813 section 3.3.14).
 *
 *   struct RENAME3args { diropargs3 from; diropargs3 to; };
 *   struct RENAME3resok { wcc_data fromdir_wcc; wcc_data todir_wcc; };
 *   struct RENAME3resfail { wcc_data fromdir_wcc; wcc_data todir_wcc; };
 *
 * Atomic in the VFS (one meta transaction); a replaced target follows REMOVE's rules.
 */
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import {
  type DirOpArgs3,
  readDirOpArgs3,
  readWccData,
  type WccData,
  writeDirOpArgs3,
  writeWccData,
} from "../types.ts";

export interface RenameArgs {
  from: DirOpArgs3;
  to: DirOpArgs3;
}

export interface RenameWcc {
  fromDirWcc: WccData;
  toDirWcc: WccData;
}

export function writeRenameArgs(w: XdrWriter, a: RenameArgs): void {
  writeDirOpArgs3(w, a.from);
  writeDirOpArgs3(w, a.to);
}

export function readRenameRes(r: XdrReader): Res3<RenameWcc, RenameWcc> {
  const read = (x: XdrReader) => {
    const fromDirWcc = readWccData(x);
    const toDirWcc = readWccData(x);
    return { fromDirWcc, toDirWcc };
  };
  return readRes3(r, read, read);
}

export const RENAME: Nfs3Procedure<RenameArgs> = {
  name: "RENAME",
  mutates: true,
  decode: (r) => {
    const from = readDirOpArgs3(r);
    const to = readDirOpArgs3(r);
    return { from, to };
  },
  failure: (a) => [{ wcc: a.from.dir }, { wcc: a.to.dir }],
  async run(op, a, w) {
    const from = await op.resolve(a.from.dir);
    const to = await op.resolve(a.to.dir);
    const moved = await op.vfs.rename(op.cred, from.inode, a.from.name, to.inode, a.to.name, 0);
    writeWccData(w, op.pre(from.inode), op.fattr(from.inode, moved.srcParentAttr));
    writeWccData(w, op.pre(to.inode), op.fattr(to.inode, moved.dstParentAttr));
  },
};
