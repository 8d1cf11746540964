/**
 * Procedure 5: READLINK (RFC 1813 section 3.3.5).
 *
 *   struct READLINK3args { nfs_fh3 symlink; };
 *   struct READLINK3resok { post_op_attr symlink_attributes; nfspath3 data; };
 *   struct READLINK3resfail { post_op_attr symlink_attributes; };
 */
import { SYMLINK_TARGET_BYTES_MAX } from "../../../src/limits.ts";
import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NfsStat3 } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type Fattr3,
  readFh3,
  readNfsPath3,
  readPostOpAttr,
  writeFh3,
  writePostOpAttr,
} from "../types.ts";

export interface ReadlinkOk {
  attributes: Fattr3 | undefined;
  data: Buffer;
}

export function writeReadlinkArgs(w: XdrWriter, symlink: Buffer): void {
  writeFh3(w, symlink);
}

export function readReadlinkRes(r: XdrReader): Res3<ReadlinkOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const attributes = readPostOpAttr(x);
      const data = readNfsPath3(x);
      return { attributes, data };
    },
    readPostOpAttr,
  );
}

export const READLINK: Nfs3Procedure<{ symlink: Buffer }> = {
  name: "READLINK",
  mutates: false,
  decode: (r) => ({ symlink: readFh3(r) }),
  failure: (a) => [{ post: a.symlink }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.symlink);
    if (attr.type !== FileType.Symlink) throw new NfsError(NfsStat3.INVAL, "not a symlink");
    const target = await op.vfs.readlink(op.cred, inode);
    writePostOpAttr(w, op.fattr(inode, attr));
    w.string(target, SYMLINK_TARGET_BYTES_MAX);
  },
};
