/**
 * Procedure 19: FSINFO (RFC 1813 section 3.3.19).
 *
 *   struct FSINFO3args { nfs_fh3 fsroot; };
 *   struct FSINFO3resok { post_op_attr obj_attributes; uint32 rtmax; uint32 rtpref;
 *     uint32 rtmult; uint32 wtmax; uint32 wtpref; uint32 wtmult; uint32 dtpref;
 *     size3 maxfilesize; nfstime3 time_delta; uint32 properties; };
 *   struct FSINFO3resfail { post_op_attr obj_attributes; };
 *
 * 1 MiB transfers both ways (one RPC record holds a WRITE of that size), times to the
 * nanosecond, hard links and symlinks, the same answers for every file (HOMOGENEOUS), and
 * SETATTR may set times (CANSETTIME).
 */
import {
  FILE_SIZE_BYTES_MAX,
  NFS_DIR_PREF_BYTES,
  NFS_IO_BYTES_MAX,
  NFS_IO_PREF_BYTES,
} from "../../../src/limits.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { Fsf3 } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import {
  type Fattr3,
  type NfsTime3,
  readFh3,
  readNfsTime3,
  readPostOpAttr,
  writeFh3,
  writeNfsTime3,
  writePostOpAttr,
} from "../types.ts";

export interface FsinfoOk {
  attributes: Fattr3 | undefined;
  rtmax: number;
  rtpref: number;
  rtmult: number;
  wtmax: number;
  wtpref: number;
  wtmult: number;
  dtpref: number;
  maxfilesize: bigint;
  timeDelta: NfsTime3;
  properties: number;
}

/** Block multiple the client should align I/O to: the kernel page. */
const IO_MULTIPLE_BYTES = 4096;

/** Our FSINFO answer, without the attributes. */
export const FSINFO_LIMITS: Omit<FsinfoOk, "attributes"> = {
  rtmax: NFS_IO_BYTES_MAX,
  rtpref: NFS_IO_PREF_BYTES,
  rtmult: IO_MULTIPLE_BYTES,
  wtmax: NFS_IO_BYTES_MAX,
  wtpref: NFS_IO_PREF_BYTES,
  wtmult: IO_MULTIPLE_BYTES,
  dtpref: NFS_DIR_PREF_BYTES,
  maxfilesize: BigInt(FILE_SIZE_BYTES_MAX),
  timeDelta: { seconds: 0, nseconds: 1 },
  properties: Fsf3.LINK | Fsf3.SYMLINK | Fsf3.HOMOGENEOUS | Fsf3.CANSETTIME,
};

export function writeFsinfoArgs(w: XdrWriter, fsroot: Buffer): void {
  writeFh3(w, fsroot);
}

export function writeFsinfoOk(w: XdrWriter, ok: FsinfoOk): void {
  writePostOpAttr(w, ok.attributes);
  w.uint32(ok.rtmax).uint32(ok.rtpref).uint32(ok.rtmult);
  w.uint32(ok.wtmax).uint32(ok.wtpref).uint32(ok.wtmult);
  w.uint32(ok.dtpref).uhyper(ok.maxfilesize);
  writeNfsTime3(w, ok.timeDelta);
  w.uint32(ok.properties);
}

export function readFsinfoRes(r: XdrReader): Res3<FsinfoOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const attributes = readPostOpAttr(x);
      const [rtmax, rtpref, rtmult] = [x.uint32(), x.uint32(), x.uint32()];
      const [wtmax, wtpref, wtmult] = [x.uint32(), x.uint32(), x.uint32()];
      const dtpref = x.uint32();
      const maxfilesize = x.uhyper();
      const timeDelta = readNfsTime3(x);
      const properties = x.uint32();
      return {
        attributes,
        ...{ rtmax, rtpref, rtmult, wtmax, wtpref, wtmult, dtpref },
        ...{ maxfilesize, timeDelta, properties },
      };
    },
    readPostOpAttr,
  );
}

export const FSINFO: Nfs3Procedure<{ fsroot: Buffer }> = {
  name: "FSINFO",
  mutates: false,
  decode: (r) => ({ fsroot: readFh3(r) }),
  failure: (a) => [{ post: a.fsroot }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.fsroot);
    writeFsinfoOk(w, { attributes: op.fattr(inode, attr), ...FSINFO_LIMITS });
  },
};
