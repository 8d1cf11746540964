/**
 * NFS version 3 (program 100003, RFC 1813) over an export: the 22 procedures in procedure
 * number order, each wrapped with policy checks and its failure body (procedure.ts).
 */

import { assert } from "../../src/assert.ts";
import type { Procedure, RpcLogger, RpcProgram } from "../rpc/dispatcher.ts";
import { NFS_PROG, NFS_V3, Nfs3Proc } from "./constants.ts";
import type { NfsExport } from "./context.ts";
import { ACCESS } from "./proc/access.ts";
import { COMMIT } from "./proc/commit.ts";
import { CREATE } from "./proc/create.ts";
import { FSINFO } from "./proc/fsinfo.ts";
import { FSSTAT } from "./proc/fsstat.ts";
import { GETATTR } from "./proc/getattr.ts";
import { LINK } from "./proc/link.ts";
import { LOOKUP } from "./proc/lookup.ts";
import { MKDIR } from "./proc/mkdir.ts";
import { MKNOD } from "./proc/mknod.ts";
import { NULL_PROC } from "./proc/null.ts";
import { PATHCONF } from "./proc/pathconf.ts";
import { READ } from "./proc/read.ts";
import { READDIR } from "./proc/readdir.ts";
import { READDIRPLUS } from "./proc/readdirplus.ts";
import { READLINK } from "./proc/readlink.ts";
import { REMOVE } from "./proc/remove.ts";
import { RENAME } from "./proc/rename.ts";
import { RMDIR } from "./proc/rmdir.ts";
import { SETATTR } from "./proc/setattr.ts";
import { SYMLINK } from "./proc/symlink.ts";
import { WRITE } from "./proc/write.ts";
import { wrap } from "./procedure.ts";

export function nfs3Program(exp: NfsExport, log?: RpcLogger): RpcProgram {
  const options = log === undefined ? {} : { log };
  const procedures: Procedure[] = [
    NULL_PROC,
    wrap(exp, GETATTR, options),
    wrap(exp, SETATTR, options),
    wrap(exp, LOOKUP, options),
    wrap(exp, ACCESS, options),
    wrap(exp, READLINK, options),
    wrap(exp, READ, options),
    wrap(exp, WRITE, options),
    wrap(exp, CREATE, options),
    wrap(exp, MKDIR, options),
    wrap(exp, SYMLINK, options),
    wrap(exp, MKNOD, options),
    wrap(exp, REMOVE, options),
    wrap(exp, RMDIR, options),
    wrap(exp, RENAME, options),
    wrap(exp, LINK, options),
    wrap(exp, READDIR, options),
    wrap(exp, READDIRPLUS, options),
    wrap(exp, FSSTAT, options),
    wrap(exp, FSINFO, options),
    wrap(exp, PATHCONF, options),
    wrap(exp, COMMIT, options),
  ];
  for (const [name, number] of Object.entries(Nfs3Proc)) {
    assert(procedures[number]?.name === name, `NFSv3 procedure ${number} is ${name}`);
  }
  return { name: "NFS", prog: NFS_PROG, vers: NFS_V3, procedures };
}
