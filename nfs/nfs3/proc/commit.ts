/**
 * Procedure 21: COMMIT (RFC 1813 section 3.3.21).
 *
 *   struct COMMIT3args { nfs_fh3 file; offset3 offset; count3 count; };
 *   struct COMMIT3resok { wcc_data file_wcc; writeverf3 verf; };
 *   struct COMMIT3resfail { wcc_data file_wcc; };
 *
 * Makes every buffered byte of the file durable (upload, then meta commit), whatever the
 * range: committing more than asked is allowed and the data path flushes per file anyway.
 * The verifier is the one WRITE returned, unless the server restarted in between, or meta
 * refused some of the file's buffered data (ENOSPC, EDQUOT, file gone): then the client sees
 * another verifier and sends its uncommitted writes again. The first COMMIT after such a
 * refusal also fails with its status (NOSPC, DQUOT ...), so the writer hears it.
 */

import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NFS3_VERIFIER_BYTES } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { readFh3, readWccData, type WccData, writeFh3, writeWccData } from "../types.ts";

export interface CommitArgs {
  file: Buffer;
  offset: bigint;
  count: number;
}

export interface CommitOk {
  wcc: WccData;
  verf: Buffer;
}

export function writeCommitArgs(w: XdrWriter, a: CommitArgs): void {
  writeFh3(w, a.file);
  w.uhyper(a.offset).uint32(a.count);
}

export function readCommitRes(r: XdrReader): Res3<CommitOk, WccData> {
  return readRes3(
    r,
    (x) => {
      const wcc = readWccData(x);
      const verf = Buffer.from(x.opaqueFixed(NFS3_VERIFIER_BYTES));
      return { wcc, verf };
    },
    readWccData,
  );
}

export const COMMIT: Nfs3Procedure<CommitArgs> = {
  name: "COMMIT",
  // Nothing is changed that a WRITE did not already change; a read-only export has no
  // buffered data and answers at once.
  mutates: false,
  decode: (r) => {
    const file = readFh3(r);
    const offset = r.uhyper();
    const count = r.uint32();
    return { file, offset, count };
  },
  failure: (a) => [{ wcc: a.file }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.file);
    if (attr.type === FileType.File) await op.vfs.fsync(op.cred, inode, undefined, false);
    writeWccData(w, op.pre(inode), await op.post(inode));
    w.opaqueFixed(op.exp.writeVerifierOf(inode), NFS3_VERIFIER_BYTES);
  },
};
