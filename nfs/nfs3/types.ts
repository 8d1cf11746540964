/**
 * NFSv3 data types (RFC 1813 section 2.5 and 2.6), written by the server and read by clients
 * (tests, the golden-byte checks): fattr3, wcc_attr, post_op_attr, pre_op_attr, wcc_data,
 * post_op_fh3, sattr3, specdata3, nfstime3 and diropargs3.
 *
 * 64-bit wire values (size3, fileid3, fsid, offset3, cookie3) are bigint; times are clamped to
 * nfstime3's unsigned 32-bit seconds (a file dated before 1970 shows as 1970).
 */
import { assert } from "../../src/assert.ts";
import { fsError } from "../../src/errors.ts";
import { FILE_SIZE_BYTES_MAX, PATH_BYTES_MAX } from "../../src/limits.ts";
import { type Attr, FileType, type SetAttrRequest, type TimeSpec } from "../../src/posix.ts";
import { XdrError } from "../xdr/error.ts";
import type { XdrReader } from "../xdr/reader.ts";
import type { XdrWriter } from "../xdr/writer.ts";
import { Ftype3, NFS3_FHSIZE, TimeHow } from "./constants.ts";

/** struct nfstime3 { uint32 seconds; uint32 nseconds; } */
export interface NfsTime3 {
  seconds: number;
  nseconds: number;
}

/** struct specdata3 { uint32 specdata1; uint32 specdata2; }: major and minor of a device. */
export interface SpecData3 {
  major: number;
  minor: number;
}

/** struct fattr3 (RFC 1813 section 2.5): 84 bytes on the wire. */
export interface Fattr3 {
  type: Ftype3;
  /** mode3: permission bits only (07777). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: bigint;
  used: bigint;
  rdev: SpecData3;
  fsid: bigint;
  fileid: bigint;
  atime: NfsTime3;
  mtime: NfsTime3;
  ctime: NfsTime3;
}

/** struct wcc_attr { size3 size; nfstime3 mtime; nfstime3 ctime; } */
export interface WccAttr {
  size: bigint;
  mtime: NfsTime3;
  ctime: NfsTime3;
}

const FTYPE_OF: Record<FileType, Ftype3> = {
  [FileType.File]: Ftype3.REG,
  [FileType.Directory]: Ftype3.DIR,
  [FileType.Symlink]: Ftype3.LNK,
  [FileType.Fifo]: Ftype3.FIFO,
  [FileType.BlockDevice]: Ftype3.BLK,
  [FileType.CharDevice]: Ftype3.CHR,
  [FileType.Socket]: Ftype3.SOCK,
};

export function ftype3Of(type: FileType): Ftype3 {
  return FTYPE_OF[type];
}

const NSEC_MAX = 999_999_999;

export function nfsTimeOf(sec: number, nsec: number): NfsTime3 {
  return { seconds: nfsTimeSeconds(sec), nseconds: nfsTimeNseconds(sec, nsec) };
}

/** nfstime3.seconds of a time: times before 1970 are 0, after 2106 the last second. */
function nfsTimeSeconds(sec: number): number {
  if (sec < 0) return 0;
  if (sec > 0xffff_ffff) return 0xffff_ffff;
  return Math.floor(sec);
}

/** nfstime3.nseconds, clamped with the seconds (nfsTimeSeconds). */
function nfsTimeNseconds(sec: number, nsec: number): number {
  if (sec < 0) return 0;
  if (sec > 0xffff_ffff) return NSEC_MAX;
  return Math.min(Math.max(0, nsec), NSEC_MAX);
}

/** Linux new_encode_dev layout of Attr.rdev (what FUSE hands us): 12-bit major, 20-bit minor. */
export function specOfRdev(rdev: number): SpecData3 {
  return { major: rdevMajor(rdev), minor: rdevMinor(rdev) };
}

function rdevMajor(rdev: number): number {
  return (rdev >>> 8) & 0xfff;
}

function rdevMinor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
}

export function rdevOfSpec(spec: SpecData3): number {
  const { major, minor } = spec;
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** Bytes a file is charged for (what `du` shows): whole 4 KiB units of regular files. */
function usedBytes(attr: Attr): number {
  if (attr.type === FileType.Directory) return 4096;
  if (attr.type !== FileType.File) return attr.size;
  return Math.ceil(attr.size / 4096) * 4096;
}

const TWO_POW_32 = 0x1_0000_0000;

/**
 * The fattr3 the server sends for an inode: its wire words, taken from the Attr when it is
 * made (a later change to the Attr does not show), read as a Fattr3 through getters (tests,
 * wcc checks) and written by writeFattr3 straight from those words: no Fattr3 object, no
 * BigInt per 64-bit field, no per-field range assert, one 84-byte copy. fattr3 is on every
 * reply of GETATTR, LOOKUP and ACCESS, and it was a quarter of their encoding CPU
 * (docs/benchmarks.md "NFS: server CPU per call").
 */
export class AttrFattr3 implements Fattr3 {
  /** The 21 words of fattr3 in wire order (RFC 1813 section 2.5), each an unsigned 32 bits. */
  readonly words: Uint32Array;

  constructor(attr: Attr, inode: number, fsidHigh: number, fsidLow: number) {
    const size = attr.size;
    const used = usedBytes(attr);
    // Constant messages: a template literal here is built on every call (~35 ns each).
    assert(Number.isSafeInteger(size) && size >= 0, "fattr3 size: not a safe unsigned integer");
    assert(Number.isSafeInteger(inode) && inode >= 0, "fattr3 fileid: not a safe unsigned integer");
    const w = new Uint32Array(FATTR3_WORDS);
    w[0] = FTYPE_OF[attr.type];
    w[1] = attr.mode & 0o7777;
    w[2] = Math.min(attr.nlink, 0xffff_ffff);
    w[3] = attr.uid;
    w[4] = attr.gid;
    w[5] = Math.floor(size / TWO_POW_32);
    w[6] = size % TWO_POW_32;
    w[7] = Math.floor(used / TWO_POW_32);
    w[8] = used % TWO_POW_32;
    const rdev = attr.rdev;
    w[9] = rdevMajor(rdev);
    w[10] = rdevMinor(rdev);
    w[11] = fsidHigh;
    w[12] = fsidLow;
    w[13] = Math.floor(inode / TWO_POW_32);
    w[14] = inode % TWO_POW_32;
    setNfsTimeWords(w, 15, attr.atime, attr.atimeNsec);
    setNfsTimeWords(w, 17, attr.mtime, attr.mtimeNsec);
    setNfsTimeWords(w, 19, attr.ctime, attr.ctimeNsec);
    this.words = w;
  }

  get type(): Ftype3 {
    return this.words[0] as Ftype3;
  }
  get mode(): number {
    return this.words[1]!;
  }
  get nlink(): number {
    return this.words[2]!;
  }
  get uid(): number {
    return this.words[3]!;
  }
  get gid(): number {
    return this.words[4]!;
  }
  get size(): bigint {
    return this.hyperAt(5);
  }
  get used(): bigint {
    return this.hyperAt(7);
  }
  get rdev(): SpecData3 {
    return { major: this.words[9]!, minor: this.words[10]! };
  }
  get fsid(): bigint {
    return this.hyperAt(11);
  }
  get fileid(): bigint {
    return this.hyperAt(13);
  }
  get atime(): NfsTime3 {
    return { seconds: this.words[15]!, nseconds: this.words[16]! };
  }
  get mtime(): NfsTime3 {
    return { seconds: this.words[17]!, nseconds: this.words[18]! };
  }
  get ctime(): NfsTime3 {
    return { seconds: this.words[19]!, nseconds: this.words[20]! };
  }

  private hyperAt(index: number): bigint {
    return (BigInt(this.words[index]!) << 32n) | BigInt(this.words[index + 1]!);
  }
}

const FATTR3_WORDS = 21;
/** Where writeFattr3 lays an AttrFattr3 out big-endian before one copy into the writer. */
const FATTR3_WIRE = new Uint8Array(FATTR3_WORDS * 4);
const FATTR3_WIRE_VIEW = new DataView(FATTR3_WIRE.buffer);

/** nfstime3 as two words at `at`, clamped as nfsTimeOf does. */
function setNfsTimeWords(w: Uint32Array, at: number, sec: number, nsec: number): void {
  w[at] = nfsTimeSeconds(sec);
  w[at + 1] = nfsTimeNseconds(sec, nsec);
}

/** The two 32-bit halves of fattr3.fsid, which every AttrFattr3 of an export carries. */
export function fsidWords(fsid: bigint): { high: number; low: number } {
  assert(fsid >= 0n && fsid < 1n << 64n, `fsid ${fsid}`);
  return { high: Number(fsid >> 32n), low: Number(fsid & 0xffff_ffffn) };
}

export function fattr3Of(attr: Attr, inode: number, fsid: bigint): Fattr3 {
  const { high, low } = fsidWords(fsid);
  return new AttrFattr3(attr, inode, high, low);
}

/** fattr3 built field by field, as a client would hold it: the reference AttrFattr3 matches. */
export function plainFattr3Of(attr: Attr, inode: number, fsid: bigint): Fattr3 {
  return {
    type: ftype3Of(attr.type),
    mode: attr.mode & 0o7777,
    nlink: Math.min(attr.nlink, 0xffff_ffff),
    uid: attr.uid >>> 0,
    gid: attr.gid >>> 0,
    size: BigInt(attr.size),
    used: BigInt(usedBytes(attr)),
    rdev: specOfRdev(attr.rdev),
    fsid,
    fileid: BigInt(inode),
    atime: nfsTimeOf(attr.atime, attr.atimeNsec),
    mtime: nfsTimeOf(attr.mtime, attr.mtimeNsec),
    ctime: nfsTimeOf(attr.ctime, attr.ctimeNsec),
  };
}

export function wccAttrOf(attr: Attr): WccAttr {
  return new AttrWcc(attr);
}

/**
 * wcc_attr of an Attr as it was when this was made: its numbers are copied (every resolved
 * handle records one, most are never sent), the bigint and nfstime3 objects made when read.
 */
class AttrWcc implements WccAttr {
  private readonly sizeBytes: number;
  private readonly mtimeSec: number;
  private readonly mtimeNsec: number;
  private readonly ctimeSec: number;
  private readonly ctimeNsec: number;

  constructor(attr: Attr) {
    this.sizeBytes = attr.size;
    this.mtimeSec = attr.mtime;
    this.mtimeNsec = attr.mtimeNsec;
    this.ctimeSec = attr.ctime;
    this.ctimeNsec = attr.ctimeNsec;
  }

  get size(): bigint {
    return BigInt(this.sizeBytes);
  }
  get mtime(): NfsTime3 {
    return nfsTimeOf(this.mtimeSec, this.mtimeNsec);
  }
  get ctime(): NfsTime3 {
    return nfsTimeOf(this.ctimeSec, this.ctimeNsec);
  }
}

// ---- writers (server side) ----

export function writeNfsTime3(w: XdrWriter, t: NfsTime3): void {
  w.uint32(t.seconds).uint32(t.nseconds);
}

export function writeFattr3(w: XdrWriter, f: Fattr3): void {
  if (f instanceof AttrFattr3) {
    const words = f.words;
    for (let i = 0; i < FATTR3_WORDS; i++) FATTR3_WIRE_VIEW.setUint32(i * 4, words[i]!, false);
    w.raw(FATTR3_WIRE);
    return;
  }
  writePlainFattr3(w, f);
}

/** The generic encoder, field by field with range checks: the reference for the fast one. */
export function writePlainFattr3(w: XdrWriter, f: Fattr3): void {
  w.enumValue(f.type).uint32(f.mode).uint32(f.nlink).uint32(f.uid).uint32(f.gid);
  w.uhyper(f.size).uhyper(f.used);
  w.uint32(f.rdev.major).uint32(f.rdev.minor);
  w.uhyper(f.fsid).uhyper(f.fileid);
  writeNfsTime3(w, f.atime);
  writeNfsTime3(w, f.mtime);
  writeNfsTime3(w, f.ctime);
}

/** post_op_attr: union switch (bool attributes_follow) { TRUE: fattr3; FALSE: void; } */
export function writePostOpAttr(w: XdrWriter, f: Fattr3 | undefined): void {
  w.optional(f, writeFattr3);
}

/** pre_op_attr: union switch (bool attributes_follow) { TRUE: wcc_attr; FALSE: void; } */
export function writePreOpAttr(w: XdrWriter, a: WccAttr | undefined): void {
  w.optional(a, (writer, attr) => {
    writer.uhyper(attr.size);
    writeNfsTime3(writer, attr.mtime);
    writeNfsTime3(writer, attr.ctime);
  });
}

/** struct wcc_data { pre_op_attr before; post_op_attr after; } */
export function writeWccData(w: XdrWriter, before: WccAttr | undefined, after: Fattr3 | undefined) {
  writePreOpAttr(w, before);
  writePostOpAttr(w, after);
}

/** nfs_fh3 { opaque data<NFS3_FHSIZE>; } */
export function writeFh3(w: XdrWriter, fh: Uint8Array): void {
  w.opaqueVar(fh, NFS3_FHSIZE);
}

/** post_op_fh3: union switch (bool handle_follows) { TRUE: nfs_fh3; FALSE: void; } */
export function writePostOpFh3(w: XdrWriter, fh: Uint8Array | undefined): void {
  w.optional(fh, writeFh3);
}

/**
 * opaque<max> of bulk data (READ results, WRITE arguments) that the writer may borrow rather
 * than copy. The 4-byte-aligned part goes in as its own chunk and only the last 1..3 bytes are
 * copied with their padding: XdrWriter.append() (used by the RPC layer to frame a reply)
 * refuses a chunk whose length is not a multiple of four, which a borrowed opaque of odd
 * length would be.
 */
export function writeOpaqueData(w: XdrWriter, data: Uint8Array, maxBytes: number): void {
  assert(data.byteLength <= maxBytes, `opaque data: ${data.byteLength} > ${maxBytes}`);
  w.uint32(data.byteLength);
  const alignedBytes = data.byteLength - (data.byteLength % 4);
  if (alignedBytes > 0) w.raw(data.subarray(0, alignedBytes));
  w.opaqueFixed(data.subarray(alignedBytes), data.byteLength - alignedBytes);
}

// ---- readers (arguments on the server, results in clients) ----

export function readFh3(r: XdrReader): Buffer {
  return r.opaqueVar(NFS3_FHSIZE);
}

/**
 * filename3: string<> with no declared bound. Names up to PATH_MAX are read so that the VFS
 * can answer NAMETOOLONG for those over NAME_MAX; longer ones are garbage.
 */
export function readFilename3(r: XdrReader): Buffer {
  return r.stringBytes(PATH_BYTES_MAX);
}

/** nfspath3 (symlink targets) is string<>: read up to twice the limit the VFS enforces. */
export const NFS_PATH_WIRE_BYTES_MAX = 2 * PATH_BYTES_MAX;

export function readNfsPath3(r: XdrReader): Buffer {
  return r.stringBytes(NFS_PATH_WIRE_BYTES_MAX);
}

/** struct diropargs3 { nfs_fh3 dir; filename3 name; } */
export interface DirOpArgs3 {
  dir: Buffer;
  name: Buffer;
}

export function readDirOpArgs3(r: XdrReader): DirOpArgs3 {
  const dir = readFh3(r);
  const name = readFilename3(r);
  return { dir, name };
}

export function writeDirOpArgs3(w: XdrWriter, a: DirOpArgs3): void {
  writeFh3(w, a.dir);
  w.string(a.name, PATH_BYTES_MAX);
}

export function readNfsTime3(r: XdrReader): NfsTime3 {
  const seconds = r.uint32();
  const nseconds = r.uint32();
  return { seconds, nseconds };
}

export function readSpecData3(r: XdrReader): SpecData3 {
  const major = r.uint32();
  const minor = r.uint32();
  return { major, minor };
}

export function readFattr3(r: XdrReader): Fattr3 {
  const type = r.enumValue(FTYPES, "ftype3");
  const mode = r.uint32();
  const nlink = r.uint32();
  const uid = r.uint32();
  const gid = r.uint32();
  const size = r.uhyper();
  const used = r.uhyper();
  const rdev = readSpecData3(r);
  const fsid = r.uhyper();
  const fileid = r.uhyper();
  const atime = readNfsTime3(r);
  const mtime = readNfsTime3(r);
  const ctime = readNfsTime3(r);
  return { type, mode, nlink, uid, gid, size, used, rdev, fsid, fileid, atime, mtime, ctime };
}

const FTYPES = new Set<Ftype3>(Object.values(Ftype3));

export function readPostOpAttr(r: XdrReader): Fattr3 | undefined {
  return r.optional(readFattr3);
}

export function readPreOpAttr(r: XdrReader): WccAttr | undefined {
  return r.optional((reader) => {
    const size = reader.uhyper();
    const mtime = readNfsTime3(reader);
    const ctime = readNfsTime3(reader);
    return { size, mtime, ctime };
  });
}

export interface WccData {
  before: WccAttr | undefined;
  after: Fattr3 | undefined;
}

export function readWccData(r: XdrReader): WccData {
  const before = readPreOpAttr(r);
  const after = readPostOpAttr(r);
  return { before, after };
}

export function readPostOpFh3(r: XdrReader): Buffer | undefined {
  return r.optional(readFh3);
}

// ---- sattr3 ----

/** sattr3 (RFC 1813 section 2.5): each field is set only when its discriminant says so. */
export interface Sattr3 {
  mode?: number;
  uid?: number;
  gid?: number;
  size?: bigint;
  atime?: TimeSpec;
  mtime?: TimeSpec;
}

const TIME_HOWS = new Set<TimeHow>(Object.values(TimeHow));

function readSetTime(r: XdrReader): TimeSpec | undefined {
  const how = r.enumValue(TIME_HOWS, "time_how");
  if (how === TimeHow.DONT_CHANGE) return undefined;
  if (how === TimeHow.SET_TO_SERVER_TIME) return "now";
  const t = readNfsTime3(r);
  if (t.nseconds > 999_999_999) throw new XdrError(`nfstime3: nseconds ${t.nseconds}`);
  return { sec: t.seconds, nsec: t.nseconds };
}

export function readSattr3(r: XdrReader): Sattr3 {
  const s: Sattr3 = {};
  const mode = r.optional((x) => x.uint32());
  const uid = r.optional((x) => x.uint32());
  const gid = r.optional((x) => x.uint32());
  const size = r.optional((x) => x.uhyper());
  const atime = readSetTime(r);
  const mtime = readSetTime(r);
  if (mode !== undefined) s.mode = mode & 0o7777;
  if (uid !== undefined) s.uid = uid;
  if (gid !== undefined) s.gid = gid;
  if (size !== undefined) s.size = size;
  if (atime !== undefined) s.atime = atime;
  if (mtime !== undefined) s.mtime = mtime;
  return s;
}

function writeSetTime(w: XdrWriter, t: TimeSpec | undefined): void {
  if (t === undefined) w.enumValue(TimeHow.DONT_CHANGE);
  else if (t === "now") w.enumValue(TimeHow.SET_TO_SERVER_TIME);
  else w.enumValue(TimeHow.SET_TO_CLIENT_TIME).uint32(t.sec).uint32(t.nsec);
}

export function writeSattr3(w: XdrWriter, s: Sattr3): void {
  w.optional(s.mode, (x, v) => x.uint32(v));
  w.optional(s.uid, (x, v) => x.uint32(v));
  w.optional(s.gid, (x, v) => x.uint32(v));
  w.optional(s.size, (x, v) => x.uhyper(v));
  writeSetTime(w, s.atime);
  writeSetTime(w, s.mtime);
}

/** The VFS request for a sattr3; FBIG for a size beyond what a file can hold. */
export function setAttrRequestOf(s: Sattr3): SetAttrRequest {
  const request: SetAttrRequest = {};
  if (s.mode !== undefined) request.mode = s.mode;
  if (s.uid !== undefined) request.uid = s.uid;
  if (s.gid !== undefined) request.gid = s.gid;
  if (s.size !== undefined) {
    if (s.size > BigInt(FILE_SIZE_BYTES_MAX)) throw fsError("EFBIG");
    request.size = Number(s.size);
  }
  if (s.atime !== undefined) request.atime = s.atime;
  if (s.mtime !== undefined) request.mtime = s.mtime;
  return request;
}

/** True when the sattr3 sets nothing. */
export function isEmptySattr3(s: Sattr3): boolean {
  return Object.keys(s).length === 0;
}

assert(Object.keys(FTYPE_OF).length === 7, "every file type maps to an ftype3");
