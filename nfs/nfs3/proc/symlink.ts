/**
 * Procedure 10: SYMLINK (RFC 1813 section 3.3.10).
 *
 *   struct symlinkdata3 { sattr3 symlink_attributes; nfspath3 symlink_data; };
 *   struct SYMLINK3args { diropargs3 where; symlinkdata3 symlink; };
 *   result: see created.ts
 *
 * A symlink's mode is always 0777 (Linux ignores it); owner and group from the sattr3 apply.
 */

import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NfsStat3 } from "../constants.ts";
import type { Nfs3Procedure } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type DirOpArgs3,
  NFS_PATH_WIRE_BYTES_MAX,
  readDirOpArgs3,
  readNfsPath3,
  readSattr3,
  type Sattr3,
  writeDirOpArgs3,
  writeSattr3,
} from "../types.ts";
import { writeCreated } from "./created.ts";

export interface SymlinkArgs {
  where: DirOpArgs3;
  attributes: Sattr3;
  target: Buffer;
}

export function writeSymlinkArgs(w: XdrWriter, a: SymlinkArgs): void {
  writeDirOpArgs3(w, a.where);
  writeSattr3(w, a.attributes);
  w.string(a.target, NFS_PATH_WIRE_BYTES_MAX);
}

export const SYMLINK: Nfs3Procedure<SymlinkArgs> = {
  name: "SYMLINK",
  mutates: true,
  decode: (r: XdrReader) => {
    const where = readDirOpArgs3(r);
    const attributes = readSattr3(r);
    const target = readNfsPath3(r);
    return { where, attributes, target };
  },
  failure: (a) => [{ wcc: a.where.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.where.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const made = await op.vfs.symlink(op.cred, dir.inode, a.where.name, a.target);
    let attr = made.attr;
    const { uid, gid } = a.attributes;
    if (uid !== undefined || gid !== undefined) {
      const request = { ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) };
      attr = await op.vfs.setattr(op.cred, made.inode, request);
    }
    writeCreated(op, w, dir.inode, made.parentAttr, made.inode, attr);
  },
};
