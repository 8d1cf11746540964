/**
 * What CREATE, MKDIR, SYMLINK and MKNOD share (RFC 1813 sections 3.3.8 to 3.3.11): the result
 *
 *   struct XXX3resok { post_op_fh3 obj; post_op_attr obj_attributes; wcc_data dir_wcc; };
 *   struct XXX3resfail { wcc_data dir_wcc; };
 *
 * and the attributes of a sattr3 that creation itself does not set.
 */

import type { Attr, Ino } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Op } from "../context.ts";
import { type Res3, readRes3 } from "../procedure.ts";
import {
  type Fattr3,
  readPostOpAttr,
  readPostOpFh3,
  readWccData,
  type Sattr3,
  setAttrRequestOf,
  type WccData,
  writePostOpAttr,
  writePostOpFh3,
  writeWccData,
} from "../types.ts";

export interface CreatedOk {
  obj: Buffer | undefined;
  objAttributes: Fattr3 | undefined;
  dirWcc: WccData;
}

export function writeCreatedOk(w: XdrWriter, ok: CreatedOk): void {
  writePostOpFh3(w, ok.obj);
  writePostOpAttr(w, ok.objAttributes);
  writeWccData(w, ok.dirWcc.before, ok.dirWcc.after);
}

export function readCreatedRes(r: XdrReader): Res3<CreatedOk, WccData> {
  return readRes3(
    r,
    (x) => {
      const obj = readPostOpFh3(x);
      const objAttributes = readPostOpAttr(x);
      const dirWcc = readWccData(x);
      return { obj, objAttributes, dirWcc };
    },
    readWccData,
  );
}

/**
 * Applies what creation left out (owner, group, size, times; the mode was given to the
 * create call) and returns the final attributes.
 */
export async function applyRest(op: Nfs3Op, inode: Ino, attr: Attr, s: Sattr3): Promise<Attr> {
  const { mode: _mode, ...rest } = s;
  if (rest.size === 0n && attr.size === 0) delete rest.size;
  if (Object.keys(rest).length === 0) return attr;
  return op.vfs.setattr(op.cred, inode, setAttrRequestOf(rest));
}

/**
 * Writes the CREATE/MKDIR/SYMLINK/MKNOD result for a new (or found) object in `dir`, whose
 * attributes after the call (`dirAfter`) came with the creation (or the lookup that found it).
 */
export function writeCreated(
  op: Nfs3Op,
  w: XdrWriter,
  dir: Ino,
  dirAfter: Attr,
  inode: Ino,
  attr: Attr,
): void {
  writeCreatedOk(w, {
    obj: op.handle(inode, attr),
    objAttributes: op.fattr(inode, attr),
    dirWcc: { before: op.pre(dir), after: op.fattr(dir, dirAfter) },
  });
}
