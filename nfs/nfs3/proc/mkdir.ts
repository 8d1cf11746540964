/**
 * Procedure 9: MKDIR (RFC 1813 section 3.3.9).
 *
 *   struct MKDIR3args { diropargs3 where; sattr3 attributes; };
 *   result: see created.ts
 */

import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NfsStat3 } from "../constants.ts";
import type { Nfs3Procedure } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type DirOpArgs3,
  readDirOpArgs3,
  readSattr3,
  type Sattr3,
  writeDirOpArgs3,
  writeSattr3,
} from "../types.ts";
import { applyRest, writeCreated } from "./created.ts";

export interface MkdirArgs {
  where: DirOpArgs3;
  attributes: Sattr3;
}

const DEFAULT_DIR_MODE = 0o755;

export function writeMkdirArgs(w: XdrWriter, a: MkdirArgs): void {
  writeDirOpArgs3(w, a.where);
  writeSattr3(w, a.attributes);
}

export const MKDIR: Nfs3Procedure<MkdirArgs> = {
  name: "MKDIR",
  mutates: true,
  decode: (r: XdrReader) => {
    const where = readDirOpArgs3(r);
    const attributes = readSattr3(r);
    return { where, attributes };
  },
  failure: (a) => [{ wcc: a.where.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.where.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const mode = a.attributes.mode ?? DEFAULT_DIR_MODE;
    const made = await op.vfs.mkdir(op.cred, dir.inode, a.where.name, mode, 0);
    const attr = await applyRest(op, made.inode, made.attr, a.attributes);
    writeCreated(op, w, dir.inode, made.parentAttr, made.inode, attr);
  },
};
