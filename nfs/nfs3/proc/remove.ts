/**
 * Procedure 12: REMOVE (RFC 1813 section 3.3.12).
 *
 *   struct REMOVE3args { diropargs3 object; };
 *   struct REMOVE3resok { wcc_data dir_wcc; };   struct REMOVE3resfail { wcc_data dir_wcc; };
 *
 * With the volume's trash on, the file moves to .trash and its handle keeps working until the
 * trash is emptied; without it the inode is gone and its handles are STALE.
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

export function writeRemoveArgs(w: XdrWriter, a: DirOpArgs3): void {
  writeDirOpArgs3(w, a);
}

/** REMOVE3res and RMDIR3res: wcc_data dir_wcc either way. */
export function readRemoveRes(r: XdrReader): Res3<WccData, WccData> {
  return readRes3(r, readWccData, readWccData);
}

export const REMOVE: Nfs3Procedure<DirOpArgs3> = {
  name: "REMOVE",
  mutates: true,
  decode: readDirOpArgs3,
  failure: (a) => [{ wcc: a.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.dir);
    const after = await op.vfs.unlink(op.cred, dir.inode, a.name);
    writeWccData(w, op.pre(dir.inode), op.fattr(dir.inode, after));
  },
};
