/**
 * Procedure 18: FSSTAT (RFC 1813 section 3.3.18).
 *
 *   struct FSSTAT3args { nfs_fh3 fsroot; };
 *   struct FSSTAT3resok { post_op_attr obj_attributes; size3 tbytes; size3 fbytes; size3 abytes;
 *                         size3 tfiles; size3 ffiles; size3 afiles; uint32 invarsec; };
 *   struct FSSTAT3resfail { post_op_attr obj_attributes; };
 *
 * invarsec 0: usage changes all the time, with other servers of the volume writing too.
 */
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { type Fattr3, readFh3, readPostOpAttr, writeFh3, writePostOpAttr } from "../types.ts";

export interface FsstatOk {
  attributes: Fattr3 | undefined;
  tbytes: bigint;
  fbytes: bigint;
  abytes: bigint;
  tfiles: bigint;
  ffiles: bigint;
  afiles: bigint;
  invarsec: number;
}

export function writeFsstatArgs(w: XdrWriter, fsroot: Buffer): void {
  writeFh3(w, fsroot);
}

export function writeFsstatOk(w: XdrWriter, ok: FsstatOk): void {
  writePostOpAttr(w, ok.attributes);
  w.uhyper(ok.tbytes).uhyper(ok.fbytes).uhyper(ok.abytes);
  w.uhyper(ok.tfiles).uhyper(ok.ffiles).uhyper(ok.afiles).uint32(ok.invarsec);
}

export function readFsstatRes(r: XdrReader): Res3<FsstatOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const attributes = readPostOpAttr(x);
      const [tbytes, fbytes, abytes] = [x.uhyper(), x.uhyper(), x.uhyper()];
      const [tfiles, ffiles, afiles] = [x.uhyper(), x.uhyper(), x.uhyper()];
      const invarsec = x.uint32();
      return { attributes, tbytes, fbytes, abytes, tfiles, ffiles, afiles, invarsec };
    },
    readPostOpAttr,
  );
}

export const FSSTAT: Nfs3Procedure<{ fsroot: Buffer }> = {
  name: "FSSTAT",
  mutates: false,
  decode: (r) => ({ fsroot: readFh3(r) }),
  failure: (a) => [{ post: a.fsroot }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.fsroot);
    const s = await op.vfs.statfs(op.cred, inode);
    writeFsstatOk(w, {
      attributes: op.fattr(inode, attr),
      tbytes: BigInt(s.totalBytes),
      fbytes: BigInt(s.availBytes),
      abytes: BigInt(s.availBytes),
      tfiles: BigInt(s.totalInodes),
      ffiles: BigInt(s.availInodes),
      afiles: BigInt(s.availInodes),
      invarsec: 0,
    });
  },
};
