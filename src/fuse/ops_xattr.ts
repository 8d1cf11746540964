/**
 * Extended attributes. GETXATTR and LISTXATTR follow getxattr(2): a size of 0 asks for the
 * length only (answered in fuse_getxattr_out), a buffer too small is ERANGE, otherwise the
 * bytes themselves. Names are NUL-terminated; a list is names each followed by a NUL.
 */
import { fsError } from "../errors.ts";
import { XATTR_LIST_BYTES_MAX, XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX } from "../limits.ts";
import { METRICS_XATTR } from "../metrics/jfs.ts";
import { Opcode } from "./protocol.ts";
import type { Handler, Reply } from "./state.ts";
import { type InReader, u32Out } from "./structs.ts";

const NONE: Reply = [];

function xattrName(body: InReader): string {
  const name = body.cstring();
  if (name.length === 0 || name.length > XATTR_NAME_BYTES_MAX) throw fsError("ERANGE");
  return name.toString("utf8");
}

/** The reply to a getxattr-style request of `size` bytes for `value`. */
export function sizedReply(size: number, value: Buffer): Reply {
  if (size === 0) return [u32Out(value.length)];
  if (value.length > size) throw fsError("ERANGE");
  return [value];
}

/**
 * struct fuse_setxattr_in { uint32_t size, flags; } (we do not negotiate FUSE_SETXATTR_EXT,
 * so it is the 8-byte form), then the name and `size` bytes of value.
 */
const setxattr: Handler = async (s, r) => {
  const size = r.body.u32();
  const flags = r.body.u32();
  if (size > XATTR_VALUE_BYTES_MAX) throw fsError("E2BIG");
  const name = xattrName(r.body);
  const value = Buffer.from(r.body.take(size));
  await s.vfs.setxattr(r.ctx, r.header.nodeid, name, value, flags);
  return NONE;
};

/** struct fuse_getxattr_in { uint32_t size, padding; } then the name. */
const getxattr: Handler = async (s, r) => {
  const size = r.body.u32();
  r.body.skip(4);
  const name = xattrName(r.body);
  const metrics = s.config.metricsAddress;
  if (name === METRICS_XATTR && r.header.nodeid === s.rootIno && metrics !== undefined) {
    return sizedReply(size, Buffer.from(metrics)); // jfs stats DIR: not stored, not listed
  }
  return sizedReply(size, await s.vfs.getxattr(r.ctx, r.header.nodeid, name));
};

const listxattr: Handler = async (s, r) => {
  const size = r.body.u32();
  const names = await s.vfs.listxattr(r.ctx, r.header.nodeid);
  const list = Buffer.concat(names.map((n) => Buffer.from(`${n}\0`)));
  if (list.length > XATTR_LIST_BYTES_MAX) throw fsError("E2BIG");
  return sizedReply(size, list);
};

const removexattr: Handler = async (s, r) => {
  await s.vfs.removexattr(r.ctx, r.header.nodeid, xattrName(r.body));
  return NONE;
};

export const xattrOps: ReadonlyMap<number, Handler> = new Map([
  [Opcode.SETXATTR, setxattr],
  [Opcode.GETXATTR, getxattr],
  [Opcode.LISTXATTR, listxattr],
  [Opcode.REMOVEXATTR, removexattr],
]);
