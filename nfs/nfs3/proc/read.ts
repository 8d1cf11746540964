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
import { assert } from "../../../src/assert.ts";
import { FILE_SIZE_BYTES_MAX, NFS_IO_BYTES_MAX } from "../../../src/limits.ts";
import { AccessMask, FileType } from "../../../src/posix.ts";
import { NO_READ_PARTS, type ReadParts } from "../../../src/vfs/data.ts";
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
    if (a.offset < BigInt(Math.min(attr.size, FILE_SIZE_BYTES_MAX)) && count > 0) {
      const buffers = op.exp.readBuffers;
      const spare = buffers.take(count);
      // A failed read keeps its buffer (see readbuffers.ts): it is left to the collector.
      const parts = await op.vfs.readv(op.cred, inode, undefined, Number(a.offset), count, spare);
      try {
        writeReadParts(w, op.fattr(inode, attr), a.offset, attr.size, parts);
      } catch (error: unknown) {
        parts.release();
        throw error;
      }
      // The reply borrows the views and the spare: both go back once the socket has them.
      w.whenSent(() => {
        parts.release();
        if (spare !== undefined) buffers.give(spare);
      });
      return;
    }
    if (attr.uid !== op.cred.uid) {
      // Nothing to read, but a caller without read permission must still be told so.
      await op.vfs.access(op.cred, inode, AccessMask.R);
    }
    writeReadParts(w, op.fattr(inode, attr), a.offset, attr.size, NO_READ_PARTS);
  },
};

/** READ3resok with the data as parts (the result of Vfs.readv). */
function writeReadParts(
  w: XdrWriter,
  attributes: Fattr3,
  offset: bigint,
  sizeBytes: number,
  data: ReadParts,
): void {
  writePostOpAttr(w, attributes);
  w.uint32(data.bytes).bool(offset + BigInt(data.bytes) >= BigInt(sizeBytes));
  writeOpaqueParts(w, data.parts, data.bytes);
}

/**
 * opaque data<> of `bytes` given as parts, each borrowed by the writer, not copied. XDR raw
 * bytes go in multiples of four, so every part but the last must be (slices and blocks start
 * at odd offsets only after unaligned writes): otherwise the parts are joined into one copy.
 */
function writeOpaqueParts(w: XdrWriter, parts: readonly Buffer[], bytes: number): void {
  const last = parts.length - 1;
  if (parts.some((part, i) => i < last && part.byteLength % 4 !== 0)) {
    writeOpaqueData(w, Buffer.concat(parts, bytes), NFS_IO_BYTES_MAX);
    return;
  }
  assert(bytes <= NFS_IO_BYTES_MAX, `opaque data: ${bytes} > ${NFS_IO_BYTES_MAX}`);
  w.uint32(bytes);
  let written = 0;
  for (const [i, part] of parts.entries()) {
    const alignedBytes = part.byteLength - (part.byteLength % 4);
    if (alignedBytes > 0) w.raw(part.subarray(0, alignedBytes));
    // The last part's tail, zero-padded to four bytes; no tail: no padding.
    if (i === last) w.opaqueFixed(part.subarray(alignedBytes), part.byteLength - alignedBytes);
    written += part.byteLength;
  }
  assert(written === bytes, "READ parts add up to the count");
}
