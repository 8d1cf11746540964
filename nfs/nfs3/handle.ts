/**
 * NFS file handles (nfs_fh3, RFC 1813 section 2.4: opaque data<64>): who a file is, never
 * where it is. Built from the volume, the inode and its generation, all persistent, so a
 * handle stays valid across server restarts and across servers of the same volume.
 *
 *   offset  size  field
 *   0       2     magic "jf" (0x6a66): not ours → BADHANDLE
 *   2       1     layout version (1)
 *   3       1     reserved, 0
 *   4       16    volume UUID (binary): another volume's → BADHANDLE
 *   20      8     inode, uint64 big-endian (≤ 2^53 − 1)
 *   28      4     generation, uint32: differs from the inode's → STALE
 *
 * 32 bytes: a multiple of four (no XDR padding) and half of NFS3_FHSIZE. An inode that no longer
 * exists is STALE too (checked by the caller, which needs the attributes anyway), and so is one
 * outside the export or in the trash: anyone can build a handle, so where it points is checked
 * on use (scope.ts), not trusted from the handle.
 */
import { createHash } from "node:crypto";
import { assert, assertSafeUint } from "../../src/assert.ts";
import { INODE_MAX } from "../../src/limits.ts";
import { NfsStat3 } from "./constants.ts";
import { NfsError } from "./status.ts";

export const HANDLE_BYTES = 32;
const MAGIC = 0x6a66;
const LAYOUT_VERSION = 1;
const VOLUME_OFFSET = 4;
const VOLUME_BYTES = 16;
const INODE_OFFSET = 20;
const GENERATION_OFFSET = 28;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface HandleFields {
  inode: number;
  generation: number;
}

/** The 16 bytes that stand for a volume: its UUID, or a digest of an id that is not one. */
export function volumeKey(volumeId: string): Buffer {
  if (UUID.test(volumeId)) return Buffer.from(volumeId.replaceAll("-", ""), "hex");
  return createHash("sha256").update(volumeId).digest().subarray(0, VOLUME_BYTES);
}

export function encodeHandle(volume: Buffer, fields: HandleFields): Buffer {
  assert(volume.byteLength === VOLUME_BYTES, "volume key is 16 bytes");
  assertSafeUint(fields.inode, "inode");
  assert(fields.inode <= INODE_MAX && fields.inode > 0, "inode in range");
  assert(Number.isInteger(fields.generation) && fields.generation >= 0);
  assert(fields.generation <= 0xffff_ffff, "generation is a uint32");
  const fh = Buffer.alloc(HANDLE_BYTES);
  fh.writeUInt16BE(MAGIC, 0);
  fh.writeUInt8(LAYOUT_VERSION, 2);
  volume.copy(fh, VOLUME_OFFSET);
  fh.writeBigUInt64BE(BigInt(fields.inode), INODE_OFFSET);
  fh.writeUInt32BE(fields.generation, GENERATION_OFFSET);
  return fh;
}

/** Decodes a handle a client sent; BADHANDLE unless it is a well-formed handle of `volume`. */
export function decodeHandle(volume: Buffer, fh: Uint8Array): HandleFields {
  if (fh.byteLength !== HANDLE_BYTES) {
    throw new NfsError(NfsStat3.BADHANDLE, `handle of ${fh.byteLength} bytes`);
  }
  const bytes = Buffer.from(fh.buffer, fh.byteOffset, fh.byteLength);
  if (bytes.readUInt16BE(0) !== MAGIC || bytes[2] !== LAYOUT_VERSION || bytes[3] !== 0) {
    throw new NfsError(NfsStat3.BADHANDLE, "not a jfs handle");
  }
  if (!bytes.subarray(VOLUME_OFFSET, VOLUME_OFFSET + VOLUME_BYTES).equals(volume)) {
    throw new NfsError(NfsStat3.BADHANDLE, "handle of another volume");
  }
  const inode = bytes.readBigUInt64BE(INODE_OFFSET);
  if (inode === 0n || inode > BigInt(INODE_MAX)) {
    throw new NfsError(NfsStat3.BADHANDLE, `inode ${inode} out of range`);
  }
  return { inode: Number(inode), generation: bytes.readUInt32BE(GENERATION_OFFSET) };
}
