/**
 * MOUNT version 3 (program 100005, RFC 1813 appendix I), on the same port as NFS.
 *
 *   const MNTPATHLEN = 1024; const MNTNAMLEN = 255; const FHSIZE3 = 64;
 *   typedef opaque fhandle3<FHSIZE3>; typedef string dirpath<MNTPATHLEN>; typedef string name<MNTNAMLEN>;
 *   struct mountres3_ok { fhandle3 fhandle; int auth_flavors<>; };
 *   union mountres3 switch (mountstat3 fhs_status) { case MNT3_OK: mountres3_ok mountinfo; default: void; };
 *   struct mountbody { name ml_hostname; dirpath ml_directory; mountlist ml_next; };  (mountlist = *mountbody)
 *   struct groupnode { name gr_name; groups gr_next; };                                (groups = *groupnode)
 *   struct exportnode { dirpath ex_dir; groups ex_groups; exports ex_next; };          (exports = *exportnode)
 *
 *   0 NULL: void → void            1 MNT: dirpath → mountres3      2 DUMP: void → mountlist
 *   3 UMNT: dirpath → void         4 UMNTALL: void → void           5 EXPORT: void → exports
 *
 * MNT answers the export's root handle for the export path, and a subdirectory's handle for a
 * path beneath it; the flavors offered are AUTH_SYS (AUTH_UNIX) then AUTH_NONE. A client
 * outside --allow, or calling from an unreserved source port without --insecure, gets
 * MNT3ERR_ACCES. EXPORT lists the export with the --allow CIDRs as its
 * groups (an empty list: everyone).
 */
import { FsError } from "../../src/errors.ts";
import { MOUNT_NAME_BYTES_MAX, MOUNT_PATH_BYTES_MAX } from "../../src/limits.ts";
import { Errno } from "../../src/posix.ts";
import type { NfsExport } from "../nfs3/context.ts";
import { AuthFlavor, RpcProgramNumber } from "../rpc/constants.ts";
import {
  procedure,
  type RpcCall,
  type RpcProgram,
  VOID_RESULT,
  voidArgs,
} from "../rpc/dispatcher.ts";
import type { XdrReader } from "../xdr/reader.ts";
import { XdrWriter } from "../xdr/writer.ts";
import { componentsBelow, normalizeExportPath, walk } from "./path.ts";
import { MountTable } from "./table.ts";

export const MOUNT_PROG = RpcProgramNumber.MOUNT;
export const MOUNT_V3 = 3;
export const FHSIZE3 = 64;

export const MountProc = { NULL: 0, MNT: 1, DUMP: 2, UMNT: 3, UMNTALL: 4, EXPORT: 5 } as const;

/** enum mountstat3 (RFC 1813 appendix I). */
export const MountStat3 = {
  OK: 0,
  PERM: 1,
  NOENT: 2,
  IO: 5,
  ACCES: 13,
  NOTDIR: 20,
  INVAL: 22,
  NAMETOOLONG: 63,
  NOTSUPP: 10004,
  SERVERFAULT: 10006,
} as const;
export type MountStat3 = (typeof MountStat3)[keyof typeof MountStat3];

/** The flavors MNT offers, preferred first. */
export const MOUNT_AUTH_FLAVORS = [AuthFlavor.AUTH_SYS, AuthFlavor.AUTH_NONE];

const ERRNO_TO_MOUNTSTAT = new Map<number, MountStat3>([
  [Errno.ENOENT, MountStat3.NOENT],
  [Errno.ENOTDIR, MountStat3.NOTDIR],
  [Errno.EACCES, MountStat3.ACCES],
  [Errno.EPERM, MountStat3.PERM],
  [Errno.ENAMETOOLONG, MountStat3.NAMETOOLONG],
  [Errno.EINVAL, MountStat3.INVAL],
]);

export function readDirpath(r: XdrReader): string {
  return r.stringBytes(MOUNT_PATH_BYTES_MAX).toString("utf8");
}

export function writeMntOk(w: XdrWriter, fhandle: Uint8Array): void {
  w.enumValue(MountStat3.OK).opaqueVar(fhandle, FHSIZE3);
  w.arrayVar(MOUNT_AUTH_FLAVORS, MOUNT_AUTH_FLAVORS.length, (x, flavor) => x.int32(flavor));
}

export function readMntRes(r: XdrReader): { status: number; fhandle?: Buffer; flavors?: number[] } {
  const status = r.uint32();
  if (status !== MountStat3.OK) return { status };
  const fhandle = Buffer.from(r.opaqueVar(FHSIZE3));
  const flavors = r.arrayVar(16, (x) => x.int32());
  return { status, fhandle, flavors };
}

export function mountProgram(exp: NfsExport, table = new MountTable()): RpcProgram {
  const mnt = async (call: RpcCall, path: string): Promise<XdrWriter> => {
    const w = new XdrWriter(128);
    const status = await resolveMount(exp, call, path);
    if (typeof status === "number") return w.enumValue(status);
    table.add(call.client.address, status.path);
    writeMntOk(w, status.fhandle);
    return w;
  };
  const dump = () =>
    new XdrWriter().list(table.list(), (w, e) => {
      w.string(e.hostname.slice(0, MOUNT_NAME_BYTES_MAX), MOUNT_NAME_BYTES_MAX);
      w.string(e.directory, MOUNT_PATH_BYTES_MAX);
    });
  const exportList = () =>
    new XdrWriter().list([exp.exportPath], (w, dir) => {
      w.string(dir, MOUNT_PATH_BYTES_MAX);
      w.list(exp.policy.allowList, (x, group) => x.string(group, MOUNT_NAME_BYTES_MAX));
    });
  const umnt = (call: RpcCall, path: string) => {
    table.remove(call.client.address, normalizeExportPath(path) ?? path);
    return VOID_RESULT;
  };
  const umntall = (call: RpcCall) => {
    table.removeAll(call.client.address);
    return VOID_RESULT;
  };
  return {
    name: "MOUNT",
    prog: MOUNT_PROG,
    vers: MOUNT_V3,
    procedures: [
      procedure("NULL", voidArgs, () => VOID_RESULT),
      procedure("MNT", readDirpath, mnt),
      procedure("DUMP", voidArgs, dump),
      procedure("UMNT", readDirpath, umnt),
      procedure("UMNTALL", voidArgs, umntall),
      procedure("EXPORT", voidArgs, exportList),
    ],
  };
}

/** The handle for MNT of `requested`, or the mountstat3 refusing it. */
async function resolveMount(
  exp: NfsExport,
  call: RpcCall,
  requested: string,
): Promise<MountStat3 | { path: string; fhandle: Buffer }> {
  if (!exp.policy.isAllowed(call.client.address)) return MountStat3.ACCES;
  if (!exp.policy.isPortAllowed(call.client.port)) return MountStat3.ACCES;
  const path = normalizeExportPath(requested);
  if (path === undefined) return MountStat3.INVAL;
  const components = componentsBelow(exp.exportPath, path);
  if (components === undefined) return MountStat3.NOENT;
  const cred = exp.policy.credentialsOf(call.credentials);
  try {
    const { inode, attr } = await walk(exp.vfs, cred, exp.exportRoot, components);
    // MNT /.trash of an export of "/": the trash is outside unless --expose-trash.
    if (!(await exp.scope.contains(inode, attr))) return MountStat3.NOENT;
    return { path, fhandle: exp.handleOf(inode, attr) };
  } catch (error) {
    if (!(error instanceof FsError)) throw error;
    return ERRNO_TO_MOUNTSTAT.get(error.errno) ?? MountStat3.IO;
  }
}
