/**
 * Procedure 4: ACCESS (RFC 1813 section 3.3.4).
 *
 *   struct ACCESS3args { nfs_fh3 object; uint32 access; };
 *   struct ACCESS3resok { post_op_attr obj_attributes; uint32 access; };
 *   struct ACCESS3resfail { post_op_attr obj_attributes; };
 *
 * Each requested bit is granted when the VFS grants the permission it needs for the caller's
 * credentials (after squashing): READ → r; MODIFY, EXTEND → w; on directories LOOKUP → x and
 * DELETE → w, on other files EXECUTE → x. Bits that mean nothing for the object's type are not
 * granted (as knfsd). On a read-only export MODIFY, EXTEND and DELETE are never granted.
 */
import { AccessMask, FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { Access3 } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { type Fattr3, readFh3, readPostOpAttr, writeFh3, writePostOpAttr } from "../types.ts";

export interface AccessArgs {
  object: Buffer;
  access: number;
}

export interface AccessOk {
  objAttributes: Fattr3 | undefined;
  access: number;
}

export function writeAccessArgs(w: XdrWriter, a: AccessArgs): void {
  writeFh3(w, a.object);
  w.uint32(a.access);
}

export function readAccessRes(r: XdrReader): Res3<AccessOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const objAttributes = readPostOpAttr(x);
      const access = x.uint32();
      return { objAttributes, access };
    },
    readPostOpAttr,
  );
}

/** The permission (r, w or x) each ACCESS3 bit needs, by kind of object. */
function neededMask(bit: number, directory: boolean): number | undefined {
  switch (bit) {
    case Access3.READ:
      return AccessMask.R;
    case Access3.MODIFY:
    case Access3.EXTEND:
      return AccessMask.W;
    case Access3.LOOKUP:
      return directory ? AccessMask.X : undefined;
    case Access3.DELETE:
      return directory ? AccessMask.W : undefined;
    case Access3.EXECUTE:
      return directory ? undefined : AccessMask.X;
    default:
      return undefined;
  }
}

const ACCESS_BITS = Object.values(Access3);
const WRITE_BITS = Access3.MODIFY | Access3.EXTEND | Access3.DELETE;

export const ACCESS: Nfs3Procedure<AccessArgs> = {
  name: "ACCESS",
  mutates: false,
  decode: (r) => {
    const object = readFh3(r);
    const access = r.uint32();
    return { object, access };
  },
  failure: (a) => [{ post: a.object }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.object);
    const directory = attr.type === FileType.Directory;
    // The attributes resolve() just read decide, as vfs.access would after reading them again.
    const permitted = op.vfs.permitted(op.cred, attr);
    let access = 0;
    for (const bit of ACCESS_BITS) {
      if ((a.access & bit) === 0) continue;
      const mask = neededMask(bit, directory);
      if (mask !== undefined && (permitted & mask) === mask) access |= bit;
    }
    if (op.exp.policy.readOnly) access &= ~WRITE_BITS;
    writePostOpAttr(w, op.fattr(inode, attr));
    w.uint32(access);
  },
};
