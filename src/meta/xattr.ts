/**
 * Extended attributes in the user., trusted. and security. namespaces; system.* (POSIX ACLs)
 * is not supported and says so with EOPNOTSUPP, which tools like cp -a treat as "no ACLs".
 */
import { fsError } from "../errors.ts";
import { XATTR_LIST_BYTES_MAX, XATTR_NAME_BYTES_MAX, XATTR_VALUE_BYTES_MAX } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  FileType,
  type Ino,
  XattrFlags,
} from "./interface.ts";
import { checkAccess, now, setCtime } from "./policy.ts";
import type { MetaTxn } from "./txn.ts";

function validateXattrName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw fsError("EINVAL", "empty xattr name");
  if (bytes > XATTR_NAME_BYTES_MAX) throw fsError("ERANGE", "xattr name too long");
  if (name.includes("\0")) throw fsError("EINVAL", "xattr name holds NUL");
}

/** Permission for one attribute, as Linux xattr_permission(). */
function checkXattrAccess(ctx: Credentials, attr: Attr, name: string, mask: number): void {
  if (name.startsWith("user.")) {
    const plain = attr.type === FileType.File || attr.type === FileType.Directory;
    if (!plain) throw fsError(mask & AccessMask.W ? "EPERM" : "ENODATA");
    checkAccess(ctx, attr, mask);
    return;
  }
  if (name.startsWith("trusted.")) {
    if (ctx.uid !== 0) throw fsError(mask & AccessMask.W ? "EPERM" : "ENODATA");
    return;
  }
  if (name.startsWith("security.")) {
    if (mask & AccessMask.W && ctx.uid !== 0 && ctx.uid !== attr.uid) throw fsError("EPERM");
    return;
  }
  throw fsError("EOPNOTSUPP", `xattr namespace of ${name}`);
}

export async function getxattr(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  name: string,
): Promise<Buffer> {
  validateXattrName(name);
  return core.read(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    checkXattrAccess(ctx, attr, name, AccessMask.R);
    const value = await tx.getXattr(ino, name);
    if (!value) throw fsError("ENODATA");
    return value;
  });
}

export async function setxattr(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  name: string,
  value: Buffer,
  flags: number,
): Promise<void> {
  validateXattrName(name);
  if (value.length > XATTR_VALUE_BYTES_MAX) throw fsError("E2BIG", "xattr value too large");
  if (flags & ~(XattrFlags.CREATE | XattrFlags.REPLACE)) throw fsError("EINVAL");
  await core.txn(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    checkXattrAccess(ctx, attr, name, AccessMask.W);
    const old = await tx.getXattr(ino, name);
    if (flags & XattrFlags.CREATE && old) throw fsError("EEXIST");
    if (flags & XattrFlags.REPLACE && !old) throw fsError("ENODATA");
    if (!old) await checkListSize(tx, ino, name);
    tx.setXattr(ino, name, value);
    setCtime(attr, now());
    tx.setAttr(ino, attr);
  });
}

/** listxattr() must fit in 64 KiB, so the set of names is bounded too. */
async function checkListSize(tx: MetaTxn, ino: Ino, name: string): Promise<void> {
  const names = await tx.listXattrs(ino);
  const bytes = names.reduce((sum, n) => sum + Buffer.byteLength(n) + 1, 0);
  if (bytes + Buffer.byteLength(name) + 1 > XATTR_LIST_BYTES_MAX) {
    throw fsError("ENOSPC", "too many xattrs on this inode");
  }
}

export async function listxattr(core: MetaCore, ctx: Credentials, ino: Ino): Promise<string[]> {
  return core.read(async (tx) => {
    await mustGetAttr(tx, ino);
    const names = await tx.listXattrs(ino);
    // Names the caller could not read are not listed (trusted.* for non-root).
    return names.filter((n) => !n.startsWith("trusted.") || ctx.uid === 0);
  });
}

export async function removexattr(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  name: string,
): Promise<void> {
  validateXattrName(name);
  await core.txn(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    checkXattrAccess(ctx, attr, name, AccessMask.W);
    if (!(await tx.getXattr(ino, name))) throw fsError("ENODATA");
    tx.deleteXattr(ino, name);
    setCtime(attr, now());
    tx.setAttr(ino, attr);
  });
}
