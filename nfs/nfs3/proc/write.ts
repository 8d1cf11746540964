/**
 * Procedure 7: WRITE (RFC 1813 section 3.3.7).
 *
 *   enum stable_how { UNSTABLE = 0, DATA_SYNC = 1, FILE_SYNC = 2 };
 *   struct WRITE3args { nfs_fh3 file; offset3 offset; count3 count; stable_how stable; opaque data<>; };
 *   struct WRITE3resok { wcc_data file_wcc; count3 count; stable_how committed; writeverf3 verf; };
 *   struct WRITE3resfail { wcc_data file_wcc; };
 *
 * UNSTABLE data goes into the VFS write buffer and is acknowledged as UNSTABLE: it becomes
 * durable at COMMIT (or when the data path flushes it on its own). DATA_SYNC and FILE_SYNC are
 * made durable, data and attributes together, before the reply, and both answer FILE_SYNC.
 * Every reply carries the file's verifier (context.ts), taken before the data is buffered: if
 * meta refuses the buffered data afterwards, the verifier COMMIT answers differs.
 */
import { NFS_IO_BYTES_MAX } from "../../../src/limits.ts";
import { FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NFS3_VERIFIER_BYTES, NfsStat3, StableHow } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  readFh3,
  readWccData,
  type WccData,
  writeFh3,
  writeOpaqueData,
  writeWccData,
} from "../types.ts";

export interface WriteArgs {
  file: Buffer;
  offset: bigint;
  count: number;
  stable: StableHow;
  data: Buffer;
}

export interface WriteOk {
  wcc: WccData;
  count: number;
  committed: StableHow;
  verf: Buffer;
}

const STABLE_HOWS = new Set<StableHow>(Object.values(StableHow));

export function decodeWriteArgs(r: XdrReader): WriteArgs {
  const file = readFh3(r);
  const offset = r.uhyper();
  const count = r.uint32();
  const stable = r.enumValue(STABLE_HOWS, "stable_how");
  const data = r.opaqueVar(NFS_IO_BYTES_MAX);
  return { file, offset, count, stable, data };
}

export function writeWriteArgs(w: XdrWriter, a: WriteArgs): void {
  writeFh3(w, a.file);
  w.uhyper(a.offset).uint32(a.count).enumValue(a.stable);
  writeOpaqueData(w, a.data, NFS_IO_BYTES_MAX);
}

export function writeWriteOk(w: XdrWriter, ok: WriteOk): void {
  writeWccData(w, ok.wcc.before, ok.wcc.after);
  w.uint32(ok.count).enumValue(ok.committed).opaqueFixed(ok.verf, NFS3_VERIFIER_BYTES);
}

export function readWriteRes(r: XdrReader): Res3<WriteOk, WccData> {
  return readRes3(
    r,
    (x) => {
      const wcc = readWccData(x);
      const count = x.uint32();
      const committed = x.enumValue(STABLE_HOWS, "stable_how");
      const verf = Buffer.from(x.opaqueFixed(NFS3_VERIFIER_BYTES));
      return { wcc, count, committed, verf };
    },
    readWccData,
  );
}

export const WRITE: Nfs3Procedure<WriteArgs> = {
  name: "WRITE",
  mutates: true,
  // The VFS copies the data into its write buffer; the handle and the rest are read at once.
  recyclesArgs: true,
  decode: decodeWriteArgs,
  failure: (a) => [{ wcc: a.file }],
  async run(op, a, w) {
    // RFC 1813: count is the number of bytes of data; more data than that is ignored, less
    // is a malformed request.
    if (a.count > a.data.byteLength) throw new NfsError(NfsStat3.INVAL, "count exceeds data");
    const { inode, attr } = await op.resolve(a.file);
    if (attr.type === FileType.Directory) throw new NfsError(NfsStat3.ISDIR);
    if (attr.type !== FileType.File) throw new NfsError(NfsStat3.INVAL, "not a regular file");
    if (a.offset + BigInt(a.count) > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new NfsError(NfsStat3.FBIG);
    }
    const data = a.data.subarray(0, a.count);
    const verf = op.exp.writeVerifierOf(inode);
    const written = await op.vfs.write(op.cred, inode, undefined, Number(a.offset), data);
    let committed: StableHow = StableHow.UNSTABLE;
    if (a.stable !== StableHow.UNSTABLE) {
      await op.vfs.fsync(op.cred, inode, undefined, a.stable === StableHow.DATA_SYNC);
      committed = StableHow.FILE_SYNC;
    }
    writeWriteOk(w, {
      wcc: { before: op.pre(inode), after: await op.post(inode) },
      count: written,
      committed,
      verf,
    });
  },
};
