/**
 * The FUSE codecs and the dispatcher without a kernel: golden struct layouts (linux/fuse.h),
 * INIT across protocol minors, READDIR packing, SETATTR decoding, xattr size rules, unknown
 * opcodes, and the parsers of /proc files.
 */
import { describe, expect, test } from "bun:test";
import { FsError } from "../../src/errors.ts";
import { Dispatcher } from "../../src/fuse/dispatch.ts";
import { GroupsCache, parseGroupsLine } from "../../src/fuse/groups.ts";
import { negotiateInit } from "../../src/fuse/init.ts";
import { parseMountInfo } from "../../src/fuse/mountinfo.ts";
import { packDirents, recordBytes } from "../../src/fuse/ops_dir.ts";
import { decodeSetattr } from "../../src/fuse/ops_node.ts";
import { sizedReply } from "../../src/fuse/ops_xattr.ts";
import { Fattr, Fopen, InitFlag, Opcode } from "../../src/fuse/protocol.ts";
import { DEFAULT_FUSE_CONFIG, OpState } from "../../src/fuse/state.ts";
import { attrOut, entryOut, InReader, stMode } from "../../src/fuse/structs.ts";
import { type Attr, FileType } from "../../src/meta/interface.ts";
import { OpenFlags } from "../../src/posix.ts";
import type { Vfs } from "../../src/vfs/interface.ts";

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
  nlink: 2,
  size: 1025,
  rdev: 0,
  parent: 1,
  generation: 7,
};

function initIn(minor: number, flags: number): InReader {
  const b = Buffer.alloc(64);
  b.writeUInt32LE(7, 0);
  b.writeUInt32LE(minor, 4);
  b.writeUInt32LE(128 * 1024, 8);
  b.writeUInt32LE(flags >>> 0, 12);
  return new InReader(b);
}

function request(opcode: number, nodeid: number, body: Buffer, unique = 5n): Buffer {
  const b = Buffer.alloc(40 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt32LE(opcode, 4);
  b.writeBigUInt64LE(unique, 8);
  b.writeBigUInt64LE(BigInt(nodeid), 16);
  body.copy(b, 40);
  return b;
}

describe("FUSE structs", () => {
  test("fuse_entry_out and fuse_attr_out are 128 and 104 bytes, 120 and 96 before 7.9", () => {
    const t = { entrySec: 1.5, attrSec: 2 };
    const e = entryOut(38, 42, attr, t, { blksizeBytes: 4096 });
    expect(e.length).toBe(128);
    expect(e.readBigUInt64LE(0)).toBe(42n); // nodeid
    expect(e.readBigUInt64LE(8)).toBe(7n); // generation
    expect(e.readBigUInt64LE(16)).toBe(1n); // entry_valid
    expect(e.readUInt32LE(32)).toBe(500_000_000); // entry_valid_nsec
    expect(e.readBigUInt64LE(40)).toBe(42n); // attr.ino
    expect(e.readBigUInt64LE(48)).toBe(1025n); // attr.size
    expect(e.readBigUInt64LE(56)).toBe(3n); // attr.blocks (512 B)
    expect(e.readUInt32LE(40 + 60)).toBe(0o100644); // attr.mode
    expect(e.readUInt32LE(40 + 64)).toBe(2); // attr.nlink
    expect(e.readUInt32LE(40 + 80)).toBe(4096); // attr.blksize
    expect(entryOut(8, 42, attr, t, { blksizeBytes: 4096 }).length).toBe(120);
    expect(attrOut(38, 42, attr, 1, { blksizeBytes: 4096 }).length).toBe(104);
    expect(attrOut(8, 42, attr, 1, { blksizeBytes: 4096 }).length).toBe(96);
  });

  test("st_mode carries the type bits", () => {
    expect(stMode({ type: FileType.Directory, mode: 0o1777 })).toBe(0o41777);
    expect(stMode({ type: FileType.Symlink, mode: 0o777 })).toBe(0o120777);
  });

  test("SETATTR: FATTR bits, NOW times, truncation", () => {
    const b = Buffer.alloc(88);
    b.writeUInt32LE(Fattr.SIZE | Fattr.MODE | Fattr.ATIME_NOW | Fattr.MTIME, 0);
    b.writeBigUInt64LE(123n, 16); // size
    b.writeBigInt64LE(-5n, 40); // mtime before 1970
    b.writeUInt32LE(9, 60); // mtimensec
    b.writeUInt32LE(0o100755, 68); // mode
    expect(decodeSetattr(new InReader(b))).toEqual({
      size: 123,
      mode: 0o755,
      atime: "now",
      mtime: { sec: -5, nsec: 9 },
    });
  });

  test("xattr replies: size 0 asks the length, too small is ERANGE", () => {
    const v = Buffer.from("value");
    expect(Buffer.from(sizedReply(0, v)[0] ?? []).readUInt32LE(0)).toBe(5);
    expect(sizedReply(5, v)[0]).toEqual(v);
    expect(() => sizedReply(4, v)).toThrow(FsError);
  });

  test("truncated requests are EINVAL, not a crash", () => {
    const r = new InReader(Buffer.alloc(6));
    r.u32();
    expect(() => r.u32()).toThrow(/EINVAL/);
    expect(() => new InReader(Buffer.from("abc")).cstring()).toThrow(/EINVAL/);
  });
});

describe("FUSE INIT", () => {
  const all = 0xffff_ffff;

  test("7.38+: 64-byte reply, our flags only, 1 MiB writes", () => {
    const r = negotiateInit(initIn(41, all), { writeback: false });
    expect(r.minor).toBe(38);
    expect(r.reply.length).toBe(64);
    expect(r.reply.readUInt32LE(20)).toBe(1024 * 1024); // max_write
    expect(r.reply.readUInt16LE(28)).toBe(256); // max_pages
    expect(r.flags & InitFlag.WRITEBACK_CACHE).toBe(0);
    expect(r.flags & InitFlag.DO_READDIRPLUS).not.toBe(0);
    expect(r.flags & InitFlag.READDIRPLUS_AUTO).not.toBe(0);
    // Locks are shared through the meta engine (ops_lock.ts), not kept by the kernel.
    expect(r.flags & InitFlag.POSIX_LOCKS).not.toBe(0);
    expect(r.flags & InitFlag.FLOCK_LOCKS).not.toBe(0);
    expect(r.flags & InitFlag.EXPORT_SUPPORT).toBe(0);
    expect(
      negotiateInit(initIn(41, all), { writeback: true }).flags & InitFlag.WRITEBACK_CACHE,
    ).not.toBe(0);
  });

  test("older minors get the smaller init_out they know", () => {
    expect(negotiateInit(initIn(22, all), { writeback: false }).reply.length).toBe(24);
    expect(negotiateInit(initIn(4, 0), { writeback: false }).reply.length).toBe(8);
    expect(negotiateInit(initIn(31, InitFlag.ASYNC_READ), { writeback: false }).flags).toBe(
      InitFlag.ASYNC_READ,
    );
    expect(() => negotiateInit(initIn(2, 0), { writeback: false })).toThrow(FsError);
  });
});

describe("FUSE READDIR packing", () => {
  const state = new OpState({} as Vfs, DEFAULT_FUSE_CONFIG);
  const entries = ["a", "bbbbbbbbb", "c"].map((name, i) => ({
    name: Buffer.from(name),
    inode: 10 + i,
    type: FileType.File,
    cookie: 3 + i,
    attr,
  }));

  test("8-byte aligned records with the cookies as offsets, only whole records", () => {
    const b = packDirents(state, entries, 1000, false);
    expect(b.length).toBe(32 + 40 + 32);
    expect(b.readBigUInt64LE(8)).toBe(3n); // off of the first = its cookie
    expect(b.readUInt32LE(16)).toBe(1); // namelen
    expect(b.readUInt32LE(20)).toBe(8); // DT_REG
    expect(b.readBigUInt64LE(32 + 8)).toBe(4n);
    expect(packDirents(state, entries, 71, false).length).toBe(32);
    expect(packDirents(state, entries, 10, false).length).toBe(0);
  });

  test("direntplus records carry a fuse_entry_out first", () => {
    expect(recordBytes(1, true)).toBe(160);
    const b = packDirents(state, entries, 1000, true);
    expect(b.length).toBe(160 + 168 + 160);
    expect(b.readBigUInt64LE(0)).toBe(10n); // entry_out.nodeid
    expect(b.readBigUInt64LE(128 + 8)).toBe(3n); // dirent.off
  });
});

describe("FOPEN_NOFLUSH policy", () => {
  const RDONLY = OpenFlags.RDONLY;
  test("read-only opens only, from protocol 7.35, not under writeback_cache", () => {
    const s = new OpState({} as Vfs, DEFAULT_FUSE_CONFIG);
    s.minor = 38;
    expect(s.openFlagsNoFlush(10, 1, RDONLY)).toBe(Fopen.NOFLUSH);
    expect(s.openFlagsNoFlush(10, 2, OpenFlags.RDWR)).toBe(0);
    expect(s.openFlagsNoFlush(10, 3, OpenFlags.WRONLY)).toBe(0);
    s.minor = 34;
    expect(s.openFlagsNoFlush(10, 4, RDONLY)).toBe(0);
    const wb = new OpState({} as Vfs, { ...DEFAULT_FUSE_CONFIG, writeback: true });
    expect(wb.openFlagsNoFlush(10, 1, RDONLY)).toBe(0);
  });

  test("a NOFLUSH handle's lockers are handed over once at release; a locked inode flushes", () => {
    const s = new OpState({} as Vfs, DEFAULT_FUSE_CONFIG);
    s.minor = 38;
    expect(s.openFlagsNoFlush(10, 1, RDONLY)).toBe(Fopen.NOFLUSH);
    expect(s.openFlagsNoFlush(11, 2, RDONLY)).toBe(Fopen.NOFLUSH);
    s.lockedThrough(10, 1, 7n);
    s.lockedThrough(10, 1, 8n);
    s.lockedThrough(10, 5, 9n); // an ordinary handle: its close flushes
    expect([...s.takeNoFlushOwners(1)]).toEqual([7n, 8n]);
    expect([...s.takeNoFlushOwners(1)]).toEqual([]);
    expect([...s.takeNoFlushOwners(2)]).toEqual([]);
    expect([...s.takeNoFlushOwners(5)]).toEqual([]);
    expect(s.openFlagsNoFlush(10, 6, RDONLY)).toBe(0);
    expect(s.openFlagsNoFlush(11, 7, RDONLY)).toBe(Fopen.NOFLUSH);
  });
});

describe("FUSE dispatcher", () => {
  test("unknown opcodes get ENOSYS; FORGET and INTERRUPT get no reply", async () => {
    const replies: Buffer[] = [];
    let done = 0;
    const d = new Dispatcher(new OpState({} as Vfs, DEFAULT_FUSE_CONFIG), new GroupsCache(), {
      reply: (_fd, pieces) => replies.push(Buffer.concat(pieces)),
      done: () => done++,
    });
    d.handle(request(Opcode.IOCTL, 1, Buffer.alloc(32), 9n), 0);
    d.handle(request(Opcode.FORGET, 1, Buffer.alloc(8)), 0);
    d.handle(request(Opcode.INTERRUPT, 1, Buffer.alloc(8)), 0);
    d.handle(request(12345, 1, Buffer.alloc(0)), 0);
    expect(done).toBe(4);
    expect(replies.length).toBe(2);
    expect(replies[0]?.readInt32LE(4)).toBe(-38);
    expect(replies[0]?.readBigUInt64LE(8)).toBe(9n);
  });

  test("a VFS error becomes -errno for the request's unique id", async () => {
    const vfs = {
      getattr: async () => {
        throw new FsError(2);
      },
    } as unknown as Vfs;
    const replies: Buffer[] = [];
    const d = new Dispatcher(new OpState(vfs, DEFAULT_FUSE_CONFIG), new GroupsCache(), {
      reply: (_fd, pieces) => replies.push(Buffer.concat(pieces)),
      done: () => undefined,
    });
    d.handle(request(Opcode.GETATTR, 5, Buffer.alloc(16), 77n), 0);
    await Bun.sleep(0);
    expect(replies[0]?.readUInt32LE(0)).toBe(16);
    expect(replies[0]?.readInt32LE(4)).toBe(-2);
    expect(replies[0]?.readBigUInt64LE(8)).toBe(77n);
  });

  test("a reply that cannot be written still answers its request, with EIO", async () => {
    const vfs = { getattr: async () => attr } as unknown as Vfs;
    const replies: Buffer[] = [];
    let done = 0;
    const d = new Dispatcher(new OpState(vfs, DEFAULT_FUSE_CONFIG), new GroupsCache(), {
      reply: (_fd, pieces) => {
        // The first write fails as a mis-encoded reply would (writev's piece assertion).
        if (replies.length === 0 && pieces.length > 1) {
          replies.push(Buffer.alloc(0));
          throw new Error("writev piece count");
        }
        replies.push(Buffer.concat(pieces));
      },
      done: () => done++,
    });
    d.handle(request(Opcode.GETATTR, 5, Buffer.alloc(16), 78n), 0);
    await Bun.sleep(5);
    expect(done).toBe(1);
    expect(replies.length).toBe(2);
    expect(replies[1]?.readUInt32LE(0)).toBe(16);
    expect(replies[1]?.readInt32LE(4)).toBe(-5);
    expect(replies[1]?.readBigUInt64LE(8)).toBe(78n);
  });
});

describe("/proc parsers", () => {
  test("Groups: line", () => {
    expect(parseGroupsLine("Name:\tx\nGroups:\t4 24 27 \nNgid:\t0\n")).toEqual([4, 24, 27]);
    expect(parseGroupsLine("Groups:\t\n")).toEqual([]);
  });

  test("the groups of this process, without the primary gid", () => {
    const groups = new GroupsCache().groups(process.pid, process.getgid?.() ?? 0);
    expect(groups).not.toContain(process.getgid?.() ?? 0);
  });

  test("mountinfo with escaped mount points", () => {
    const text =
      "42 27 0:39 / /tmp/a\\040b rw,nosuid,nodev,relatime shared:1 - fuse.jfs jfs:vol rw,user_id=0\n";
    expect(parseMountInfo(text)).toEqual([
      {
        id: 42,
        major: 0,
        minor: 39,
        mountPoint: "/tmp/a b",
        fstype: "fuse.jfs",
        source: "jfs:vol",
      },
    ]);
  });
});
