/**
 * Procedure 6: READ (RFC 1813 section 3.3.6).
 *
 *   struct READ3args { nfs_fh3 file; offset3 offset; count3 count; };
 *   struct READ3resok { post_op_attr file_attributes; count3 count; bool eof; opaque data<>; };
 *   struct READ3resfail { post_op_attr file_attributes; };
 *
 * Stateless: no open, the VFS checks read permission per call (the owner always may, as knfsd,
 * since a file's owner may have opened it before a chmod). count is cut to rtmax (1 MiB); the
 * data path fills a recycled buffer (readbuffers.ts), which the reply borrows, not copies, and
 * which goes back to the pool once the connection has sent it.
 */
import { FILE_SIZE_BYTES_MAX, NFS_IO_BYTES_MAX } from "../../../src/limits.ts";
import { AccessMask, FileType } from "../../../src/posix.ts";
import type { XdrReader } from "../../xdr/reader.ts";
import type { XdrWriter } from "../../xdr/writer.ts";
import { NfsStat3 } from "../constants.ts";
import type { Nfs3Procedure, Res3 } from "../procedure.ts";
import { readRes3 } from "../procedure.ts";
import { NfsError } from "../status.ts";
import {
  type Fattr3,
  readFh3,
  readPostOpAttr,
  writeFh3,
  writeOpaqueData,
  writePostOpAttr,
} from "../types.ts";

export interface ReadArgs {
  file: Buffer;
  offset: bigint;
  count: number;
}

export interface ReadOk {
  attributes: Fattr3 | undefined;
  count: number;
  eof: boolean;
  data: Buffer;
}

export function decodeReadArgs(r: XdrReader): ReadArgs {
  const file = readFh3(r);
  const offset = r.uhyper();
  const count = r.uint32();
  return { file, offset, count };
}

export function writeReadArgs(w: XdrWriter, a: ReadArgs): void {
  writeFh3(w, a.file);
  w.uhyper(a.offset).uint32(a.count);
}

export function writeReadOk(w: XdrWriter, ok: ReadOk): void {
  writePostOpAttr(w, ok.attributes);
  w.uint32(ok.count).bool(ok.eof);
  writeOpaqueData(w, ok.data, NFS_IO_BYTES_MAX);
}

export function readReadRes(r: XdrReader): Res3<ReadOk, Fattr3 | undefined> {
  return readRes3(
    r,
    (x) => {
      const attributes = readPostOpAttr(x);
      const count = x.uint32();
      const eof = x.bool();
      const data = x.opaqueVar(NFS_IO_BYTES_MAX);
      return { attributes, count, eof, data };
    },
    readPostOpAttr,
  );
}

export const READ: Nfs3Procedure<ReadArgs> = {
  name: "READ",
  mutates: false,
  decode: decodeReadArgs,
  failure: (a) => [{ post: a.file }],
  async run(op, a, w) {
    const { inode, attr } = await op.resolve(a.file);
    if (attr.type === FileType.Directory) throw new NfsError(NfsStat3.ISDIR);
    if (attr.type !== FileType.File) throw new NfsError(NfsStat3.INVAL, "not a regular file");
    const count = Math.min(a.count, NFS_IO_BYTES_MAX);
    let data: Buffer = Buffer.alloc(0);
    if (a.offset < BigInt(Math.min(attr.size, FILE_SIZE_BYTES_MAX)) && count > 0) {
      const buffers = op.exp.readBuffers;
      const into = buffers.take(count);
      // A failed read keeps its buffer (see readbuffers.ts): it is left to the collector.
      data = await op.vfs.read(op.cred, inode, undefined, Number(a.offset), count, into);
      if (into !== undefined) w.whenSent(() => buffers.give(into));
    } else if (attr.uid !== op.cred.uid) {
      // Nothing to read, but a caller without read permission must still be told so.
      await op.vfs.access(op.cred, inode, AccessMask.R);
    }
    const eof = a.offset + BigInt(data.byteLength) >= BigInt(attr.size);
    writeReadOk(w, { attributes: op.fattr(inode, attr), count: data.byteLength, eof, data });
  },
};
