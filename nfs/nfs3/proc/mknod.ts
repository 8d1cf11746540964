/**
 * Procedure 11: MKNOD (RFC 1813 section 3.3.11).
 *
 *   struct devicedata3 { sattr3 dev_attributes; specdata3 spec; };
 *   union mknoddata3 switch (ftype3 type) {
 *     case NF3CHR: case NF3BLK: devicedata3 device;
 *     case NF3SOCK: case NF3FIFO: sattr3 pipe_attributes;
 *     default: void; };
 *   struct MKNOD3args { diropargs3 where; mknoddata3 what; };
 *   result: see created.ts
 *
 * Regular files, directories and symlinks have their own procedures: BADTYPE here.
 */

import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { Ftype3, NfsStat3 } from "../constants.ts";
import type { Nfs3Procedure } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type DirOpArgs3,
  rdevOfSpec,
  readDirOpArgs3,
  readSattr3,
  readSpecData3,
  type Sattr3,
  type SpecData3,
  writeDirOpArgs3,
  writeSattr3,
} from "../types.ts";
import { applyRest, writeCreated } from "./created.ts";

export interface MknodArgs {
  where: DirOpArgs3;
  type: Ftype3;
  attributes: Sattr3;
  spec: SpecData3;
}

const FTYPES = new Set<Ftype3>(Object.values(Ftype3));
const NODE_TYPES = new Map<number, FileType>([
  [Ftype3.CHR, FileType.CharDevice],
  [Ftype3.BLK, FileType.BlockDevice],
  [Ftype3.SOCK, FileType.Socket],
  [Ftype3.FIFO, FileType.Fifo],
]);
const DEFAULT_NODE_MODE = 0o644;

export function decodeMknodArgs(r: XdrReader): MknodArgs {
  const where = readDirOpArgs3(r);
  const type = r.enumValue(FTYPES, "ftype3");
  let attributes: Sattr3 = {};
  let spec: SpecData3 = { major: 0, minor: 0 };
  if (type === Ftype3.CHR || type === Ftype3.BLK) {
    attributes = readSattr3(r);
    spec = readSpecData3(r);
  } else if (type === Ftype3.SOCK || type === Ftype3.FIFO) {
    attributes = readSattr3(r);
  }
  return { where, type, attributes, spec };
}

export function writeMknodArgs(w: XdrWriter, a: MknodArgs): void {
  writeDirOpArgs3(w, a.where);
  w.enumValue(a.type);
  if (a.type === Ftype3.CHR || a.type === Ftype3.BLK) {
    writeSattr3(w, a.attributes);
    w.uint32(a.spec.major).uint32(a.spec.minor);
  } else if (a.type === Ftype3.SOCK || a.type === Ftype3.FIFO) {
    writeSattr3(w, a.attributes);
  }
}

export const MKNOD: Nfs3Procedure<MknodArgs> = {
  name: "MKNOD",
  mutates: true,
  decode: decodeMknodArgs,
  failure: (a) => [{ wcc: a.where.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.where.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const type = NODE_TYPES.get(a.type);
    if (type === undefined) throw new NfsError(NfsStat3.BADTYPE, `MKNOD of ftype3 ${a.type}`);
    const mode = a.attributes.mode ?? DEFAULT_NODE_MODE;
    const rdev = rdevOfSpec(a.spec);
    const made = await op.vfs.mknod(op.cred, dir.inode, a.where.name, type, mode, 0, rdev);
    const attr = await applyRest(op, made.inode, made.attr, a.attributes);
    writeCreated(op, w, dir.inode, made.parentAttr, made.inode, attr);
  },
};
