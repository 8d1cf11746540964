/**
 * Procedure 8: CREATE (RFC 1813 section 3.3.8).
 *
 *   enum createmode3 { UNCHECKED = 0, GUARDED = 1, EXCLUSIVE = 2 };
 *   union createhow3 switch (createmode3 mode) {
 *     case UNCHECKED: case GUARDED: sattr3 obj_attributes;
 *     case EXCLUSIVE: createverf3 verf; };
 *   struct CREATE3args { diropargs3 where; createhow3 how; };
 *   result: see created.ts (post_op_fh3, post_op_attr, wcc_data dir_wcc)
 *
 * UNCHECKED on an existing regular file succeeds and applies only the size (O_TRUNC), as knfsd
 * does; GUARDED fails with EXIST. EXCLUSIVE stores the client's 8-byte verifier in the new
 * file's atime and mtime seconds (4 bytes each, nanoseconds 0), as knfsd does: a retransmitted
 * CREATE with the same verifier finds it there and succeeds, another verifier gets EXIST. The
 * client then sets the real mode and times with SETATTR, which also retires the verifier.
 */
import { isFsError } from "../../../src/errors.ts";
import { type Attr, FileType } from "../../../src/posix.ts";
import type { VfsNewEntry } from "../../../src/vfs/interface.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { CreateMode, NFS3_VERIFIER_BYTES, NfsStat3 } from "../constants.ts";
import type { Nfs3Op, Resolved } from "../context.ts";
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

export type CreateHow =
  | { mode: typeof CreateMode.UNCHECKED | typeof CreateMode.GUARDED; attributes: Sattr3 }
  | { mode: typeof CreateMode.EXCLUSIVE; verf: Buffer };

export interface CreateArgs {
  where: DirOpArgs3;
  how: CreateHow;
}

const CREATE_MODES = new Set<number>(Object.values(CreateMode));
/** Mode of a file made by EXCLUSIVE create until the client's SETATTR. */
const EXCLUSIVE_MODE = 0o600;
const DEFAULT_FILE_MODE = 0o644;

export function decodeCreateArgs(r: XdrReader): CreateArgs {
  const where = readDirOpArgs3(r);
  const mode = r.enumValue(CREATE_MODES, "createmode3");
  if (mode === CreateMode.EXCLUSIVE) {
    return { where, how: { mode, verf: Buffer.from(r.opaqueFixed(NFS3_VERIFIER_BYTES)) } };
  }
  const how = { mode: mode as typeof CreateMode.UNCHECKED, attributes: readSattr3(r) };
  return { where, how };
}

export function writeCreateArgs(w: XdrWriter, a: CreateArgs): void {
  writeDirOpArgs3(w, a.where);
  w.enumValue(a.how.mode);
  if (a.how.mode === CreateMode.EXCLUSIVE) w.opaqueFixed(a.how.verf, NFS3_VERIFIER_BYTES);
  else writeSattr3(w, a.how.attributes);
}

export const CREATE: Nfs3Procedure<CreateArgs> = {
  name: "CREATE",
  mutates: true,
  decode: decodeCreateArgs,
  failure: (a) => [{ wcc: a.where.dir }],
  async run(op, a, w) {
    const dir = await op.resolve(a.where.dir);
    if (dir.attr.type !== FileType.Directory) throw new NfsError(NfsStat3.NOTDIR);
    const made =
      a.how.mode === CreateMode.EXCLUSIVE
        ? await exclusive(op, dir, a.where.name, a.how.verf)
        : await checked(op, dir, a.where.name, a.how.mode, a.how.attributes);
    writeCreated(op, w, dir.inode, made.parentAttr, made.inode, made.attr);
  },
};

async function checked(
  op: Nfs3Op,
  dir: Resolved,
  name: Buffer,
  mode: number,
  attributes: Sattr3,
): Promise<VfsNewEntry> {
  const perms = attributes.mode ?? DEFAULT_FILE_MODE;
  try {
    // umask 0: an NFS client applies its umask to the mode it sends.
    const made = await op.vfs.mknod(op.cred, dir.inode, name, FileType.File, perms, 0, 0);
    return { ...made, attr: await applyRest(op, made.inode, made.attr, attributes) };
  } catch (error) {
    if (!isFsError(error, "EEXIST") || mode === CreateMode.GUARDED) throw error;
  }
  const found = await op.vfs.lookup(op.cred, dir.inode, name);
  if (found.attr.type !== FileType.File) throw new NfsError(NfsStat3.EXIST);
  if (attributes.size === undefined) return found;
  const attr = await op.vfs.setattr(op.cred, found.inode, { size: Number(attributes.size) });
  return { ...found, attr };
}

/** The verifier as two times: atime.seconds = bytes 0..3, mtime.seconds = bytes 4..7. */
function verifierTimes(verf: Buffer) {
  return {
    atime: { sec: verf.readUInt32BE(0), nsec: 0 },
    mtime: { sec: verf.readUInt32BE(4), nsec: 0 },
  };
}

function holdsVerifier(attr: Attr, verf: Buffer): boolean {
  const { atime, mtime } = verifierTimes(verf);
  return (
    attr.type === FileType.File &&
    attr.atime === atime.sec &&
    attr.atimeNsec === 0 &&
    attr.mtime === mtime.sec &&
    attr.mtimeNsec === 0
  );
}

async function exclusive(
  op: Nfs3Op,
  dir: Resolved,
  name: Buffer,
  verf: Buffer,
): Promise<VfsNewEntry> {
  try {
    // The verifier goes in with the file: one transaction, one WAL commit, not two.
    return await op.vfs.mknod(op.cred, dir.inode, name, FileType.File, EXCLUSIVE_MODE, 0, 0, {
      times: verifierTimes(verf),
    });
  } catch (error) {
    if (!isFsError(error, "EEXIST")) throw error;
    const found = await op.vfs.lookup(op.cred, dir.inode, name);
    // The same verifier: our own earlier reply was lost, and this is its retransmission.
    if (holdsVerifier(found.attr, verf)) return found;
    throw new NfsError(NfsStat3.EXIST);
  }
}
