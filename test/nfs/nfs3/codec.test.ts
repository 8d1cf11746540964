/**
 * NFSv3 wire format against golden bytes written out field by field from RFC 1813's XDR
 * (sections 2.5, 3.3.x and appendix I), plus the handle layout and the errno → nfsstat3 table.
 */
import { describe, expect, test } from "bun:test";
import { MountStat3, readMntRes, writeMntOk } from "../../../nfs/mount/mount.ts";
import { Ftype3, NfsStat3, StableHow } from "../../../nfs/nfs3/constants.ts";
import { decodeHandle, encodeHandle, HANDLE_BYTES, volumeKey } from "../../../nfs/nfs3/handle.ts";
import { decodeCreateArgs } from "../../../nfs/nfs3/proc/create.ts";
import { FSINFO_LIMITS, readFsinfoRes, writeFsinfoOk } from "../../../nfs/nfs3/proc/fsinfo.ts";
import { GETATTR, readGetattrRes } from "../../../nfs/nfs3/proc/getattr.ts";
import { LOOKUP, readLookupRes, writeLookupOk } from "../../../nfs/nfs3/proc/lookup.ts";
import { decodeMknodArgs } from "../../../nfs/nfs3/proc/mknod.ts";
import { decodeReadArgs, readReadRes, writeReadOk } from "../../../nfs/nfs3/proc/read.ts";
import {
  decodeReaddirplusArgs,
  readReaddirplusRes,
  writeReaddirplusOk,
} from "../../../nfs/nfs3/proc/readdirplus.ts";
import { decodeSetattrArgs } from "../../../nfs/nfs3/proc/setattr.ts";
import { decodeWriteArgs, readWriteRes, writeWriteOk } from "../../../nfs/nfs3/proc/write.ts";
import { errnoToNfsStat3, mappedErrnos, NfsError, statusOf } from "../../../nfs/nfs3/status.ts";
import {
  AttrFattr3,
  type Fattr3,
  fattr3Of,
  plainFattr3Of,
  rdevOfSpec,
  readSattr3,
  specOfRdev,
  wccAttrOf,
  writeFattr3,
  writePlainFattr3,
} from "../../../nfs/nfs3/types.ts";
import { XdrError } from "../../../nfs/xdr/error.ts";
import { XdrReader } from "../../../nfs/xdr/reader.ts";
import { XdrWriter } from "../../../nfs/xdr/writer.ts";
import { fsError } from "../../../src/errors.ts";
import { type Attr, FileType } from "../../../src/meta/interface.ts";
import { Errno } from "../../../src/posix.ts";

/** Hex with spaces and newlines ignored, so goldens can be laid out one field per line. */
const bytes = (hex: string) => Buffer.from(hex.replace(/\s+/g, ""), "hex");
const encode = (fill: (w: XdrWriter) => void) => {
  const w = new XdrWriter();
  fill(w);
  return w.toBuffer().toString("hex");
};

const VOLUME = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const volume = volumeKey(VOLUME);
const FSID = 0x0a1b2c3d4e5f4a6bn;

const attr: Attr = {
  type: FileType.File,
  mode: 0o644,
  uid: 1000,
  gid: 100,
  atime: 1,
  atimeNsec: 2,
  mtime: 3,
  mtimeNsec: 4,
  ctime: 5,
  ctimeNsec: 6,
  nlink: 1,
  size: 5000,
  rdev: 0,
  parent: 1,
  generation: 7,
};
const fattr = fattr3Of(attr, 42, FSID);
/** The same as a client decodes it: a plain object. */
const plainFattr = plainFattr3Of(attr, 42, FSID);

/** A Fattr3's fields as a plain object (an AttrFattr3 reads them through getters). */
function plainFields(f: Fattr3): Fattr3 {
  const { type, mode, nlink, uid, gid, size, used, rdev, fsid, fileid, atime, mtime, ctime } = f;
  return { type, mode, nlink, uid, gid, size, used, rdev, fsid, fileid, atime, mtime, ctime };
}

/** fattr3 of `attr` as inode 42 (RFC 1813 section 2.5, 84 bytes). */
const FATTR3_HEX = `
  00000001 000001a4 00000001 000003e8 00000064
  0000000000001388 0000000000002000
  00000000 00000000
  0a1b2c3d4e5f4a6b 000000000000002a
  00000001 00000002 00000003 00000004 00000005 00000006`;

/** Our handle for inode 42, generation 7 (see handle.ts for the layout). */
const HANDLE_HEX = "6a660100 0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d 000000000000002a 00000007";
const handle = encodeHandle(volume, { inode: 42, generation: 7 });

describe("file handles", () => {
  test("layout: magic, version, volume UUID, inode, generation; 32 bytes", () => {
    expect(handle.toString("hex")).toBe(bytes(HANDLE_HEX).toString("hex"));
    expect(handle.byteLength).toBe(HANDLE_BYTES);
    expect(HANDLE_BYTES % 4).toBe(0);
    expect(decodeHandle(volume, handle)).toEqual({ inode: 42, generation: 7 });
  });

  test("the same volume, inode and generation give the same handle (stable across restarts)", () => {
    const again = encodeHandle(volumeKey(VOLUME), { inode: 42, generation: 7 });
    expect(again.equals(handle)).toBe(true);
    const big = encodeHandle(volume, { inode: Number.MAX_SAFE_INTEGER, generation: 0xffff_ffff });
    expect(decodeHandle(volume, big)).toEqual({
      inode: Number.MAX_SAFE_INTEGER,
      generation: 0xffff_ffff,
    });
  });

  test("malformed handles and other volumes' are BADHANDLE", () => {
    const badhandle = (fh: Uint8Array) => {
      try {
        decodeHandle(volume, fh);
      } catch (error) {
        return error instanceof NfsError ? error.status : "other";
      }
      return "decoded";
    };
    expect(badhandle(Buffer.alloc(0))).toBe(NfsStat3.BADHANDLE);
    expect(badhandle(handle.subarray(0, 28))).toBe(NfsStat3.BADHANDLE);
    expect(badhandle(Buffer.concat([handle, Buffer.alloc(4)]))).toBe(NfsStat3.BADHANDLE);
    const other = encodeHandle(volumeKey(crypto.randomUUID()), { inode: 42, generation: 7 });
    expect(badhandle(other)).toBe(NfsStat3.BADHANDLE);
    for (const [offset, value] of [
      [0, 0x00],
      [2, 0x02],
      [3, 0x01],
    ] as const) {
      const forged = Buffer.from(handle);
      forged[offset] = value;
      expect(badhandle(forged)).toBe(NfsStat3.BADHANDLE);
    }
    const zero = Buffer.from(handle);
    zero.fill(0, 20, 28);
    expect(badhandle(zero)).toBe(NfsStat3.BADHANDLE);
    const huge = Buffer.from(handle);
    huge.fill(0xff, 20, 28);
    expect(badhandle(huge)).toBe(NfsStat3.BADHANDLE);
  });

  test("a volume id that is not a UUID still gets a stable 16-byte key", () => {
    expect(volumeKey("not-a-uuid").equals(volumeKey("not-a-uuid"))).toBe(true);
    expect(volumeKey("not-a-uuid").byteLength).toBe(16);
  });
});

describe("errno → nfsstat3", () => {
  test("the table", () => {
    expect(errnoToNfsStat3(Errno.EPERM)).toBe(NfsStat3.PERM);
    expect(errnoToNfsStat3(Errno.ENOENT)).toBe(NfsStat3.NOENT);
    expect(errnoToNfsStat3(Errno.EACCES)).toBe(NfsStat3.ACCES);
    expect(errnoToNfsStat3(Errno.EEXIST)).toBe(NfsStat3.EXIST);
    expect(errnoToNfsStat3(Errno.EXDEV)).toBe(NfsStat3.XDEV);
    expect(errnoToNfsStat3(Errno.ENOTDIR)).toBe(NfsStat3.NOTDIR);
    expect(errnoToNfsStat3(Errno.EISDIR)).toBe(NfsStat3.ISDIR);
    expect(errnoToNfsStat3(Errno.EINVAL)).toBe(NfsStat3.INVAL);
    expect(errnoToNfsStat3(Errno.EFBIG)).toBe(NfsStat3.FBIG);
    expect(errnoToNfsStat3(Errno.ENOSPC)).toBe(NfsStat3.NOSPC);
    expect(errnoToNfsStat3(Errno.EROFS)).toBe(NfsStat3.ROFS);
    expect(errnoToNfsStat3(Errno.EMLINK)).toBe(NfsStat3.MLINK);
    expect(errnoToNfsStat3(Errno.ENAMETOOLONG)).toBe(NfsStat3.NAMETOOLONG);
    expect(errnoToNfsStat3(Errno.ENOTEMPTY)).toBe(NfsStat3.NOTEMPTY);
    expect(errnoToNfsStat3(Errno.EDQUOT)).toBe(NfsStat3.DQUOT);
    expect(errnoToNfsStat3(Errno.ESTALE)).toBe(NfsStat3.STALE);
    expect(errnoToNfsStat3(Errno.ENOTSYNC)).toBe(NfsStat3.NOT_SYNC);
    expect(errnoToNfsStat3(Errno.EOPNOTSUPP)).toBe(NfsStat3.NOTSUPP);
    expect(errnoToNfsStat3(Errno.EAGAIN)).toBe(NfsStat3.JUKEBOX);
    expect(errnoToNfsStat3(Errno.EIO)).toBe(NfsStat3.IO);
    expect(errnoToNfsStat3(123_456)).toBe(NfsStat3.IO);
  });

  test("every Errno is mapped to a defined nfsstat3", () => {
    const defined = new Set<number>(Object.values(NfsStat3));
    for (const code of Object.values(Errno)) {
      expect(defined.has(errnoToNfsStat3(code))).toBe(true);
    }
    expect(mappedErrnos().length).toBeGreaterThanOrEqual(Object.keys(Errno).length - 1);
  });

  test("statusOf: NfsError and FsError carry a status, anything else is a bug", () => {
    expect(statusOf(new NfsError(NfsStat3.STALE))).toBe(NfsStat3.STALE);
    expect(statusOf(fsError("ENOTEMPTY"))).toBe(NfsStat3.NOTEMPTY);
    expect(statusOf(new Error("boom"))).toBeUndefined();
  });
});

describe("data types (RFC 1813 section 2.5)", () => {
  test("fattr3", () => {
    expect(encode((w) => writeFattr3(w, fattr))).toBe(bytes(FATTR3_HEX).toString("hex"));
  });

  test("fattr3 of other types, devices and out-of-range times", () => {
    const dev = fattr3Of(
      { ...attr, type: FileType.CharDevice, rdev: rdevOfSpec({ major: 4, minor: 300 }) },
      9,
      0n,
    );
    expect(dev.type).toBe(Ftype3.CHR);
    expect(dev.rdev).toEqual({ major: 4, minor: 300 });
    expect(specOfRdev((8 << 8) | 1)).toEqual({ major: 8, minor: 1 });
    const dir = fattr3Of({ ...attr, type: FileType.Directory, atime: -5, mtime: 2 ** 40 }, 1, 0n);
    expect(dir.type).toBe(Ftype3.DIR);
    expect(dir.used).toBe(4096n);
    expect(dir.atime).toEqual({ seconds: 0, nseconds: 0 });
    expect(dir.mtime.seconds).toBe(0xffff_ffff);
    expect(fattr3Of({ ...attr, type: FileType.Symlink }, 1, 0n).type).toBe(Ftype3.LNK);
    expect(fattr3Of({ ...attr, type: FileType.Fifo }, 1, 0n).type).toBe(Ftype3.FIFO);
    expect(fattr3Of({ ...attr, type: FileType.Socket }, 1, 0n).type).toBe(Ftype3.SOCK);
    expect(fattr3Of({ ...attr, type: FileType.BlockDevice }, 1, 0n).type).toBe(Ftype3.BLK);
  });

  test("the fast fattr3 encoder writes what the field-by-field one writes, at the edges", () => {
    const sizes = [0, 1, 4095, 4096, 4097, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1];
    const inodes = [1, 0xffff_ffff, 2 ** 32, 2 ** 40 + 3, 2 ** 53 - 1];
    const times: [number, number][] = [
      [0, 0],
      [1, 999_999_999],
      [1_700_000_000, 123_456_789],
      [0xffff_ffff, 999_999_999],
      [0xffff_ffff + 1, 5],
      [-1, 500],
      [12, 1_500_000_000],
      [2 ** 40, -3],
    ];
    const fsids = [0n, 1n, FSID, 0xffff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n];
    let checked = 0;
    for (const type of Object.values(FileType)) {
      for (const size of sizes) {
        for (const [i, inode] of inodes.entries()) {
          const [sec, nsec] = times[(i + size) % times.length]!;
          const edge: Attr = {
            ...attr,
            type,
            size,
            mode: 0o7777 | 0o170000,
            nlink: i === 0 ? 2 ** 32 + 5 : i,
            uid: 0xffff_ffff,
            gid: i,
            rdev: rdevOfSpec({ major: 0xfff, minor: 0xfffff }),
            atime: sec,
            atimeNsec: nsec,
            mtime: times[i]![0],
            mtimeNsec: times[i]![1],
            ctime: times[(i + 3) % times.length]![0],
            ctimeNsec: times[(i + 3) % times.length]![1],
          };
          const fsid = fsids[i % fsids.length]!;
          const fast = fattr3Of(edge, inode, fsid);
          const plain = plainFattr3Of(edge, inode, fsid);
          expect(fast).toBeInstanceOf(AttrFattr3);
          expect(encode((w) => writeFattr3(w, fast))).toBe(
            encode((w) => writePlainFattr3(w, plain)),
          );
          // The getters (what a wcc check or a test reads) give the plain values too.
          expect({ ...plainFields(fast) }).toEqual(plain);
          checked += 1;
        }
      }
    }
    expect(checked).toBe(7 * sizes.length * inodes.length);
    // Out of range is a bug, caught before anything is written.
    expect(() => fattr3Of({ ...attr, size: 2 ** 53 }, 1, 0n)).toThrow("fattr3 size");
    expect(() => fattr3Of({ ...attr, size: -1 }, 1, 0n)).toThrow("fattr3 size");
    expect(() => fattr3Of(attr, 1.5, 0n)).toThrow("fattr3 fileid");
  });

  test("sattr3: set_mode3, set_uid3, set_gid3, set_size3, set_atime, set_mtime", () => {
    const r = new XdrReader(
      bytes(`
        00000001 000001ed
        00000000
        00000001 00000064
        00000001 0000000000000400
        00000001
        00000002 00000010 00000020`),
    );
    expect(readSattr3(r)).toEqual({
      mode: 0o755,
      gid: 100,
      size: 1024n,
      atime: "now",
      mtime: { sec: 16, nsec: 32 },
    });
    r.assertConsumed();
    // time_how outside the enum, and nseconds beyond a second, are garbage.
    const badHow = bytes("00000000 00000000 00000000 00000000 00000003");
    expect(() => readSattr3(new XdrReader(badHow))).toThrow(XdrError);
    const badNsec = bytes(
      "00000000 00000000 00000000 00000000 00000000 00000002 00000001 3b9aca00",
    );
    expect(() => readSattr3(new XdrReader(badNsec))).toThrow(XdrError);
  });
});

describe("procedures (RFC 1813 section 3.3)", () => {
  test("GETATTR: args nfs_fh3; result status + fattr3, resfail void", () => {
    const args = GETATTR.decode(new XdrReader(bytes(`00000020 ${HANDLE_HEX}`)));
    expect(args.object.equals(handle)).toBe(true);
    const ok = bytes(`00000000 ${FATTR3_HEX}`);
    expect(readGetattrRes(new XdrReader(ok))).toEqual({
      status: 0,
      ok: plainFattr,
      fail: undefined,
    });
    const stale = readGetattrRes(new XdrReader(bytes("00000046")));
    expect(stale.status).toBe(NfsStat3.STALE);
  });

  test("LOOKUP: diropargs3; resok handle + obj attrs + dir attrs; resfail dir attrs", () => {
    const args = LOOKUP.decode(new XdrReader(bytes(`00000020 ${HANDLE_HEX} 00000003 61626300`)));
    expect(args.name.toString()).toBe("abc");
    expect(args.dir.equals(handle)).toBe(true);
    const resok = encode((w) => {
      w.uint32(0);
      writeLookupOk(w, { object: handle, objAttributes: fattr, dirAttributes: undefined });
    });
    expect(resok).toBe(
      bytes(`00000000 00000020 ${HANDLE_HEX} 00000001 ${FATTR3_HEX} 00000000`).toString("hex"),
    );
    const fail = readLookupRes(new XdrReader(bytes(`00000002 00000001 ${FATTR3_HEX}`)));
    expect(fail).toEqual({ status: NfsStat3.NOENT, ok: undefined, fail: plainFattr });
  });

  test("READ: args fh, offset3, count3; resok attrs, count, eof, opaque data", () => {
    const args = decodeReadArgs(
      new XdrReader(bytes(`00000020 ${HANDLE_HEX} 0000000100000000 00010000`)),
    );
    expect(args).toEqual({ file: handle, offset: 1n << 32n, count: 65536 });
    const resok = encode((w) => {
      w.uint32(0);
      writeReadOk(w, { attributes: fattr, count: 5, eof: true, data: Buffer.from("hello") });
    });
    const golden = `00000000 00000001 ${FATTR3_HEX} 00000005 00000001 00000005 68656c6c6f000000`;
    expect(resok).toBe(bytes(golden).toString("hex"));
    const back = readReadRes(new XdrReader(bytes(golden)));
    expect(back.ok?.data.toString()).toBe("hello");
  });

  test("WRITE: args fh, offset, count, stable_how, opaque; resok wcc, count, committed, verf", () => {
    const args = decodeWriteArgs(
      new XdrReader(
        bytes(`00000020 ${HANDLE_HEX} 0000000000000010 00000003 00000002 00000003 61626300`),
      ),
    );
    expect(args.offset).toBe(16n);
    expect(args.count).toBe(3);
    expect(args.stable).toBe(StableHow.FILE_SYNC);
    expect(args.data.toString()).toBe("abc");
    // stable_how 3 is not in the enum; a data length beyond 1 MiB is refused before reading.
    expect(() =>
      decodeWriteArgs(
        new XdrReader(bytes(`00000020 ${HANDLE_HEX} 0000000000000000 00000000 00000003 00000000`)),
      ),
    ).toThrow(XdrError);
    expect(() =>
      decodeWriteArgs(
        new XdrReader(bytes(`00000020 ${HANDLE_HEX} 0000000000000000 00000000 00000000 7fffffff`)),
      ),
    ).toThrow(XdrError);
    const verf = bytes("0102030405060708");
    const resok = encode((w) => {
      w.uint32(0);
      writeWriteOk(w, {
        wcc: { before: wccAttrOf(attr), after: fattr },
        count: 3,
        committed: StableHow.FILE_SYNC,
        verf,
      });
    });
    const golden = `00000000
      00000001 0000000000001388 00000003 00000004 00000005 00000006
      00000001 ${FATTR3_HEX}
      00000003 00000002 0102030405060708`;
    expect(resok).toBe(bytes(golden).toString("hex"));
    const back = readWriteRes(new XdrReader(bytes(golden)));
    expect(back.ok?.verf.equals(verf)).toBe(true);
    expect(back.ok?.wcc.before?.size).toBe(5000n);
  });

  test("READDIRPLUS: args fh, cookie, cookieverf, dircount, maxcount; entryplus3 list", () => {
    const args = decodeReaddirplusArgs(
      new XdrReader(
        bytes(`00000020 ${HANDLE_HEX} 0000000000000007 0000000000000000 00001000 00008000`),
      ),
    );
    expect(args).toEqual({
      dir: handle,
      cookie: 7n,
      cookieverf: Buffer.alloc(8),
      dircount: 4096,
      maxcount: 32768,
    });
    const page = {
      entries: [
        { fileid: 42n, name: Buffer.from("a"), cookie: 9n, attributes: fattr, handle },
        { fileid: 43n, name: Buffer.from("bcdef"), cookie: 10n },
      ],
      eof: true,
    };
    const resok = encode((w) => {
      w.uint32(0);
      writeReaddirplusOk(w, { dirAttributes: undefined, cookieverf: Buffer.alloc(8), page });
    });
    const golden = `00000000 00000000 0000000000000000
      00000001 000000000000002a 00000001 61000000 0000000000000009
        00000001 ${FATTR3_HEX} 00000001 00000020 ${HANDLE_HEX}
      00000001 000000000000002b 00000005 6263646566000000 000000000000000a
        00000000 00000000
      00000000 00000001`;
    expect(resok).toBe(bytes(golden).toString("hex"));
    const back = readReaddirplusRes(new XdrReader(bytes(golden)));
    expect(back.ok?.page.entries.map((e) => e.name.toString())).toEqual(["a", "bcdef"]);
    expect(back.ok?.page.eof).toBe(true);
  });

  test("FSINFO: 1 MiB rtmax/wtmax, time_delta 1 ns, LINK|SYMLINK|HOMOGENEOUS|CANSETTIME", () => {
    const resok = encode((w) => {
      w.uint32(0);
      writeFsinfoOk(w, { attributes: undefined, ...FSINFO_LIMITS });
    });
    const golden = `00000000 00000000
      00100000 00100000 00001000
      00100000 00100000 00001000
      00010000 001fffffffffffff
      00000000 00000001
      0000001b`;
    expect(resok).toBe(bytes(golden).toString("hex"));
    expect(readFsinfoRes(new XdrReader(bytes(golden))).ok?.properties).toBe(0x1b);
  });

  test("SETATTR: sattrguard3 with obj_ctime", () => {
    const args = decodeSetattrArgs(
      new XdrReader(
        bytes(
          `00000020 ${HANDLE_HEX} 00000000 00000000 00000000 00000001 0000000000000000 00000000 00000000 00000001 00000005 00000006`,
        ),
      ),
    );
    expect(args.attributes).toEqual({ size: 0n });
    expect(args.guard).toEqual({ seconds: 5, nseconds: 6 });
  });

  test("CREATE: createhow3 UNCHECKED/GUARDED carry sattr3, EXCLUSIVE an 8-byte verifier", () => {
    const where = `00000020 ${HANDLE_HEX} 00000001 78000000`;
    const exclusive = decodeCreateArgs(new XdrReader(bytes(`${where} 00000002 1122334455667788`)));
    expect(exclusive.how).toEqual({ mode: 2, verf: bytes("1122334455667788") });
    const guarded = decodeCreateArgs(
      new XdrReader(
        bytes(`${where} 00000001 00000001 000001a4 00000000 00000000 00000000 00000000 00000000`),
      ),
    );
    expect(guarded.how).toEqual({ mode: 1, attributes: { mode: 0o644 } });
    expect(() => decodeCreateArgs(new XdrReader(bytes(`${where} 00000003`)))).toThrow(XdrError);
  });

  test("MKNOD: mknoddata3 by ftype3", () => {
    const where = `00000020 ${HANDLE_HEX} 00000001 78000000`;
    const empty = "00000000 00000000 00000000 00000000 00000000 00000000";
    const chr = decodeMknodArgs(
      new XdrReader(bytes(`${where} 00000004 ${empty} 00000001 00000003`)),
    );
    expect(chr.type).toBe(Ftype3.CHR);
    expect(chr.spec).toEqual({ major: 1, minor: 3 });
    const fifo = decodeMknodArgs(new XdrReader(bytes(`${where} 00000007 ${empty}`)));
    expect(fifo.type).toBe(Ftype3.FIFO);
    const reg = decodeMknodArgs(new XdrReader(bytes(`${where} 00000001`)));
    expect(reg.type).toBe(Ftype3.REG);
  });

  test("MOUNT MNT: mountres3_ok is fhandle3 then auth_flavors [AUTH_SYS, AUTH_NONE]", () => {
    const resok = encode((w) => writeMntOk(w, handle));
    const golden = `00000000 00000020 ${HANDLE_HEX} 00000002 00000001 00000000`;
    expect(resok).toBe(bytes(golden).toString("hex"));
    expect(readMntRes(new XdrReader(bytes(golden))).flavors).toEqual([1, 0]);
    expect(readMntRes(new XdrReader(bytes("0000000d"))).status).toBe(MountStat3.ACCES);
  });
});
