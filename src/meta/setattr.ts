/**
 * setattr: chmod, chown, truncate and utimens, with the permission and ctime rules of Linux
 * (fs/attr.c), and the NFS ctime guard.
 */
import { fsError } from "../errors.ts";
import { CHUNK_BYTES, FILE_SIZE_BYTES_MAX } from "../limits.ts";
import { type MetaCore, mustGetAttr } from "./core.ts";
import {
  AccessMask,
  type Attr,
  type Credentials,
  FileType,
  type Ino,
  Mode,
  type SetAttrRequest,
  type TimeSpec,
} from "./interface.ts";
import {
  chargedBytes,
  checkAccess,
  inGroup,
  now,
  setAtime,
  setCtime,
  setidDroppedByChown,
  setidDroppedByWrite,
  setMtime,
  type Timestamp,
} from "./policy.ts";
import { chargeSpace } from "./quota.ts";
import { releaseSlices } from "./slices.ts";
import type { MetaTxn } from "./txn.ts";

const GROUP_EXEC = 0o010;

export async function setattr(
  core: MetaCore,
  ctx: Credentials,
  ino: Ino,
  req: SetAttrRequest,
): Promise<Attr> {
  if (req.size !== undefined && (req.size < 0 || req.size > FILE_SIZE_BYTES_MAX)) {
    throw fsError("EFBIG");
  }
  const capacity = core.format.capacityBytes;
  return core.txn(async (tx) => {
    const attr = await mustGetAttr(tx, ino);
    if (req.ctimeGuard) {
      const g = req.ctimeGuard;
      if (attr.ctime !== g.sec || attr.ctimeNsec !== g.nsec) throw fsError("ENOTSYNC");
    }
    const t = now();
    const ownershipChanged = applyOwnership(ctx, attr, req);
    const changed = applyMode(ctx, attr, req) || ownershipChanged;
    if (ownershipChanged && req.mode !== undefined && attr.type !== FileType.Directory) {
      // A mode set together with a chown loses its set-id bits too (knfsd).
      attr.mode &= ~Mode.SUID;
      if (attr.mode & GROUP_EXEC) attr.mode &= ~Mode.SGID;
    }
    const alone = req.size === undefined && req.mode === undefined;
    const killed = req.killSuidgid === true && alone && killSetid(ctx, attr);
    let timesChanged = applyTimes(ctx, attr, req, t);
    if (req.size !== undefined) {
      await truncate(tx, ctx, ino, attr, req.size, capacity, req.killSuidgid === true);
      if (req.mtime === undefined) setMtime(attr, t);
      timesChanged = true;
    }
    if (changed || killed || timesChanged || req.size !== undefined) setCtime(attr, t);
    tx.setAttr(ino, attr);
    return attr;
  });
}

/**
 * Linux chown_ok/chgrp_ok: without CAP_CHOWN, setting the owner needs ownership and the same
 * owner, setting the group needs ownership and membership of it (or the same group). Even a
 * request that changes nothing is refused to a non-owner: the Linux NFS client sends the
 * current ids for `chown` run by someone else, and knfsd answers EPERM.
 */
function applyOwnership(ctx: Credentials, attr: Attr, req: SetAttrRequest): boolean {
  if (req.uid === undefined && req.gid === undefined) return false;
  if (ctx.uid !== 0) {
    const owner = ctx.uid === attr.uid;
    if (req.uid !== undefined && (!owner || req.uid !== attr.uid)) {
      throw fsError("EPERM", "only root changes owners");
    }
    if (req.gid !== undefined && (!owner || (req.gid !== attr.gid && !inGroup(ctx, req.gid)))) {
      throw fsError("EPERM", "chgrp needs ownership and membership of the group");
    }
  }
  // Judged on the group before the change, as chown_common does.
  const drop = setidDroppedByChown(ctx, attr);
  if (req.uid !== undefined) attr.uid = req.uid;
  if (req.gid !== undefined) attr.gid = req.gid;
  attr.mode &= ~drop;
  return true;
}

function applyMode(ctx: Credentials, attr: Attr, req: SetAttrRequest): boolean {
  if (req.mode === undefined) return false;
  let mode = req.mode & Mode.PERMS;
  if (ctx.uid !== 0 && ctx.uid !== attr.uid) {
    if (!(req.killSuidgid === true && onlyClearsSetid(attr.mode, mode))) {
      throw fsError("EPERM", "chmod needs ownership");
    }
    checkAccess(ctx, attr, AccessMask.W);
    attr.mode = mode;
    return true;
  }
  if (ctx.uid !== 0 && !inGroup(ctx, attr.gid)) mode &= ~Mode.SGID;
  attr.mode = mode;
  return true;
}

/** `to` is `from` with some of S_ISUID and S_ISGID cleared, and nothing else changed. */
function onlyClearsSetid(from: number, to: number): boolean {
  const setid = Mode.SUID | Mode.SGID;
  const perms = from & Mode.PERMS;
  return to !== perms && (to & ~perms) === 0 && (to & ~setid) === (perms & ~setid);
}

/** A write's kill-priv on its own: true when bits were dropped. */
function killSetid(ctx: Credentials, attr: Attr): boolean {
  const drop = setidDroppedByWrite(ctx, attr, true);
  if (drop === 0) return false;
  if (ctx.uid !== attr.uid) checkAccess(ctx, attr, AccessMask.W);
  attr.mode &= ~drop;
  return true;
}

function applyTimes(ctx: Credentials, attr: Attr, req: SetAttrRequest, t: Timestamp): boolean {
  const specs = [req.atime, req.mtime].filter((s): s is TimeSpec => s !== undefined);
  if (specs.length === 0) return false;
  const isOwner = ctx.uid === 0 || ctx.uid === attr.uid;
  if (specs.some((s) => s !== "now") && !isOwner) {
    throw fsError("EPERM", "setting explicit times needs ownership");
  }
  if (!isOwner) checkAccess(ctx, attr, AccessMask.W);
  if (req.atime !== undefined) setAtime(attr, req.atime === "now" ? t : req.atime);
  if (req.mtime !== undefined) setMtime(attr, req.mtime === "now" ? t : req.mtime);
  return true;
}

/**
 * Changes a file's length within the transaction. Shrinking drops whole chunks past the end
 * and covers the rest of the boundary chunk with a hole, so a later extension reads zeros.
 */
async function truncate(
  tx: MetaTxn,
  ctx: Credentials,
  ino: Ino,
  attr: Attr,
  size: number,
  capacityBytes: number,
  unprivileged: boolean,
): Promise<void> {
  if (attr.type === FileType.Directory) throw fsError("EISDIR");
  if (attr.type !== FileType.File) throw fsError("EINVAL", "truncate of a special file");
  // The owner may truncate a file it opened before a chmod took write permission away (knfsd).
  if (ctx.uid !== attr.uid) checkAccess(ctx, attr, AccessMask.W);
  const old = attr.size;
  const spaceDelta = chargedBytes({ type: attr.type, size }) - chargedBytes(attr);
  if (spaceDelta > 0 && capacityBytes > 0) {
    const used = await tx.getCounter("usedSpace");
    if (used + spaceDelta > capacityBytes) throw fsError("ENOSPC", "volume capacity reached");
  }
  await chargeSpace(tx, await tx.listQuotas(), ino, attr, spaceDelta);
  if (size < old) {
    const firstDropped = Math.ceil(size / CHUNK_BYTES);
    for (const index of await tx.listChunkIndexes(ino)) {
      if (index < firstDropped) continue;
      await releaseSlices(tx, await tx.getChunk(ino, index));
      tx.setChunk(ino, index, []);
    }
    const boundary = Math.floor(size / CHUNK_BYTES);
    const pos = size % CHUNK_BYTES;
    if (pos > 0) {
      const len = CHUNK_BYTES - pos;
      tx.appendSlice(ino, boundary, { id: 0, size: len, off: 0, len, pos });
    }
  }
  attr.mode &= ~setidDroppedByWrite(ctx, attr, unprivileged);
  attr.size = size;
  tx.addCounter("usedSpace", spaceDelta);
}
