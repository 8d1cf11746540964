/**
 * Binary encodings of meta records, for engines that store blobs (Redis) and for the slice
 * lists of every engine. Fixed little-endian layouts with a version byte where they may evolve.
 */
import { assert, assertSafeUint } from "../assert.ts";
import type { Attr, Slice } from "./interface.ts";
import { isFileType } from "./interface.ts";
import type { EntryRecord } from "./txn.ts";

const ATTR_VERSION = 1;
/** version u8, type u8, mode u16, uid u32, gid u32, 3 x (sec f64, nsec u32), nlink u32,
 *  size f64, rdev u32, parent f64, generation u32 */
export const ATTR_BYTES = 1 + 1 + 2 + 4 + 4 + 3 * 12 + 4 + 8 + 4 + 8 + 4;

export function encodeAttr(attr: Attr): Buffer {
  const b = Buffer.allocUnsafe(ATTR_BYTES);
  let o = 0;
  o = b.writeUInt8(ATTR_VERSION, o);
  o = b.writeUInt8(attr.type, o);
  o = b.writeUInt16LE(attr.mode, o);
  o = b.writeUInt32LE(attr.uid, o);
  o = b.writeUInt32LE(attr.gid, o);
  for (const [sec, nsec] of [
    [attr.atime, attr.atimeNsec],
    [attr.mtime, attr.mtimeNsec],
    [attr.ctime, attr.ctimeNsec],
  ] as const) {
    o = b.writeDoubleLE(sec, o);
    o = b.writeUInt32LE(nsec, o);
  }
  o = b.writeUInt32LE(attr.nlink, o);
  o = b.writeDoubleLE(attr.size, o);
  o = b.writeUInt32LE(attr.rdev, o);
  o = b.writeDoubleLE(attr.parent, o);
  o = b.writeUInt32LE(attr.generation, o);
  assert(o === ATTR_BYTES);
  return b;
}

export function decodeAttr(b: Buffer): Attr {
  assert(b.length === ATTR_BYTES && b[0] === ATTR_VERSION, "corrupt attr record");
  const type = b.readUInt8(1);
  assert(isFileType(type), "corrupt attr type");
  let o = 12;
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    times.push(b.readDoubleLE(o), b.readUInt32LE(o + 8));
    o += 12;
  }
  const attr: Attr = {
    type,
    mode: b.readUInt16LE(2),
    uid: b.readUInt32LE(4),
    gid: b.readUInt32LE(8),
    atime: times[0]!,
    atimeNsec: times[1]!,
    mtime: times[2]!,
    mtimeNsec: times[3]!,
    ctime: times[4]!,
    ctimeNsec: times[5]!,
    nlink: b.readUInt32LE(o),
    size: b.readDoubleLE(o + 4),
    rdev: b.readUInt32LE(o + 12),
    parent: b.readDoubleLE(o + 16),
    generation: b.readUInt32LE(o + 24),
  };
  assertSafeUint(attr.size, "attr.size");
  return attr;
}

/** pos u32, id u64 (as two u32, ids stay below 2^53), size u32, off u32, len u32 */
export const SLICE_BYTES = 24;

export function encodeSlice(s: Slice, into?: Buffer, at = 0): Buffer {
  assertSafeUint(s.id, "slice.id");
  assert(s.off + s.len <= s.size || s.id === 0, "slice range within slice");
  const b = into ?? Buffer.allocUnsafe(SLICE_BYTES);
  b.writeUInt32LE(s.pos, at);
  b.writeUInt32LE(s.id % 2 ** 32, at + 4);
  b.writeUInt32LE(Math.floor(s.id / 2 ** 32), at + 8);
  b.writeUInt32LE(s.size, at + 12);
  b.writeUInt32LE(s.off, at + 16);
  b.writeUInt32LE(s.len, at + 20);
  return b;
}

export function encodeSlices(slices: readonly Slice[]): Buffer {
  const b = Buffer.allocUnsafe(slices.length * SLICE_BYTES);
  slices.forEach((s, i) => {
    encodeSlice(s, b, i * SLICE_BYTES);
  });
  return b;
}

export function decodeSlices(b: Buffer): Slice[] {
  assert(b.length % SLICE_BYTES === 0, "corrupt slice list");
  const slices: Slice[] = [];
  for (let at = 0; at < b.length; at += SLICE_BYTES) {
    slices.push({
      pos: b.readUInt32LE(at),
      id: b.readUInt32LE(at + 4) + b.readUInt32LE(at + 8) * 2 ** 32,
      size: b.readUInt32LE(at + 12),
      off: b.readUInt32LE(at + 16),
      len: b.readUInt32LE(at + 20),
    });
  }
  return slices;
}

/** inode f64, type u8, seq f64 */
const ENTRY_BYTES = 17;

export function encodeEntry(e: EntryRecord): Buffer {
  const b = Buffer.allocUnsafe(ENTRY_BYTES);
  b.writeDoubleLE(e.inode, 0);
  b.writeUInt8(e.type, 8);
  b.writeDoubleLE(e.seq, 9);
  return b;
}

export function decodeEntry(b: Buffer): EntryRecord {
  assert(b.length === ENTRY_BYTES, "corrupt entry record");
  const type = b.readUInt8(8);
  assert(isFileType(type), "corrupt entry type");
  return { inode: b.readDoubleLE(0), type, seq: b.readDoubleLE(9) };
}
