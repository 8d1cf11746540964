/**
 * Procedure 3: LOOKUP (RFC 1813 section 3.3.3).
 *
 *   struct LOOKUP3args { diropargs3 what; };
 *   struct LOOKUP3resok { nfs_fh3 object; post_op_attr obj_attributes; post_op_attr dir_attributes; };
 *   struct LOOKUP3resfail { post_op_attr dir_attributes; };
 *
 * ".." of the export's root is the root itself: a client never walks out of its export, and
 * never into the trash ("/.trash" of an export of "/" is NOENT unless --expose-trash).
 */

import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NfsStat3 } from "../constants.ts";
import type { Nfs3Op } from "../context.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type DirOpArgs3,
  type Fattr3,
  readDirOpArgs3,
  readFh3,
  readPostOpAttr,
  writeDirOpArgs3,
  writeFh3,
  writePostOpAttr,
} from "../types.ts";

export interface LookupOk {
  object: Buffer;
  objAttributes: Fattr3 | undefined;
  dirAttributes: Fattr3 | undefined;
}

export function writeLookupArgs(w: XdrWriter, a: DirOpArgs3): void {
  writeDirOpArgs3(w, a);
}

export function writeLookupOk(w: XdrWriter, ok: LookupOk): void {
  writeFh3(w, ok.object);
  writePostOpAttr(w, ok.objAttributes);
  writePostOpAttr(w, ok.dirAttributes);
}

export function readLookupRes(r: XdrReader): Res3<LookupOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const object = readFh3(x);
      const objAttributes = readPostOpAttr(x);
      const dirAttributes = readPostOpAttr(x);
      return { object, objAttributes, dirAttributes };
    },
    readPostOpAttr,
  );
}

const DOTDOT = Buffer.from("..");

async function lookupDotDot(op: Nfs3Op, a: DirOpArgs3) {
  const dir = await op.resolve(a.dir);
  if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
  const atRoot = dir.inode === op.exp.exportRoot;
  const found = atRoot ? dir : await op.vfs.lookup(op.cred, dir.inode, a.name);
  return { dir, found };
}

export const LOOKUP: Nfs3Procedure<DirOpArgs3> = {
  name: "LOOKUP",
  mutates: false,
  decode: readDirOpArgs3,
  failure: (a) => [{ post: a.dir }],
  async run(op, a, w) {
    // One meta read for the directory and the entry; ".." (rare) may stop at the export root.
    const { dir, found } = a.name.equals(DOTDOT)
      ? await lookupDotDot(op, a)
      : await op.lookupIn(a.dir, a.name);
    // "/.trash" (and nothing else below an export, but the check is cheap: dir is cached).
    if (!(await op.exp.scope.contains(found.inode, found.attr))) throw new NfsError(NfsStat3.NOENT);
    writeLookupOk(w, {
      object: op.handle(found.inode, found.attr),
      objAttributes: op.fattr(found.inode, found.attr),
      dirAttributes: op.fattr(dir.inode, dir.attr),
    });
  },
};
