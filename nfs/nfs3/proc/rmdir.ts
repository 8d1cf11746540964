/**
 * Procedure 13: RMDIR (RFC 1813 section 3.3.13).
 *
 *   struct RMDIR3args { diropargs3 object; };
 *   struct RMDIR3resok { wcc_data dir_wcc; };   struct RMDIR3resfail { wcc_data dir_wcc; };
 */
import type { Nfs3Procedure } from "../procedure.ts";
import { type DirOpArgs3, readDirOpArgs3, writeWccData } from "../types.ts";

export const RMDIR: Nfs3Procedure<DirOpArgs3> = {
  name: "RMDIR",
  mutates: true,
  decode: readDirOpArgs3,
  failure: (a) => [{ wcc: a.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.dir);
    const after = await op.vfs.rmdir(op.cred, dir.inode, a.name);
    writeWccData(w, op.pre(dir.inode), op.fattr(dir.inode, after));
  },
};
