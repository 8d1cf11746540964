/**
 * Procedure 2: SETATTR (RFC 1813 section 3.3.2).
 *
 *   union sattrguard3 switch (bool check) { case TRUE: nfstime3 obj_ctime; case FALSE: void; };
 *   struct SETATTR3args { nfs_fh3 object; sattr3 new_attributes; sattrguard3 guard; };
 *   struct SETATTR3resok { wcc_data obj_wcc; };   struct SETATTR3resfail { wcc_data obj_wcc; };
 *
 * The guard is checked by the VFS in the same transaction as the change (ctimeGuard), so a
 * concurrent change between check and set cannot slip through: a mismatch is NOT_SYNC.
 */
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import {
  type NfsTime3,
  readFh3,
  readNfsTime3,
  readSattr3,
  readWccData,
  type Sattr3,
  setAttrRequestOf,
  type WccData,
  writeFh3,
  writeNfsTime3,
  writeSattr3,
  writeWccData,
} from "../types.ts";

export interface SetattrArgs {
  object: Buffer;
  attributes: Sattr3;
  /** sattrguard3: the ctime the client expects the object to still have. */
  guard: NfsTime3 | undefined;
}

export function decodeSetattrArgs(r: XdrReader): SetattrArgs {
  const object = readFh3(r);
  const attributes = readSattr3(r);
  const guard = r.optional(readNfsTime3);
  return { object, attributes, guard };
}

export function writeSetattrArgs(w: XdrWriter, a: SetattrArgs): void {
  writeFh3(w, a.object);
  writeSattr3(w, a.attributes);
  w.optional(a.guard, writeNfsTime3);
}

export function readSetattrRes(r: XdrReader): Res3<WccData, WccData> {
  return readRes3(r, readWccData, readWccData);
}

export const SETATTR: Nfs3Procedure<SetattrArgs> = {
  name: "SETATTR",
  mutates: true,
  decode: decodeSetattrArgs,
  failure: (a) => [{ wcc: a.object }],
  async run(op, a, w) {
    const { inode } = await op.resolve(a.object);
    const request = setAttrRequestOf(a.attributes);
    if (a.guard !== undefined) {
      request.ctimeGuard = { sec: a.guard.seconds, nsec: a.guard.nseconds };
    }
    const attr = await op.vfs.setattr(op.cred, inode, request);
    writeWccData(w, op.pre(inode), op.fattr(inode, attr));
  },
};
