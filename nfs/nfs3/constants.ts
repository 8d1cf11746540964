/**
 * NFS version 3 protocol constants (RFC 1813 sections 2.2, 2.5, 2.6 and 3.3).
 */
import { RpcProgramNumber } from "../rpc/constants.ts";

export const NFS_PROG = RpcProgramNumber.NFS;
export const NFS_V3 = 3;

/** Procedure numbers (RFC 1813 section 3). */
export const Nfs3Proc = {
  NULL: 0,
  GETATTR: 1,
  SETATTR: 2,
  LOOKUP: 3,
  ACCESS: 4,
  READLINK: 5,
  READ: 6,
  WRITE: 7,
  CREATE: 8,
  MKDIR: 9,
  SYMLINK: 10,
  MKNOD: 11,
  REMOVE: 12,
  RMDIR: 13,
  RENAME: 14,
  LINK: 15,
  READDIR: 16,
  READDIRPLUS: 17,
  FSSTAT: 18,
  FSINFO: 19,
  PATHCONF: 20,
  COMMIT: 21,
} as const;

/** enum nfsstat3 (RFC 1813 section 2.6). */
export const NfsStat3 = {
  OK: 0,
  PERM: 1,
  NOENT: 2,
  IO: 5,
  NXIO: 6,
  ACCES: 13,
  EXIST: 17,
  XDEV: 18,
  NODEV: 19,
  NOTDIR: 20,
  ISDIR: 21,
  INVAL: 22,
  FBIG: 27,
  NOSPC: 28,
  ROFS: 30,
  MLINK: 31,
  NAMETOOLONG: 63,
  NOTEMPTY: 66,
  DQUOT: 69,
  STALE: 70,
  REMOTE: 71,
  BADHANDLE: 10001,
  NOT_SYNC: 10002,
  BAD_COOKIE: 10003,
  NOTSUPP: 10004,
  TOOSMALL: 10005,
  SERVERFAULT: 10006,
  BADTYPE: 10007,
  JUKEBOX: 10008,
} as const;
export type NfsStat3 = (typeof NfsStat3)[keyof typeof NfsStat3];

/** enum ftype3 (RFC 1813 section 2.5). */
export const Ftype3 = {
  REG: 1,
  DIR: 2,
  BLK: 3,
  CHR: 4,
  LNK: 5,
  SOCK: 6,
  FIFO: 7,
} as const;
export type Ftype3 = (typeof Ftype3)[keyof typeof Ftype3];

/** enum time_how (RFC 1813 section 2.5, sattr3). */
export const TimeHow = { DONT_CHANGE: 0, SET_TO_SERVER_TIME: 1, SET_TO_CLIENT_TIME: 2 } as const;
export type TimeHow = (typeof TimeHow)[keyof typeof TimeHow];

/** enum stable_how (RFC 1813 section 3.3.7). */
export const StableHow = { UNSTABLE: 0, DATA_SYNC: 1, FILE_SYNC: 2 } as const;
export type StableHow = (typeof StableHow)[keyof typeof StableHow];

/** enum createmode3 (RFC 1813 section 3.3.8). */
export const CreateMode = { UNCHECKED: 0, GUARDED: 1, EXCLUSIVE: 2 } as const;
export type CreateMode = (typeof CreateMode)[keyof typeof CreateMode];

/** ACCESS3_* bits (RFC 1813 section 3.3.4). */
export const Access3 = {
  READ: 0x0001,
  LOOKUP: 0x0002,
  MODIFY: 0x0004,
  EXTEND: 0x0008,
  DELETE: 0x0010,
  EXECUTE: 0x0020,
} as const;
export const ACCESS3_ALL = 0x003f;

/** FSINFO properties bits (RFC 1813 section 3.3.19). */
export const Fsf3 = {
  LINK: 0x0001,
  SYMLINK: 0x0002,
  HOMOGENEOUS: 0x0008,
  CANSETTIME: 0x0010,
} as const;

/** cookieverf3, createverf3, writeverf3: opaque[8] (RFC 1813 section 2.5). */
export const NFS3_VERIFIER_BYTES = 8;
/** NFS3_FHSIZE (RFC 1813 section 2.4). */
export const NFS3_FHSIZE = 64;

/** XDR sizes of fixed structures, for READDIR reply accounting. */
export const FATTR3_BYTES = 84;
/** post_op_attr with attributes: the bool, then fattr3. */
export const POST_OP_ATTR_BYTES = 4 + FATTR3_BYTES;
